"""The artificial neuron: weighted sum plus bias, the perceptron, the logistic neuron and softmax regression.

Taught in chapter 1. Everything is NumPy, float64, and small enough to read whole. The activation functions
live in :mod:`troikadl.activations` and are re-exported here (``tk.neuron.sigmoid``); ``softmax`` is
:func:`troikadl.attention.softmax`, re-exported.
"""

from __future__ import annotations

import numpy as np

from .activations import (ACTIVATIONS, gelu, gelu_grad, leaky_relu, leaky_relu_grad, relu, relu_grad, sigmoid,
                          sigmoid_grad, silu, silu_grad, tanh, tanh_grad)
from .attention import softmax
from .validate import (as_features, as_float_array, as_labels, check_bool, check_choice, check_float, check_int,
                       check_positive, check_same_length)

__all__ = ["sigmoid", "sigmoid_grad", "tanh", "tanh_grad", "relu", "relu_grad", "leaky_relu", "leaky_relu_grad",
           "gelu", "gelu_grad", "silu", "silu_grad", "ACTIVATIONS", "softmax",
           "neuron", "perceptron_update", "Perceptron", "LogisticNeuron", "SoftmaxRegression"]


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
    With ``loss="mse"`` it follows ``mean((p - y)^2)`` instead, whose gradient keeps that derivative,
    ``X^T (2 (p - y) p (1 - p)) / m``: small when ``p`` is near 0 or 1, right or wrong (chapter 1 measures it).
    ``fit`` starts from ``w0, b0`` (default zeros). ``loss_`` records the loss before each step.
    """

    def __init__(self, lr: float = 0.5, epochs: int = 500, *, loss: str = "bce") -> None:
        self.lr = check_positive(lr, "lr")
        self.epochs = check_positive(epochs, "epochs", integer=True)
        self.loss = check_choice(loss, "loss", ("bce", "mse"))

    def fit(self, X: np.ndarray, y: np.ndarray, *, w0: np.ndarray | None = None, b0: float = 0.0) -> "LogisticNeuron":
        X, yv = as_features(X, "X"), as_labels(y, "y", allowed=(0, 1)).astype(float)
        check_same_length(X=X, y=yv)
        self.w_ = np.zeros(X.shape[1]) if w0 is None else as_float_array(w0, "w0", ndim=1).copy()
        if len(self.w_) != X.shape[1]:
            raise ValueError(f"w0 must have one weight per column of X ({X.shape[1]}), got {len(self.w_)}")
        self.b_ = check_float(b0, "b0")
        self.loss_: list[float] = []
        for _ in range(self.epochs):
            z = X @ self.w_ + self.b_
            p = sigmoid(z)
            if self.loss == "bce":  # log(1 + e^-z) and log(1 + e^z), written stably
                self.loss_.append(float(np.mean(yv * np.logaddexp(0, -z) + (1 - yv) * np.logaddexp(0, z))))
                err = p - yv
            else:
                self.loss_.append(float(np.mean((p - yv) ** 2)))
                err = 2 * (p - yv) * p * (1 - p)
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


# --- softmax regression: one neuron per class -----------------------------------------------------

class SoftmaxRegression:
    """``k`` linear neurons, one per class, whose logits ``Z = X W + b`` a softmax turns into probabilities;
    trained by full-batch gradient descent on the mean softmax cross-entropy, from zero weights.

    The loss is ``mean(logsumexp(Z_j) - Z_j[y_j])`` over the rows, and its gradient is ``X^T (P - Y) / m``
    for ``W`` (n, k) and ``mean(P - Y)`` for ``b`` (k,), with ``P = softmax(Z)`` and ``Y`` the one-hot labels:
    the same "prediction minus target" as the logistic neuron. ``classes`` defaults to ``max(y) + 1``.
    ``loss_`` records the loss before each step.
    """

    def __init__(self, lr: float = 0.5, epochs: int = 500, *, classes: int | None = None) -> None:
        self.lr = check_positive(lr, "lr")
        self.epochs = check_positive(epochs, "epochs", integer=True)
        self.classes = None if classes is None else check_int(classes, "classes", min=2)

    def loss_and_grad(self, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """The mean softmax cross-entropy at the current weights and its gradient ``(loss, dW, db)``."""
        X = as_features(X, "X", n_features=self.W_.shape[0])
        y = as_labels(y, "y", allowed=tuple(range(self.W_.shape[1])))
        check_same_length(X=X, y=y)
        return self._loss_and_grad(X, y)

    def _loss_and_grad(self, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        Z = X @ self.W_ + self.b_
        top = Z.max(axis=1, keepdims=True)                    # the log-sum-exp shift: no overflow
        log_sum = top[:, 0] + np.log(np.exp(Z - top).sum(axis=1))
        rows = np.arange(len(X))
        loss = float(np.mean(log_sum - Z[rows, y]))
        err = np.exp(Z - log_sum[:, None])                    # P = softmax(Z)
        err[rows, y] -= 1.0                                   # P - Y
        return loss, X.T @ err / len(X), err.mean(axis=0)

    def fit(self, X: np.ndarray, y: np.ndarray) -> "SoftmaxRegression":
        X, y = as_features(X, "X"), as_labels(y, "y")
        check_same_length(X=X, y=y)
        k = self.classes if self.classes is not None else max(int(y.max()) + 1, 2)
        as_labels(y, "y", allowed=tuple(range(k)))           # no negative label, none >= classes
        self.W_, self.b_ = np.zeros((X.shape[1], k)), np.zeros(k)
        self.loss_: list[float] = []
        for _ in range(self.epochs):
            loss, dW, db = self._loss_and_grad(X, y)
            self.loss_.append(loss)
            self.W_ = self.W_ - self.lr * dW
            self.b_ = self.b_ - self.lr * db
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """The logits ``X W + b``, (m, k)."""
        return as_features(X, "X", n_features=self.W_.shape[0]) @ self.W_ + self.b_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, (m, k); each row sums to 1."""
        return softmax(self.decision_function(X), axis=1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The most probable class of each row."""
        return np.argmax(self.decision_function(X), axis=1).astype(np.int64)
