"""Moving recurrent weights between the course's cells and PyTorch or Keras (chapter 5).

The frameworks differ in three ways that matter when moving weights. PyTorch keeps two biases
(``b_ih + b_hh``; only their sum matters, except for the GRU's candidate, whose ``b_hn`` is kept apart)
and stores weights as (out, in); Keras stores ``kernel = W_ih^T`` and ``recurrent_kernel = W_hh^T``, with
one bias (two rows for a GRU with ``reset_after=True``). The LSTM's gates are stacked i, f, g, o in both;
the GRU's are r, z, n in PyTorch and z, r, h in Keras, so the first two blocks swap.

``from_torch`` and ``from_keras`` copy what the cells model (one layer, one direction; an Elman RNN with
tanh or relu; an LSTM or GRU with the standard activations, no projection) and reject the rest with a
``TypeError`` or ``ValueError`` naming what is unsupported; ``troikadl.rnn.stacked`` reads stacked and
bidirectional networks. Dropout acts only in training: the cells compute evaluation-mode outputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .cells import _NONLINEARITIES, Weights

__all__ = ["from_torch", "to_torch", "to_keras", "from_keras"]

_TORCH = (torch.nn.RNN, torch.nn.GRU, torch.nn.LSTM)


def _swap_rz(a: np.ndarray, hidden: int, axis: int = 0) -> np.ndarray:
    """Swap the first two gate blocks along ``axis``: PyTorch's (r, z, n) <-> Keras's (z, r, h)."""
    a = np.moveaxis(np.asarray(a, dtype=np.float64), axis, 0)
    return np.moveaxis(np.concatenate([a[hidden:2 * hidden], a[:hidden], a[2 * hidden:]]), 0, axis)


def _torch_layer(module: Any, suffix: str) -> Weights:
    """The weights named ``weight_ih{suffix}``... of a PyTorch recurrent module (one layer, one direction)."""
    get = lambda name: getattr(module, name + suffix).detach().cpu().numpy().astype(np.float64)  # noqa: E731
    W_ih, W_hh = get("weight_ih"), get("weight_hh")
    GH, H = W_hh.shape
    b_ih, b_hh = (get("bias_ih"), get("bias_hh")) if module.bias else (np.zeros(GH), np.zeros(GH))
    if isinstance(module, torch.nn.GRU):  # b_hn stays apart: r multiplies it
        return Weights(W_ih, W_hh, b_ih + np.concatenate([b_hh[:2 * H], np.zeros(H)]), b_hn=b_hh[2 * H:])
    nonlinearity = module.nonlinearity if isinstance(module, torch.nn.RNN) else "tanh"
    return Weights(W_ih, W_hh, b_ih + b_hh, nonlinearity)


def _check_torch(module: Any, *, single: bool = True) -> None:
    if not isinstance(module, _TORCH):
        raise TypeError(f"module must be a torch.nn.RNN, torch.nn.GRU or torch.nn.LSTM, got {type(module).__name__}")
    if single and module.num_layers != 1:
        raise ValueError(f"num_layers={module.num_layers} is not supported: Weights holds a single layer "
                         f"(rnn.stacked_from_torch reads stacked layers)")
    if single and module.bidirectional:
        raise ValueError("bidirectional=True is not supported: Weights holds a single direction "
                         "(rnn.stacked_from_torch reads both)")
    if getattr(module, "proj_size", 0):
        raise ValueError(f"proj_size={module.proj_size} is not supported: the LSTM here has no projection")


def from_torch(module: Any) -> Weights:
    """Weights of a one-layer, one-direction ``nn.RNN`` (tanh or relu), ``nn.GRU`` or ``nn.LSTM``.

    The two biases are summed, except a GRU's ``b_hn``, kept as ``Weights.b_hn``. ``bias=False`` gives zero
    biases; ``batch_first`` changes the module's input layout, not its weights (ours are batch first);
    ``dropout`` acts only between stacked layers, so not in one layer. Rejected: other modules
    (``TypeError``), ``num_layers > 1``, ``bidirectional=True`` and an LSTM's ``proj_size > 0``
    (``ValueError``). Chapter 5.
    """
    _check_torch(module)
    return _torch_layer(module, "_l0")


def to_torch(w: Weights, dtype: Any = None) -> Any:
    """A ``nn.RNN``, ``nn.GRU`` or ``nn.LSTM`` (batch_first) holding ``w``.

    The bias goes into ``bias_ih``; ``bias_hh`` is zero except a GRU's ``b_hn``. PyTorch's GRU applies its
    reset gate after the product (``reset_after=True``): a GRU with ``reset_after=False`` is refused.
    """
    if not isinstance(w, Weights):
        raise TypeError(f"w must be rnn.Weights, got {type(w).__name__}")
    dtype = dtype or torch.float64
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    if not w.reset_after:
        raise ValueError("w has reset_after=False, which torch.nn.GRU does not compute (its reset gate acts "
                         "after the product, reset_after=True)")
    n_in, H = w.W_ih.shape[1], w.hidden
    if w.kind == "RNN":
        module = torch.nn.RNN(n_in, H, nonlinearity=w.nonlinearity, batch_first=True, dtype=dtype)
    else:
        module = getattr(torch.nn, w.kind)(n_in, H, batch_first=True, dtype=dtype)
    b_hh = np.concatenate([np.zeros(2 * H), w.b_hn]) if w.kind == "GRU" else np.zeros_like(w.b)
    with torch.no_grad():
        for name, value in (("weight_ih_l0", w.W_ih), ("weight_hh_l0", w.W_hh), ("bias_ih_l0", w.b),
                            ("bias_hh_l0", b_hh)):
            getattr(module, name).copy_(torch.as_tensor(value))
    return module


def _keras_arrays(w: Weights) -> list[np.ndarray]:
    """``w`` as the arrays ``set_weights`` of the matching Keras layer expects."""
    H = w.hidden
    if w.kind != "GRU":
        return [w.W_ih.T, w.W_hh.T, w.b]
    rec_bias = np.concatenate([np.zeros(2 * H), w.b_hn])
    bias = np.stack([_swap_rz(w.b, H), _swap_rz(rec_bias, H)]) if w.reset_after else _swap_rz(w.b + rec_bias, H)
    return [_swap_rz(w.W_ih.T, H, axis=1), _swap_rz(w.W_hh.T, H, axis=1), bias]


def to_keras(w: Weights, dtype: str = "float64") -> Any:
    """A Keras ``SimpleRNN``, ``GRU`` (with ``w.reset_after``) or ``LSTM`` layer (``return_sequences=True``)
    holding ``w``. A GRU's gates are reordered from (r, z, n) to Keras's (z, r, h)."""
    import keras

    if not isinstance(w, Weights):
        raise TypeError(f"w must be rnn.Weights, got {type(w).__name__}")
    if w.kind == "LSTM":
        layer = keras.layers.LSTM(w.hidden, return_sequences=True, dtype=dtype)
    elif w.kind == "GRU":
        layer = keras.layers.GRU(w.hidden, return_sequences=True, reset_after=w.reset_after, dtype=dtype)
    else:
        layer = keras.layers.SimpleRNN(w.hidden, activation=w.nonlinearity, return_sequences=True, dtype=dtype)
    layer.build((None, None, w.W_ih.shape[1]))
    layer.set_weights(_keras_arrays(w))
    return layer


def _keras_layer(layer: Any, name: str = "layer", *, backwards_ok: bool = False) -> Weights:
    """The Weights of a Keras recurrent layer; ``go_backwards`` only where the caller reverses time itself."""
    import keras

    if not isinstance(layer, (keras.layers.SimpleRNN, keras.layers.GRU, keras.layers.LSTM)):
        raise TypeError(f"{name} must be a keras.layers.SimpleRNN, GRU or LSTM, got {type(layer).__name__}")
    config = layer.get_config()
    if config.get("go_backwards") and not backwards_ok:
        raise ValueError(f"go_backwards=True is not supported in {name}: the functions here read sequences "
                         f"forwards (rnn.stacked_from_keras reads a Bidirectional layer)")
    if isinstance(layer, (keras.layers.LSTM, keras.layers.GRU)):
        if config["activation"] != "tanh" or config["recurrent_activation"] != "sigmoid":
            raise ValueError(f"{name}: an LSTM or GRU needs activation='tanh' and recurrent_activation='sigmoid', "
                             f"got {config['activation']!r} and {config['recurrent_activation']!r}")
        nonlinearity = "tanh"
    else:
        nonlinearity = config["activation"]
        if nonlinearity not in _NONLINEARITIES:
            raise ValueError(f"{name}: SimpleRNN activation must be 'tanh' or 'relu', got {nonlinearity!r}")
    if not layer.built:
        raise ValueError(f"{name} must be built (call it once, or build(input_shape)) before reading weights")
    kernel, recurrent, *bias = (np.asarray(v, dtype=np.float64) for v in layer.get_weights())
    if not isinstance(layer, keras.layers.GRU):
        return Weights(kernel.T, recurrent.T, bias[0] if bias else np.zeros(kernel.shape[1]), nonlinearity)
    H, reset_after = recurrent.shape[0], bool(config["reset_after"])
    bias = bias[0] if bias else np.zeros((2, 3 * H) if reset_after else 3 * H)
    b, b_hn = (bias[0] + np.concatenate([bias[1, :2 * H], np.zeros(H)]), bias[1, 2 * H:]) if reset_after else (
        bias, np.zeros(H))
    return Weights(_swap_rz(kernel, H, axis=1).T, _swap_rz(recurrent, H, axis=1).T, _swap_rz(b, H), "tanh", b_hn,
                   reset_after)


def from_keras(layer: Any) -> Weights:
    """Weights of a built Keras ``SimpleRNN`` (tanh or relu), ``GRU`` or ``LSTM`` (tanh and sigmoid) layer.

    A GRU keeps its ``reset_after`` (True: two bias rows, like PyTorch; False: one bias, ``b_hn`` zero) and
    its gates are reordered to (r, z, n). ``use_bias=False`` gives zero biases. Rejected: other layers
    (``TypeError``), other activations and ``go_backwards=True`` (``ValueError``). Chapter 5.
    """
    return _keras_layer(layer)
