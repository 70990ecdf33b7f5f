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

# --- cnn.receptive_field: the receptive field of a stack of layers (needs the jump, not only the kernels) ----


def _rf(layers, use_stride=True, use_dilation=True, stride_first=False):
    """The receptive field size of ``(kernel, stride, dilation)`` layers; the options are the wrong answers."""
    size, jump = 1, 1
    for k, s, d in layers:
        d = d if use_dilation else 1
        if stride_first:
            jump *= s
        size += d * (k - 1) * (jump if use_stride else 1)
        if not stride_first:
            jump *= s
    return size


register(Exercise(
    id="cnn.receptive_field", chapter=CHAPTER, function="receptive_field_size",
    title="The receptive field of a stack of layers",
    hint="Start from r = 1, j = 1; for each (k, s, d): r += d (k - 1) j, then j *= s.",
    cases=[
        Case("one 3x3 convolution", ([(3, 1, 1)],), expected=3),
        Case("three 3x3 convolutions", ([(3, 1, 1)] * 3,), expected=7,
             hint="Each stride-1 3x3 layer adds 2 input pixels."),
        Case("conv, pool, conv", ([(3, 1, 1), (2, 2, 1), (3, 1, 1)],), expected=8,
             hint="After a stride-2 layer, one step of the next kernel covers 2 input pixels."),
        Case("stride on the first layer", ([(3, 2, 1), (3, 1, 1)],), expected=7,
             hint="A layer's own stride does not widen its own window: multiply the jump after adding."),
        Case("dilated", ([(3, 1, 2), (3, 1, 1)],), expected=7,
             hint="A dilated kernel spans d (k - 1) + 1 inputs."),
    ],
    wrong_answers={"stride ignored": lambda layers: _rf(layers, use_stride=False),
                   "dilation ignored": lambda layers: _rf(layers, use_dilation=False),
                   "jump multiplied before adding": lambda layers: _rf(layers, stride_first=True)},
))

# --- cnn.conv_input_grad: the backward pass of a convolution is a convolution with the flipped kernel ------


def _input_grad(grad_out, kernel, flip=True, full=True, transpose=False):
    """dL/dx of ``y = correlate2d(x, kernel, 'valid')`` given dL/dy; the options are the wrong answers."""
    g, k = np.asarray(grad_out, float), np.asarray(kernel, float)
    kh, kw = k.shape
    padded = np.pad(g, ((kh - 1, kh - 1), (kw - 1, kw - 1))) if full else g
    if padded.shape[0] < kh or padded.shape[1] < kw:
        return np.zeros((0, 0))
    out = conv2d(padded[None, None], (k[::-1, ::-1] if flip else k)[None, None])[0, 0]
    return out.T if transpose else out


def _autograd_input_grad(grad_out, kernel):
    """The reference: PyTorch's autograd through ``F.conv2d`` (float64)."""
    import torch
    import torch.nn.functional as F

    g, k = torch.as_tensor(np.asarray(grad_out, float)), torch.as_tensor(np.asarray(kernel, float))
    x = torch.zeros(g.shape[0] + k.shape[0] - 1, g.shape[1] + k.shape[1] - 1, dtype=torch.float64, requires_grad=True)
    F.conv2d(x[None, None], k[None, None])[0, 0].backward(g)
    return x.grad.numpy()


_G23 = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, 1.0]])

register(Exercise(
    id="cnn.conv_input_grad", chapter=CHAPTER, function="conv_input_grad",
    title="The backward pass of a convolution",
    hint="Pad grad_out with kh - 1 rows and kw - 1 columns of zeros on each side, then cross-correlate it "
         "with the kernel flipped in both axes ('full' convolution).",
    cases=[
        Case("one output pixel", (np.array([[1.0]]), np.array([[1.0, 2.0], [3.0, 4.0]])),
             expected=np.array([[1.0, 2.0], [3.0, 4.0]]),
             hint="One output touches one window: its gradient is the kernel itself, laid where the window was."),
        Case("1-D, a row", (np.array([[1.0, 10.0]]), np.array([[1.0, 2.0, 3.0]])),
             expected=np.array([[1.0, 12.0, 23.0, 30.0]]), hint="The input is longer than the output by k - 1."),
        Case("2x3 gradient, asymmetric 2x3 kernel", (_G23, _K23), expected=lambda: _autograd_input_grad(_G23, _K23),
             hint="Flip the kernel in both axes: cross-correlating with it unflipped is not the gradient."),
    ],
    wrong_answers={"kernel not flipped": lambda g, k: _input_grad(g, k, flip=False),
                   "no zero padding ('valid')": lambda g, k: _input_grad(g, k, full=False),
                   "output transposed": lambda g, k: _input_grad(g, k, transpose=True)},
))
