"""Group-wise low-bit weights, as large language models ship them: int4 codes with a scale per group.

Taught in chapter 10. Below 8 bits one scale per output row is too coarse: a single large weight sets the
step of the whole row. Formats for large language models (GPTQ's and AWQ's int4 checkpoints, llama.cpp's
``Q4_0``) give each run of ``group_size`` consecutive input columns of a row its own scale, stored in 16 bits.
A group of ``g`` weights then costs ``g * bits + 16`` bits: 4 + 16/g bits per weight for int4, so 4.125 bits
at ``g = 128`` and 5 bits at ``g = 16``; the smaller the group, the finer the steps and the larger the cost
of the scales. :func:`packed_bytes` counts that storage, scales included.

Symmetric groups use the restricted signed range of :mod:`troikadl.compress.quantize`
(``[-(2^(b-1) - 1), 2^(b-1) - 1]``, scale ``max|w| / (2^(b-1) - 1)``, zero point 0); asymmetric groups map
``[min(w, 0), max(w, 0)]`` onto ``[0, 2^b - 1]`` with a zero point per group, as GPTQ's checkpoints do.
Rounding is half to even, as in NumPy and torch. (llama.cpp's ``Q4_0`` uses the full range ``[-8, 7]``.)
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..validate import as_float_array, check_bool, check_instance, check_int
from ._checks import check_module
from .quantize import int_range

__all__ = ["GroupQuantized", "group_quantize", "group_dequantize", "group_fake_quantize", "packed_bytes",
           "bits_per_weight", "quantize_linears_groupwise"]


@dataclass
class GroupQuantized:
    """A matrix quantized in groups: ``codes`` (rows, cols) int64, ``scales`` and ``zero_points`` (rows, groups).

    ``scales`` have the dtype of the quantized matrix (float32 or float64), which :func:`group_dequantize`
    returns; ``zero_points`` are all 0 for symmetric groups.
    """

    codes: np.ndarray
    scales: np.ndarray
    zero_points: np.ndarray
    bits: int
    group_size: int
    symmetric: bool


def _group_size(group_size: Any, cols: int) -> int:
    """``group_size`` checked against the number of input columns ``cols`` (``None``: one group per row)."""
    if group_size is None:
        return cols
    g = check_int(group_size, "group_size", min=1)
    if cols % g:
        raise ValueError(f"group_size must divide the number of input columns ({cols}), got {g}; choose a "
                         f"divisor of {cols} or None for one group per row")
    return g


def group_quantize(W: Any, bits: int = 4, group_size: int | None = 128, *, symmetric: bool = True) -> GroupQuantized:
    """Quantize a 2-D weight matrix ``W`` (rows = outputs, cols = inputs) in groups of consecutive columns.

    Each row is cut into ``cols / group_size`` groups of ``group_size`` consecutive input columns (``None``:
    the whole row, i.e. per-channel); each group gets its own scale (and zero point if asymmetric).
    ``W`` may be a NumPy array or a torch tensor; float32 stays float32, anything else becomes float64.
    """
    check_bool(symmetric, "symmetric")
    qmin, qmax = int_range(bits, symmetric)
    dtype = np.float32 if str(getattr(W, "dtype", "")) in ("float32", "torch.float32") else np.float64
    w = as_float_array(W, "W", ndim=2, dtype=dtype, nonempty=True)
    rows, cols = w.shape
    g = _group_size(group_size, cols)
    groups = w.reshape(rows, cols // g, g)
    lo, hi = np.minimum(groups.min(axis=2), 0), np.maximum(groups.max(axis=2), 0)
    if symmetric:
        scale = np.maximum(-lo, hi) / dtype(qmax)
        zero = np.zeros(scale.shape, dtype=np.int64)
    else:
        scale = (hi - lo) / dtype(qmax - qmin)
        safe = np.where(scale > 0, scale, dtype(1))
        zero = np.clip(np.round(qmin - lo / safe), qmin, qmax).astype(np.int64)
    scale = np.where(scale > 0, scale, dtype(1)).astype(dtype)  # an all-zero group: any scale is exact
    codes = np.clip(np.round(groups / scale[..., None]) + zero[..., None], qmin, qmax).astype(np.int64)
    return GroupQuantized(codes.reshape(rows, cols), scale, zero, int(bits), g, bool(symmetric))


def group_dequantize(gq: GroupQuantized) -> np.ndarray:
    """``scale * (code - zero_point)`` per group: the matrix the codes stand for, in the scales' dtype."""
    check_instance(gq, "gq", GroupQuantized, "GroupQuantized (from group_quantize)")
    rows, cols = gq.codes.shape
    codes = gq.codes.reshape(rows, cols // gq.group_size, gq.group_size) - gq.zero_points[..., None]
    return (codes * gq.scales[..., None]).astype(gq.scales.dtype, copy=False).reshape(rows, cols)


def group_fake_quantize(W: Any, bits: int = 4, group_size: int | None = 128, *, symmetric: bool = True) -> Any:
    """``group_dequantize(group_quantize(W, ...))``, returned as the kind of ``W``: a torch tensor (same dtype
    and device) or a NumPy array."""
    out = group_dequantize(group_quantize(W, bits, group_size, symmetric=symmetric))
    if type(W).__module__.startswith("torch"):
        import torch

        return torch.as_tensor(out).to(dtype=W.dtype, device=W.device)
    return out


def _storage_args(bits: Any, group_size: Any, scale_bytes: Any, zero_point_bits: Any) -> tuple[int, int, int, int]:
    return (check_int(bits, "bits", min=1, max=32), check_int(group_size, "group_size", min=1),
            check_int(scale_bytes, "scale_bytes", min=0), check_int(zero_point_bits, "zero_point_bits", min=0))


def bits_per_weight(bits: int, group_size: int, *, scale_bytes: int = 2, zero_point_bits: int = 0) -> float:
    """Average storage per weight: ``bits + (8 * scale_bytes + zero_point_bits) / group_size``.

    int4 with fp16 scales: 4.125 at ``group_size = 128``, 5.0 at 16. Asymmetric formats also store a zero
    point per group (``zero_point_bits``: 4 in GPTQ's packed checkpoints).
    """
    b, g, s, z = _storage_args(bits, group_size, scale_bytes, zero_point_bits)
    return b + (8 * s + z) / g


def packed_bytes(rows: int, cols: int, bits: int, group_size: int, *, scale_bytes: int = 2,
                 zero_point_bits: int = 0) -> int:
    """Bytes to store a (rows, cols) matrix as ``bits``-bit codes packed tightly, plus one scale of
    ``scale_bytes`` bytes (and ``zero_point_bits`` bits of zero point) per group; rounded up to whole bytes."""
    r, c = check_int(rows, "rows", min=1), check_int(cols, "cols", min=1)
    b, g, s, z = _storage_args(bits, group_size, scale_bytes, zero_point_bits)
    if c % g:
        raise ValueError(f"group_size must divide cols ({c}), got {g}")
    return math.ceil((r * c * b + r * (c // g) * (8 * s + z)) / 8)


def quantize_linears_groupwise(model: Any, bits: int = 4, group_size: int | None = 128, *,
                               symmetric: bool = True) -> Any:
    """A copy of ``model`` whose ``nn.Linear`` weights are replaced by their group-quantized values.

    Post-training, round-to-nearest (RTN) quantization of the weights only; biases, embeddings and norms
    stay in floating point, as in int4 checkpoints. Raises if a layer's input width is not divisible by
    ``group_size``, naming the layer.
    """
    import torch
    from torch import nn

    check_module(model)
    new = copy.deepcopy(model)
    layers = [(n, m) for n, m in new.named_modules() if isinstance(m, nn.Linear)]
    if not layers:
        raise ValueError("model has no nn.Linear layers to quantize")
    with torch.no_grad():
        for name, layer in layers:
            if group_size is not None and layer.in_features % check_int(group_size, "group_size", min=1):
                raise ValueError(f"group_size must divide every layer's input width: layer {name!r} has "
                                 f"{layer.in_features} inputs, group_size is {group_size}")
            layer.weight.copy_(group_fake_quantize(layer.weight.detach(), bits, group_size, symmetric=symmetric))
    return new
