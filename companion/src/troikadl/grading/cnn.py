"""Exercises on convolutional networks (chapter 4): public cases and plausible wrong answers."""

from __future__ import annotations

import numpy as np

from ..conv import conv2d
from .core import Case, Exercise, register

CHAPTER = "04_cnn"

# --- cnn.output_size: the output-shape formula ----------------------------------------------------


def _os_no_dilation(n, k, stride=1, padding=0, dilation=1):
    return (n + 2 * padding - k) // stride + 1


def _os_padding_once(n, k, stride=1, padding=0, dilation=1):
    return (n + padding - dilation * (k - 1) - 1) // stride + 1


def _os_ceil(n, k, stride=1, padding=0, dilation=1):
    return -(-(n + 2 * padding - dilation * (k - 1) - 1) // stride) + 1


def _os_no_plus_one(n, k, stride=1, padding=0, dilation=1):
    return (n + 2 * padding - dilation * (k - 1) - 1) // stride


register(Exercise(
    id="cnn.output_size", chapter=CHAPTER, function="output_size",
    title="The output size of a convolution",
    hint="floor((n + 2 padding - dilation (k - 1) - 1) / stride) + 1",
    cases=[
        Case("3x3, no padding", (8, 3), expected=6),
        Case("'same' padding", (8, 3), kwargs={"padding": 1}, expected=8, hint="Padding is added on both sides."),
        Case("stride 2, uneven fit", (10, 3), kwargs={"stride": 2}, expected=4,
             hint="Round down: a window that does not fit is not used."),
        Case("dilation 2", (10, 3), kwargs={"dilation": 2}, expected=6,
             hint="A dilated kernel spans dilation (k - 1) + 1 inputs."),
        Case("everything", (32, 5), kwargs={"stride": 3, "padding": 2, "dilation": 2}, expected=10),
    ],
    wrong_answers={"dilation ignored": _os_no_dilation, "padding on one side only": _os_padding_once,
                   "rounds up": _os_ceil, "missing + 1": _os_no_plus_one},
))

# --- cnn.correlate2d: a single-channel 'valid' cross-correlation with loops -------------------------


def _corr(image, kernel, flip=False, transpose=False, short=False):
    """The package's ``conv2d`` (checked against PyTorch) on one channel; the options are the wrong answers."""
    k = np.asarray(kernel, float)
    out = conv2d(np.asarray(image, float)[None, None], (k[::-1, ::-1] if flip else k)[None, None])[0, 0]
    if short:
        out = out[:-1, :-1]
    return out.T if transpose else out


_K23 = np.array([[1.0, 0.0, -1.0], [2.0, 0.5, 0.0]])  # no symmetry: a flip or a transpose shows

register(Exercise(
    id="cnn.correlate2d", chapter=CHAPTER, function="correlate2d",
    title="Cross-correlation with loops",
    hint="out[i, j] = sum(image[i:i+kh, j:j+kw] * kernel) for i < H - kh + 1, j < W - kw + 1; no flipping.",
    cases=[
        Case("3x3 image, 2x2 kernel", (np.arange(9.0).reshape(3, 3), np.array([[1.0, 0.0], [0.0, -1.0]])),
             expected=np.array([[-4.0, -4.0], [-4.0, -4.0]])),
        Case("asymmetric kernel", (np.arange(12.0).reshape(3, 4), np.array([[1.0, 2.0]])),
             expected=np.array([[2.0, 5.0, 8.0], [14.0, 17.0, 20.0], [26.0, 29.0, 32.0]]),
             hint="Frameworks do not flip the kernel: that would be a convolution in the textbook sense."),
        Case("rectangular image", (np.arange(20.0).reshape(4, 5), _K23),
             expected=lambda: _corr(np.arange(20.0).reshape(4, 5), _K23),
             hint="The output is (H - kh + 1, W - kw + 1): rows first."),
    ],
    wrong_answers={"flipped kernel (a true convolution)": lambda im, k: _corr(im, k, flip=True),
                   "output transposed": lambda im, k: _corr(im, k, transpose=True),
                   "last row and column missing": lambda im, k: _corr(im, k, short=True)},
))
