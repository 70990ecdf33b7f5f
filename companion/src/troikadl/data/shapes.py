"""Coloured shapes with captions, for contrastive image-text learning.

Taught in chapter 11. Each image is a 16x16 RGB picture of one shape (circle, square, triangle, cross,
ring) in one colour (red, green, blue, yellow, magenta, cyan), at a random position and size, with pixel
noise; its caption is ``"a <colour> <shape>"``. ``combos`` restricts the (shape, colour) pairs drawn, so
that some pairs can be held out of training entirely.

Captions can also be phrased by several :data:`TEMPLATES` ("a red circle", "a circle that is red", ...), as
token ids of :data:`PROMPT_VOCAB` padded to :data:`PROMPT_LENGTH` with :data:`PAD_ID`; :data:`CAPTION_VOCAB`
is its beginning, so the 3-token captions keep their ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from ..validate import check_float, check_int, check_positive

__all__ = ["SHAPES", "COLOURS", "CAPTION_VOCAB", "TEMPLATES", "PROMPT_VOCAB", "PAD_ID", "PROMPT_LENGTH", "Shapes",
           "captioned_shapes", "caption_tokens", "prompt_tokens", "class_prompts"]

SHAPES = ["circle", "square", "triangle", "cross", "ring"]
COLOURS = {"red": (1.0, 0.1, 0.1), "green": (0.1, 0.85, 0.1), "blue": (0.15, 0.3, 1.0),
           "yellow": (1.0, 0.9, 0.1), "magenta": (0.95, 0.1, 0.95), "cyan": (0.1, 0.9, 0.95)}
#: Caption tokens: "a", then the colours, then the shapes.
CAPTION_VOCAB = ["a", *COLOURS, *SHAPES]
#: Ways to phrase a caption; ``{colour}`` and ``{shape}`` are filled in, every other word is in PROMPT_VOCAB.
TEMPLATES = ["a {colour} {shape}", "a {shape} that is {colour}", "this is a {colour} {shape}",
             "the {shape} is {colour}"]
#: Template tokens: CAPTION_VOCAB, the templates' other words, and last the padding token.
PROMPT_VOCAB = [*CAPTION_VOCAB, "that", "is", "this", "the", "<pad>"]
PAD_ID = len(PROMPT_VOCAB) - 1
#: The longest template, in words: every templated caption is padded to this length.
PROMPT_LENGTH = max(len(t.split()) for t in TEMPLATES)
SIZE = 16


def caption_tokens(shape: int, colour: int) -> np.ndarray:
    """The token ids of ``"a <colour> <shape>"`` for shape and colour indices."""
    shape = check_int(shape, "shape", min=0, max=len(SHAPES) - 1)
    colour = check_int(colour, "colour", min=0, max=len(COLOURS) - 1)
    return np.array([0, 1 + colour, 1 + len(COLOURS) + shape], dtype=np.int64)


def prompt_tokens(shape: int, colour: int, template: int = 0, *, length: int = PROMPT_LENGTH) -> np.ndarray:
    """The ids (in :data:`PROMPT_VOCAB`) of ``TEMPLATES[template]`` for a shape and a colour, padded with
    :data:`PAD_ID` to ``length`` tokens."""
    shape = check_int(shape, "shape", min=0, max=len(SHAPES) - 1)
    colour = check_int(colour, "colour", min=0, max=len(COLOURS) - 1)
    template = check_int(template, "template", min=0, max=len(TEMPLATES) - 1)
    words = TEMPLATES[template].format(colour=CAPTION_VOCAB[1 + colour], shape=SHAPES[shape]).split()
    length = check_int(length, "length", min=len(words))
    return np.array([PROMPT_VOCAB.index(w) for w in words] + [PAD_ID] * (length - len(words)), dtype=np.int64)


def class_prompts(pairs: Sequence[tuple[int, int]], templates: Sequence[int] | None = None) -> np.ndarray:
    """The padded prompts of every (shape, colour) pair in every template: (pairs, templates, PROMPT_LENGTH) ids.

    ``templates`` lists template indices (all of :data:`TEMPLATES` by default)."""
    pairs = _check_combos(pairs, "pairs")
    templates = _check_templates(range(len(TEMPLATES)) if templates is None else templates)
    return np.array([[prompt_tokens(s, c, t) for t in templates] for s, c in pairs], dtype=np.int64)


def _check_templates(templates: Any) -> list[int]:
    if isinstance(templates, (str, bytes, dict)) or not isinstance(templates, Iterable):
        raise TypeError(f"templates must be a list of template indices, got {type(templates).__name__}")
    templates = list(templates)
    if not templates:
        raise ValueError("templates must list at least one template index")
    return [check_int(t, f"templates[{i}]", min=0, max=len(TEMPLATES) - 1) for i, t in enumerate(templates)]


def _mask(shape: str, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    dy, dx = yy - cy, xx - cx
    if shape == "circle":
        return dy ** 2 + dx ** 2 <= r ** 2
    if shape == "ring":
        d2 = dy ** 2 + dx ** 2
        return (d2 <= r ** 2) & (d2 >= (0.55 * r) ** 2)
    if shape == "square":
        return (np.abs(dy) <= 0.8 * r) & (np.abs(dx) <= 0.8 * r)
    if shape == "cross":
        w = 0.35 * r
        return ((np.abs(dy) <= w) & (np.abs(dx) <= r)) | ((np.abs(dx) <= w) & (np.abs(dy) <= r))
    # triangle, apex up: inside when below the two slanted edges and above the base
    return (dy <= 0.8 * r) & (dy >= -r) & (np.abs(dx) <= (dy + r) * 0.6)


def _check_combos(combos: Any, name: str = "combos") -> list[tuple[int, int]]:
    if isinstance(combos, (str, bytes, dict)) or not isinstance(combos, Iterable):
        raise TypeError(f"{name} must be a list of (shape, colour) index pairs, got {type(combos).__name__}")
    combos = list(combos)
    if not combos:
        raise ValueError(f"{name} must list at least one (shape, colour) pair")
    out = []
    for i, pair in enumerate(combos):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"{name}[{i}] must be a (shape, colour) pair of indices, got {pair!r}")
        out.append((check_int(pair[0], f"{name}[{i}][0] (shape)", min=0, max=len(SHAPES) - 1),
                    check_int(pair[1], f"{name}[{i}][1] (colour)", min=0, max=len(COLOURS) - 1)))
    return out


@dataclass
class Shapes:
    """``images`` (n, 3, 16, 16) in [0, 1], ``shape`` and ``colour`` indices (n,), ``captions`` (n, 3) ids; with
    templates, ``captions`` are (n, PROMPT_LENGTH) padded ids and ``template`` (n,) says which template each is."""

    images: np.ndarray
    shape: np.ndarray
    colour: np.ndarray
    captions: np.ndarray
    template: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.shape)

    @property
    def combo(self) -> np.ndarray:
        """One id per (shape, colour) pair: ``shape * len(COLOURS) + colour``."""
        return self.shape * len(COLOURS) + self.colour

    def text(self, i: int) -> str:
        """The caption of image ``i`` as words."""
        i = check_int(i, "i", min=0, max=len(self) - 1)
        return " ".join(PROMPT_VOCAB[t] for t in self.captions[i] if t != PAD_ID)


def captioned_shapes(n: int, *, seed: int = 0, combos: Sequence[tuple[int, int]] | None = None, noise: float = 0.05,
                     templates: Sequence[int] | None = None) -> Shapes:
    """``n`` captioned images; ``combos`` lists the allowed (shape, colour) index pairs (all by default).

    ``templates=None`` gives the 3-token captions ``"a <colour> <shape>"``; a list of template indices gives
    each image a caption in one of those templates, drawn at random (padded ids, see :func:`prompt_tokens`).
    The images are the same either way, for the same ``seed``."""
    check_positive(n, "n", integer=True)
    templates = None if templates is None else _check_templates(templates)
    check_float(noise, "noise", min=0)
    check_int(seed, "seed", min=0)
    allowed = ([(s, c) for s in range(len(SHAPES)) for c in range(len(COLOURS))] if combos is None
               else _check_combos(combos))
    rng = np.random.default_rng(seed)
    rgb = np.array(list(COLOURS.values()))
    images = np.empty((n, 3, SIZE, SIZE))
    sh, co = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    for i in range(n):
        s, c = allowed[rng.integers(len(allowed))]
        r = rng.uniform(3.5, 6.0)
        cy, cx = rng.uniform(r, SIZE - r, size=2)
        m = _mask(SHAPES[s], cy, cx, r)
        img = np.zeros((3, SIZE, SIZE)) + rng.uniform(0.0, 0.15)  # a dim grey background
        img[:, m] = rgb[c][:, None] * rng.uniform(0.8, 1.0)
        images[i] = np.clip(img + rng.normal(0, noise, img.shape), 0, 1)
        sh[i], co[i] = s, c
    if templates is None:
        return Shapes(images, sh, co, np.stack([caption_tokens(s, c) for s, c in zip(sh, co)]))
    tpl = np.asarray(templates, dtype=np.int64)[np.random.default_rng([seed, 1]).integers(len(templates), size=n)]
    return Shapes(images, sh, co, np.stack([prompt_tokens(s, c, t) for s, c, t in zip(sh, co, tpl)]), tpl)
