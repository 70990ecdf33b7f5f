"""Attention from scratch in NumPy: scaled dot-product, multi-head, positions, an encoder block.

Taught in chapter 6. Shapes: a sequence is (batch, length, d_model); per-head tensors are
(batch, heads, length, d_head). Masks are boolean and follow PyTorch's ``scaled_dot_product_attention``:
``True`` means "may attend", and a mask broadcasts against the (batch, heads, L_q, L_k) scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .validate import as_float_array

__all__ = ["softmax", "scaled_dot_product_attention", "causal_mask", "padding_mask", "MHAWeights",
           "multi_head_attention", "sinusoidal_positions", "layer_norm", "EncoderWeights", "encoder_block"]


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax along ``axis``, shifted by the maximum (same result, no overflow). Rows of -inf give 0."""
    m = np.max(z, axis=axis, keepdims=True)
    e = np.exp(z - np.where(np.isfinite(m), m, 0.0))
    s = e.sum(axis=axis, keepdims=True)
    return np.divide(e, s, out=np.zeros_like(e), where=s > 0)


def causal_mask(length: int) -> np.ndarray:
    """(length, length) boolean mask: position i may attend to positions j <= i."""
    return np.tril(np.ones((length, length), dtype=bool))


def padding_mask(lengths: Any, max_length: int) -> np.ndarray:
    """(batch, 1, 1, max_length) boolean mask: True for real tokens, False for padding."""
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or (lengths < 1).any() or (lengths > max_length).any():
        raise ValueError(f"lengths must be a 1-D array of values in [1, {max_length}], got {lengths}")
    return (np.arange(max_length)[None, :] < lengths[:, None])[:, None, None, :]


