"""Affine (uniform) quantization from scratch: scale and zero point, per tensor or per channel.

Taught in chapter 10. A real number ``x`` is stored as an integer ``q = clamp(round(x / scale) + zero_point,
qmin, qmax)`` and read back as ``scale * (q - zero_point)``. Within the representable range the error is at
most ``scale / 2``. **Asymmetric** quantization maps ``[min(x, 0), max(x, 0)]`` onto the unsigned range
``[0, 2^b - 1]`` (the zero point makes 0.0 exact); **symmetric** maps ``[-max|x|, max|x|]`` onto the
signed range ``[-(2^(b-1) - 1), 2^(b-1) - 1]`` with zero point 0. Per-channel quantization gives each
output channel (row of a weight matrix) its own scale.

Quantization changes how many **bits** each number takes and which arithmetic units run it; it does not
change the number of multiply-adds (article 000 §2.3 and 001 §3.2 say it reduces the computation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..validate import as_float_array

__all__ = ["QParams", "SUPPORTED_BITS", "int_range", "choose_qparams", "quantize", "dequantize",
           "fake_quantize", "quantize_weights", "binarize", "ternarize"]

#: The bit-widths this module supports.
SUPPORTED_BITS = (2, 3, 4, 5, 6, 7, 8)


def _check_bits(bits: Any) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise TypeError(f"bits must be an integer, got {type(bits).__name__}")
    if int(bits) not in SUPPORTED_BITS:
        raise ValueError(f"bits must be one of {list(SUPPORTED_BITS)}, got {bits}")
    return int(bits)


def int_range(bits: int, symmetric: bool) -> tuple[int, int]:
    """``(qmin, qmax)``: unsigned ``[0, 2^b - 1]`` if asymmetric, restricted signed ``[-(2^(b-1)-1), 2^(b-1)-1]``."""
    b = _check_bits(bits)
    return (-(2 ** (b - 1) - 1), 2 ** (b - 1) - 1) if symmetric else (0, 2 ** b - 1)


@dataclass
class QParams:
    """Scale(s) and zero point(s) of a quantizer; arrays of one entry per channel when ``axis`` is set."""

    scale: np.ndarray
    zero_point: np.ndarray
    bits: int
    symmetric: bool
    axis: int | None = None

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


def choose_qparams(x: Any, *, bits: int = 8, symmetric: bool = False, axis: int | None = None) -> QParams:
    """Scale and zero point from the range of ``x`` (its min and max; per slice along ``axis`` if given).

    The range always includes 0, so that 0.0 (padding, ReLU outputs, pruned weights) is represented exactly.
    """
    arr = as_float_array(x, "x")
    if arr.size == 0:
        raise ValueError("x must hold at least one value to calibrate on, got an empty array")
    b = _check_bits(bits)
    if axis is not None:
        if not -arr.ndim <= axis < arr.ndim:
            raise ValueError(f"axis must be between {-arr.ndim} and {arr.ndim - 1} for x of shape {arr.shape}, got {axis}")
        axis = axis % arr.ndim
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
    return QParams(np.asarray(scale, dtype=np.float64), np.asarray(zero, dtype=np.int64), b, symmetric, axis)


def quantize(x: Any, qp: QParams) -> np.ndarray:
    """``clamp(round(x / scale) + zero_point, qmin, qmax)`` as int64 (round half to even, like NumPy/torch)."""
    arr = as_float_array(x, "x")
    if not isinstance(qp, QParams):
        raise TypeError(f"qp must be QParams (from choose_qparams), got {type(qp).__name__}")
    s, z = qp._shape(qp.scale, arr.ndim), qp._shape(qp.zero_point, arr.ndim)
    return np.clip(np.round(arr / s) + z, qp.qmin, qp.qmax).astype(np.int64)


def dequantize(q: Any, qp: QParams) -> np.ndarray:
    """``scale * (q - zero_point)`` as float64."""
    q = np.asarray(q)
    if not np.issubdtype(q.dtype, np.integer):
        raise TypeError(f"q must hold integers (from quantize), got dtype {q.dtype}")
    return qp._shape(qp.scale, q.ndim) * (q - qp._shape(qp.zero_point, q.ndim))


def fake_quantize(x: Any, *, bits: int = 8, symmetric: bool = True, axis: int | None = None) -> Any:
    """Quantize and dequantize a torch tensor in the forward pass, with the straight-through estimator.

    The forward value is ``dequantize(quantize(x))``; the backward pass lets the gradient through
    unchanged where ``x`` lies inside the representable range and blocks it outside (the clipped
    straight-through estimator, as ``torch.fake_quantize_per_tensor_affine`` does). The range is taken
    from ``x`` itself (detached), so nothing is clipped unless ``x`` changes between the two.
    """
    import torch

    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch tensor, got {type(x).__name__}")
    qmin, qmax = int_range(bits, symmetric)
    with torch.no_grad():  # the same arithmetic as choose_qparams, in torch, on x's device
        if axis is None:
            lo, hi = x.min(), x.max()
        else:
            if not -x.ndim <= axis < x.ndim:
                raise ValueError(f"axis must be between {-x.ndim} and {x.ndim - 1} for x of shape {tuple(x.shape)}, got {axis}")
            dims = [i for i in range(x.ndim) if i != axis % x.ndim]
            lo, hi = x.amin(dim=dims, keepdim=True), x.amax(dim=dims, keepdim=True)
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
    quantization-aware training (QAT): the full-precision weights keep learning through the
    straight-through estimator while the forward pass sees only the quantized ones. Per channel means one
    scale per output unit (row of the weight matrix).
    """
    import copy

    from torch import nn
    from torch.nn.utils import parametrize

    b = _check_bits(bits)

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


def binarize(w: Any) -> np.ndarray:
    """Binary weights (XNOR-Net, Rastegari et al., 2016): ``alpha * sign(w)`` with ``alpha = mean |w|``."""
    arr = as_float_array(w, "w")
    return np.abs(arr).mean() * np.where(arr >= 0, 1.0, -1.0)


def ternarize(w: Any, *, delta_factor: float = 0.7) -> np.ndarray:
    """Ternary weights (Li et al., 2016): 0 where ``|w| <= delta = 0.7 mean |w|``, else ``±alpha``.

    ``alpha`` is the mean of the ``|w|`` above the threshold.
    """
    arr = as_float_array(w, "w")
    delta = delta_factor * np.abs(arr).mean()
    big = np.abs(arr) > delta
    alpha = np.abs(arr[big]).mean() if big.any() else 0.0
    return np.where(big, alpha * np.sign(arr), 0.0)
