"""Scaled dot-product attention, its masks, and sinusoidal positions (chapter 6).

Shapes and the mask convention are described in :mod:`troikadl.attention`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..validate import as_bool_array, as_float_array, as_int_array, check_bool, check_int, check_positive

__all__ = ["softmax", "scaled_dot_product_attention", "causal_mask", "padding_mask", "sinusoidal_positions"]


def _check_qkv(q: Any, k: Any, v: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    q, k, v = (as_float_array(a, n) for a, n in ((q, "q"), (k, "k"), (v, "v")))  # float64, whatever came in
    if q.ndim < 2 or k.ndim != q.ndim or v.ndim != q.ndim:
        raise ValueError(f"q, k and v must have the same number (>= 2) of dimensions, got shapes "
                         f"{q.shape}, {k.shape}, {v.shape}")
    if 0 in q.shape[-2:] or 0 in k.shape[-2:] or v.shape[-1] == 0:
        raise ValueError(f"q, k and v must have at least one position and one feature, got shapes "
                         f"{q.shape}, {k.shape}, {v.shape}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must have the same last dimension d_k, got {q.shape[-1]} and {k.shape[-1]}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same length L_k, got {k.shape[-2]} and {v.shape[-2]}")
    try:
        np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError as exc:
        raise ValueError(f"the leading (batch, heads) dimensions of q, k and v must match, got shapes "
                         f"{q.shape}, {k.shape}, {v.shape}") from exc
    return q, k, v


def _check_mask(mask: Any, shape: tuple[int, ...], causal: Any) -> np.ndarray:
    """The boolean (``True`` = may attend) array of ``shape`` that ``mask`` and ``causal`` allow."""
    allowed = np.ones(shape[-2:], dtype=bool)
    if check_bool(causal, "causal"):
        if shape[-2] != shape[-1]:
            raise ValueError(f"causal=True needs L_q == L_k, got L_q = {shape[-2]} and L_k = {shape[-1]}")
        allowed = causal_mask(shape[-1])
    if mask is not None:
        mask = as_bool_array(mask, "mask", what="True = may attend")
        try:
            mask = np.broadcast_to(mask, shape)
        except ValueError as exc:
            raise ValueError(f"mask of shape {mask.shape} does not broadcast to the scores "
                             f"(batch, heads, L_q, L_k) = {shape}") from exc
        allowed = allowed & mask
    return np.broadcast_to(allowed, shape)


def softmax(z: Any, axis: int = -1) -> np.ndarray:
    """Softmax along ``axis``, shifted by the maximum (same result, no overflow). Rows of -inf give 0."""
    z = as_float_array(z, "z", finite=False)  # float64; -inf marks masked entries
    if np.isnan(z).any() or np.isposinf(z).any():
        raise ValueError("z must not hold NaN or +inf (-inf marks masked entries)")
    check_int(axis, "axis", min=-z.ndim, max=z.ndim - 1)
    m = np.max(z, axis=axis, keepdims=True)
    e = np.exp(z - np.where(np.isfinite(m), m, 0.0))
    s = e.sum(axis=axis, keepdims=True)
    return np.divide(e, s, out=np.zeros_like(e), where=s > 0)


def causal_mask(length: int) -> np.ndarray:
    """(length, length) boolean mask: position i may attend to positions j <= i."""
    check_positive(length, "length", integer=True)
    return np.tril(np.ones((length, length), dtype=bool))


def padding_mask(lengths: Any, max_length: int) -> np.ndarray:
    """(batch, 1, 1, max_length) boolean mask: True for real tokens, False for padding."""
    check_positive(max_length, "max_length", integer=True)
    lengths = as_int_array(lengths, "lengths", ndim=1, min=1, max=max_length, nonempty=True)
    return (np.arange(max_length)[None, :] < lengths[:, None])[:, None, None, :]


def scaled_dot_product_attention(q: Any, k: Any, v: Any, mask: Any = None, *, causal: bool = False,
                                 scale: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``softmax(Q K^T / sqrt(d_k) + mask) V``; returns the output and the attention weights.

    ``q`` is (..., L_q, d_k), ``k`` (..., L_k, d_k), ``v`` (..., L_k, d_v). Each query's weights over the
    keys sum to one (a query whose keys are all masked gets weights 0 and output 0). ``scale`` overrides
    ``1 / sqrt(d_k)`` (pass 1.0 to see what the scaling is for).
    """
    q, k, v = _check_qkv(q, k, v)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else check_positive(scale, "scale")
    scores = (q @ np.swapaxes(k, -1, -2)) * scale
    allowed = _check_mask(mask, scores.shape, causal)  # True = may attend (all True when mask is None)
    weights = softmax(np.where(allowed, scores, -np.inf), axis=-1)
    return weights @ v, weights


def sinusoidal_positions(length: int, d_model: int) -> np.ndarray:
    """Vaswani et al. (2017): PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(same angle)."""
    check_positive(length, "length", integer=True)
    check_positive(d_model, "d_model", integer=True)
    if d_model % 2:
        raise ValueError(f"d_model must be even, got {d_model}")
    angles = np.arange(length)[:, None] / 10000 ** (np.arange(0, d_model, 2)[None, :] / d_model)
    pe = np.zeros((length, d_model))
    pe[:, 0::2], pe[:, 1::2] = np.sin(angles), np.cos(angles)
    return pe

