"""Exercises on the artificial neuron (chapter 1): public cases and plausible wrong answers."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..neuron import sigmoid
from .core import Case, Exercise, register

CHAPTER = "01_neuron"

# --- neuron.perceptron_update_01: the perceptron rule with labels 0/1 ------------------------------

_W, _X = np.array([0.5, -1.0]), np.array([2.0, 1.0])   # w . x = 0


def _step(w: np.ndarray, b: float, x: np.ndarray) -> int:
    return int(np.dot(w, x) + b > 0)


def _pu_sign_error(w, b, x, y, lr=1.0):
    e = _step(w, b, x) - y
    return w + lr * e * x, b + lr * e


def _pu_no_bias(w, b, x, y, lr=1.0):
    e = y - _step(w, b, x)
    return w + lr * e * x, b


def _pu_ge_threshold(w, b, x, y, lr=1.0):
    e = y - int(np.dot(w, x) + b >= 0)
    return w + lr * e * x, b + lr * e


def _pu_ignores_lr(w, b, x, y, lr=1.0):
    e = y - _step(w, b, x)
    return w + e * x, b + e


register(Exercise(
    id="neuron.perceptron_update_01", chapter=CHAPTER, function="perceptron_update_01",
    title="The perceptron update for labels 0/1",
    hint="Predict y_hat = 1 if w.x + b > 0 else 0, then move w and b by lr * (y - y_hat).",
    cases=[
        Case("correct positive: no change", (_W, 1.0, _X, 1, 0.5), expected=(_W, 1.0),
             hint="When the prediction is right, w and b must not change."),
        Case("missed positive", (_W, -1.0, _X, 1, 0.5), expected=(_W + 0.5 * _X, -0.5),
             hint="y = 1 but w.x + b < 0: add lr * x to w and lr to b."),
        Case("false positive", (_W, 1.0, _X, 0, 0.5), expected=(_W - 0.5 * _X, 0.5),
             hint="y = 0 but w.x + b > 0: subtract lr * x from w and lr from b."),
        Case("on the boundary, label 1", (_W, 0.0, _X, 1, 0.5), expected=(_W + 0.5 * _X, 0.5),
             hint="At w.x + b = 0 the neuron predicts 0 (it fires only when w.x + b > 0)."),
        Case("on the boundary, label 0", (_W, 0.0, _X, 0, 0.5), expected=(_W, 0.0),
             hint="At w.x + b = 0 the neuron predicts 0, which is right for label 0."),
        Case("learning rate 2", (np.zeros(3), 0.0, np.array([1.0, 2.0, -1.0]), 1, 2.0),
             expected=(np.array([2.0, 4.0, -2.0]), 2.0), hint="Scale the step by lr."),
    ],
    wrong_answers={"sign error": _pu_sign_error, "bias never updated": _pu_no_bias,
                   "fires at w.x + b >= 0": _pu_ge_threshold, "ignores lr": _pu_ignores_lr},
))

# --- neuron.bce_gradient: the gradient of the mean binary cross-entropy ----------------------------


def _torch_bce_grad(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> tuple[Any, float]:
    import torch

    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(float(b), dtype=torch.float64, requires_grad=True)
    z = torch.as_tensor(X, dtype=torch.float64) @ wt + bt
    loss = torch.nn.functional.binary_cross_entropy_with_logits(z, torch.as_tensor(y, dtype=torch.float64))
    loss.backward()
    return wt.grad.numpy(), float(bt.grad)


def _bg_sum(X, y, w, b):
    e = sigmoid(X @ w + b) - y
    return X.T @ e, float(e.sum())


def _bg_sign(X, y, w, b):
    e = y - sigmoid(X @ w + b)
    return X.T @ e / len(X), float(e.mean())


def _bg_extra_sigmoid_grad(X, y, w, b):
    p = sigmoid(X @ w + b)
    e = (p - y) * p * (1 - p)
    return X.T @ e / len(X), float(e.mean())


def _bg_no_bias(X, y, w, b):
    e = sigmoid(X @ w + b) - y
    return X.T @ e / len(X), 0.0


def _bce_case(name: str, m: int, n: int, seed: int, scale: float, hint: str = "") -> Case:
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(m, n)), rng.integers(0, 2, m).astype(float)
    w, b = scale * rng.normal(size=n), float(scale * rng.normal())
    return Case(name, (X, y, w, b), expected=lambda: _torch_bce_grad(X, y, w, b), hint=hint)


register(Exercise(
    id="neuron.bce_gradient", chapter=CHAPTER, function="bce_gradient",
    title="The gradient of the logistic neuron's loss",
    hint="With p = sigmoid(X w + b): dL/dw = X^T (p - y) / m and dL/db = mean(p - y).",
    cases=[
        Case("zero weights", (np.array([[1.0, 2.0], [3.0, -1.0]]), np.array([1.0, 0.0]), np.zeros(2), 0.0),
             expected=(np.array([0.5, -0.75]), 0.0),
             hint="With w = 0 and b = 0 every p is 1/2, so p - y is -1/2 or +1/2."),
        _bce_case("random, 10 samples", 10, 3, 0, 1.0, "Compare with the formula in section 1.2."),
        _bce_case("one sample", 1, 4, 1, 1.0, "The mean over one sample is that sample's term."),
        _bce_case("large weights", 20, 5, 2, 5.0,
                  "The sigmoid's derivative cancels: do not multiply by p (1 - p)."),
    ],
    wrong_answers={"sum instead of mean": _bg_sum, "sign error": _bg_sign,
                   "extra sigmoid derivative": _bg_extra_sigmoid_grad, "no bias gradient": _bg_no_bias},
))

# --- neuron.boundary_line: the decision boundary of a 2-input neuron as a line -----------------------


def _bl_sign(w, b):
    if w[1] == 0:
        raise ValueError("w[1] is 0: the boundary is vertical")
    return -w[0] / w[1], b / w[1]


def _bl_swapped(w, b):
    if w[0] == 0:
        raise ValueError("vertical")
    with np.errstate(divide="ignore", invalid="ignore"):
        return -w[1] / w[0], -b / w[1]


def _bl_no_check(w, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.float64(w[0]) / w[1], -np.float64(b) / w[1]


def _bl_no_bias(w, b):
    if w[1] == 0:
        raise ValueError("vertical")
    return -w[0] / w[1], 0.0


register(Exercise(
    id="neuron.boundary_line", chapter=CHAPTER, function="boundary_line",
    title="A neuron's decision boundary as a line",
    hint="Solve w[0] x1 + w[1] x2 + b = 0 for x2.",
    cases=[
        Case("diagonal", (np.array([1.0, 1.0]), 0.0), expected=(-1.0, 0.0)),
        Case("with a bias", (np.array([2.0, -1.0]), 0.5), expected=(2.0, 0.5),
             hint="x2 = -(w[0] / w[1]) x1 - b / w[1]; here w[1] is negative."),
        Case("horizontal line", (np.array([0.0, 2.0]), -4.0), expected=(0.0, 2.0),
             hint="With w[0] = 0 the boundary is the horizontal line x2 = -b / w[1]."),
        Case("vertical line", (np.array([1.0, 0.0]), 1.0), raises=ValueError,
             hint="If w[1] == 0 the boundary is vertical and has no slope: raise ValueError."),
    ],
    wrong_answers={"intercept sign error": _bl_sign, "w[0] and w[1] swapped": _bl_swapped,
                   "no ValueError for a vertical line": _bl_no_check, "bias left out": _bl_no_bias},
))

# --- neuron.xor_net: XOR by a 2-2-1 network of step units, weights chosen by hand ---------------------------

_CORNERS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
_XOR = np.array([0, 1, 1, 0])


def _step_units(z):
    return (np.asarray(z) > 0).astype(int)


def _xn_one_neuron(X):          # the best a single neuron can do: the line x1 + x2 = 1.5 (3 of 4)
    return _step_units(np.asarray(X, dtype=float) @ np.ones(2) - 1.5)


def _xn_or_only(X):             # the OR unit alone: wrong at (1, 1)
    return _step_units(np.asarray(X, dtype=float) @ np.ones(2) - 0.5)


def _xn_linear_hidden(X):       # the right weights but no step in the hidden layer: a linear model again
    h = np.asarray(X, dtype=float) @ np.ones((2, 2)) + np.array([-0.5, -1.5])
    return _step_units(h @ np.array([1.0, -2.0]) - 0.5)


def _xn_tight_thresholds(X):    # thresholds at the corners themselves: a point just inside (0.95, 0.1) fails
    h = _step_units(np.asarray(X, dtype=float) @ np.ones((2, 2)) + np.array([-1.0, -2.0]))
    return _step_units(h @ np.array([1.0, -2.0]) + 0.5)


register(Exercise(
    id="neuron.xor_net", chapter=CHAPTER, function="xor_net",
    title="XOR with one hidden layer, by hand",
    hint="One hidden unit can detect 'at least one input is on' (OR), the other 'both are on' (AND); "
         "XOR is OR and not AND, one line in the plane of the two hidden activations.",
    cases=[
        Case("the four corners", (_CORNERS,), expected=_XOR,
             hint="(0,0) and (1,1) are class 0, (0,1) and (1,0) class 1; a single neuron gets at most 3 right."),
        Case("near the corners", (np.array([[0.05, 0.1], [0.1, 0.95], [0.92, 0.08], [0.95, 0.9]]),),
             expected=_XOR, hint="Put each threshold between the corners (e.g. x1 + x2 > 0.5), not on them."),
        Case("the corners twice, reversed", (np.vstack([_CORNERS, _CORNERS])[::-1],),
             expected=np.concatenate([_XOR, _XOR])[::-1], hint="Work row by row on an (m, 2) array."),
    ],
    wrong_answers={"a single neuron (best line)": _xn_one_neuron, "the OR unit alone": _xn_or_only,
                   "no step in the hidden layer": _xn_linear_hidden,
                   "thresholds on the corners": _xn_tight_thresholds},
))
