"""Gradient checking: compare analytic gradients with centred finite differences (chapter 2)."""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from .autograd import Tensor
from .validate import as_float_array, check_callable, check_float, check_instance

__all__ = ["relative_error", "numerical_gradient", "gradcheck"]


def relative_error(a: np.ndarray, b: np.ndarray, floor: float = 1e-8) -> np.ndarray:
    """Elementwise ``|a - b| / max(|a| + |b|, floor)``: relative where the values are large, absolute
    (divided by ``floor``) where both are near zero, so tiny gradients do not make huge ratios."""
    a, b = as_float_array(a, "a", finite=False), as_float_array(b, "b", finite=False)  # a NaN gives NaN: it fails
    floor = check_float(floor, "floor", min=0, min_open=True)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    return np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Centred differences ``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)`` for every entry of ``x``.

    ``f`` takes no argument and reads ``x``, which is changed in place and restored after each entry.
    The error of the centred formula shrinks like ``eps**2``, but rounding adds about
    ``machine epsilon * |f| / eps``: too small an ``eps`` makes the estimate worse, not better.
    """
    check_callable(f, "f", "a function of no argument that returns the loss")
    check_float(eps, "eps", min=0, min_open=True)
    if not (isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)):
        raise TypeError(f"x must be a floating-point NumPy array (changed in place), got {type(x).__name__} "
                        f"of dtype {np.asarray(x).dtype}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x must be finite, but it holds NaN or infinity")
    grad = np.zeros_like(x, dtype=np.float64)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        up = f()
        x[i] = old - eps
        down = f()
        x[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


def gradcheck(loss: Callable[[], Tensor], params: Iterable[Tensor], eps: float = 1e-5,
              floor: float = 1e-8) -> float:
    """Largest relative error between the engine's gradients and centred differences, over all params.

    ``loss()`` must rebuild the graph from the parameters' current ``data`` and return a scalar Tensor.
    """
    check_callable(loss, "loss", "a function of no argument that returns a scalar Tensor")
    if isinstance(params, Tensor) or not isinstance(params, Iterable):
        raise TypeError(f"params must be a list of Tensors (wrap one Tensor: [p]), got {type(params).__name__}")
    params = [check_instance(p, f"params[{i}]", Tensor, "an autograd Tensor") for i, p in enumerate(params)]
    if not params:
        raise ValueError("params must hold at least one Tensor, got an empty list")
    check_float(eps, "eps", min=0, min_open=True)
    check_float(floor, "floor", min=0, min_open=True)
    for p in params:
        if p.data.dtype != np.float64:
            raise TypeError(f"gradient checks need float64 parameters, got {p.data.dtype}")
        p.grad = None
    loss().backward()
    worst = 0.0
    for p in params:
        analytic = p.grad.copy()
        numeric = numerical_gradient(lambda: float(loss().data), p.data, eps)
        worst = max(worst, float(relative_error(analytic, numeric, floor).max()))
    return worst
