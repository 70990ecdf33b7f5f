"""Optimizers from scratch: SGD (with momentum and Nesterov), RMSProp, Adam and AdamW.

Taught in chapter 3. Each is one small class with the same interface as ``torch.optim``: build it on a
list of parameters (anything with a NumPy ``.data`` and a ``.grad``, such as the chapter 2 engine's
tensors), then call ``step()`` after every backward pass. Updates happen in place.

``convention="torch"`` (the default) reproduces ``torch.optim`` exactly, defaults included.
``convention="keras"`` reproduces ``keras.optimizers`` where the two differ:

============ ================================== ======================================================
optimizer    torch                              keras
============ ================================== ======================================================
SGD          lr 1e-3; weight decay is L2: it    lr 1e-2; weight decay is decoupled: p -= lr wd p
             adds wd p to the gradient          (same momentum, written as a velocity)
RMSProp      lr 1e-2, rho (alpha) 0.99, eps     lr 1e-3, rho 0.9, eps 1e-7 *inside* the root:
             1e-8 outside the root              g / sqrt(v + eps)
Adam         eps 1e-8 added to sqrt(v_hat),     eps 1e-7 added to sqrt(v) before the bias correction
             after the bias correction          is applied to the step size; decoupled weight decay
AdamW        weight decay 1e-2                  weight decay 4e-3
all          hyper-parameters as given           the learning rate, momentum, weight decay and Adam's
                                                betas (in the bias correction) rounded to float32, as
                                                Keras's float32 variables and casts do
============ ================================== ======================================================
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from .validate import check_in_range, check_positive

__all__ = ["Optimizer", "SGD", "RMSProp", "Adam", "AdamW"]

CONVENTIONS = ("torch", "keras")


class Optimizer:
    """Shared machinery: parameters, step counter, per-parameter state, hyper-parameter checks."""

    defaults: dict[str, dict[str, float]] = {}

    def __init__(self, params: Iterable[Any], convention: str = "torch", **hyper: Any) -> None:
        if convention not in CONVENTIONS:
            raise ValueError(f"convention must be 'torch' or 'keras', got {convention!r}")
        self.params = list(params)
        if not self.params:
            raise ValueError("params must hold at least one parameter")
        for p in self.params:
            if not (hasattr(p, "data") and hasattr(p, "grad")):
                raise TypeError(f"params must have .data and .grad (e.g. troikadl Tensors), got {type(p).__name__}")
        self.convention = convention
        self.hyper = {**self.defaults[convention], **{k: v for k, v in hyper.items() if v is not None}}
        check_positive(self.hyper["lr"], "lr")
        if convention == "keras":  # Keras keeps the learning rate in a float32 variable
            self.hyper["lr"] = float(np.float32(self.hyper["lr"]))
        check_positive(self.hyper.get("weight_decay", 0.0), "weight_decay", allow_zero=True)
        self.t = 0
        self.state: list[dict[str, np.ndarray]] = [{} for _ in self.params]

    def __getattr__(self, name: str) -> Any:  # opt.lr, opt.beta1, ... read the hyper-parameters
        hyper = self.__dict__.get("hyper", {})
        if name in hyper:
            return hyper[name]
        raise AttributeError(name)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient."""
        self.t += 1
        for p, state in zip(self.params, self.state):
            if p.grad is not None:
                self._update(p.data, np.asarray(p.grad, dtype=p.data.dtype), state)

    def _cast(self, name: str) -> float:
        """A hyper-parameter as Keras uses it where it casts a Python float to a tensor (via float32)."""
        value = self.hyper[name]
        return float(np.float32(value)) if self.convention == "keras" else value

    def _decay(self, w: np.ndarray, g: np.ndarray) -> np.ndarray:
        """Weight decay. torch: L2 added to the gradient. keras: decoupled, shrink the weights first."""
        wd = self._cast("weight_decay") if "weight_decay" in self.hyper else 0.0
        if wd and self.convention == "torch":
            return g + wd * w
        if wd:
            w -= w * wd * self.lr
        return g

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.hyper.items())
        return f"{type(self).__name__}({hp}, convention={self.convention!r})"


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
        check_in_range(self.momentum, "momentum", 0.0, 1.0, closed="left")
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.nesterov = nesterov

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
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


class RMSProp(Optimizer):
    """Divide each step by a running root-mean-square of the gradient: ``v <- rho v + (1 - rho) g^2``."""

    defaults = {"torch": {"lr": 1e-2, "rho": 0.99, "eps": 1e-8, "weight_decay": 0.0},
                "keras": {"lr": 1e-3, "rho": 0.9, "eps": 1e-7, "weight_decay": 0.0}}

    def __init__(self, params: Iterable[Any], lr: float | None = None, rho: float | None = None,
                 eps: float | None = None, weight_decay: float | None = None, convention: str = "torch") -> None:
        super().__init__(params, convention, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)
        check_in_range(self.rho, "rho", 0.0, 1.0, closed="left")
        check_positive(self.eps, "eps")

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
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
        b1, b2 = betas if betas is not None else (None, None)
        super().__init__(params, convention, lr=lr, beta1=b1, beta2=b2, eps=eps, weight_decay=weight_decay)
        check_in_range(self.beta1, "betas[0]", 0.0, 1.0, closed="left")
        check_in_range(self.beta2, "betas[1]", 0.0, 1.0, closed="left")
        check_positive(self.eps, "eps")

    def _moments(self, g: np.ndarray, state: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        m = state["m"] = self.beta1 * state.get("m", np.zeros_like(g)) + (1 - self.beta1) * g
        v = state["v"] = self.beta2 * state.get("v", np.zeros_like(g)) + (1 - self.beta2) * g * g
        return m, v

    def _adam_step(self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        m, v = self._moments(g, state)
        c1, c2 = 1 - self._cast("beta1") ** self.t, 1 - self._cast("beta2") ** self.t
        if self.convention == "torch":
            w -= (self.lr / c1) * m / (np.sqrt(v) / np.sqrt(c2) + self.eps)
        else:
            w -= (self.lr * np.sqrt(c2) / c1) * m / (np.sqrt(v) + self.eps)

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        self._adam_step(w, self._decay(w, g), state)


class AdamW(Adam):
    """Adam with **decoupled** weight decay (Loshchilov and Hutter, 2019): ``w <- w - lr wd w``, then Adam.

    Unlike L2 regularization, the decay is not divided by ``sqrt(v_hat)``: every weight shrinks at the
    same relative rate, however large its gradients.
    """

    defaults = {"torch": {**Adam.defaults["torch"], "weight_decay": 1e-2},
                "keras": {**Adam.defaults["keras"], "weight_decay": 4e-3}}

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        w -= w * self._cast("weight_decay") * self.lr
        self._adam_step(w, g, state)
