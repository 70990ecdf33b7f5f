"""Scenes of one coloured shape with an eight-word caption (size, colour, shape, position), for image captioning.

Taught in chapter 11. Each image is a 24x24 RGB picture of one shape from :mod:`troikadl.data.shapes` (drawn
by its mask function, in one of its colours) on a dim grey background with pixel noise. Its caption is
``"a <size> <colour> <shape> at the <top|bottom> <left|right>"``, and every word can be read off the pixels:

- position: the shape's centre lies in one quadrant, at least :data:`GAP` pixels from both midlines;
- size: ``"small"`` radii are drawn from :data:`RADII` ``["small"]``, ``"large"`` ones from ``["large"]``,
  with a gap between the two ranges wide enough to survive the pixel grid;
- colour and shape: as in :mod:`troikadl.data.shapes`.

Captions are token ids of :data:`VOCAB` (0 ``<pad>``, 1 ``<bos>``, 2 ``<eos>``, as in
:mod:`troikadl.data.translation`), framed ``<bos> ... <eos>``. ``combos`` restricts the (shape, colour) pairs
drawn, so that some pairs can be held out of training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..validate import check_choice, check_float, check_int, check_positive
from .shapes import COLOURS, SHAPES, _check_combos, _mask
from .shapes import SIZE as _WINDOW
from .translation import PAD, TokenVocab

__all__ = ["SIZE", "SIZES", "RADII", "GAP", "VERTICAL", "HORIZONTAL", "VOCAB", "CAPTION_LENGTH", "Scenes",
           "caption_words", "draw_mask", "captioned_scenes"]

#: Height and width of a scene, in pixels.
SIZE = 24
SIZES = ["small", "large"]
#: The range of the shape's radius (its half-size, as :mod:`troikadl.data.shapes` draws it) for each size word.
RADII = {"small": (3.5, 4.25), "large": (6.0, 7.0)}
#: The least distance, in pixels, between the shape's centre and either midline of the image.
GAP = 2.0
VERTICAL = ["top", "bottom"]
HORIZONTAL = ["left", "right"]
#: The caption vocabulary: ``<pad> <bos> <eos>``, then the words.
VOCAB = TokenVocab(["a", *SIZES, *COLOURS, *SHAPES, "at", "the", *VERTICAL, *HORIZONTAL])
#: Tokens per caption: ``<bos>``, eight words, ``<eos>``.
CAPTION_LENGTH = 10


def caption_words(size: int, colour: int, shape: int, row: int, col: int) -> list[str]:
    """The eight words of a scene's caption, from its size, colour, shape, row (0 top) and column (0 left)."""
    size = check_int(size, "size", min=0, max=len(SIZES) - 1)
    colour = check_int(colour, "colour", min=0, max=len(COLOURS) - 1)
    shape = check_int(shape, "shape", min=0, max=len(SHAPES) - 1)
    row = check_int(row, "row", min=0, max=1)
    col = check_int(col, "col", min=0, max=1)
    return ["a", SIZES[size], list(COLOURS)[colour], SHAPES[shape], "at", "the", VERTICAL[row], HORIZONTAL[col]]


