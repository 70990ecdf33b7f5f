"""Recurrent cells from scratch: the Elman RNN and the LSTM, and weight maps to PyTorch and Keras.

Taught in chapter 5. Shapes: inputs ``x`` are (batch, time, features); states are (batch, hidden).
Our weights use PyTorch's layout with one bias: ``W_ih`` (G H, D), ``W_hh`` (G H, H), ``b`` (G H,),
where G is 1 for the RNN and 4 for the LSTM, whose gates are stacked in the order input, forget,
cell candidate, output (i, f, g, o) -- the order PyTorch and Keras both use.

The frameworks differ in two ways that matter when moving weights: PyTorch keeps two biases
(``b_ih + b_hh``; only their sum matters) and stores weights as (out, in); Keras keeps one bias and
stores ``kernel = W_ih^T`` and ``recurrent_kernel = W_hh^T``.

``from_torch`` and ``from_keras`` copy what these functions model (one layer, one direction; an Elman
RNN with tanh or relu; an LSTM with the standard activations and no projection) and reject the rest, a GRU
included, with a ``TypeError`` or ``ValueError`` naming what is unsupported. Dropout acts only in
training (and, in PyTorch, only between stacked layers): the functions here compute evaluation-mode outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .neuron import sigmoid
from .validate import as_float_array, check_positive

__all__ = ["Weights", "rnn_cell", "lstm_cell", "rnn_forward", "lstm_forward", "from_torch", "to_torch",
           "to_keras", "from_keras", "clip_grad_norm", "SequenceModel"]

_NONLINEARITIES = ("tanh", "relu")


@dataclass
class Weights:
    """Weights of one recurrent layer, PyTorch layout, one bias. ``gates`` is 1 (RNN) or 4 (LSTM).

    ``nonlinearity`` is the Elman RNN's activation, "tanh" (default) or "relu"; an LSTM's is always "tanh".
    """

    W_ih: np.ndarray
    W_hh: np.ndarray
    b: np.ndarray
    nonlinearity: str = "tanh"

    def __post_init__(self) -> None:
        self.W_ih, self.W_hh = as_float_array(self.W_ih, "W_ih", ndim=2), as_float_array(self.W_hh, "W_hh", ndim=2)
        self.b = as_float_array(self.b, "b", ndim=1)
        GH, H = self.W_hh.shape
        if H == 0 or GH not in (H, 4 * H):
            raise ValueError(f"W_hh must have shape (gates * hidden, hidden) with 1 gate (RNN) or 4 (LSTM), "
                             f"got {self.W_hh.shape}")
        if self.W_ih.shape[0] != GH or self.W_ih.shape[1] == 0 or self.b.shape != (GH,):
            raise ValueError(f"W_ih must have shape ({GH}, n_in >= 1) and b shape ({GH},) to match W_hh "
                             f"{self.W_hh.shape}, got {self.W_ih.shape} and {self.b.shape}")
        if self.nonlinearity not in _NONLINEARITIES or (self.gates == 4 and self.nonlinearity != "tanh"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu' (an LSTM: 'tanh'), got {self.nonlinearity!r}")

    @property
    def hidden(self) -> int:
        return self.W_hh.shape[1]

    @property
    def gates(self) -> int:
        return self.W_hh.shape[0] // self.W_hh.shape[1]

    @classmethod
    def random(cls, n_in: int, hidden: int, gates: int = 1, *, seed: int = 0) -> "Weights":
        """Uniform(-1/sqrt(hidden), 1/sqrt(hidden)) like PyTorch's default initialization."""
        check_positive(n_in, "n_in", integer=True)
        check_positive(hidden, "hidden", integer=True)
        if isinstance(gates, bool) or gates not in (1, 4):
            raise ValueError(f"gates must be 1 (RNN) or 4 (LSTM), got {gates!r}")
        check_positive(seed, "seed", integer=True, allow_zero=True)
        rng, k = np.random.default_rng(seed), 1 / np.sqrt(hidden)
        return cls(rng.uniform(-k, k, (gates * hidden, n_in)), rng.uniform(-k, k, (gates * hidden, hidden)),
                   rng.uniform(-k, k, gates * hidden))


