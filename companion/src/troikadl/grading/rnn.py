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
