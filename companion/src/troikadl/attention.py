"""Attention from scratch in NumPy: scaled dot-product, multi-head, positions, an encoder block.

Taught in chapter 6. Shapes: a sequence is (batch, length, d_model); per-head tensors are
(batch, heads, length, d_head). Masks are boolean and follow PyTorch's ``F.scaled_dot_product_attention``
and Keras: ``True`` means "may attend", and a mask broadcasts to the (batch, heads, L_q, L_k) scores.
PyTorch's ``nn.MultiheadAttention`` and ``nn.Transformer*`` modules use the opposite convention for their
boolean ``attn_mask``/``src_mask`` and ``*_key_padding_mask``: there ``True`` means "masked out".

``MHAWeights.from_torch`` and ``EncoderWeights.from_torch`` copy what these functions model and reject the
rest with a ``ValueError`` or ``TypeError`` naming the option. Dropout is a training-time operation: the
functions here compute the modules' evaluation-mode (``.eval()``) output, whatever their ``dropout``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .validate import as_float_array, check_bool, check_positive

__all__ = ["softmax", "scaled_dot_product_attention", "causal_mask", "padding_mask", "MHAWeights",
           "multi_head_attention", "sinusoidal_positions", "layer_norm", "EncoderWeights", "encoder_block"]


def _real_array(x: Any, name: str, *, ndim: int | None = None, dtype: Any = np.float64) -> np.ndarray:
    """``as_float_array`` that also rejects complex numbers (whose imaginary part a cast would drop)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    if np.iscomplexobj(x):
        raise TypeError(f"{name} must hold real numbers, got dtype {np.asarray(x).dtype}")
    if isinstance(dtype, str) and dtype == "keep32":  # float32 (and smaller types) stay float32
        kind = np.asarray(x).dtype
        dtype = np.result_type(kind, np.float32) if np.issubdtype(kind, np.number) else np.float64
    return as_float_array(x, name, ndim=ndim, dtype=dtype)


