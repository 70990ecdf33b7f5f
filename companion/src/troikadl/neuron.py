"""The artificial neuron: weighted sum plus bias, activations, the perceptron and the logistic neuron.

Taught in chapter 1. Everything is NumPy, float64, and small enough to read whole.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .validate import (as_features, as_float_array, as_labels, check_bool, check_choice, check_float, check_int,
                       check_positive, check_same_length)

__all__ = ["sigmoid", "sigmoid_grad", "tanh", "tanh_grad", "relu", "relu_grad", "ACTIVATIONS",
           "neuron", "perceptron_update", "Perceptron", "LogisticNeuron"]


# --- activations, each derivative next to its function ------------------------------------------

def sigmoid(z: np.ndarray) -> np.ndarray:
    """sigma(z) = 1 / (1 + exp(-z)), computed without overflow for large |z|."""
    z = as_float_array(z, "z", finite=False)  # real numbers of any shape; NaN and inf propagate as in NumPy
    ez = np.exp(-np.abs(z))  # in (0, 1]: never overflows
    return np.where(z >= 0, 1.0 / (1.0 + ez), ez / (1.0 + ez))


def sigmoid_grad(z: np.ndarray) -> np.ndarray:
    """d sigma / dz = sigma(z) (1 - sigma(z)); at most 1/4, at z = 0."""
    s = sigmoid(z)
    return s * (1.0 - s)


def tanh(z: np.ndarray) -> np.ndarray:
    """tanh(z) = (e^z - e^-z) / (e^z + e^-z) = 2 sigma(2z) - 1."""
    return np.tanh(as_float_array(z, "z", finite=False))


def tanh_grad(z: np.ndarray) -> np.ndarray:
    """d tanh / dz = 1 - tanh(z)^2; at most 1, at z = 0."""
    return 1.0 - np.tanh(as_float_array(z, "z", finite=False)) ** 2


def relu(z: np.ndarray) -> np.ndarray:
    """relu(z) = max(0, z)."""
    return np.maximum(as_float_array(z, "z", finite=False), 0.0)


def relu_grad(z: np.ndarray) -> np.ndarray:
    """d relu / dz = 1 for z > 0, else 0 (at the kink z = 0 we take 0, as PyTorch and TensorFlow do)."""
    return (as_float_array(z, "z", finite=False) > 0).astype(float)


#: name -> (function, derivative)
ACTIVATIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
    "relu": (relu, relu_grad),
    "identity": (lambda z: as_float_array(z, "z", finite=False),
                 lambda z: np.ones_like(as_float_array(z, "z", finite=False))),
}


def neuron(x: np.ndarray, w: np.ndarray, b: float, activation: str = "sigmoid") -> np.ndarray:
    """One neuron: ``a = f(x . w + b)``. ``x`` is one sample (n,) or a batch (m, n); ``w`` is (n,)."""
    check_choice(activation, "activation", sorted(ACTIVATIONS))
    w = as_float_array(w, "w", ndim=1, nonempty=True)
    x = as_float_array(x, "x", ndim=(1, 2))
    if x.shape[-1] != w.shape[0]:
        raise ValueError(f"x must be ({w.shape[0]},) or (m, {w.shape[0]}) to match w of shape {w.shape}, got {x.shape}")
    return ACTIVATIONS[activation][0](x @ w + check_float(b, "b"))


# --- the perceptron (Rosenblatt, 1958) ------------------------------------------------------------

def perceptron_update(w: np.ndarray, b: float, x: np.ndarray, y: int,
                      lr: float = 1.0) -> tuple[np.ndarray, float]:
    """One step of the perceptron learning rule on one sample, labels ``y`` in {-1, +1}.

    If the sample is misclassified or on the boundary (``y (w . x + b) <= 0``) move the boundary
    towards it: ``w <- w + lr y x``, ``b <- b + lr y``. Otherwise change nothing. Returns new ``(w, b)``.
    """
    w, b, x, y, lr = _checked_update(w, b, x, y, lr)
    if y * (np.dot(w, x) + b) <= 0:
        return w + lr * y * x, b + lr * y
    return w, b


def _checked_update(w: np.ndarray, b: float, x: np.ndarray, y: int, lr: float) -> tuple:
    w, x = as_float_array(w, "w", ndim=1, nonempty=True), as_float_array(x, "x", ndim=1)
    if x.shape != w.shape:
        raise ValueError(f"x and w must have the same length, got {x.shape[0]} and {w.shape[0]}")
    check_choice(y, "y (the perceptron's label coding)", (-1, 1))
    return w, check_float(b, "b"), x, int(y), check_float(lr, "lr", min=0, min_open=True)


class Perceptron:
    """The perceptron learning rule, for labels 0/1 (mapped to -1/+1 inside).

    ``fit`` makes ``epochs`` passes over the data in a seeded random order, applying
    :func:`perceptron_update` to each sample, and records the number of updates (mistakes) per epoch
    in ``mistakes_``. On data that are not linearly separable the rule never settles, so with
    ``average=True`` (the default) it predicts with the average of the weights over all steps (the
    averaged perceptron of Freund and Schapire, 1999), which is far more stable than the last iterate.
    """

    def __init__(self, lr: float = 1.0, epochs: int = 20, *, average: bool = True, seed: int = 0) -> None:
        self.lr = check_positive(lr, "lr")
        self.epochs = check_positive(epochs, "epochs", integer=True)
        self.average = check_bool(average, "average")
        self.seed = check_int(seed, "seed", min=0)

    def fit(self, X: np.ndarray, y: np.ndarray) -> "Perceptron":
        X, y = as_features(X, "X"), as_labels(y, "y", allowed=(0, 1))
        check_same_length(X=X, y=y)
        s = 2 * y - 1
        rng = np.random.default_rng(self.seed)
        w, b = np.zeros(X.shape[1]), 0.0
        w_sum, b_sum, steps = np.zeros_like(w), 0.0, 0
        self.mistakes_: list[int] = []
        for _ in range(self.epochs):
            mistakes = 0
            for i in rng.permutation(len(X)):
                mistakes += int(s[i] * (X[i] @ w + b) <= 0)
                w, b = perceptron_update(w, b, X[i], int(s[i]), self.lr)
                w_sum += w
                b_sum += b
                steps += 1
            self.mistakes_.append(mistakes)
        self.w_last_, self.b_last_ = w, b
        self.w_, self.b_ = (w_sum / steps, b_sum / steps) if self.average else (w, b)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        X = as_features(X, "X", n_features=len(self.w_))
        return X @ self.w_ + self.b_

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Labels 0/1."""
        return (self.decision_function(X) > 0).astype(np.int64)


