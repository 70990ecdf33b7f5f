"""Weight initialization: the Glorot/Xavier and He/Kaiming scales, and how a signal crosses a deep network.

Taught in chapter 2. A dense layer ``z = a W`` with ``W`` of shape (fan_in, fan_out) and independent,
zero-mean weights of variance ``s**2`` gives ``Var(z) = fan_in * s**2 * E[a**2]`` forwards, and sends back
``Var(dL/da) = fan_out * s**2 * Var(dL/dz)``. Keeping both equal from layer to layer asks for
``s**2 = 1 / fan_in`` (forwards) and ``s**2 = 1 / fan_out`` (backwards): Glorot and Bengio (2010) take
the compromise ``2 / (fan_in + fan_out)``; He et al. (2015) keep the forward condition and double it for
ReLU, which zeroes half of its inputs (``E[relu(z)**2] = Var(z) / 2``).

Every scale is multiplied by a ``gain`` that depends on the activation (PyTorch's
``torch.nn.init.calculate_gain``). A uniform distribution on ``[-b, b]`` has standard deviation
``b / sqrt(3)``, so the uniform variants use ``b = sqrt(3) * std``. Samplers return NumPy float64 arrays
of shape (fan_in, fan_out), the chapter's (and Keras's) layout; PyTorch's ``Linear.weight`` is the transpose.
With ``truncated=True`` the normal samplers draw Keras's way: a normal cut at two standard deviations,
whose scale is divided by 0.8796... so that the samples still have the requested standard deviation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .validate import check_choice, check_float, check_instance, check_int

__all__ = ["ACTIVATIONS", "gain", "xavier_std", "he_std", "xavier_uniform", "xavier_normal", "he_uniform",
           "he_normal", "signal_propagation"]

#: The standard deviation of a standard normal cut to [-2, 2] (Keras's ``TruncatedNormal`` correction).
TRUNCATED_STD = 0.87962566103423978

ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "leaky_relu")


def gain(activation: str, negative_slope: float = 0.01) -> float:
    """The factor the init scale is multiplied by for ``activation`` (as ``torch.nn.init.calculate_gain``).

    1 for linear and sigmoid, 5/3 for tanh, sqrt(2) for ReLU (it halves ``E[a**2]``), and
    ``sqrt(2 / (1 + negative_slope**2))`` for leaky ReLU.
    """
    check_choice(activation, "activation", ACTIVATIONS)
    negative_slope = check_float(negative_slope, "negative_slope")
    return {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0),
            "leaky_relu": math.sqrt(2.0 / (1.0 + negative_slope ** 2))}[activation]


def xavier_std(fan_in: int, fan_out: int, gain: float = 1.0) -> float:
    """Glorot/Xavier's standard deviation ``gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = check_int(fan_in, "fan_in", min=1), check_int(fan_out, "fan_out", min=1)
    gain = check_float(gain, "gain", min=0, min_open=True)
    return gain * math.sqrt(2.0 / (fan_in + fan_out))


def he_std(fan: int, gain: float = math.sqrt(2.0)) -> float:
    """He/Kaiming's standard deviation ``gain / sqrt(fan)`` (``fan`` is fan_in, or fan_out to keep gradients)."""
    fan = check_int(fan, "fan", min=1)
    gain = check_float(gain, "gain", min=0, min_open=True)
    return gain / math.sqrt(fan)


def _normal(shape: tuple[int, int], std: float, truncated: bool, rng: Any) -> np.ndarray:
    check_instance(rng, "rng", np.random.Generator, "a numpy.random.Generator")
    if not truncated:
        return rng.normal(0.0, std, size=shape)
    z = rng.standard_normal(size=shape)
    while np.any(bad := np.abs(z) > 2.0):  # redraw what falls outside [-2, 2]
        z[bad] = rng.standard_normal(size=int(bad.sum()))
    return z * (std / TRUNCATED_STD)


def _uniform(shape: tuple[int, int], std: float, rng: Any) -> np.ndarray:
    check_instance(rng, "rng", np.random.Generator, "a numpy.random.Generator")
    bound = math.sqrt(3.0) * std  # U(-b, b) has variance b**2 / 3
    return rng.uniform(-bound, bound, size=shape)


