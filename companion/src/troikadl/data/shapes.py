"""Coloured shapes with captions, for contrastive image-text learning.

Taught in chapter 11. Each image is a 16x16 RGB picture of one shape (circle, square, triangle, cross,
ring) in one colour (red, green, blue, yellow, magenta, cyan), at a random position and size, with pixel
noise; its caption is ``"a <colour> <shape>"``. ``combos`` restricts the (shape, colour) pairs drawn, so
that some pairs can be held out of training entirely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from ..validate import check_float, check_int, check_positive

__all__ = ["SHAPES", "COLOURS", "CAPTION_VOCAB", "Shapes", "captioned_shapes", "caption_tokens"]

SHAPES = ["circle", "square", "triangle", "cross", "ring"]
COLOURS = {"red": (1.0, 0.1, 0.1), "green": (0.1, 0.85, 0.1), "blue": (0.15, 0.3, 1.0),
           "yellow": (1.0, 0.9, 0.1), "magenta": (0.95, 0.1, 0.95), "cyan": (0.1, 0.9, 0.95)}
#: Caption tokens: "a", then the colours, then the shapes.
CAPTION_VOCAB = ["a", *COLOURS, *SHAPES]
SIZE = 16


def caption_tokens(shape: int, colour: int) -> np.ndarray:
    """The token ids of ``"a <colour> <shape>"`` for shape and colour indices."""
    shape = check_int(shape, "shape", min=0, max=len(SHAPES) - 1)
    colour = check_int(colour, "colour", min=0, max=len(COLOURS) - 1)
    return np.array([0, 1 + colour, 1 + len(COLOURS) + shape], dtype=np.int64)


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


def _check_combos(combos: Any) -> list[tuple[int, int]]:
    if isinstance(combos, (str, bytes, dict)) or not isinstance(combos, Iterable):
        raise TypeError(f"combos must be a list of (shape, colour) index pairs, got {type(combos).__name__}")
    combos = list(combos)
    if not combos:
        raise ValueError("combos must list at least one (shape, colour) pair")
    out = []
    for i, pair in enumerate(combos):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"combos[{i}] must be a (shape, colour) pair of indices, got {pair!r}")
        out.append((check_int(pair[0], f"combos[{i}][0] (shape)", min=0, max=len(SHAPES) - 1),
                    check_int(pair[1], f"combos[{i}][1] (colour)", min=0, max=len(COLOURS) - 1)))
    return out


@dataclass
class Shapes:
    """``images`` (n, 3, 16, 16) in [0, 1], ``shape`` and ``colour`` indices (n,), ``captions`` (n, 3) ids."""

    images: np.ndarray
    shape: np.ndarray
    colour: np.ndarray
    captions: np.ndarray

    def __len__(self) -> int:
        return len(self.shape)

    @property
    def combo(self) -> np.ndarray:
        """One id per (shape, colour) pair: ``shape * len(COLOURS) + colour``."""
        return self.shape * len(COLOURS) + self.colour

    def text(self, i: int) -> str:
        """The caption of image ``i`` as words."""
        i = check_int(i, "i", min=0, max=len(self) - 1)
        return " ".join(CAPTION_VOCAB[t] for t in self.captions[i])


def captioned_shapes(n: int, *, seed: int = 0, combos: Sequence[tuple[int, int]] | None = None, noise: float = 0.05) -> Shapes:
    """``n`` captioned images; ``combos`` lists the allowed (shape, colour) index pairs (all by default)."""
    check_positive(n, "n", integer=True)
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
    captions = np.stack([caption_tokens(s, c) for s, c in zip(sh, co)])
    return Shapes(images, sh, co, captions)
