"""Recurrent cells from scratch: the Elman RNN and the LSTM, and weight maps to PyTorch and Keras.

Taught in chapter 5. Shapes: inputs ``x`` are (batch, time, features); states are (batch, hidden).
Our weights use PyTorch's layout with one bias: ``W_ih`` (G H, D), ``W_hh`` (G H, H), ``b`` (G H,),
where G is 1 for the RNN and 4 for the LSTM, whose gates are stacked in the order input, forget,
cell candidate, output (i, f, g, o) -- the order PyTorch and Keras both use.

The frameworks differ in two ways that matter when moving weights: PyTorch keeps two biases
(``b_ih + b_hh``; only their sum matters) and stores weights as (out, in); Keras keeps one bias and
stores ``kernel = W_ih^T`` and ``recurrent_kernel = W_hh^T``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .neuron import sigmoid
from .validate import as_float_array

__all__ = ["Weights", "rnn_cell", "lstm_cell", "rnn_forward", "lstm_forward", "from_torch", "to_torch",
           "to_keras", "from_keras", "clip_grad_norm", "SequenceModel"]


@dataclass
class Weights:
    """Weights of one recurrent layer, PyTorch layout, one bias. ``gates`` is 1 (RNN) or 4 (LSTM)."""

    W_ih: np.ndarray
    W_hh: np.ndarray
    b: np.ndarray

    @property
    def hidden(self) -> int:
        return self.W_hh.shape[1]

    @property
    def gates(self) -> int:
        return self.W_hh.shape[0] // self.W_hh.shape[1]

    @classmethod
    def random(cls, n_in: int, hidden: int, gates: int = 1, seed: int = 0) -> "Weights":
        """Uniform(-1/sqrt(hidden), 1/sqrt(hidden)) like PyTorch's default initialization."""
        rng, k = np.random.default_rng(seed), 1 / np.sqrt(hidden)
        return cls(rng.uniform(-k, k, (gates * hidden, n_in)), rng.uniform(-k, k, (gates * hidden, hidden)),
                   rng.uniform(-k, k, gates * hidden))


def rnn_cell(x: np.ndarray, h: np.ndarray, w: Weights) -> np.ndarray:
    """One Elman step: ``h_t = tanh(x_t W_ih^T + h_{t-1} W_hh^T + b)``."""
    return np.tanh(x @ w.W_ih.T + h @ w.W_hh.T + w.b)


def lstm_cell(x: np.ndarray, h: np.ndarray, c: np.ndarray, w: Weights) -> tuple[np.ndarray, np.ndarray]:
    """One LSTM step (Hochreiter and Schmidhuber, 1997, with the forget gate of Gers et al., 2000)::

        i = sigmoid(x W_ii^T + h W_hi^T + b_i)     input gate: how much new content to write
        f = sigmoid(x W_if^T + h W_hf^T + b_f)     forget gate: how much old memory to keep
        g = tanh   (x W_ig^T + h W_hg^T + b_g)     candidate content
        o = sigmoid(x W_io^T + h W_ho^T + b_o)     output gate: how much memory to show
        c' = f * c + i * g                          the memory cell: additive update
        h' = o * tanh(c')
    """
    H = w.hidden
    z = x @ w.W_ih.T + h @ w.W_hh.T + w.b
    i, f, g, o = sigmoid(z[:, :H]), sigmoid(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), sigmoid(z[:, 3 * H:])
    c_new = f * c + i * g
    return o * np.tanh(c_new), c_new


def _check(x: Any, w: Weights, gates: int, states: dict[str, Any]) -> tuple[np.ndarray, list[np.ndarray]]:
    x = as_float_array(x, "x", ndim=3)
    if w.gates != gates or w.W_ih.shape[0] != gates * w.hidden:
        raise ValueError(f"weights must have {gates} gate(s) stacked: W_hh of shape ({gates * w.hidden}, "
                         f"{w.hidden}), got {w.W_hh.shape}")
    if x.shape[2] != w.W_ih.shape[1]:
        raise ValueError(f"x must have {w.W_ih.shape[1]} features per time step (batch, time, features), "
                         f"got shape {x.shape}")
    out = []
    for name, s in states.items():
        s = np.zeros((x.shape[0], w.hidden)) if s is None else as_float_array(s, name, ndim=2)
        if s.shape != (x.shape[0], w.hidden):
            raise ValueError(f"{name} must have shape (batch, hidden) = {(x.shape[0], w.hidden)}, got {s.shape}")
        out.append(s)
    return x, out


