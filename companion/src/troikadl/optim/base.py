"""The shared machinery of the package's optimizers (chapter 3): parameters, steps, state, checks.

The conventions table (torch against keras) is in the package docstring, ``troikadl.optim``.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from ..validate import check_positive

__all__ = ["Optimizer"]

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
