"""Per-parameter step sizes (chapter 3): AdaGrad, RMSProp, Adam and AdamW."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..validate import check_in_range, check_positive
from .base import Optimizer, _pair

__all__ = ["AdaGrad", "RMSProp", "Adam", "AdamW"]


class AdaGrad(Optimizer):
    """AdaGrad (Duchi, Hazan and Singer, 2011): divide by the root of the *sum* of all squared gradients.

    ``s <- s + g^2``, ``w <- w - lr g / (sqrt(s) + eps)``. Each coordinate's step shrinks as its gradients
    add up: rare features keep large steps, frequent ones slow down. RMSProp replaces the sum by a running
    average, so that the steps do not shrink for ever. ``initial_accumulator_value`` is where ``s`` starts
    (torch 0, Keras 0.1, which Keras's float32 constant rounds); Keras puts ``eps`` inside the root,
    ``g / sqrt(s + eps)``. torch's ``lr_decay`` is not implemented (its default, 0, is what this does).
    """

    defaults = {"torch": {"lr": 1e-2, "initial_accumulator_value": 0.0, "eps": 1e-10, "weight_decay": 0.0},
                "keras": {"lr": 1e-3, "initial_accumulator_value": 0.1, "eps": 1e-7, "weight_decay": 0.0}}

    def __init__(self, params: Iterable[Any], lr: float | None = None,
                 initial_accumulator_value: float | None = None, eps: float | None = None,
                 weight_decay: float | None = None, convention: str = "torch") -> None:
        super().__init__(params, convention, lr=lr, initial_accumulator_value=initial_accumulator_value, eps=eps,
                         weight_decay=weight_decay)
        self.hyper["initial_accumulator_value"] = float(check_positive(
            self.initial_accumulator_value, "initial_accumulator_value", allow_zero=True))
        self.hyper["eps"] = float(check_positive(self.eps, "eps"))

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        g = self._decay(w, g)
        s = state["sum"] = state.get("sum", np.full_like(w, self._cast("initial_accumulator_value"))) + g * g
        denom = np.sqrt(s) + self.eps if self.convention == "torch" else np.sqrt(s + self.eps)
        w -= self.lr * g / denom


class RMSProp(Optimizer):
    """Divide each step by a running root-mean-square of the gradient: ``v <- rho v + (1 - rho) g^2``."""

    defaults = {"torch": {"lr": 1e-2, "rho": 0.99, "eps": 1e-8, "weight_decay": 0.0},
                "keras": {"lr": 1e-3, "rho": 0.9, "eps": 1e-7, "weight_decay": 0.0}}

    def __init__(self, params: Iterable[Any], lr: float | None = None, rho: float | None = None,
                 eps: float | None = None, weight_decay: float | None = None, convention: str = "torch") -> None:
        super().__init__(params, convention, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)
        self.hyper["rho"] = check_in_range(self.rho, "rho", 0.0, 1.0, closed="left")
        self.hyper["eps"] = float(check_positive(self.eps, "eps"))

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        g = self._decay(w, g)
        v = state["v"] = self.rho * state.get("v", np.zeros_like(w)) + (1 - self.rho) * g * g
        denom = np.sqrt(v) + self.eps if self.convention == "torch" else np.sqrt(v + self.eps)
        w -= self.lr * g / denom


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015): momentum on the gradient and RMSProp's scaling, both bias-corrected.

    ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``, ``m_hat = m / (1 - b1^t)``,
    ``v_hat = v / (1 - b2^t)``, ``w <- w - lr m_hat / (sqrt(v_hat) + eps)``.
    """

    defaults = {"torch": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0},
                "keras": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7, "weight_decay": 0.0}}

    def __init__(self, params: Iterable[Any], lr: float | None = None, betas: tuple[float, float] | None = None,
                 eps: float | None = None, weight_decay: float | None = None, convention: str = "torch") -> None:
        b1, b2 = _pair(betas, "betas") if betas is not None else (None, None)
        super().__init__(params, convention, lr=lr, beta1=b1, beta2=b2, eps=eps, weight_decay=weight_decay)
        self.hyper["beta1"] = check_in_range(self.beta1, "betas[0]", 0.0, 1.0, closed="left")
        self.hyper["beta2"] = check_in_range(self.beta2, "betas[1]", 0.0, 1.0, closed="left")
        self.hyper["eps"] = float(check_positive(self.eps, "eps"))

    def _moments(self, g: np.ndarray, state: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        m = state["m"] = self.beta1 * state.get("m", np.zeros_like(g)) + (1 - self.beta1) * g
        v = state["v"] = self.beta2 * state.get("v", np.zeros_like(g)) + (1 - self.beta2) * g * g
        return m, v

    def _adam_step(self, w: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        m, v = self._moments(g, state)
        t = self._step_count(state)  # torch: this parameter's updates so far; keras: the optimizer's
        c1, c2 = 1 - self._cast("beta1") ** t, 1 - self._cast("beta2") ** t
        if self.convention == "torch":
            w -= (self.lr / c1) * m / (np.sqrt(v) / np.sqrt(c2) + self.eps)
        else:
            w -= (self.lr * np.sqrt(c2) / c1) * m / (np.sqrt(v) + self.eps)

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        self._adam_step(w, self._decay(w, g), state)


class AdamW(Adam):
    """Adam with **decoupled** weight decay (Loshchilov and Hutter, 2019): ``w <- w - lr wd w``, then Adam.

    Unlike L2 regularization, the decay is not divided by ``sqrt(v_hat)``: every weight shrinks at the
    same relative rate, however large its gradients.
    """

    defaults = {"torch": {**Adam.defaults["torch"], "weight_decay": 1e-2},
                "keras": {**Adam.defaults["keras"], "weight_decay": 4e-3}}

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        w -= w * self._cast("weight_decay") * self.lr
        self._adam_step(w, g, state)