def _fans(fan_in: int, fan_out: int, mode: str) -> tuple[tuple[int, int], int]:
    """The shape (fan_in, fan_out), checked, and the fan that ``mode`` names."""
    fan_in, fan_out = check_int(fan_in, "fan_in", min=1), check_int(fan_out, "fan_out", min=1)
    check_choice(mode, "mode", ("fan_in", "fan_out"))
    return (fan_in, fan_out), fan_in if mode == "fan_in" else fan_out


def xavier_uniform(fan_in: int, fan_out: int, gain: float = 1.0, *, rng: Any) -> np.ndarray:
    """Weights (fan_in, fan_out) from U(-b, b), ``b = gain * sqrt(6 / (fan_in + fan_out))``."""
    return _uniform((fan_in, fan_out), xavier_std(fan_in, fan_out, gain), rng)


def xavier_normal(fan_in: int, fan_out: int, gain: float = 1.0, *, truncated: bool = False,
                  rng: Any) -> np.ndarray:
    """Weights (fan_in, fan_out) of standard deviation ``gain * sqrt(2 / (fan_in + fan_out))``."""
    return _normal((fan_in, fan_out), xavier_std(fan_in, fan_out, gain), truncated, rng)


def he_uniform(fan_in: int, fan_out: int, gain: float = math.sqrt(2.0), *, mode: str = "fan_in",
               rng: Any) -> np.ndarray:
    """Weights (fan_in, fan_out) from U(-b, b), ``b = gain * sqrt(3 / fan)``, ``fan`` chosen by ``mode``."""
    shape, fan = _fans(fan_in, fan_out, mode)
    return _uniform(shape, he_std(fan, gain), rng)


def he_normal(fan_in: int, fan_out: int, gain: float = math.sqrt(2.0), *, mode: str = "fan_in",
              truncated: bool = False, rng: Any) -> np.ndarray:
    """Weights (fan_in, fan_out) of standard deviation ``gain / sqrt(fan)``, ``fan`` chosen by ``mode``."""
    shape, fan = _fans(fan_in, fan_out, mode)
    return _normal(shape, he_std(fan, gain), truncated, rng)


def signal_propagation(width: int, depth: int, activation: str, weight_std: float, *, n: int = 256,
                       seed: int) -> dict[str, np.ndarray]:
    """Send ``n`` standard-normal inputs through ``depth`` dense layers of ``width`` units and back.

    Every layer is ``a_l = f(z_l)``, ``z_l = a_{l-1} W_l`` (no bias), with ``W_l ~ N(0, weight_std**2)``, in
    torch float32. The backward pass starts from ``L = sum(a_depth * r) / n`` with ``r`` standard normal, so
    the gradient that reaches the last layer has a fixed scale. Returns three arrays, one value per layer
    (index 0 next to the input): ``"activation_std"``, the standard deviation of ``a_l``;
    ``"backward_std"``, that of ``dL/dz_l`` (the backward signal); ``"grad_std"``, that of ``dL/dW_l``.
    """
    import torch

    width, depth = check_int(width, "width", min=1), check_int(depth, "depth", min=1)
    check_choice(activation, "activation", ("tanh", "relu"))
    weight_std = check_float(weight_std, "weight_std", min=0, min_open=True)
    n, seed = check_int(n, "n", min=2), check_int(seed, "seed", min=0)
    f = torch.tanh if activation == "tanh" else torch.relu
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, width, generator=g)
    weights = [(torch.randn(width, width, generator=g) * weight_std).requires_grad_() for _ in range(depth)]
    zs, activations = [], []
    for W in weights:
        z = a @ W
        z.retain_grad()  # keep dL/dz_l, which autograd would free after use
        a = f(z)
        zs.append(z)
        activations.append(a)
    r = torch.randn(n, width, generator=g)
    ((a * r).sum() / n).backward()
    return {"activation_std": np.array([float(x.detach().std()) for x in activations]),
            "backward_std": np.array([float(z.grad.std()) for z in zs]),
            "grad_std": np.array([float(W.grad.std()) for W in weights])}
