"""Multi-head attention and its weights, read from PyTorch and copied into Keras (chapter 6)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..validate import as_float_array, check_positive
from .core import scaled_dot_product_attention

__all__ = ["MHAWeights", "multi_head_attention"]


def _np(t: Any, default: np.ndarray) -> np.ndarray:
    """A torch parameter as float64 NumPy, or ``default`` where the module has none (``bias=False``)."""
    return default if t is None else t.detach().cpu().numpy().astype(np.float64)


@dataclass
class MHAWeights:
    """Projections of multi-head attention: ``x W^T + b`` for queries, keys, values and the output.

    PyTorch layout: ``Wq`` and ``Wo`` are (d_model, d_model), ``Wk`` and ``Wv`` (d_model, d_kv), rows grouped
    by head; ``d_kv`` is the width of the key/value sequence (``d_model`` unless ``kdim = vdim`` is set).
    A layer without biases has zero biases. ``heads`` (keyword-only) is the number of heads the rows are
    grouped into: the weights remember it, and a function given another number raises ``ValueError``.
    """

    Wq: np.ndarray
    Wk: np.ndarray
    Wv: np.ndarray
    Wo: np.ndarray
    bq: np.ndarray
    bk: np.ndarray
    bv: np.ndarray
    bo: np.ndarray
    heads: int = field(kw_only=True)

    def __post_init__(self) -> None:
        for name in ("Wq", "Wk", "Wv", "Wo"):
            setattr(self, name, as_float_array(getattr(self, name), name, ndim=2))
        for name in ("bq", "bk", "bv", "bo"):
            setattr(self, name, as_float_array(getattr(self, name), name, ndim=1))
        E, D = self.Wq.shape[0], self.Wk.shape[1]
        expected = {"Wq": (E, E), "Wk": (E, D), "Wv": (E, D), "Wo": (E, E),
                    "bq": (E,), "bk": (E,), "bv": (E,), "bo": (E,)}
        for name, shape in expected.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} must have shape {shape} (d_model = {E}, d_kv = {D}), "
                                 f"got {getattr(self, name).shape}")
        check_positive(self.heads, "heads", integer=True)
        if E % self.heads:
            raise ValueError(f"d_model {E} must be divisible by heads {self.heads}")
        self.heads = int(self.heads)

    @classmethod
    def from_torch(cls, mha: Any) -> "MHAWeights":
        """From ``nn.MultiheadAttention`` (its ``in_proj_weight`` stacks Wq, Wk, Wv).

        Supported: ``bias=False``, ``batch_first`` either way (it changes the input layout, not the
        weights), ``kdim = vdim`` different from ``embed_dim``, and ``dropout`` (inactive in eval mode).
        Rejected: ``add_bias_kv``, ``add_zero_attn`` and ``kdim != vdim``.
        """
        import torch

        if not isinstance(mha, torch.nn.MultiheadAttention):
            raise TypeError(f"mha must be a torch.nn.MultiheadAttention, got {type(mha).__name__}")
        if mha.bias_k is not None:
            raise ValueError("add_bias_kv=True is not supported: MHAWeights has no extra learned key and value")
        if mha.add_zero_attn:
            raise ValueError("add_zero_attn=True is not supported: MHAWeights attends to the given keys only")
        if mha.kdim != mha.vdim:
            raise ValueError(f"kdim != vdim ({mha.kdim} and {mha.vdim}) is not supported: keys and values "
                             f"come from one sequence x_kv")
        E = mha.embed_dim
        if mha._qkv_same_embed_dim:
            W = _np(mha.in_proj_weight, None)
            Wq, Wk, Wv = W[:E], W[E:2 * E], W[2 * E:]
        else:
            Wq, Wk, Wv = (_np(getattr(mha, f"{c}_proj_weight"), None) for c in "qkv")
        b = _np(mha.in_proj_bias, np.zeros(3 * E))
        return cls(Wq, Wk, Wv, _np(mha.out_proj.weight, None), b[:E], b[E:2 * E], b[2 * E:],
                   _np(mha.out_proj.bias, np.zeros(E)), heads=mha.num_heads)

    def copy_to_keras(self, layer: Any) -> None:
        """Fill a built Keras ``MultiHeadAttention`` with these weights (its kernels are (E, heads, d_head)).

        The layer must have ``num_heads = self.heads`` and ``key_dim = value_dim = d_model / heads``
        (``ValueError`` naming what differs); a layer built with ``use_bias=False`` receives only the
        kernels (our biases must then be zero).
        """
        import keras

        if not isinstance(layer, keras.layers.MultiHeadAttention):
            raise TypeError(f"layer must be a keras.layers.MultiHeadAttention, got {type(layer).__name__}")
        heads, E = self.heads, self.Wq.shape[0]
        d = E // heads
        config = layer.get_config()
        if config["num_heads"] != heads or config["key_dim"] != d or (config.get("value_dim") or d) != d:
            raise ValueError(f"layer must have num_heads={heads}, key_dim={d} and value_dim={d} (these weights: "
                             f"d_model = {E}, heads = {heads}), got num_heads={config['num_heads']}, "
                             f"key_dim={config['key_dim']}, value_dim={config.get('value_dim')}")
        if config.get("use_gate") or config.get("sliding_window"):
            raise ValueError("layer options use_gate and sliding_window are not modelled here: leave them off")
        per_head = lambda W: W.T.reshape(W.shape[1], heads, d)  # noqa: E731
        kernels = [per_head(self.Wq), per_head(self.Wk), per_head(self.Wv), self.Wo.T.reshape(heads, d, E)]
        biases = [self.bq.reshape(heads, d), self.bk.reshape(heads, d), self.bv.reshape(heads, d), self.bo]
        if not config["use_bias"] and any(b.any() for b in biases):
            raise ValueError("layer has use_bias=False but these weights have non-zero biases")
        arrays = [a for pair in zip(kernels, biases) for a in pair] if config["use_bias"] else kernels
        want, got = [a.shape for a in arrays], [tuple(v.shape) for v in layer.weights]
        if got != want:
            raise ValueError(f"layer must be built (called once) for queries of width d_model = {E} and keys and "
                             f"values of width {self.Wk.shape[1]}: weights of shapes {want}, got {got}")
        layer.set_weights(arrays)


def _check_heads(heads: Any, w: MHAWeights, where: str) -> int:
    """``heads``, checked to be the number of heads the weights ``w`` were built with."""
    check_positive(heads, "heads", integer=True)
    if heads != w.heads:
        raise ValueError(f"heads must be the {w.heads} heads the weights were built with ({where} = {w.heads}), "
                         f"got heads = {heads}")
    return int(heads)


def multi_head_attention(x_q: Any, x_kv: Any, w: MHAWeights, heads: int, mask: Any = None, *,
                         causal: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Multi-head attention: project, split into ``heads``, attend in each, concatenate, project.

    Self-attention is ``x_q is x_kv``; cross-attention takes queries from one sequence and keys and
    values from another. ``heads`` must equal ``w.heads``. Returns the output (batch, L_q, d_model) and the
    weights (batch, heads, L_q, L_k).
    """
    if not isinstance(w, MHAWeights):
        raise TypeError(f"w must be MHAWeights, got {type(w).__name__}")
    x_q, x_kv = as_float_array(x_q, "x_q", ndim=3), as_float_array(x_kv, "x_kv", ndim=3)
    E = w.Wq.shape[0]
    if x_q.shape[-1] != E or x_kv.shape[-1] != w.Wk.shape[1]:
        raise ValueError(f"x_q must have d_model = {E} features and x_kv {w.Wk.shape[1]}, got shapes "
                         f"{x_q.shape} and {x_kv.shape}")
    if x_q.shape[0] != x_kv.shape[0]:
        raise ValueError(f"x_q and x_kv must have the same batch size, got {x_q.shape[0]} and {x_kv.shape[0]}")
    heads = _check_heads(heads, w, "w.heads")

    def split(x: np.ndarray) -> np.ndarray:  # (B, L, E) -> (B, heads, L, E / heads)
        return x.reshape(x.shape[0], x.shape[1], heads, E // heads).transpose(0, 2, 1, 3)

    q, k, v = split(x_q @ w.Wq.T + w.bq), split(x_kv @ w.Wk.T + w.bk), split(x_kv @ w.Wv.T + w.bv)
    out, weights = scaled_dot_product_attention(q, k, v, mask, causal=causal)
    out = out.transpose(0, 2, 1, 3).reshape(x_q.shape[0], x_q.shape[1], E)
    return out @ w.Wo.T + w.bo, weights

