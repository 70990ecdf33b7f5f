"""Two-dimensional test functions for optimizers, and a runner that records the path (chapter 3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .autograd import Tensor
from .validate import as_float_array, check_positive

__all__ = ["Landscape", "ROSENBROCK", "VALLEY", "descend"]


@dataclass(frozen=True)
class Landscape:
    """A function of two variables with its gradient, a start point, its minimum and a plotting box."""

    name: str
    f: Callable[[np.ndarray], float]
    grad: Callable[[np.ndarray], np.ndarray]
    start: tuple[float, float]
    minimum: tuple[float, float]
    box: tuple[float, float, float, float]  # x0, x1, y0, y1

    def __repr__(self) -> str:
        return f"Landscape({self.name!r}, start={self.start}, minimum={self.minimum})"


def _rosenbrock(p: np.ndarray) -> float:
    x, y = p
    return float((1 - x) ** 2 + 100 * (y - x * x) ** 2)


def _rosenbrock_grad(p: np.ndarray) -> np.ndarray:
    x, y = p
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


#: Rosenbrock's banana: a curved, narrow valley with its minimum at (1, 1).
ROSENBROCK = Landscape("Rosenbrock", _rosenbrock, _rosenbrock_grad, (-1.5, 2.0), (1.0, 1.0),
                       (-2.0, 2.0, -1.0, 3.0))

#: An ill-conditioned quadratic bowl f = (x^2 + 50 y^2) / 2: curvature 50 times larger across than along.
VALLEY = Landscape("ill-conditioned bowl", lambda p: float(0.5 * (p[0] ** 2 + 50 * p[1] ** 2)),
                   lambda p: np.array([p[0], 50 * p[1]]), (-4.0, 1.0), (0.0, 0.0), (-4.5, 1.0, -1.2, 1.2))


def descend(make_optimizer: Callable[[list[Tensor]], Any], land: Landscape, *, steps: int = 5000,
            tol: float = 1e-3, start: Any = None) -> tuple[np.ndarray, int | None]:
    """Run an optimizer on ``land`` from its start; return the path and the first step with f < tol.

    ``make_optimizer(params)`` builds the optimizer. Stops early once f < tol, or when the iterate
    leaves [-1e6, 1e6] (divergence); the step count is None if f < tol was never reached.
    """
    check_positive(steps, "steps", integer=True)
    p = Tensor(as_float_array(land.start if start is None else start, "start", ndim=1).copy())
    if p.shape != (2,):
        raise ValueError(f"start must have 2 coordinates, got shape {p.shape}")
    opt = make_optimizer([p])
    path = [p.data.copy()]
    for t in range(1, steps + 1):
        p.grad = land.grad(p.data)
        opt.step()
        path.append(p.data.copy())
        if not np.all(np.abs(p.data) < 1e6):
            return np.array(path), None
        if land.f(p.data) < tol:
            return np.array(path), t
    return np.array(path), None