def scaled_dot_product_attention(q: Any, k: Any, v: Any, mask: Any = None, *, causal: bool = False,
                                 scale: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``softmax(Q K^T / sqrt(d_k) + mask) V``; returns the output and the attention weights.

    ``q`` is (..., L_q, d_k), ``k`` (..., L_k, d_k), ``v`` (..., L_k, d_v). Each query's weights over the
    keys sum to one. ``scale`` overrides ``1 / sqrt(d_k)`` (pass 1.0 to see what the scaling is for).
    """
    q, k, v = (as_float_array(a, n, dtype=np.result_type(np.asarray(q).dtype, np.float32))
               for a, n in ((q, "q"), (k, "k"), (v, "v")))
    if q.ndim < 2 or k.ndim != q.ndim or v.ndim != q.ndim:
        raise ValueError(f"q, k and v must have the same number (>= 2) of dimensions, got shapes "
                         f"{q.shape}, {k.shape}, {v.shape}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must have the same last dimension d_k, got {q.shape[-1]} and {k.shape[-1]}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same length L_k, got {k.shape[-2]} and {v.shape[-2]}")
    scores = (q @ np.swapaxes(k, -1, -2)) * float(1.0 / np.sqrt(q.shape[-1]) if scale is None else scale)
    allowed = np.ones(scores.shape[-2:], dtype=bool)
    if causal:
        if q.shape[-2] != k.shape[-2]:
            raise ValueError("causal=True needs L_q == L_k")
        allowed = causal_mask(q.shape[-2])
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != bool:
            raise TypeError(f"mask must be boolean (True = may attend), got dtype {mask.dtype}")
        try:
            allowed = np.broadcast_to(allowed & mask, np.broadcast_shapes(scores.shape, mask.shape))
        except ValueError as exc:
            raise ValueError(f"mask of shape {mask.shape} does not broadcast against the scores "
                             f"{scores.shape}") from exc
    weights = softmax(np.where(allowed, scores, -np.inf), axis=-1)
    return weights @ v, weights


@dataclass
class MHAWeights:
    """Projections of multi-head attention: ``x W^T + b`` for queries, keys, values and the output.

    PyTorch layout: each W is (d_model, d_model), rows grouped by head.
    """

    Wq: np.ndarray
    Wk: np.ndarray
    Wv: np.ndarray
    Wo: np.ndarray
    bq: np.ndarray
    bk: np.ndarray
    bv: np.ndarray
    bo: np.ndarray

    @classmethod
    def from_torch(cls, mha: Any) -> "MHAWeights":
        """From ``nn.MultiheadAttention`` (its ``in_proj_weight`` stacks Wq, Wk, Wv)."""
        g = lambda t: t.detach().cpu().numpy().astype(np.float64)  # noqa: E731
        E = mha.embed_dim
        W, b = g(mha.in_proj_weight), g(mha.in_proj_bias)
        return cls(W[:E], W[E:2 * E], W[2 * E:], g(mha.out_proj.weight), b[:E], b[E:2 * E], b[2 * E:],
                   g(mha.out_proj.bias))

    def to_keras(self, layer: Any, heads: int) -> None:
        """Copy into a Keras ``MultiHeadAttention`` built for d_model (its kernels are (E, heads, d_head))."""
        E = self.Wq.shape[0]
        d = E // heads
        per_head = lambda W: W.T.reshape(E, heads, d)  # noqa: E731
        layer.set_weights([per_head(self.Wq), self.bq.reshape(heads, d), per_head(self.Wk), self.bk.reshape(heads, d),
                           per_head(self.Wv), self.bv.reshape(heads, d), self.Wo.T.reshape(heads, d, E), self.bo])


def multi_head_attention(x_q: Any, x_kv: Any, w: MHAWeights, heads: int, mask: Any = None, *,
                         causal: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Multi-head attention: project, split into ``heads``, attend in each, concatenate, project.

    Self-attention is ``x_q is x_kv``; cross-attention takes queries from one sequence and keys and
    values from another. Returns the output (batch, L_q, d_model) and the weights (batch, heads, L_q, L_k).
    """
    x_q, x_kv = as_float_array(x_q, "x_q", ndim=3), as_float_array(x_kv, "x_kv", ndim=3)
    E = w.Wq.shape[0]
    if x_q.shape[-1] != E or x_kv.shape[-1] != E:
        raise ValueError(f"x_q and x_kv must have d_model = {E} features, got {x_q.shape} and {x_kv.shape}")
    if E % heads:
        raise ValueError(f"d_model {E} must be divisible by heads {heads}")

    def split(x: np.ndarray) -> np.ndarray:  # (B, L, E) -> (B, heads, L, E / heads)
        return x.reshape(x.shape[0], x.shape[1], heads, E // heads).transpose(0, 2, 1, 3)

    q, k, v = split(x_q @ w.Wq.T + w.bq), split(x_kv @ w.Wk.T + w.bk), split(x_kv @ w.Wv.T + w.bv)
    out, weights = scaled_dot_product_attention(q, k, v, mask, causal=causal)
    out = out.transpose(0, 2, 1, 3).reshape(x_q.shape[0], x_q.shape[1], E)
    return out @ w.Wo.T + w.bo, weights


def sinusoidal_positions(length: int, d_model: int) -> np.ndarray:
    """Vaswani et al. (2017): PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(same angle)."""
    if d_model % 2:
        raise ValueError(f"d_model must be even, got {d_model}")
    angles = np.arange(length)[:, None] / 10000 ** (np.arange(0, d_model, 2)[None, :] / d_model)
    pe = np.zeros((length, d_model))
    pe[:, 0::2], pe[:, 1::2] = np.sin(angles), np.cos(angles)
    return pe


def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Normalize each position's features to mean 0 and variance 1, then scale and shift."""
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


@dataclass
class EncoderWeights:
    """One post-norm encoder block (``nn.TransformerEncoderLayer``'s default): attention, MLP, 2 norms."""

    attn: MHAWeights
    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray
    ln1: tuple[np.ndarray, np.ndarray]
    ln2: tuple[np.ndarray, np.ndarray]

    @classmethod
    def from_torch(cls, layer: Any) -> "EncoderWeights":
        g = lambda t: t.detach().cpu().numpy().astype(np.float64)  # noqa: E731
        return cls(MHAWeights.from_torch(layer.self_attn), g(layer.linear1.weight), g(layer.linear1.bias),
                   g(layer.linear2.weight), g(layer.linear2.bias), (g(layer.norm1.weight), g(layer.norm1.bias)),
                   (g(layer.norm2.weight), g(layer.norm2.bias)))


def encoder_block(x: Any, w: EncoderWeights, heads: int, mask: Any = None) -> np.ndarray:
    """``x = LN(x + MHA(x)); x = LN(x + relu(x W1^T + b1) W2^T + b2)`` (residuals, then layer norm: post-norm)."""
    x = as_float_array(x, "x", ndim=3)
    x = layer_norm(x + multi_head_attention(x, x, w.attn, heads, mask)[0], *w.ln1)
    hidden = np.maximum(x @ w.W1.T + w.b1, 0.0)
    return layer_norm(x + hidden @ w.W2.T + w.b2, *w.ln2)