def _check_qkv(q: Any, k: Any, v: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arrays = [_real_array(a, n, dtype="keep32") for a, n in ((q, "q"), (k, "k"), (v, "v"))]
    dtype = np.result_type(*arrays)  # float32 stays float32; integers and float64 give float64
    q, k, v = (a.astype(dtype, copy=False) for a in arrays)
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
        if hasattr(mask, "detach") and hasattr(mask, "cpu"):
            mask = mask.detach().cpu().numpy()
        mask = np.asarray(mask)
        if mask.dtype != bool:
            raise TypeError(f"mask must be boolean (True = may attend), got dtype {mask.dtype}")
        try:
            mask = np.broadcast_to(mask, shape)
        except ValueError as exc:
            raise ValueError(f"mask of shape {mask.shape} does not broadcast to the scores "
                             f"(batch, heads, L_q, L_k) = {shape}") from exc
        allowed = allowed & mask
    return np.broadcast_to(allowed, shape)


def softmax(z: Any, axis: int = -1) -> np.ndarray:
    """Softmax along ``axis``, shifted by the maximum (same result, no overflow). Rows of -inf give 0."""
    if hasattr(z, "detach") and hasattr(z, "cpu"):
        z = z.detach().cpu().numpy()
    z = np.asarray(z)
    if z.dtype == bool or not np.issubdtype(z.dtype, np.number) or np.iscomplexobj(z):
        raise TypeError(f"z must hold real numbers, got dtype {z.dtype}")
    if np.isnan(z).any() or np.isposinf(z).any():
        raise ValueError("z must not hold NaN or +inf (-inf marks masked entries)")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -z.ndim <= axis < max(z.ndim, 1):
        raise ValueError(f"axis must be an integer in [{-z.ndim}, {z.ndim - 1}], got {axis!r}")
    z = z.astype(np.result_type(z.dtype, np.float32), copy=False)
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
    if hasattr(lengths, "detach") and hasattr(lengths, "cpu"):
        lengths = lengths.detach().cpu().numpy()
    lengths = np.asarray(lengths)
    if lengths.dtype == bool or not np.issubdtype(lengths.dtype, np.integer):
        raise TypeError(f"lengths must hold integers (numbers of real tokens), got dtype {lengths.dtype}")
    if lengths.ndim != 1 or lengths.size == 0 or (lengths < 1).any() or (lengths > max_length).any():
        raise ValueError(f"lengths must be a non-empty 1-D array of values in [1, {max_length}], got {lengths}")
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


def _np(t: Any, default: np.ndarray) -> np.ndarray:
    """A torch parameter as float64 NumPy, or ``default`` where the module has none (``bias=False``)."""
    return default if t is None else t.detach().cpu().numpy().astype(np.float64)


@dataclass
class MHAWeights:
    """Projections of multi-head attention: ``x W^T + b`` for queries, keys, values and the output.

    PyTorch layout: ``Wq`` and ``Wo`` are (d_model, d_model), ``Wk`` and ``Wv`` (d_model, d_kv), rows grouped
    by head; ``d_kv`` is the width of the key/value sequence (``d_model`` unless ``kdim = vdim`` is set).
    A layer without biases has zero biases.
    """

    Wq: np.ndarray
    Wk: np.ndarray
    Wv: np.ndarray
    Wo: np.ndarray
    bq: np.ndarray
    bk: np.ndarray
    bv: np.ndarray
    bo: np.ndarray

    def __post_init__(self) -> None:
        for name in ("Wq", "Wk", "Wv", "Wo"):
            setattr(self, name, _real_array(getattr(self, name), name, ndim=2))
        for name in ("bq", "bk", "bv", "bo"):
            setattr(self, name, _real_array(getattr(self, name), name, ndim=1))
        E, D = self.Wq.shape[0], self.Wk.shape[1]
        expected = {"Wq": (E, E), "Wk": (E, D), "Wv": (E, D), "Wo": (E, E),
                    "bq": (E,), "bk": (E,), "bv": (E,), "bo": (E,)}
        for name, shape in expected.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} must have shape {shape} (d_model = {E}, d_kv = {D}), "
                                 f"got {getattr(self, name).shape}")

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
                   _np(mha.out_proj.bias, np.zeros(E)))

    def to_keras(self, layer: Any, heads: int) -> None:
        """Copy into a Keras ``MultiHeadAttention`` built for d_model (its kernels are (E, heads, d_head)).

        The layer must have ``num_heads = heads`` and ``key_dim = value_dim = d_model / heads``; a layer built
        with ``use_bias=False`` receives only the kernels (our biases must then be zero).
        """
        import keras

        if not isinstance(layer, keras.layers.MultiHeadAttention):
            raise TypeError(f"layer must be a keras.layers.MultiHeadAttention, got {type(layer).__name__}")
        E = self.Wq.shape[0]
        _check_heads(heads, E)
        d = E // heads
        config = layer.get_config()
        if config["num_heads"] != heads or config["key_dim"] != d or (config.get("value_dim") or d) != d:
            raise ValueError(f"layer must have num_heads={heads}, key_dim={d} and value_dim={d}, got "
                             f"num_heads={config['num_heads']}, key_dim={config['key_dim']}, "
                             f"value_dim={config.get('value_dim')}")
        if config.get("use_gate") or config.get("sliding_window"):
            raise ValueError("layer options use_gate and sliding_window are not modelled here: leave them off")
        per_head = lambda W: W.T.reshape(W.shape[1], heads, d)  # noqa: E731
        kernels = [per_head(self.Wq), per_head(self.Wk), per_head(self.Wv), self.Wo.T.reshape(heads, d, E)]
        biases = [self.bq.reshape(heads, d), self.bk.reshape(heads, d), self.bv.reshape(heads, d), self.bo]
        if config["use_bias"]:
            layer.set_weights([a for pair in zip(kernels, biases) for a in pair])
        elif any(b.any() for b in biases):
            raise ValueError("layer has use_bias=False but these weights have non-zero biases")
        else:
            layer.set_weights(kernels)


def _check_heads(heads: Any, E: int) -> int:
    check_positive(heads, "heads", integer=True)
    if E % heads:
        raise ValueError(f"d_model {E} must be divisible by heads {heads}")
    return int(heads)


