"""Affine (uniform) quantization from scratch: scale and zero point, per tensor or per channel.

Taught in chapter 10. A real number ``x`` is stored as an integer ``q = clamp(round(x / scale) + zero_point,
qmin, qmax)`` and read back as ``scale * (q - zero_point)``. Within the representable range the error is at
most ``scale / 2``. **Asymmetric** quantization maps ``[min(x, 0), max(x, 0)]`` onto the unsigned range
``[0, 2^b - 1]`` (the zero point makes 0.0 exact); **symmetric** maps ``[-max|x|, max|x|]`` onto the
signed range ``[-(2^(b-1) - 1), 2^(b-1) - 1]`` with zero point 0. Per-channel quantization gives each
output channel (row of a weight matrix) its own scale.

Quantization keeps the number of multiply-adds and makes each one cheaper: fewer **bits** per number to
store and move, and narrower integer arithmetic (more values per instruction, less energy per operation).
Articles 000 §2.3 and 001 §3.2 say it reduces the computation; it reduces its cost, not its count.

NumPy functions (``choose_qparams``, ``quantize``, ``dequantize``) take and return NumPy arrays; the
float transforms keep their input's kind, dtype and device: ``fake_quantize`` (torch), ``binarize`` and
``ternarize`` (NumPy or torch), and ``dequantize`` returns the dtype ``choose_qparams`` saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..validate import (as_float_array, check_bool, check_choice, check_float_tensor, check_instance, check_int,
                        check_positive)
from ._checks import check_axis, check_module

__all__ = ["QParams", "SUPPORTED_BITS", "int_range", "choose_qparams", "quantize", "dequantize",
           "fake_quantize", "quantize_weights", "binarize", "ternarize"]

#: The bit-widths this module supports.
SUPPORTED_BITS = (2, 3, 4, 5, 6, 7, 8)


def _check_bits(bits: Any) -> int:
    return check_choice(check_int(bits, "bits"), "bits", SUPPORTED_BITS)


def int_range(bits: int, symmetric: bool) -> tuple[int, int]:
    """``(qmin, qmax)``: unsigned ``[0, 2^b - 1]`` if asymmetric, restricted signed ``[-(2^(b-1)-1), 2^(b-1)-1]``."""
    b = _check_bits(bits)
    check_bool(symmetric, "symmetric")
    return (-(2 ** (b - 1) - 1), 2 ** (b - 1) - 1) if symmetric else (0, 2 ** b - 1)


@dataclass
class QParams:
    """Scale(s) and zero point(s) of a quantizer; arrays of one entry per channel when ``axis`` is set.

    ``dtype`` is the float dtype of the calibrated values (float32 or float64): :func:`dequantize` returns it.
    """

    scale: np.ndarray
    zero_point: np.ndarray
    bits: int
    symmetric: bool
    axis: int | None = None
    dtype: Any = np.float64

    @property
    def qmin(self) -> int:
        return int_range(self.bits, self.symmetric)[0]

    @property
    def qmax(self) -> int:
        return int_range(self.bits, self.symmetric)[1]

    def _shape(self, a: np.ndarray, ndim: int) -> np.ndarray:
        if self.axis is None:
            return a
        shape = [1] * ndim
        shape[self.axis] = -1
        return a.reshape(shape)

    def _check(self, shape: tuple[int, ...], name: str) -> None:
        """Check that an array of ``shape`` has one entry per channel along ``axis``."""
        if self.axis is not None and (len(shape) <= self.axis or shape[self.axis] != self.scale.size):
            raise ValueError(f"{name} must have {self.scale.size} entries along axis {self.axis} (one per "
                             f"channel of these QParams), got shape {shape}")


def choose_qparams(x: Any, *, bits: int = 8, symmetric: bool = False, axis: int | None = None) -> QParams:
    """Scale and zero point from the range of ``x`` (its min and max; per slice along ``axis`` if given).

    The range always includes 0, so that 0.0 (padding, ReLU outputs, pruned weights) is represented exactly.
    """
    source = str(getattr(x, "dtype", ""))
    arr = as_float_array(x, "x")
    if arr.size == 0:
        raise ValueError("x must hold at least one value to calibrate on, got an empty array")
    b = _check_bits(bits)
    check_bool(symmetric, "symmetric")
    axis = check_axis(axis, arr.ndim)
    if axis is not None:
        other = tuple(i for i in range(arr.ndim) if i != axis)
        lo, hi = arr.min(axis=other), arr.max(axis=other)
    else:
        lo, hi = np.array(arr.min()), np.array(arr.max())
    lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
    qmin, qmax = int_range(b, symmetric)
    if symmetric:
        scale = np.maximum(np.abs(lo), np.abs(hi)) / qmax
        zero = np.zeros_like(scale, dtype=np.int64)
    else:
        scale = (hi - lo) / (qmax - qmin)
        safe = np.where(scale > 0, scale, 1.0)
        zero = np.clip(np.round(qmin - lo / safe), qmin, qmax).astype(np.int64)
    scale = np.where(scale > 0, scale, 1.0)  # an all-zero tensor: any scale represents it exactly
    dtype = np.float32 if source in ("float32", "torch.float32") else np.float64
    return QParams(np.asarray(scale, dtype=np.float64), np.asarray(zero, dtype=np.int64), b, bool(symmetric), axis,
                   dtype)


def quantize(x: Any, qp: QParams) -> np.ndarray:
    """``clamp(round(x / scale) + zero_point, qmin, qmax)`` as int64 (round half to even, like NumPy/torch)."""
    arr = as_float_array(x, "x")
    check_instance(qp, "qp", QParams, "QParams (from choose_qparams)")
    qp._check(arr.shape, "x")
    s, z = qp._shape(qp.scale, arr.ndim), qp._shape(qp.zero_point, arr.ndim)
    return np.clip(np.round(arr / s) + z, qp.qmin, qp.qmax).astype(np.int64)


def dequantize(q: Any, qp: QParams) -> np.ndarray:
    """``scale * (q - zero_point)``, in the dtype of the values ``qp`` was calibrated on (``qp.dtype``)."""
    q = np.asarray(q)
    if not np.issubdtype(q.dtype, np.integer):
        raise TypeError(f"q must hold integers (from quantize), got dtype {q.dtype}")
    check_instance(qp, "qp", QParams, "QParams (from choose_qparams)")
    qp._check(q.shape, "q")
    out = qp._shape(qp.scale, q.ndim) * (q - qp._shape(qp.zero_point, q.ndim))
    return out.astype(qp.dtype, copy=False)


def fake_quantize(x: Any, *, bits: int = 8, symmetric: bool = True, axis: int | None = None) -> Any:
    """Quantize and dequantize a torch tensor in the forward pass, with the straight-through estimator.

    The forward value is ``dequantize(quantize(x))``; the backward pass lets the gradient through
    unchanged where ``x`` lies inside the representable range and blocks it outside (the clipped
    straight-through estimator, as ``torch.fake_quantize_per_tensor_affine`` does). The range is taken
    from ``x`` itself (detached), so only a value at the end of the range can be clipped: asymmetric, the
    rounded zero point can push it one step past the grid (2 bits on ``[-1.5, 1.5]``: scale 1, zero point
    2, and 1.5 maps to 4 > 3, read back as 1.0, still within half a step, with its gradient blocked, as
    torch's does). The result has ``x``'s dtype and device; ``x`` must be a non-empty, finite float tensor.
    """
    import torch

    check_float_tensor(x, "x", finite=False)
    if x.numel() == 0:
        raise ValueError("x must hold at least one value, got an empty tensor")
    qmin, qmax = int_range(bits, symmetric)
    axis = check_axis(axis, x.ndim)
    with torch.no_grad():  # the same arithmetic as choose_qparams, in torch, on x's device
        if axis is None:
            lo, hi = x.min(), x.max()
        else:
            dims = [i for i in range(x.ndim) if i != axis]
            lo, hi = x.amin(dim=dims, keepdim=True), x.amax(dim=dims, keepdim=True)
        if x.device.type != "meta" and not bool(torch.isfinite(lo).all() & torch.isfinite(hi).all()):
            raise ValueError("x must be finite, but it holds NaN or infinity")  # min and max propagate NaN
        lo, hi = lo.clamp(max=0), hi.clamp(min=0)
        if symmetric:
            scale, zero = torch.maximum(-lo, hi) / qmax, torch.zeros_like(lo)
        else:
            scale = (hi - lo) / (qmax - qmin)
            zero = torch.clamp(torch.round(qmin - lo / torch.where(scale > 0, scale, 1.0)), qmin, qmax)
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    unclamped = torch.round(x / scale) + zero
    q = torch.clamp(unclamped, qmin, qmax)
    out = (q - zero) * scale
    inside = ((unclamped >= qmin) & (unclamped <= qmax)).to(x.dtype)
    return x * inside + (out - x * inside).detach()  # value: out; gradient: 1 inside the range, 0 outside


def quantize_weights(model: Any, bits: int, *, symmetric: bool = True, per_channel: bool = True) -> Any:
    """A copy of ``model`` whose ``nn.Linear`` weights are fake-quantized to ``bits`` in every forward pass.

    Used as it is, the copy is post-training quantization (PTQ) of the weights; trained further, it is
    quantization-aware training (QAT). The forward pass computes with the quantized weights, and so does
    the backward pass: gradients reach earlier layers through them, and the gradient with respect to
    each quantized weight is handed, by the straight-through estimator, to the full-precision weight
    that the optimizer updates (gradients and updates stay in floating point). Per channel means one
    scale per output unit (row of the weight matrix). The copy keeps the model's dtype and device.
    """
    import copy

    from torch import nn
    from torch.nn.utils import parametrize

    b = _check_bits(bits)
    check_module(model)
    check_bool(symmetric, "symmetric")
    check_bool(per_channel, "per_channel")

    class FakeQuant(nn.Module):
        def forward(self, w: Any) -> Any:
            return fake_quantize(w, bits=b, symmetric=symmetric, axis=0 if per_channel else None)

    new = copy.deepcopy(model)
    layers = [m for m in new.modules() if isinstance(m, nn.Linear)]
    if not layers:
        raise ValueError("model has no nn.Linear layers to quantize")
    for layer in layers:
        parametrize.register_parametrization(layer, "weight", FakeQuant())
    return new


def _float_weights(w: Any) -> tuple[Any, Any]:
    """``(values, xp)``: a torch tensor (detached, checked) with ``xp = torch``, else a NumPy array with ``np``.

    NumPy float32 stays float32; other NumPy inputs become float64.
    """
    import torch

    if isinstance(w, torch.Tensor):
        t = check_float_tensor(w, "w").detach()
        xp = torch
    else:
        t = as_float_array(w, "w", dtype=np.float32 if getattr(w, "dtype", None) == np.float32 else np.float64)
        xp = np
    if (t.size if xp is np else t.numel()) == 0:
        raise ValueError("w must hold at least one weight, got an empty array")
    return t, xp


def binarize(w: Any) -> Any:
    """Binary weights with a scale (Binary-Weight-Network, Rastegari et al., 2016): ``alpha * sign(w)``.

    ``alpha = mean |w|`` over the whole tensor (the paper uses one per output filter); ``sign(0) = +1``.
    Only the weights are binarized; XNOR-Net, in the same paper, binarizes the activations too. Returns
    the kind (NumPy or torch), dtype and device of ``w``.
    """
    t, xp = _float_weights(w)
    one = xp.ones_like(t)
    return abs(t).mean() * xp.where(t >= 0, one, -one)


def ternarize(w: Any, *, delta_factor: float = 0.7) -> Any:
    """Ternary weights (Li et al., 2016): 0 where ``|w| <= delta = delta_factor * mean |w|``, else ``±alpha``.

    ``alpha`` is the mean of the ``|w|`` above the threshold. Returns the kind (NumPy or torch), dtype
    and device of ``w``; ``delta_factor`` must be a finite number >= 0.
    """
    check_positive(delta_factor, "delta_factor", allow_zero=True)
    t, xp = _float_weights(w)
    mag = abs(t)
    big = mag > delta_factor * mag.mean()
    n_big = big.sum()
    alpha = (mag * big).sum() / (max(n_big, 1) if xp is np else n_big.clamp(min=1))  # 0 if nothing is big
    out = xp.where(big, alpha * xp.sign(t), xp.zeros_like(t))
    return out.astype(t.dtype, copy=False) if xp is np else out