def draw_mask(shape: str, cy: float, cx: float, r: float) -> np.ndarray:
    """The (SIZE, SIZE) boolean mask of ``shape`` centred at (``cy``, ``cx``) with radius ``r`` (pixels).

    Drawn by :mod:`troikadl.data.shapes`' own mask function, which paints a 16x16 window: the window is placed
    around the centre, so a shape of radius at most 7 that lies inside the image is drawn whole.
    """
    shape = check_choice(shape, "shape", SHAPES)
    r = check_float(r, "r", min=0.0, max=7.0, min_open=True)
    cy = check_float(cy, "cy", min=r, max=SIZE - r)
    cx = check_float(cx, "cx", min=r, max=SIZE - r)
    oy, ox = (min(max(int(round(c)) - _WINDOW // 2, 0), SIZE - _WINDOW) for c in (cy, cx))
    out = np.zeros((SIZE, SIZE), dtype=bool)
    out[oy:oy + _WINDOW, ox:ox + _WINDOW] = _mask(shape, cy - oy, cx - ox, r)
    return out


@dataclass
class Scenes:
    """``images`` (n, 3, SIZE, SIZE) in [0, 1]; per scene the indices ``size``, ``colour``, ``shape``, ``row``
    (0 top, 1 bottom) and ``col`` (0 left, 1 right); the drawn ``centre`` (n, 2) as (y, x) and ``radius`` (n,);
    ``captions`` (n, :data:`CAPTION_LENGTH`) token ids ``<bos> words <eos>``."""

    images: np.ndarray
    size: np.ndarray
    colour: np.ndarray
    shape: np.ndarray
    row: np.ndarray
    col: np.ndarray
    centre: np.ndarray
    radius: np.ndarray
    captions: np.ndarray

    def __len__(self) -> int:
        return len(self.shape)

    @property
    def combo(self) -> np.ndarray:
        """One id per (shape, colour) pair: ``shape * len(COLOURS) + colour``, as in :mod:`~troikadl.data.shapes`."""
        return self.shape * len(COLOURS) + self.colour

    def text(self, i: int) -> str:
        """The caption of scene ``i`` as words."""
        i = check_int(i, "i", min=0, max=len(self) - 1)
        return " ".join(VOCAB.decode(self.captions[i]))

    def teacher_forcing(self) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        """``((images, captions_in), captions_out)`` for :func:`troikadl.fit`: the decoder reads ``captions[:, :-1]``
        and predicts ``captions[:, 1:]``; ``<pad>`` targets become :data:`troikadl.train.IGNORE`."""
        from ..train import IGNORE

        out = self.captions[:, 1:]
        return (self.images, self.captions[:, :-1]), np.where(out == PAD, IGNORE, out)


def _centre(rng: np.random.Generator, side: int, r: float) -> float:
    half = SIZE / 2
    return rng.uniform(r, half - GAP) if side == 0 else rng.uniform(half + GAP, SIZE - r)


def captioned_scenes(n: int, *, seed: int = 0, combos: Sequence[tuple[int, int]] | None = None,
                     noise: float = 0.05) -> Scenes:
    """``n`` captioned scenes; ``combos`` lists the allowed (shape, colour) index pairs (all by default).

    Size, row and column are drawn uniformly and independently of the shape and colour; then a radius in the
    size's range, and a centre in the quadrant (:data:`GAP` pixels from the midlines, the shape inside the image).
    """
    check_positive(n, "n", integer=True)
    noise = check_float(noise, "noise", min=0.0, max=0.1)
    seed = check_int(seed, "seed", min=0)
    allowed = ([(s, c) for s in range(len(SHAPES)) for c in range(len(COLOURS))] if combos is None
               else _check_combos(combos))
    rng = np.random.default_rng(seed)
    rgb = np.array(list(COLOURS.values()))
    images = np.empty((n, 3, SIZE, SIZE))
    ints = np.empty((5, n), dtype=np.int64)  # size, colour, shape, row, col
    centre, radius = np.empty((n, 2)), np.empty(n)
    captions = np.empty((n, CAPTION_LENGTH), dtype=np.int64)
    for i in range(n):
        s, c = allowed[rng.integers(len(allowed))]
        size, row, col = (int(v) for v in rng.integers(0, 2, size=3))
        r = rng.uniform(*RADII[SIZES[size]])
        cy, cx = _centre(rng, row, r), _centre(rng, col, r)
        m = draw_mask(SHAPES[s], cy, cx, r)
        img = np.zeros((3, SIZE, SIZE)) + rng.uniform(0.0, 0.15)  # a dim grey background
        img[:, m] = rgb[c][:, None] * rng.uniform(0.8, 1.0)
        images[i] = np.clip(img + rng.normal(0, noise, img.shape), 0, 1)
        ints[:, i] = size, c, s, row, col
        centre[i], radius[i] = (cy, cx), r
        captions[i] = VOCAB.encode(caption_words(size, c, s, row, col), bos=True, eos=True)
    return Scenes(images, *ints, centre, radius, captions)