def multi_head_attention(x_q: Any, x_kv: Any, w: MHAWeights, heads: int, mask: Any = None, *,
                         causal: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Multi-head attention: project, split into ``heads``, attend in each, concatenate, project.

    Self-attention is ``x_q is x_kv``; cross-attention takes queries from one sequence and keys and
    values from another. Returns the output (batch, L_q, d_model) and the weights (batch, heads, L_q, L_k).
    """
    if not isinstance(w, MHAWeights):
        raise TypeError(f"w must be MHAWeights, got {type(w).__name__}")
    x_q, x_kv = _real_array(x_q, "x_q", ndim=3), _real_array(x_kv, "x_kv", ndim=3)
    E = w.Wq.shape[0]
    if x_q.shape[-1] != E or x_kv.shape[-1] != w.Wk.shape[1]:
        raise ValueError(f"x_q must have d_model = {E} features and x_kv {w.Wk.shape[1]}, got shapes "
                         f"{x_q.shape} and {x_kv.shape}")
    if x_q.shape[0] != x_kv.shape[0]:
        raise ValueError(f"x_q and x_kv must have the same batch size, got {x_q.shape[0]} and {x_kv.shape[0]}")
    heads = _check_heads(heads, E)

    def split(x: np.ndarray) -> np.ndarray:  # (B, L, E) -> (B, heads, L, E / heads)
        return x.reshape(x.shape[0], x.shape[1], heads, E // heads).transpose(0, 2, 1, 3)

    q, k, v = split(x_q @ w.Wq.T + w.bq), split(x_kv @ w.Wk.T + w.bk), split(x_kv @ w.Wv.T + w.bv)
    out, weights = scaled_dot_product_attention(q, k, v, mask, causal=causal)
    out = out.transpose(0, 2, 1, 3).reshape(x_q.shape[0], x_q.shape[1], E)
    return out @ w.Wo.T + w.bo, weights


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


def layer_norm(x: Any, gamma: Any, beta: Any, eps: float = 1e-5) -> np.ndarray:
    """Normalize each position's features to mean 0 and variance 1, then scale and shift."""
    x = _real_array(x, "x")
    if x.ndim < 1 or x.size == 0:
        raise ValueError(f"x must be non-empty with a last (feature) dimension, got shape {x.shape}")
    gamma, beta = _real_array(gamma, "gamma", ndim=1), _real_array(beta, "beta", ndim=1)
    if gamma.shape != x.shape[-1:] or beta.shape != x.shape[-1:]:
        raise ValueError(f"gamma and beta must have shape ({x.shape[-1]},) like x's last dimension, got "
                         f"{gamma.shape} and {beta.shape}")
    check_positive(eps, "eps")
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


_erf = np.vectorize(math.erf, otypes=[np.float64])
_ACTIVATIONS = {"relu": lambda z: np.maximum(z, 0.0),
                "gelu": lambda z: 0.5 * z * (1.0 + _erf(z / math.sqrt(2.0)))}  # exact GELU, as PyTorch's default


@dataclass
class EncoderWeights:
    """One encoder block like ``nn.TransformerEncoderLayer``: attention, MLP, 2 layer norms.

    ``norm_first=False`` is post-norm (PyTorch's default and the original paper's), ``True`` pre-norm;
    ``activation`` is "relu" or "gelu"; ``eps`` is the layer norms' epsilon.
    """

    attn: MHAWeights
    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray
    ln1: tuple[np.ndarray, np.ndarray]
    ln2: tuple[np.ndarray, np.ndarray]
    norm_first: bool = False
    activation: str = "relu"
    eps: float = 1e-5

    def __post_init__(self) -> None:
        if not isinstance(self.attn, MHAWeights):
            raise TypeError(f"attn must be MHAWeights, got {type(self.attn).__name__}")
        E = self.attn.Wq.shape[0]
        if self.attn.Wk.shape[1] != E:
            raise ValueError(f"attn must be self-attention with keys and values of width d_model = {E}, "
                             f"got {self.attn.Wk.shape[1]}")
        self.W1, self.W2 = _real_array(self.W1, "W1", ndim=2), _real_array(self.W2, "W2", ndim=2)
        self.b1, self.b2 = _real_array(self.b1, "b1", ndim=1), _real_array(self.b2, "b2", ndim=1)
        F = self.W1.shape[0]
        for name, shape in {"W1": (F, E), "b1": (F,), "W2": (E, F), "b2": (E,)}.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} must have shape {shape} (d_model = {E}, d_ff = {F}), "
                                 f"got {getattr(self, name).shape}")
        for name in ("ln1", "ln2"):
            pair = getattr(self, name)
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"{name} must be a pair (gamma, beta), got {type(pair).__name__}")
            pair = tuple(_real_array(a, f"{name}[{i}]", ndim=1) for i, a in enumerate(pair))
            if pair[0].shape != (E,) or pair[1].shape != (E,):
                raise ValueError(f"{name} must hold gamma and beta of shape ({E},), got {pair[0].shape} "
                                 f"and {pair[1].shape}")
            setattr(self, name, pair)
        self.norm_first = check_bool(self.norm_first, "norm_first")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {self.activation!r}")
        self.eps = float(check_positive(self.eps, "eps"))

    @classmethod
    def from_torch(cls, layer: Any) -> "EncoderWeights":
        """From ``nn.TransformerEncoderLayer``.

        Supported: ``norm_first`` either way, ``activation`` "relu" or "gelu" (exact), ``layer_norm_eps``,
        ``bias=False``, ``batch_first`` either way, and ``dropout`` (inactive in eval mode). Rejected:
        other activations (e.g. ``nn.GELU(approximate="tanh")``) and layer norms with different epsilons.
        """
        import torch
        import torch.nn.functional as F

        if not isinstance(layer, torch.nn.TransformerEncoderLayer):
            raise TypeError(f"layer must be a torch.nn.TransformerEncoderLayer, got {type(layer).__name__}")
        act = layer.activation
        if act is F.relu or isinstance(act, torch.nn.ReLU):
            activation = "relu"
        elif act is F.gelu or (isinstance(act, torch.nn.GELU) and act.approximate == "none"):
            activation = "gelu"
        else:
            raise ValueError(f"activation {act!r} is not supported: only relu and the exact gelu are")
        if layer.norm1.eps != layer.norm2.eps:
            raise ValueError(f"layer norms with different eps ({layer.norm1.eps} and {layer.norm2.eps}) are not "
                             f"supported")
        E, F_ = layer.linear1.in_features, layer.linear1.out_features
        norm = lambda ln: (_np(ln.weight, np.ones(E)), _np(ln.bias, np.zeros(E)))  # noqa: E731
        return cls(MHAWeights.from_torch(layer.self_attn), _np(layer.linear1.weight, None),
                   _np(layer.linear1.bias, np.zeros(F_)), _np(layer.linear2.weight, None),
                   _np(layer.linear2.bias, np.zeros(E)), norm(layer.norm1), norm(layer.norm2),
                   norm_first=bool(layer.norm_first), activation=activation, eps=float(layer.norm1.eps))


