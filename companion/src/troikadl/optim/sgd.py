"""Gradient descent with optional (Nesterov) momentum (chapter 3)."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..validate import check_in_range
from .base import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """Gradient descent, with optional (Nesterov) momentum: ``b <- mu b + g``, ``w <- w - lr b``.

    Nesterov looks ahead: ``w <- w - lr (g + mu b)``. Keras writes the same thing with a velocity
    ``v = mu v - lr g`` (``v = -lr b``), so with a constant learning rate the steps are identical.
    """

    defaults = {"torch": {"lr": 1e-3, "momentum": 0.0, "weight_decay": 0.0},
                "keras": {"lr": 1e-2, "momentum": 0.0, "weight_decay": 0.0}}

    def __init__(self, params: Iterable[Any], lr: float | None = None, momentum: float | None = None,
                 nesterov: bool = False, weight_decay: float | None = None, convention: str = "torch") -> None:
        super().__init__(params, convention, lr=lr, momentum=momentum, weight_decay=weight_decay)
        self.hyper["momentum"] = check_in_range(self.momentum, "momentum", 0.0, 1.0, closed="left")
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov must be True or False, got {nesterov!r}")
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.nesterov = bool(nesterov)

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        g = self._decay(w, g)
        mu = self._cast("momentum")
        if mu:
            if "momentum" in state:
                state["momentum"] = mu * state["momentum"] + g
            else:
                state["momentum"] = g.copy()  # the first step starts the buffer at g, as torch does
            b = state["momentum"]
            g = g + mu * b if self.nesterov else b
        w -= self.lr * g
