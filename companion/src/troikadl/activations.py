"""Activation functions and their derivatives, in NumPy (float64), each derivative next to its function.

Taught in chapter 1: the classic three (sigmoid, tanh, ReLU) and three modern ones (leaky ReLU, GELU,
SiLU). ``troikadl.neuron`` re-exports them, so ``tk.neuron.sigmoid`` is this module's ``sigmoid``.
Defaults follow PyTorch (``torch.nn.functional``); where Keras 3 differs, the docstring says so.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .validate import as_float_array, check_choice, check_float

__all__ = ["sigmoid", "sigmoid_grad", "tanh", "tanh_grad", "relu", "relu_grad", "leaky_relu", "leaky_relu_grad",
           "gelu", "gelu_grad", "silu", "silu_grad", "ACTIVATIONS"]


def _z(z: np.ndarray) -> np.ndarray:
    return as_float_array(z, "z", finite=False)  # real numbers of any shape; NaN and inf propagate as in NumPy


# --- the classic three ---------------------------------------------------------------------------

def sigmoid(z: np.ndarray) -> np.ndarray:
    """sigma(z) = 1 / (1 + exp(-z)), computed without overflow for large |z|."""
    z = _z(z)
    ez = np.exp(-np.abs(z))  # in (0, 1]: never overflows
    return np.where(z >= 0, 1.0 / (1.0 + ez), ez / (1.0 + ez))


def sigmoid_grad(z: np.ndarray) -> np.ndarray:
    """d sigma / dz = sigma(z) (1 - sigma(z)); at most 1/4, at z = 0."""
    s = sigmoid(z)
    return s * (1.0 - s)


def tanh(z: np.ndarray) -> np.ndarray:
    """tanh(z) = (e^z - e^-z) / (e^z + e^-z) = 2 sigma(2z) - 1."""
    return np.tanh(_z(z))


def tanh_grad(z: np.ndarray) -> np.ndarray:
    """d tanh / dz = 1 - tanh(z)^2; at most 1, at z = 0."""
    return 1.0 - np.tanh(_z(z)) ** 2


def relu(z: np.ndarray) -> np.ndarray:
    """relu(z) = max(0, z)."""
    return np.maximum(_z(z), 0.0)


def relu_grad(z: np.ndarray) -> np.ndarray:
    """d relu / dz = 1 for z > 0, else 0 (at the kink z = 0 we take 0, as PyTorch and TensorFlow do)."""
    return (_z(z) > 0).astype(float)


# --- three modern ones ---------------------------------------------------------------------------

def _slope(negative_slope: float) -> float:
    return check_float(negative_slope, "negative_slope", min=0)


def leaky_relu(z: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    """leaky_relu(z) = z for z > 0, else negative_slope * z: a ReLU whose negative side still has a slope.

    The default 0.01 is PyTorch's (``F.leaky_relu``); Keras 3's ``keras.activations.leaky_relu`` defaults to 0.2.
    """
    z, a = _z(z), _slope(negative_slope)
    return np.where(z > 0, z, a * z)


def leaky_relu_grad(z: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    """1 for z > 0, else negative_slope (at z = 0 we take negative_slope, as PyTorch does)."""
    z, a = _z(z), _slope(negative_slope)
    return np.where(z > 0, 1.0, a)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_C = 0.044715   # the cubic coefficient of GELU's tanh approximation (Hendrycks and Gimpel, 2016)


def _phi(z: np.ndarray) -> np.ndarray:
    """The standard normal density."""
    return np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _big_phi(z: np.ndarray) -> np.ndarray:
    """The standard normal CDF, Phi(z) = (1 + erf(z / sqrt 2)) / 2."""
    from scipy.special import erf

    return 0.5 * (1.0 + erf(z / math.sqrt(2.0)))


def gelu(z: np.ndarray, approximate: str = "none") -> np.ndarray:
    """gelu(z) = z Phi(z), Phi the standard normal CDF: the input weighted by how likely a N(0, 1) is below it.

    ``approximate="tanh"`` gives the approximation 0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3))).
    Arguments as in PyTorch's ``F.gelu``; Keras 3's ``keras.activations.gelu`` takes ``approximate=False/True``
    (default False: the exact form).
    """
    z = _z(z)
    if check_choice(approximate, "approximate", ("none", "tanh")) == "tanh":
        return 0.5 * z * (1.0 + np.tanh(_SQRT_2_OVER_PI * (z + _GELU_C * z ** 3)))
    return z * _big_phi(z)


def gelu_grad(z: np.ndarray, approximate: str = "none") -> np.ndarray:
    """d gelu / dz = Phi(z) + z phi(z) (exact form), or the derivative of the tanh approximation."""
    z = _z(z)
    if check_choice(approximate, "approximate", ("none", "tanh")) == "tanh":
        t = np.tanh(_SQRT_2_OVER_PI * (z + _GELU_C * z ** 3))
        return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_C * z * z)
    return _big_phi(z) + z * _phi(z)


def silu(z: np.ndarray) -> np.ndarray:
    """silu(z) = z sigma(z), also called swish: the input weighted by its own sigmoid."""
    z = _z(z)
    return z * sigmoid(z)


def silu_grad(z: np.ndarray) -> np.ndarray:
    """d silu / dz = sigma(z) (1 + z (1 - sigma(z)))."""
    z = _z(z)
    s = sigmoid(z)
    return s * (1.0 + z * (1.0 - s))


#: name -> (function, derivative), each with its default options
ACTIVATIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
    "relu": (relu, relu_grad),
    "leaky_relu": (leaky_relu, leaky_relu_grad),
    "gelu": (gelu, gelu_grad),
    "silu": (silu, silu_grad),
    "identity": (lambda z: _z(z), lambda z: np.ones_like(_z(z))),
}