def encoder_block(x: Any, w: EncoderWeights, heads: int, mask: Any = None) -> np.ndarray:
    """One encoder block, with ``FF(x) = act(x W1^T + b1) W2^T + b2``:

    post-norm (default): ``x = LN1(x + MHA(x)); x = LN2(x + FF(x))``;
    pre-norm (``w.norm_first``): ``x = x + MHA(LN1(x)); x = x + FF(LN2(x))``.
    """
    if not isinstance(w, EncoderWeights):
        raise TypeError(f"w must be EncoderWeights, got {type(w).__name__}")
    x = _real_array(x, "x", ndim=3)
    if x.shape[-1] != w.W1.shape[1]:
        raise ValueError(f"x must have d_model = {w.W1.shape[1]} features (batch, length, d_model), got {x.shape}")

    def attend(z: np.ndarray) -> np.ndarray:
        return multi_head_attention(z, z, w.attn, heads, mask)[0]

    def feed_forward(z: np.ndarray) -> np.ndarray:
        return _ACTIVATIONS[w.activation](z @ w.W1.T + w.b1) @ w.W2.T + w.b2

    ln1, ln2 = (lambda z: layer_norm(z, *w.ln1, eps=w.eps)), (lambda z: layer_norm(z, *w.ln2, eps=w.eps))
    if w.norm_first:
        x = x + attend(ln1(x))
        return x + feed_forward(ln2(x))
    x = ln1(x + attend(x))
    return ln2(x + feed_forward(x))
