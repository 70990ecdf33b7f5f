"""Two-dimensional test functions for optimizers, and a runner that records the path (chapter 3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .autograd import Tensor
from .validate import as_float_array, check_positive

__all__ = ["Landscape", "ROSENBROCK", "VALLEY", "descend"]


def _numbers(value: Any, name: str, n: int) -> tuple[float, ...]:
    """``value`` as a tuple of ``n`` finite floats, checked."""
    arr = as_float_array(value, name, ndim=1)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have {n} numbers, got {arr.shape[0]}")
    return tuple(float(v) for v in arr)


@dataclass(frozen=True)
class Landscape:
    """A function of two variables with its gradient, a start point, its minimum and a plotting box."""

    name: str
    f: Callable[[np.ndarray], float]
    grad: Callable[[np.ndarray], np.ndarray]
    start: tuple[float, float]
    minimum: tuple[float, float]
    box: tuple[float, float, float, float]  # x0, x1, y0, y1

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a string, got {type(self.name).__name__}")
        for field in ("f", "grad"):
            if not callable(getattr(self, field)):
                raise TypeError(f"{field} must be a function of a point (x, y), "
                                f"got {type(getattr(self, field)).__name__}")
        object.__setattr__(self, "start", _numbers(self.start, "start", 2))
        object.__setattr__(self, "minimum", _numbers(self.minimum, "minimum", 2))
        box = _numbers(self.box, "box", 4)
        if not (box[0] < box[1] and box[2] < box[3]):
            raise ValueError(f"box must be (x0, x1, y0, y1) with x0 < x1 and y0 < y1, got {box}")
        object.__setattr__(self, "box", box)

    def __repr__(self) -> str:
        return f"Landscape({self.name!r}, start={self.start}, minimum={self.minimum})"


def _point(p: Any) -> list[float]:
    """A point (x, y) as two Python floats, checked cheaply: descend and the contour plot call this a lot."""
    arr = np.asarray(p)
    if arr.shape != (2,):
        raise ValueError(f"p must be a point (x, y) of shape (2,), got shape {arr.shape}")
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"p must hold real numbers, got dtype {arr.dtype}")
    return arr.astype(float).tolist()


def _rosenbrock(p: Any) -> float:
    x, y = _point(p)
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def _rosenbrock_grad(p: Any) -> np.ndarray:
    x, y = _point(p)
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


def _bowl(p: Any) -> float:
    x, y = _point(p)
    return 0.5 * (x * x + 50 * y * y)


def _bowl_grad(p: Any) -> np.ndarray:
    x, y = _point(p)
    return np.array([x, 50 * y])


#: Rosenbrock's banana: a curved, narrow valley with its minimum at (1, 1).
ROSENBROCK = Landscape("Rosenbrock", _rosenbrock, _rosenbrock_grad, (-1.5, 2.0), (1.0, 1.0),
                       (-2.0, 2.0, -1.0, 3.0))

#: An ill-conditioned quadratic bowl f = (x^2 + 50 y^2) / 2: curvature 50 times larger across than along.
VALLEY = Landscape("ill-conditioned bowl", _bowl, _bowl_grad, (-4.0, 1.0), (0.0, 0.0), (-4.5, 1.0, -1.2, 1.2))


def descend(make_optimizer: Callable[[list[Tensor]], Any], land: Landscape, *, steps: int = 5000,
            tol: float = 1e-3, start: Any = None) -> tuple[np.ndarray, int | None]:
    """Run an optimizer on ``land`` from its start; return the path and the first step with f < tol.

    ``make_optimizer(params)`` builds the optimizer. Stops early once f < tol, or when the iterate
    leaves [-1e6, 1e6] (divergence); the step count is None if f < tol was never reached.
    """
    if not callable(make_optimizer):
        raise TypeError(f"make_optimizer must be a function params -> optimizer, "
                        f"got {type(make_optimizer).__name__}")
    if not isinstance(land, Landscape):
        raise TypeError(f"land must be a Landscape (e.g. ROSENBROCK), got {type(land).__name__}")
    check_positive(steps, "steps", integer=True)
    check_positive(tol, "tol")
    p = Tensor(as_float_array(land.start if start is None else start, "start", ndim=1).copy())
    if p.shape != (2,):
        raise ValueError(f"start must have 2 coordinates, got shape {p.shape}")
    opt = make_optimizer([p])
    if not callable(getattr(opt, "step", None)):
        raise TypeError(f"make_optimizer must return an optimizer (with .step()), got {type(opt).__name__}")
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