# --- the logistic neuron --------------------------------------------------------------------------

class LogisticNeuron:
    """One sigmoid neuron trained by full-batch gradient descent on the mean binary cross-entropy.

    For ``p = sigmoid(X w + b)`` the gradient of ``mean(-y log p - (1-y) log(1-p))`` is
    ``X^T (p - y) / m`` for ``w`` and ``mean(p - y)`` for ``b``: the sigmoid's derivative cancels.
    ``loss_`` records the loss before each step.
    """

    def __init__(self, lr: float = 0.5, epochs: int = 500) -> None:
        self.lr = check_positive(lr, "lr")
        self.epochs = check_positive(epochs, "epochs", integer=True)

    def fit(self, X: np.ndarray, y: np.ndarray) -> "LogisticNeuron":
        X, yv = as_features(X, "X"), as_labels(y, "y", allowed=(0, 1)).astype(float)
        check_same_length(X=X, y=yv)
        self.w_, self.b_ = np.zeros(X.shape[1]), 0.0
        self.loss_: list[float] = []
        for _ in range(self.epochs):
            z = X @ self.w_ + self.b_
            p = sigmoid(z)
            # log(1 + e^-z) and log(1 + e^z), written stably
            self.loss_.append(float(np.mean(yv * np.logaddexp(0, -z) + (1 - yv) * np.logaddexp(0, z))))
            err = p - yv
            self.w_ = self.w_ - self.lr * X.T @ err / len(X)
            self.b_ = self.b_ - self.lr * float(err.mean())
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probability of class 1 for each row."""
        X = as_features(X, "X", n_features=len(self.w_))
        return sigmoid(X @ self.w_ + self.b_)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Labels 0/1 (probability above one half)."""
        return (self.predict_proba(X) > 0.5).astype(np.int64)
