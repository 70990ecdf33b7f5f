"""Exercises on recurrent networks (chapter 5): public cases and plausible wrong answers."""

from __future__ import annotations

import numpy as np

from ..neuron import sigmoid
from ..rnn import Weights, lstm_cell
from .core import Case, Exercise, register

CHAPTER = "05_rnn"

# --- rnn.lstm_step: one LSTM step, gates in PyTorch's order i, f, g, o ------------------------------


def _lstm(x, h, c, W_ih, W_hh, b, variant):  # the wrong answers
    H = h.shape[1]
    z = x @ W_ih.T + h @ W_hh.T + b
    i, f, g, o = z[:, :H], z[:, H:2 * H], z[:, 2 * H:3 * H], z[:, 3 * H:]
    if variant == "i-f swapped":
        i, f = f, i
    i, f, o = sigmoid(i), sigmoid(f), sigmoid(o)
    g = sigmoid(g) if variant == "sigmoid candidate" else np.tanh(g)
    c_new = i * g if variant == "no forget" else f * c + i * g
    h_new = o * c_new if variant == "no tanh" else o * np.tanh(c_new)
    return h_new, c_new


def _lstm_case(name: str, n: int, d: int, H: int, seed: int, hint: str = "") -> Case:
    r = np.random.default_rng(seed)
    args = (r.normal(size=(n, d)), r.normal(size=(n, H)), r.normal(size=(n, H)),
            r.normal(size=(4 * H, d)), r.normal(size=(4 * H, H)), r.normal(size=4 * H))
    x, h, c, W_ih, W_hh, b = args
    return Case(name, args, expected=lambda: lstm_cell(x, h, c, Weights(W_ih, W_hh, b)), hint=hint)


register(Exercise(
    id="rnn.lstm_step", chapter=CHAPTER, function="lstm_step",
    title="One step of an LSTM",
    hint="z = x W_ih^T + h W_hh^T + b, split in four (i, f, g, o); c' = f c + i g; h' = o tanh(c').",
    cases=[
        _lstm_case("batch 2, 3 inputs, 4 units", 2, 3, 4, 0, "Gates in the order i, f, g, o."),
        _lstm_case("one sample, 1 unit", 1, 2, 1, 1, "g uses tanh; the three gates use the sigmoid."),
        _lstm_case("batch 3, 5 inputs, 2 units", 3, 5, 2, 2, "h' = o * tanh(c'), not o * c'."),
    ],
    wrong_answers={
        "forget and input gates swapped": lambda *a: _lstm(*a, variant="i-f swapped"),
        "sigmoid for the candidate": lambda *a: _lstm(*a, variant="sigmoid candidate"),
        "old memory dropped (c' = i g)": lambda *a: _lstm(*a, variant="no forget"),
        "no tanh on the output": lambda *a: _lstm(*a, variant="no tanh"),
    },
))

# --- rnn.clip_by_global_norm: gradient clipping ---------------------------------------------------


def _clip(grads, max_norm, mode=""):
    if mode == "value":
        return [np.clip(g, -max_norm, max_norm) for g in grads]
    if mode == "each":
        return [g * min(1.0, max_norm / np.linalg.norm(g)) for g in grads]
    norm = np.sqrt(sum(np.sum(g * g) for g in grads))
    if mode == "always":
        return [g * max_norm / norm for g in grads]
    return [g * min(1.0, max_norm / norm) for g in grads]


_G = [np.array([3.0, 0.0]), np.array([[0.0, 4.0]])]  # joint norm 5

register(Exercise(
    id="rnn.clip_by_global_norm", chapter=CHAPTER, function="clip_by_global_norm",
    title="Clipping gradients by their global norm",
    hint="Compute one norm over all arrays, sqrt(sum of all squares); if it exceeds max_norm, "
         "multiply every array by max_norm / norm; otherwise return them unchanged.",
    cases=[
        Case("norm 5 clipped to 1", (_G, 1.0), expected=(np.array([0.6, 0.0]), np.array([[0.0, 0.8]]))),
        Case("norm 5 under max 10: unchanged", (_G, 10.0), expected=(np.array([3.0, 0.0]), np.array([[0.0, 4.0]])),
             hint="Clipping only ever shrinks."),
        Case("one joint norm, not one per array", ([np.array([3.0]), np.array([4.0])], 2.5),
             expected=(np.array([1.5]), np.array([2.0])),
             hint="Clipping each array separately changes the direction of the update."),
    ],
    wrong_answers={"clips values, not the norm": lambda g, m: _clip(g, m, "value"),
                   "clips each array separately": lambda g, m: _clip(g, m, "each"),
                   "rescales even small gradients": lambda g, m: _clip(g, m, "always")},
))

# --- rnn.gru_cell: one GRU step in PyTorch's convention (gates r, z, n; reset after the product) ----------


def _gru(x, h, W_ih, W_hh, b_ih, b_hh, variant=""):
    """The reference (``variant=""``, checked equal to ``nn.GRU`` by the public cases) and the wrong answers."""
    H = h.shape[1]
    gi, gh = x @ W_ih.T + b_ih, h @ W_hh.T + b_hh
    r, z = sigmoid(gi[:, :H] + gh[:, :H]), sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
    if variant == "z r n":
        r, z = z, r
    if variant == "reset before":  # Keras's reset_after=False: the reset gate scales h before W_hn
        n = np.tanh(gi[:, 2 * H:] + (r * h) @ W_hh[2 * H:].T + b_hh[2 * H:])
    else:
        n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    return z * n + (1 - z) * h if variant == "z swapped" else (1 - z) * n + z * h


def _gru_case(name: str, n: int, d: int, H: int, seed: int, hint: str = "") -> Case:
    r = np.random.default_rng(seed)
    args = (r.normal(size=(n, d)), r.normal(size=(n, H)), r.normal(size=(3 * H, d)),
            r.normal(size=(3 * H, H)), r.normal(size=3 * H), r.normal(size=3 * H))

    def expected():  # PyTorch's own GRU cell, in float64, with these weights
        import torch

        cell = torch.nn.GRUCell(d, H, dtype=torch.float64)
        with torch.no_grad():
            for p, v in zip((cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh), args[2:]):
                p.copy_(torch.as_tensor(v))
            return cell(torch.as_tensor(args[0]), torch.as_tensor(args[1])).numpy()

    return Case(name, args, expected=expected, hint=hint)


register(Exercise(
    id="rnn.gru_cell", chapter=CHAPTER, function="gru_cell",
    title="One step of a GRU, PyTorch's convention",
    hint="Rows of W_ih, W_hh, b_ih, b_hh are stacked r, z, n. r and z: sigmoid of (x W^T + b_i) + (h W^T + b_h); "
         "n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn)); h' = (1 - z) * n + z * h.",
    cases=[
        _gru_case("batch 2, 3 inputs, 4 units", 2, 3, 4, 0, "Rows are stacked r, z, n (PyTorch's order)."),
        _gru_case("one sample, 1 unit", 1, 2, 1, 1, "z keeps the old state: h' = (1 - z) n + z h."),
        _gru_case("batch 3, 5 inputs, 2 units", 3, 5, 2, 2,
                  "PyTorch applies r after the recurrent product: r * (h W_hn^T + b_hn)."),
    ],
    wrong_answers={
        "Keras's reset-before convention (reset_after=False)": lambda *a: _gru(*a, variant="reset before"),
        "z and 1 - z swapped": lambda *a: _gru(*a, variant="z swapped"),
        "gates read in the order z, r, n": lambda *a: _gru(*a, variant="z r n"),
    },
))