def rnn_forward(x: Any, w: Weights, h0: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Run the Elman RNN over time; returns every hidden state (batch, time, H) and the last one."""
    x, (h,) = _check(x, w, 1, {"h0": h0})
    hs = []
    for t in range(x.shape[1]):
        h = rnn_cell(x[:, t], h, w)
        hs.append(h)
    return np.stack(hs, axis=1), h


def lstm_forward(x: Any, w: Weights, h0: Any = None, c0: Any = None) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Run the LSTM over time; returns every hidden state (batch, time, H) and the last (h, c)."""
    x, (h, c) = _check(x, w, 4, {"h0": h0, "c0": c0})
    hs = []
    for t in range(x.shape[1]):
        h, c = lstm_cell(x[:, t], h, c, w)
        hs.append(h)
    return np.stack(hs, axis=1), (h, c)


def from_torch(module: Any) -> Weights:
    """Weights of a one-layer ``nn.RNN`` (tanh) or ``nn.LSTM``; the two PyTorch biases are summed."""
    if module.num_layers != 1 or module.bidirectional:
        raise ValueError("only single-layer, unidirectional modules are supported")
    get = lambda name: getattr(module, name).detach().cpu().numpy().astype(np.float64)  # noqa: E731
    b = get("bias_ih_l0") + get("bias_hh_l0") if module.bias else np.zeros(get("weight_hh_l0").shape[0])
    return Weights(get("weight_ih_l0"), get("weight_hh_l0"), b)


def to_torch(w: Weights, dtype: Any = None) -> Any:
    """A ``nn.RNN`` or ``nn.LSTM`` (batch_first) holding ``w`` (all the bias goes into ``bias_ih``)."""
    import torch

    cls = torch.nn.LSTM if w.gates == 4 else torch.nn.RNN
    module = cls(w.W_ih.shape[1], w.hidden, batch_first=True, dtype=dtype or torch.float64)
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.as_tensor(w.W_ih))
        module.weight_hh_l0.copy_(torch.as_tensor(w.W_hh))
        module.bias_ih_l0.copy_(torch.as_tensor(w.b))
        module.bias_hh_l0.zero_()
    return module


def to_keras(w: Weights, dtype: str = "float64") -> Any:
    """A Keras ``SimpleRNN`` or ``LSTM`` layer (``return_sequences=True``) holding ``w``."""
    import keras

    cls = keras.layers.LSTM if w.gates == 4 else keras.layers.SimpleRNN
    layer = cls(w.hidden, return_sequences=True, dtype=dtype)
    layer.build((None, None, w.W_ih.shape[1]))
    layer.set_weights([w.W_ih.T, w.W_hh.T, w.b])
    return layer


def from_keras(layer: Any) -> Weights:
    """Weights of a built Keras ``SimpleRNN`` or ``LSTM`` layer."""
    kernel, recurrent, bias = (np.asarray(v, dtype=np.float64) for v in layer.get_weights())
    return Weights(kernel.T, recurrent.T, bias)


def clip_grad_norm(grads: list[np.ndarray], max_norm: float) -> tuple[list[np.ndarray], float]:
    """Scale all gradients together so that their joint L2 norm is at most ``max_norm``.

    Returns the (possibly) scaled gradients and the norm before clipping, like
    ``torch.nn.utils.clip_grad_norm_``. The direction of the update is kept; only its length shrinks.
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm!r}")
    norm = float(np.sqrt(sum(float(np.sum(g * g)) for g in grads)))
    scale = min(1.0, max_norm / (norm + 1e-6))
    return [g * scale for g in grads], norm


def SequenceModel(cell: str, n_in: int, hidden: int, n_out: int) -> Any:  # noqa: N802 (a model factory)
    """A PyTorch ``nn.RNN`` (tanh) or ``nn.LSTM`` layer read out by a linear layer at the last step.

    Outputs (batch, n_out), squeezed to (batch,) when ``n_out == 1``. Accepts (batch, time) inputs
    as one feature per step.
    """
    import torch

    if cell not in ("RNN", "LSTM"):
        raise ValueError(f"cell must be 'RNN' or 'LSTM', got {cell!r}")

    class _SequenceModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.recurrent = getattr(torch.nn, cell)(n_in, hidden, batch_first=True)
            self.readout = torch.nn.Linear(hidden, n_out)

        def forward(self, x: Any) -> Any:
            if x.dim() == 2:
                x = x.unsqueeze(-1)
            out = self.readout(self.recurrent(x)[0][:, -1])
            return out.squeeze(-1) if n_out == 1 else out

    return _SequenceModel()
