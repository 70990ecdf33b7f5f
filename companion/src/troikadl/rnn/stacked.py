"""Stacked and bidirectional recurrent networks built from the course's cells (chapter 5).

A stacked network feeds the outputs of one layer, at every time step, to the next layer as its inputs. A
bidirectional layer runs two cells over the sequence: one forwards, one over the reversed sequence, whose
outputs are reversed back so that step t holds the forward summary of ``x[:, :t+1]`` and the backward
summary of ``x[:, t:]``, concatenated (forward first): the next layer gets 2H features. Final states
follow PyTorch's layout, (layers * directions, batch, H) ordered layer 0 forward, layer 0 backward,
layer 1 forward... ``layers`` is a list with one entry per layer: a ``Weights`` (one direction) or a pair
``(forward, backward)`` of ``Weights`` (bidirectional).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..validate import as_float_array
from .cells import Weights, gru_forward, lstm_forward, rnn_forward
from .frameworks import _check_torch, _keras_layer, _torch_layer

__all__ = ["stacked_forward", "stacked_from_torch", "stacked_from_keras"]


def _layers(layers: Any) -> list[tuple[Weights, ...]]:
    """Check ``layers`` (one entry per layer: Weights, or a (forward, backward) pair); return tuples."""
    if not isinstance(layers, (list, tuple)) or not layers:
        raise TypeError(f"layers must be a non-empty list of rnn.Weights or of (forward, backward) pairs, "
                        f"got {type(layers).__name__}" + (" (empty)" if isinstance(layers, (list, tuple)) else ""))
    pairs = [tuple(e) if isinstance(e, (list, tuple)) else (e,) for e in layers]
    directions = len(pairs[0])
    for i, ws in enumerate(pairs):
        if len(ws) != directions or directions not in (1, 2):
            raise ValueError(f"layers[{i}] must be like layers[0]: every entry one Weights, or every entry a "
                             f"(forward, backward) pair, got {len(ws)} item(s)")
        for w in ws:
            if not isinstance(w, Weights):
                raise TypeError(f"layers[{i}] must hold rnn.Weights, got {type(w).__name__}")
    first = pairs[0][0]
    n_in = directions * first.hidden
    for i, ws in enumerate(pairs):
        for w in ws:
            if w.kind != first.kind or w.hidden != first.hidden:
                raise ValueError(f"layers[{i}] must be a {first.kind} with hidden={first.hidden} like layers[0], "
                                 f"got a {w.kind} with hidden={w.hidden}")
            if i and w.W_ih.shape[1] != n_in:
                raise ValueError(f"layers[{i}] must take the {n_in} features the layer below outputs "
                                 f"(directions * hidden), got W_ih of shape {w.W_ih.shape}")
        if directions == 2 and ws[0].W_ih.shape[1] != ws[1].W_ih.shape[1]:
            raise ValueError(f"layers[{i}]: forward and backward must take as many features, got "
                             f"{ws[0].W_ih.shape[1]} and {ws[1].W_ih.shape[1]}")
    return pairs


def _state(s: Any, name: str, n: int, batch: int, hidden: int) -> np.ndarray | None:
    if s is None:
        return None
    s = as_float_array(s, name, ndim=3)
    if s.shape != (n, batch, hidden):
        raise ValueError(f"{name} must have shape (layers * directions, batch, hidden) = {(n, batch, hidden)}, "
                         f"got {s.shape}")
    return s


def _direction(x: np.ndarray, w: Weights, h0: Any, c0: Any, reverse: bool) -> tuple[np.ndarray, ...]:
    """One layer in one direction; the backward one reads reversed time and reverses its outputs back."""
    if reverse:
        x = x[:, ::-1]
    c = None
    if w.kind == "LSTM":
        out, (h, c) = lstm_forward(x, w, h0, c0)
    else:
        out, h = (gru_forward if w.kind == "GRU" else rnn_forward)(x, w, h0)
    if reverse:
        out = out[:, ::-1]  # step t of the output belongs to step t of the input
    return out, h, c


def stacked_forward(x: Any, layers: Any, h0: Any = None, c0: Any = None) -> tuple[np.ndarray, Any]:
    """Run a stack of recurrent layers, each one- or bidirectional, over ``x`` (batch, time, features).

    ``layers``: one entry per layer, a ``Weights`` or a ``(forward, backward)`` pair, all of one kind
    (RNN, GRU or LSTM) and one hidden size H, like ``nn.LSTM(num_layers=..., bidirectional=...)``.
    ``h0`` (and an LSTM's ``c0``): initial states (layers * directions, batch, H), zero if None. Returns
    the last layer's outputs (batch, time, directions * H) and the final states in PyTorch's layout:
    ``h_n`` (layers * directions, batch, H), or ``(h_n, c_n)`` for an LSTM. Chapter 5.
    """
    pairs = _layers(layers)
    x = as_float_array(x, "x", ndim=3)
    directions, kind, H = len(pairs[0]), pairs[0][0].kind, pairs[0][0].hidden
    n = len(pairs) * directions
    if c0 is not None and kind != "LSTM":
        raise ValueError(f"c0 is an LSTM's memory cell; these layers are {kind}s: leave c0=None")
    h0, c0 = _state(h0, "h0", n, x.shape[0], H), _state(c0, "c0", n, x.shape[0], H)
    hs, cs, out = [], [], x
    for i, ws in enumerate(pairs):
        outs = []
        for d, w in enumerate(ws):
            k = i * directions + d
            o, h, c = _direction(out, w, None if h0 is None else h0[k], None if c0 is None else c0[k], d == 1)
            outs.append(o)
            hs.append(h)
            cs.append(c)
        out = np.concatenate(outs, axis=-1)
    return out, ((np.stack(hs), np.stack(cs)) if kind == "LSTM" else np.stack(hs))


def stacked_from_torch(module: Any) -> list[Any]:
    """The layers of an ``nn.RNN``, ``nn.GRU`` or ``nn.LSTM`` of any ``num_layers``, for ``stacked_forward``:
    a list of ``Weights``, or of ``(forward, backward)`` pairs if ``bidirectional``. Biases as ``from_torch``."""
    _check_torch(module, single=False)
    layers = []
    for i in range(module.num_layers):
        forward = _torch_layer(module, f"_l{i}")
        layers.append((forward, _torch_layer(module, f"_l{i}_reverse")) if module.bidirectional else forward)
    return layers


def stacked_from_keras(layers: Any) -> list[Any]:
    """The layers of a Keras stack (a list such as ``model.layers``) for ``stacked_forward``.

    Each is a ``SimpleRNN``, ``GRU`` or ``LSTM``, or a ``Bidirectional`` wrapping one with
    ``merge_mode="concat"`` (read as a (forward, backward) pair: Keras's backward layer reads the sequence
    with ``go_backwards=True`` and the wrapper reverses its outputs back, as ``stacked_forward`` does).
    The layers must return sequences for the stack to be one; ``stacked_forward`` returns them all.
    """
    import keras

    if not isinstance(layers, (list, tuple)) or not layers:
        raise TypeError(f"layers must be a non-empty list of Keras recurrent layers, got {type(layers).__name__}")
    out = []
    for i, layer in enumerate(layers):
        name = f"layers[{i}]"
        if isinstance(layer, keras.layers.Bidirectional):
            if layer.merge_mode != "concat":
                raise ValueError(f"{name}: merge_mode={layer.merge_mode!r} is not supported, only 'concat'")
            if layer.forward_layer.go_backwards:
                raise ValueError(f"{name}: its forward layer has go_backwards=True")
            out.append((_keras_layer(layer.forward_layer, name),
                        _keras_layer(layer.backward_layer, name, backwards_ok=True)))
        else:
            out.append(_keras_layer(layer, name))
    return out
