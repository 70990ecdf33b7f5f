"""Recurrent cells from scratch (chapter 5): the Elman RNN, the LSTM and the GRU, one step and over time.

Shapes: inputs ``x`` are (batch, time, features); states are (batch, hidden). Weights use PyTorch's
layout: ``W_ih`` (G H, D), ``W_hh`` (G H, H), one bias ``b`` (G H,), where G is 1 for the RNN, 3 for the
GRU (gates stacked r, z, n) and 4 for the LSTM (i, f, g, o). Only the sum of PyTorch's two biases
matters, except for the GRU's candidate n, where the recurrent bias ``b_hn`` sits inside the reset gate's
product: the GRU keeps it as a second bias.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..neuron import sigmoid
from ..validate import as_float_array, check_bool, check_positive

__all__ = ["Weights", "rnn_cell", "lstm_cell", "gru_cell", "rnn_forward", "lstm_forward", "gru_forward"]

_NONLINEARITIES = ("tanh", "relu")
_KIND = {1: "RNN", 3: "GRU", 4: "LSTM"}


@dataclass
class Weights:
    """Weights of one recurrent layer, PyTorch layout. ``gates`` is 1 (RNN), 3 (GRU) or 4 (LSTM).

    ``nonlinearity`` is the Elman RNN's activation, "tanh" (default) or "relu"; the LSTM's and GRU's is
    "tanh". A GRU has a second bias ``b_hn`` (hidden,), the recurrent bias of its candidate (zero if None),
    and ``reset_after``, where its reset gate acts: True (PyTorch; Keras's default) multiplies
    ``h W_hn^T + b_hn`` by r; False (Keras's ``reset_after=False``, the original paper) multiplies h by r
    before ``W_hn``. Chapter 5.
    """

    W_ih: np.ndarray
    W_hh: np.ndarray
    b: np.ndarray
    nonlinearity: str = "tanh"
    b_hn: np.ndarray | None = None
    reset_after: bool = True

    def __post_init__(self) -> None:
        self.W_ih, self.W_hh = as_float_array(self.W_ih, "W_ih", ndim=2), as_float_array(self.W_hh, "W_hh", ndim=2)
        self.b = as_float_array(self.b, "b", ndim=1)
        GH, H = self.W_hh.shape
        if H == 0 or GH not in (H, 3 * H, 4 * H):
            raise ValueError(f"W_hh must have shape (gates * hidden, hidden) with 1 gate (RNN), 3 (GRU) or 4 "
                             f"(LSTM), got {self.W_hh.shape}")
        if self.W_ih.shape[0] != GH or self.W_ih.shape[1] == 0 or self.b.shape != (GH,):
            raise ValueError(f"W_ih must have shape ({GH}, n_in >= 1) and b shape ({GH},) to match W_hh "
                             f"{self.W_hh.shape}, got {self.W_ih.shape} and {self.b.shape}")
        if self.nonlinearity not in _NONLINEARITIES or (self.gates > 1 and self.nonlinearity != "tanh"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu' (an LSTM or GRU: 'tanh'), "
                             f"got {self.nonlinearity!r}")
        check_bool(self.reset_after, "reset_after")
        if self.gates != 3:
            if self.b_hn is not None or not self.reset_after:
                raise ValueError(f"b_hn and reset_after=False belong to a GRU, W_hh of shape (3 hidden, hidden); "
                                 f"W_hh of shape {self.W_hh.shape} makes this an {self.kind}: leave b_hn=None, "
                                 f"reset_after=True")
            return
        self.b_hn = np.zeros(H) if self.b_hn is None else as_float_array(self.b_hn, "b_hn", ndim=1)
        if self.b_hn.shape != (H,):
            raise ValueError(f"b_hn must have shape (hidden,) = ({H},), got {self.b_hn.shape}")

    @property
    def hidden(self) -> int:
        return self.W_hh.shape[1]

    @property
    def gates(self) -> int:
        return self.W_hh.shape[0] // self.W_hh.shape[1]

    @property
    def kind(self) -> str:
        """ "RNN", "GRU" or "LSTM", from the number of gates."""
        return _KIND[self.gates]

    @classmethod
    def random(cls, n_in: int, hidden: int, gates: int = 1, *, seed: int = 0) -> "Weights":
        """Uniform(-1/sqrt(hidden), 1/sqrt(hidden)) like PyTorch's default initialization
        (drawn in the order W_ih, W_hh, b, then a GRU's b_hn)."""
        check_positive(n_in, "n_in", integer=True)
        check_positive(hidden, "hidden", integer=True)
        if isinstance(gates, bool) or gates not in (1, 3, 4):
            raise ValueError(f"gates must be 1 (RNN), 3 (GRU) or 4 (LSTM), got {gates!r}")
        check_positive(seed, "seed", integer=True, allow_zero=True)
        rng, k = np.random.default_rng(seed), 1 / np.sqrt(hidden)
        arrays = [rng.uniform(-k, k, (gates * hidden, n_in)), rng.uniform(-k, k, (gates * hidden, hidden)),
                  rng.uniform(-k, k, gates * hidden)]
        return cls(*arrays, b_hn=rng.uniform(-k, k, hidden)) if gates == 3 else cls(*arrays)


def _check(x: Any, w: Weights, gates: int, states: dict[str, Any], *, step: bool = False
           ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Check inputs: ``x`` is (batch, features) for one step, else (batch, time, features); states (batch, H)."""
    if not isinstance(w, Weights):
        raise TypeError(f"w must be rnn.Weights, got {type(w).__name__}")
    x = as_float_array(x, "x", ndim=2 if step else 3)
    if w.gates != gates:
        raise ValueError(f"weights must have {gates} gate(s) stacked ({_KIND[gates]}): W_hh of shape "
                         f"({gates * w.hidden}, {w.hidden}), got {w.W_hh.shape} ({w.kind})")
    if x.shape[-1] != w.W_ih.shape[1] or 0 in x.shape:
        layout = "(batch, features)" if step else "per time step (batch, time >= 1, features)"
        raise ValueError(f"x must have {w.W_ih.shape[1]} features {layout}, got shape {x.shape}")
    out = []
    for name, s in states.items():
        s = np.zeros((x.shape[0], w.hidden)) if s is None else as_float_array(s, name, ndim=2)
        if s.shape != (x.shape[0], w.hidden):
            raise ValueError(f"{name} must have shape (batch, hidden) = {(x.shape[0], w.hidden)}, got {s.shape}")
        out.append(s)
    return x, out


def rnn_cell(x: Any, h: Any, w: Weights) -> np.ndarray:
    """One Elman step: ``h_t = tanh(x_t W_ih^T + h_{t-1} W_hh^T + b)`` (relu if ``w.nonlinearity`` says so)."""
    x, (h,) = _check(x, w, 1, {"h": h}, step=True)
    z = x @ w.W_ih.T + h @ w.W_hh.T + w.b
    return np.maximum(z, 0.0) if w.nonlinearity == "relu" else np.tanh(z)


def lstm_cell(x: Any, h: Any, c: Any, w: Weights) -> tuple[np.ndarray, np.ndarray]:
    """One LSTM step (Hochreiter and Schmidhuber, 1997, with the forget gate of Gers et al., 2000)::

        i = sigmoid(x W_ii^T + h W_hi^T + b_i)     input gate: how much new content to write
        f = sigmoid(x W_if^T + h W_hf^T + b_f)     forget gate: how much old memory to keep
        g = tanh   (x W_ig^T + h W_hg^T + b_g)     candidate content
        o = sigmoid(x W_io^T + h W_ho^T + b_o)     output gate: how much memory to show
        c' = f * c + i * g                          the memory cell: additive update
        h' = o * tanh(c')
    """
    x, (h, c) = _check(x, w, 4, {"h": h, "c": c}, step=True)
    H = w.hidden
    z = x @ w.W_ih.T + h @ w.W_hh.T + w.b
    i, f, g, o = sigmoid(z[:, :H]), sigmoid(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), sigmoid(z[:, 3 * H:])
    c_new = f * c + i * g
    return o * np.tanh(c_new), c_new


def gru_cell(x: Any, h: Any, w: Weights) -> np.ndarray:
    """One GRU step (Cho et al., 2014), gates stacked in PyTorch's order r, z, n::

        r = sigmoid(x W_ir^T + h W_hr^T + b_r)                reset gate: how much past enters the candidate
        z = sigmoid(x W_iz^T + h W_hz^T + b_z)                update gate: how much old state to keep
        n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))     candidate (w.reset_after, PyTorch)
        n = tanh(x W_in^T + b_in + (r * h) W_hn^T + b_hn)     candidate (reset_after=False)
        h' = (1 - z) * n + z * h

    One state, no separate memory: the update gate interpolates between the old state and the candidate.
    """
    x, (h,) = _check(x, w, 3, {"h": h}, step=True)
    H = w.hidden
    gx = x @ w.W_ih.T + w.b  # the input's part of all three gates, with b = (b_r, b_z, b_in)
    rz = sigmoid(gx[:, :2 * H] + h @ w.W_hh[:2 * H].T)
    r, z = rz[:, :H], rz[:, H:]
    if w.reset_after:
        n = np.tanh(gx[:, 2 * H:] + r * (h @ w.W_hh[2 * H:].T + w.b_hn))
    else:
        n = np.tanh(gx[:, 2 * H:] + (r * h) @ w.W_hh[2 * H:].T + w.b_hn)
    return (1 - z) * n + z * h


def _unroll(step, x: np.ndarray, state: tuple) -> tuple[np.ndarray, tuple]:
    """Apply ``step(x_t, *state) -> state`` at every time step; the hidden state is the state's first entry."""
    hs = []
    for t in range(x.shape[1]):
        state = step(x[:, t], *state)
        hs.append(state[0])
    return np.stack(hs, axis=1), state


def rnn_forward(x: Any, w: Weights, h0: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Run the Elman RNN over time; returns every hidden state (batch, time, H) and the last one."""
    x, state = _check(x, w, 1, {"h0": h0})
    hs, (h,) = _unroll(lambda xt, h: (rnn_cell(xt, h, w),), x, tuple(state))
    return hs, h


def lstm_forward(x: Any, w: Weights, h0: Any = None,
                 c0: Any = None) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Run the LSTM over time; returns every hidden state (batch, time, H) and the last (h, c)."""
    x, state = _check(x, w, 4, {"h0": h0, "c0": c0})
    hs, (h, c) = _unroll(lambda xt, h, c: lstm_cell(xt, h, c, w), x, tuple(state))
    return hs, (h, c)


def gru_forward(x: Any, w: Weights, h0: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Run the GRU over time; returns every hidden state (batch, time, H) and the last one."""
    x, state = _check(x, w, 3, {"h0": h0})
    hs, (h,) = _unroll(lambda xt, h: (gru_cell(xt, h, w),), x, tuple(state))
    return hs, h
