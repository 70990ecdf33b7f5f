"""One Transformer encoder block, like ``nn.TransformerEncoderLayer``, and layer normalization (chapter 6)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..validate import as_float_array, check_bool, check_positive
from .multihead import MHAWeights, _check_heads, _np, multi_head_attention

__all__ = ["layer_norm", "EncoderWeights", "encoder_block"]


def layer_norm(x: Any, gamma: Any, beta: Any, eps: float = 1e-5) -> np.ndarray:
    """Normalize each position's features to mean 0 and variance 1, then scale and shift."""
    x = as_float_array(x, "x")
    if x.ndim < 1 or x.size == 0:
        raise ValueError(f"x must be non-empty with a last (feature) dimension, got shape {x.shape}")
    gamma, beta = as_float_array(gamma, "gamma", ndim=1), as_float_array(beta, "beta", ndim=1)
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
        self.W1, self.W2 = as_float_array(self.W1, "W1", ndim=2), as_float_array(self.W2, "W2", ndim=2)
        self.b1, self.b2 = as_float_array(self.b1, "b1", ndim=1), as_float_array(self.b2, "b2", ndim=1)
        F = self.W1.shape[0]
        for name, shape in {"W1": (F, E), "b1": (F,), "W2": (E, F), "b2": (E,)}.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} must have shape {shape} (d_model = {E}, d_ff = {F}), "
                                 f"got {getattr(self, name).shape}")
        for name in ("ln1", "ln2"):
            pair = getattr(self, name)
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"{name} must be a pair (gamma, beta), got {type(pair).__name__}")
            pair = tuple(as_float_array(a, f"{name}[{i}]", ndim=1) for i, a in enumerate(pair))
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
    pre-norm (``w.norm_first``): ``x = x + MHA(LN1(x)); x = x + FF(LN2(x))``. ``heads`` must equal
    ``w.attn.heads``.
    """
    if not isinstance(w, EncoderWeights):
        raise TypeError(f"w must be EncoderWeights, got {type(w).__name__}")
    x = as_float_array(x, "x", ndim=3)
    if x.shape[-1] != w.W1.shape[1]:
        raise ValueError(f"x must have d_model = {w.W1.shape[1]} features (batch, length, d_model), got {x.shape}")
    heads = _check_heads(heads, w.attn, "w.attn.heads")

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
