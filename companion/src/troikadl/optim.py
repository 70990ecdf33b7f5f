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
Adam(W)      t in the bias correction counts    t counts the optimizer's updates (``iterations``), so
             each parameter's own updates       a parameter that had no gradient on an earlier step
                                                is corrected as if it had
all          hyper-parameters as given          the learning rate, momentum, weight decay and Adam's
                                                betas (in the bias correction) rounded to float32, as
                                                Keras's float32 variables and casts do
============ ================================== ======================================================
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from .validate import check_in_range, check_positive

__all__ = ["Optimizer", "SGD", "RMSProp", "Adam", "AdamW"]

CONVENTIONS = ("torch", "keras")


class Optimizer:
    """Shared machinery: parameters, step counts, per-parameter state, argument checks.

    A parameter whose ``.grad`` is None on a step is skipped entirely, as both frameworks do: no
    weight decay, no change to its momentum or moving averages. Adam's bias correction counts steps
    the way each framework does: ``torch.optim`` per parameter (``state[i]["step"]``, the updates that
    parameter received), Keras per optimizer (``iterations``, the calls to ``step()`` that updated
    anything). A call to ``step()`` with no gradient at all changes nothing and counts for neither
    (``torch.optim`` does the same; Keras raises an error).

    A gradient that holds NaN or infinity raises ``ValueError`` before any parameter is changed. The
    frameworks would write the NaN into the weights; here it is reported where it appears (the loss has
    usually diverged: lower the learning rate).
    """

    defaults: dict[str, dict[str, float]] = {}

    def __init__(self, params: Iterable[Any], convention: str = "torch", **hyper: Any) -> None:
        if not (isinstance(convention, str) and convention in CONVENTIONS):
            raise ValueError(f"convention must be 'torch' or 'keras', got {convention!r}")
        self.params = _parameter_list(params)
        self.convention = convention
        self.hyper = {**self.defaults[convention], **{k: v for k, v in hyper.items() if v is not None}}
        self.hyper["lr"] = float(check_positive(self.hyper["lr"], "lr"))
        if convention == "keras":  # Keras keeps the learning rate in a float32 variable
            self.hyper["lr"] = float(np.float32(self.hyper["lr"]))
            if self.hyper["lr"] == 0.0 or not np.isfinite(self.hyper["lr"]):
                raise ValueError(f"lr must be representable in float32 (Keras stores it so), got {hyper['lr']!r}")
        if "weight_decay" in self.hyper:
            self.hyper["weight_decay"] = float(check_positive(self.hyper["weight_decay"], "weight_decay",
                                                              allow_zero=True))
        self.iterations = 0  # calls to step() that updated at least one parameter (Keras's counter)
        self.state: list[dict[str, Any]] = [{} for _ in self.params]

    def __getattr__(self, name: str) -> Any:  # opt.lr, opt.beta1, ... read the hyper-parameters
        hyper = self.__dict__.get("hyper", {})
        if name in hyper:
            return hyper[name]
        raise AttributeError(name)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient (all gradients are checked first)."""
        updates = []
        total = 0.0
        for i, p in enumerate(self.params):
            g = p.grad
            if g is None:
                continue
            if not (type(g) is np.ndarray and g.dtype == p.data.dtype and g.shape == p.data.shape):
                g = self._checked_grad(i, p)  # the fast path above skips this for a well-formed gradient
            total += float(np.add.reduce(g, axis=None))  # a finite sum: no NaN or infinity anywhere
            updates.append((i, g))
        if not updates:
            return
        if not math.isfinite(total):  # NaN or infinity somewhere, or only an overflow of the sum
            for i, g in updates:
                if not np.isfinite(g).all():
                    raise ValueError(f"params[{i}].grad holds NaN or infinity (has the loss diverged? "
                                     f"try a smaller learning rate)")
        self.iterations += 1
        for i, g in updates:
            state = self.state[i]
            state["step"] = state.get("step", 0) + 1
            self._update(self.params[i].data, g, state)

    def _checked_grad(self, i: int, p: Any) -> np.ndarray:
        g = np.asarray(p.grad)
        if g.dtype.kind not in "fiu":
            raise TypeError(f"params[{i}].grad must hold real numbers, got dtype {g.dtype}")
        if g.shape != p.data.shape:
            raise ValueError(f"params[{i}].grad must have its parameter's shape {p.data.shape}, got {g.shape}")
        return g.astype(p.data.dtype)

    def _step_count(self, state: dict[str, Any]) -> int:
        """t in Adam's bias correction: this parameter's own updates (torch) or the optimizer's (Keras)."""
        return state["step"] if self.convention == "torch" else self.iterations

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

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.hyper.items())
        return f"{type(self).__name__}({hp}, convention={self.convention!r})"


def _parameter_list(params: Any) -> list[Any]:
    """``params`` as a list of distinct parameters with a floating-point NumPy ``.data``, checked."""
    if hasattr(params, "data") and hasattr(params, "grad"):
        raise TypeError(f"params must be an iterable of parameters, got a single {type(params).__name__}; "
                        f"wrap it in a list: [p]")
    if isinstance(params, (str, bytes, dict)):
        raise TypeError(f"params must be an iterable of parameters (e.g. a list of Tensors), "
                        f"got {type(params).__name__}")
    try:
        out = list(params)
    except TypeError:
        raise TypeError(f"params must be an iterable of parameters (e.g. a list of Tensors), "
                        f"got {type(params).__name__}") from None
    if not out:
        raise ValueError("params must hold at least one parameter, got an empty iterable")
    seen: dict[int, int] = {}
    for i, p in enumerate(out):
        if not (hasattr(p, "data") and hasattr(p, "grad")):
            raise TypeError(f"params must have .data and .grad (e.g. troikadl Tensors), "
                            f"but params[{i}] is a {type(p).__name__}")
        if not (isinstance(p.data, np.ndarray) and np.issubdtype(p.data.dtype, np.floating)):
            kind = p.data.dtype if isinstance(p.data, np.ndarray) else type(p.data).__name__
            raise TypeError(f"params[{i}].data must be a floating-point NumPy array (updated in place), got {kind}")
        if id(p) in seen:
            raise ValueError(f"params[{i}] is the same parameter as params[{seen[id(p)]}]: it would be updated twice")
        seen[id(p)] = i
    return out


def _pair(value: Any, name: str) -> tuple[Any, Any]:
    """A pair such as ``betas=(0.9, 0.999)``, checked for its form (the values are checked by the caller)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or not hasattr(value, "__getitem__"):
        raise TypeError(f"{name} must be a pair of numbers such as (0.9, 0.999), got {type(value).__name__}")
    if len(value) != 2:
        raise ValueError(f"{name} must be a pair of numbers such as (0.9, 0.999), got {len(value)} values")
    return value[0], value[1]


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
