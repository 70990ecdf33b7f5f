"""Convolution and pooling from scratch, as the frameworks compute them (chapter 4).

Layouts follow PyTorch: inputs are (batch, channels, height, width), kernels (out_channels,
in_channels, kernel_height, kernel_width). Like ``torch.nn.functional.conv2d`` and ``tf.nn.conv2d``,
these compute a **cross-correlation**: the kernel is not flipped.

Two implementations compute the same thing: :func:`conv2d_loops`, a direct transcription of the
formula, and :func:`conv2d`, which gathers every input window with a strided view (no copy) and
contracts windows with kernels in one ``einsum``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .validate import as_float_array, check_int, check_int_list

__all__ = ["conv_output_size", "conv2d_loops", "conv2d", "max_pool2d", "avg_pool2d"]


def _pair(v: Any, name: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each at least ``minimum``, as a pair."""
    if isinstance(v, (tuple, list)):
        first, second = check_int_list(v, name, min=minimum, length=2, example="(2, 3)")
        return first, second
    n = check_int(v, name, min=minimum)
    return n, n


def conv_output_size(n: int, k: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length along one axis: ``floor((n + 2 padding - dilation (k - 1) - 1) / stride) + 1``.

    A kernel of size ``k`` with dilation ``d`` spans ``d (k - 1) + 1`` inputs; it fits
    ``n + 2 padding - span`` positions past the first, taken every ``stride``. Raises ``ValueError`` if
    the kernel does not fit in the padded input at all.
    """
    n, k, stride, dilation = (check_int(v, name, min=1) for v, name in
                              ((n, "n"), (k, "k"), (stride, "stride"), (dilation, "dilation")))
    padding = check_int(padding, "padding", min=0)
    span = dilation * (k - 1) + 1
    if span > n + 2 * padding:
        raise ValueError(f"the kernel spans {span} inputs (k={k}, dilation={dilation}) but the padded "
                         f"input has only {n + 2 * padding} (n={n}, padding={padding})")
    return (n + 2 * padding - span) // stride + 1


def _check(x: Any, w: Any, b: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    x = as_float_array(x, "x", ndim=4)
    w = as_float_array(w, "w", ndim=4, nonempty=True)
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"x has {x.shape[1]} channels but w expects {w.shape[1]} "
                         f"(x is (batch, channels, H, W) = {x.shape}; w is (out, in, kH, kW) = {w.shape})")
    if b is not None:
        b = as_float_array(b, "b", ndim=1)
        if b.shape[0] != w.shape[0]:
            raise ValueError(f"b must have one entry per output channel ({w.shape[0]}), got {b.shape[0]}")
    return x, w, b


def _geometry(x: np.ndarray, w: np.ndarray, stride: Any, padding: Any,
              dilation: Any) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]:
    s, p, d = _pair(stride, "stride", 1), _pair(padding, "padding", 0), _pair(dilation, "dilation", 1)
    out = tuple(conv_output_size(int(x.shape[2 + a]), int(w.shape[2 + a]), s[a], p[a], d[a]) for a in (0, 1))
    return s, p, d, out  # type: ignore[return-value]


def _pad(x: np.ndarray, p: tuple[int, int], value: float = 0.0) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), constant_values=value)


def conv2d_loops(x: Any, w: Any, b: Any = None, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1) -> np.ndarray:
    """The readable version: for every output pixel, multiply a window of the input by the kernel.

    ``y[n, o, i, j] = b[o] + sum_{c, u, v} x_pad[n, c, i s + u d, j s + v d] * w[o, c, u, v]``.
    """
    x, w, b = _check(x, w, b)
    (sh, sw), p, (dh, dw), (H, W) = _geometry(x, w, stride, padding, dilation)
    xp = _pad(x, p)
    kh, kw = w.shape[2:]
    y = np.zeros((x.shape[0], w.shape[0], H, W), dtype=np.result_type(x, w))
    for n in range(x.shape[0]):
        for o in range(w.shape[0]):
            for i in range(H):
                for j in range(W):
                    window = xp[n, :, i * sh: i * sh + dh * (kh - 1) + 1: dh,
                                j * sw: j * sw + dw * (kw - 1) + 1: dw]
                    y[n, o, i, j] = np.sum(window * w[o]) + (b[o] if b is not None else 0.0)
    return y


def _windows(xp: np.ndarray, kh: int, kw: int, s: tuple[int, int], d: tuple[int, int],
             out: tuple[int, int]) -> np.ndarray:
    """All (kh, kw) windows, strided and dilated: shape (N, C, H_out, W_out, kh, kw); a view, no copy."""
    span = (d[0] * (kh - 1) + 1, d[1] * (kw - 1) + 1)
    v = np.lib.stride_tricks.sliding_window_view(xp, span, axis=(2, 3))
    return v[:, :, ::s[0], ::s[1], ::d[0], ::d[1]][:, :, :out[0], :out[1]]


def conv2d(x: Any, w: Any, b: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1) -> np.ndarray:
    """The vectorised version of :func:`conv2d_loops`: same arguments, same result, far faster."""
    x, w, b = _check(x, w, b)
    s, p, d, out = _geometry(x, w, stride, padding, dilation)
    win = _windows(_pad(x, p), w.shape[2], w.shape[3], s, d, out)
    y = np.einsum("nchwuv,ocuv->nohw", win, w, optimize=True)
    return y + b[None, :, None, None] if b is not None else y


def _pool(x: Any, kernel: Any, stride: Any, padding: Any, reduce: str) -> np.ndarray:
    x = as_float_array(x, "x", ndim=4)
    k = _pair(kernel, "kernel_size", 1)
    s = k if stride is None else _pair(stride, "stride", 1)
    p = _pair(padding, "padding", 0)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"padding must be at most half the kernel size {k}, got {p}")
    out = tuple(conv_output_size(int(x.shape[2 + a]), k[a], s[a], p[a]) for a in (0, 1))
    fill = -np.inf if reduce == "max" else 0.0
    win = _windows(_pad(x, p, fill), k[0], k[1], s, (1, 1), out)  # type: ignore[arg-type]
    return win.max(axis=(-2, -1)) if reduce == "max" else win.mean(axis=(-2, -1))


def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> np.ndarray:
    """Largest value of each window (stride defaults to the kernel size). No parameters to learn."""
    return _pool(x, kernel_size, stride, padding, "max")


def avg_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> np.ndarray:
    """Mean of each window, padding counted as zeros (PyTorch's default). No parameters to learn."""
    return _pool(x, kernel_size, stride, padding, "mean")