def _check(x: Any, w: Weights, gates: int, states: dict[str, Any], *, step: bool = False
           ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Check inputs: ``x`` is (batch, features) for one step, else (batch, time, features); states (batch, H)."""
    if not isinstance(w, Weights):
        raise TypeError(f"w must be rnn.Weights, got {type(w).__name__}")
    x = as_float_array(x, "x", ndim=2 if step else 3)
    if w.gates != gates:
        raise ValueError(f"weights must have {gates} gate(s) stacked: W_hh of shape ({gates * w.hidden}, "
                         f"{w.hidden}), got {w.W_hh.shape}")
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


def rnn_forward(x: Any, w: Weights, h0: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Run the Elman RNN over time; returns every hidden state (batch, time, H) and the last one."""
    x, (h,) = _check(x, w, 1, {"h0": h0})
    hs = []
    for t in range(x.shape[1]):
        h = rnn_cell(x[:, t], h, w)
        hs.append(h)
    return np.stack(hs, axis=1), h


def lstm_forward(x: Any, w: Weights, h0: Any = None,
                 c0: Any = None) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Run the LSTM over time; returns every hidden state (batch, time, H) and the last (h, c)."""
    x, (h, c) = _check(x, w, 4, {"h0": h0, "c0": c0})
    hs = []
    for t in range(x.shape[1]):
        h, c = lstm_cell(x[:, t], h, c, w)
        hs.append(h)
    return np.stack(hs, axis=1), (h, c)


def from_torch(module: Any) -> Weights:
    """Weights of a one-layer, one-direction ``nn.RNN`` (tanh or relu) or ``nn.LSTM``; the two biases are summed.

    ``bias=False`` gives a zero bias; ``batch_first`` changes the module's input layout, not its weights
    (ours are batch first); ``dropout`` acts only between stacked layers, so not in one layer. Rejected:
    ``nn.GRU`` and other modules (``TypeError``), ``num_layers > 1``, ``bidirectional=True`` and an LSTM's
    ``proj_size > 0`` (``ValueError``).
    """
    if not isinstance(module, (torch.nn.RNN, torch.nn.LSTM)):
        raise TypeError(f"module must be a torch.nn.RNN or torch.nn.LSTM, got {type(module).__name__} "
                        f"(a GRU's gates are not modelled here)")
    if module.num_layers != 1:
        raise ValueError(f"num_layers={module.num_layers} is not supported: Weights holds a single layer")
    if module.bidirectional:
        raise ValueError("bidirectional=True is not supported: Weights holds a single direction")
    if getattr(module, "proj_size", 0):
        raise ValueError(f"proj_size={module.proj_size} is not supported: the LSTM here has no projection")
    get = lambda name: getattr(module, name).detach().cpu().numpy().astype(np.float64)  # noqa: E731
    b = get("bias_ih_l0") + get("bias_hh_l0") if module.bias else np.zeros(get("weight_hh_l0").shape[0])
    nonlinearity = module.nonlinearity if isinstance(module, torch.nn.RNN) else "tanh"
    return Weights(get("weight_ih_l0"), get("weight_hh_l0"), b, nonlinearity)


def to_torch(w: Weights, dtype: Any = None) -> Any:
    """A ``nn.RNN`` or ``nn.LSTM`` (batch_first) holding ``w`` (all the bias goes into ``bias_ih``)."""
    if not isinstance(w, Weights):
        raise TypeError(f"w must be rnn.Weights, got {type(w).__name__}")
    dtype = dtype or torch.float64
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    if w.gates == 4:
        module = torch.nn.LSTM(w.W_ih.shape[1], w.hidden, batch_first=True, dtype=dtype)
    else:
        module = torch.nn.RNN(w.W_ih.shape[1], w.hidden, nonlinearity=w.nonlinearity, batch_first=True, dtype=dtype)
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.as_tensor(w.W_ih))
        module.weight_hh_l0.copy_(torch.as_tensor(w.W_hh))
        module.bias_ih_l0.copy_(torch.as_tensor(w.b))
        module.bias_hh_l0.zero_()
    return module


def to_keras(w: Weights, dtype: str = "float64") -> Any:
    """A Keras ``SimpleRNN`` or ``LSTM`` layer (``return_sequences=True``) holding ``w``."""
    import keras

    if not isinstance(w, Weights):
        raise TypeError(f"w must be rnn.Weights, got {type(w).__name__}")
    if w.gates == 4:
        layer = keras.layers.LSTM(w.hidden, return_sequences=True, dtype=dtype)
    else:
        layer = keras.layers.SimpleRNN(w.hidden, activation=w.nonlinearity, return_sequences=True, dtype=dtype)
    layer.build((None, None, w.W_ih.shape[1]))
    layer.set_weights([w.W_ih.T, w.W_hh.T, w.b])
    return layer


def from_keras(layer: Any) -> Weights:
    """Weights of a built Keras ``SimpleRNN`` (tanh or relu) or ``LSTM`` (tanh and sigmoid) layer.

    ``use_bias=False`` gives a zero bias. Rejected: ``GRU`` and other layers (``TypeError``), other
    activations and ``go_backwards=True`` (``ValueError``).
    """
    import keras

    if not isinstance(layer, (keras.layers.SimpleRNN, keras.layers.LSTM)):
        raise TypeError(f"layer must be a keras.layers.SimpleRNN or LSTM, got {type(layer).__name__}")
    config = layer.get_config()
    if config.get("go_backwards"):
        raise ValueError("go_backwards=True is not supported: the functions here read sequences forwards")
    if isinstance(layer, keras.layers.LSTM):
        if config["activation"] != "tanh" or config["recurrent_activation"] != "sigmoid":
            raise ValueError(f"an LSTM needs activation='tanh' and recurrent_activation='sigmoid', got "
                             f"{config['activation']!r} and {config['recurrent_activation']!r}")
        nonlinearity = "tanh"
    else:
        nonlinearity = config["activation"]
        if nonlinearity not in _NONLINEARITIES:
            raise ValueError(f"SimpleRNN activation must be 'tanh' or 'relu', got {nonlinearity!r}")
    if not layer.built:
        raise ValueError("layer must be built (call it once, or layer.build(input_shape)) before reading weights")
    kernel, recurrent, *bias = (np.asarray(v, dtype=np.float64) for v in layer.get_weights())
    return Weights(kernel.T, recurrent.T, bias[0] if bias else np.zeros(kernel.shape[1]), nonlinearity)


def clip_grad_norm(grads: list[np.ndarray], max_norm: float) -> tuple[list[np.ndarray], float]:
    """Scale all gradients together so that their joint L2 norm is at most ``max_norm``.

    Returns the (possibly) scaled gradients and the norm before clipping, like
    ``torch.nn.utils.clip_grad_norm_``. The direction of the update is kept; only its length shrinks.
    """
    if not isinstance(grads, (list, tuple)):
        raise TypeError(f"grads must be a list or tuple of arrays, got {type(grads).__name__}")
    grads = [as_float_array(g, f"grads[{i}]") for i, g in enumerate(grads)]
    check_positive(max_norm, "max_norm")
    norm = float(np.sqrt(sum(float(np.sum(g * g)) for g in grads)))
    scale = min(1.0, max_norm / (norm + 1e-6))
    return [g * scale for g in grads], norm


class SequenceModel(nn.Module):
    """A PyTorch ``nn.RNN`` (tanh) or ``nn.LSTM`` layer read out by a linear layer at the last step.

    ``cell`` is "RNN" or "LSTM"; ``n_in`` features per step, ``hidden`` state size, ``n_out`` outputs.
    Outputs (batch, n_out), squeezed to (batch,) when ``n_out == 1``. Accepts (batch, time) inputs
    as one feature per step.
    """

    def __init__(self, cell: str, n_in: int, hidden: int, n_out: int) -> None:
        if cell not in ("RNN", "LSTM"):
            raise ValueError(f"cell must be 'RNN' or 'LSTM', got {cell!r}")
        for name, value in (("n_in", n_in), ("hidden", hidden), ("n_out", n_out)):
            check_positive(value, name, integer=True)
        super().__init__()
        self.cell, self.n_in, self.hidden, self.n_out = cell, int(n_in), int(hidden), int(n_out)
        self.recurrent = getattr(nn, cell)(self.n_in, self.hidden, batch_first=True)
        self.readout = nn.Linear(self.hidden, self.n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_in = self.n_in
        if not torch.is_tensor(x) or not x.is_floating_point():
            raise TypeError(f"x must be a floating-point torch tensor, got {getattr(x, 'dtype', type(x).__name__)}")
        if not torch.isfinite(x).all():
            raise ValueError("x must be finite, but it holds NaN or infinity")
        if x.dim() == 2 and n_in == 1:
            x = x.unsqueeze(-1)
        if x.dim() != 3 or x.shape[-1] != n_in or 0 in x.shape:
            raise ValueError(f"x must be (batch, time, {n_in})" + (" or (batch, time)" if n_in == 1 else "")
                             + f" with batch, time >= 1, got {tuple(x.shape)}")
        out = self.readout(self.recurrent(x)[0][:, -1])
        return out.squeeze(-1) if self.n_out == 1 else out
