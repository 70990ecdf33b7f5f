"""A small reverse-mode automatic differentiation engine on NumPy arrays.

Taught in chapter 2. A :class:`Tensor` holds an array, and, once :meth:`Tensor.backward` has run, the
gradient of a scalar with respect to it. Every operation builds its output and, right beside the
forward computation, a ``_backward`` closure that applies the chain rule: it receives the gradient of
the final scalar with respect to the output (``out.grad``) and adds its contribution to the gradients
of the inputs. ``backward`` visits the graph in reverse topological order, so each node's gradient is
complete before it is passed on.

It covers what a multilayer perceptron needs: ``+``, ``-``, ``*`` (with NumPy broadcasting), ``@``
(2-D), ``**`` (a constant exponent), ``sum``, ``mean``, ``relu``, ``tanh``, ``sigmoid``,
``log_softmax``, and the losses :func:`cross_entropy` and :func:`mse` built from them.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from .validate import check_float, check_instance, check_int

__all__ = ["Tensor", "cross_entropy", "mse", "unbroadcast"]


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched, so it has ``shape``.

    If ``x`` of shape (3,) was broadcast against (5, 3), each element of ``x`` was used 5 times, and its
    gradient is the sum of the 5 incoming gradients.
    """
    grad, given = _as_array(grad, "grad"), grad
    if not (type(shape) is tuple and all(type(n) is int and n >= 0 for n in shape)):  # the engine's calls pass
        if not isinstance(shape, (tuple, list)):
            raise TypeError(f"shape must be a tuple of ints, got {type(shape).__name__} {shape!r}")
        shape = tuple(check_int(n, f"shape[{i}]", min=0) for i, n in enumerate(shape))
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.ndim == len(shape) and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    if grad.shape != shape:
        raise ValueError(f"grad of shape {np.shape(given)} cannot come from broadcasting shape {shape}")
    return grad


def _as_array(data: Any, name: str) -> np.ndarray:
    arr = np.asarray(data)
    if arr.dtype.kind != "f":  # float16, float32 or float64
        raise TypeError(f"{name} must be floating point (float32 or float64), got dtype {arr.dtype}; "
                        f"convert it with .astype(np.float64)")
    return arr


class Tensor:
    """An array that remembers how it was computed, so that gradients can flow back to it."""

    # NumPy would otherwise compute ``array + tensor`` itself, element by element, into an array of objects;
    # None makes it hand over to Tensor.__radd__ and friends, as it does for Python numbers.
    __array_ufunc__ = None

    def __init__(self, data: Any, requires_grad: bool = False, *, _parents: tuple["Tensor", ...] = (),
                 _op: str = "") -> None:
        self.data = _as_array(data, "data")
        self.requires_grad = requires_grad  # marks parameters; every tensor in a graph gets a .grad
        self.grad: np.ndarray | None = None
        self._parents = _parents
        self._op = _op
        self._backward: Callable[[], None] = lambda: None

    # --- bookkeeping ------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def __repr__(self) -> str:
        op = f", op={self._op!r}" if self._op else ""
        return f"Tensor(shape={self.shape}, dtype={self.data.dtype}{op})"

    def _accumulate(self, g: np.ndarray) -> None:
        self.grad = g.copy() if self.grad is None else self.grad + g

    def _child(self, data: np.ndarray, parents: tuple["Tensor", ...], op: str) -> "Tensor":
        return Tensor(data, _parents=parents, _op=op)

    def backward(self, grad: Any = None) -> None:
        """Fill ``.grad`` of every tensor this one depends on (for a scalar, ``grad`` defaults to 1)."""
        if grad is None:
            if self.data.size != 1:
                raise ValueError(f"backward() without grad needs a scalar, got shape {self.shape}; "
                                 f"pass grad with that shape")
            grad = np.ones_like(self.data)
        grad = _as_array(grad, "grad")
        if grad.shape != self.shape:
            raise ValueError(f"grad must have this tensor's shape {self.shape}, got {grad.shape}")
        order: list[Tensor] = []
        seen: set[int] = set()

        def visit(t: Tensor) -> None:  # depth-first topological sort
            if id(t) not in seen:
                seen.add(id(t))
                for p in t._parents:
                    visit(p)
                order.append(t)

        visit(self)
        for t in order:
            if t._parents:
                t.grad = None  # intermediate results: fresh each pass; leaves accumulate
        self._accumulate(grad)
        for t in reversed(order):
            if t.grad is not None:
                t._backward()

    # --- elementwise arithmetic with broadcasting ------------------------------------------------
    def _operand(self, other: Any) -> "Tensor":
        """``other`` as a Tensor (constants take this one's dtype) whose shape broadcasts against this one's."""
        other = _tensor(other, self.data.dtype)
        try:
            if other.shape != self.shape:
                np.broadcast_shapes(self.shape, other.shape)
        except ValueError:
            raise ValueError(f"other of shape {other.shape} does not broadcast against this tensor's shape "
                             f"{self.shape}") from None
        return other

    def __add__(self, other: Any) -> "Tensor":
        other = self._operand(other)
        out = self._child(self.data + other.data, (self, other), "add")

        def _backward() -> None:
            self._accumulate(unbroadcast(out.grad, self.shape))
            other._accumulate(unbroadcast(out.grad, other.shape))
        out._backward = _backward
        return out

    def __mul__(self, other: Any) -> "Tensor":
        other = self._operand(other)
        out = self._child(self.data * other.data, (self, other), "mul")

        def _backward() -> None:
            self._accumulate(unbroadcast(out.grad * other.data, self.shape))
            other._accumulate(unbroadcast(out.grad * self.data, other.shape))
        out._backward = _backward
        return out

    def __pow__(self, k: float) -> "Tensor":
        check_float(k, "k (the exponent, a constant int or float)")
        out = self._child(self.data ** k, (self,), f"pow {k}")

        def _backward() -> None:
            self._accumulate(out.grad * k * self.data ** (k - 1))
        out._backward = _backward
        return out

    def __neg__(self) -> "Tensor":
        return self * -1.0

    def __sub__(self, other: Any) -> "Tensor":
        return self + (-_tensor(other, self.data.dtype))

    def __radd__(self, other: Any) -> "Tensor":
        return self + other

    def __rmul__(self, other: Any) -> "Tensor":
        return self * other

    def __rsub__(self, other: Any) -> "Tensor":
        return _tensor(other, self.data.dtype) - self

    # --- matrix product ---------------------------------------------------------------------------
    def __matmul__(self, other: Any) -> "Tensor":
        other = _tensor(other, self.data.dtype)
        if self.data.ndim != 2 or other.data.ndim != 2:
            raise ValueError(f"@ needs two 2-D tensors: this one has shape {self.shape}, other {other.shape}")
        if self.shape[1] != other.shape[0]:
            raise ValueError(f"@: other must have {self.shape[1]} rows to match this tensor's shape {self.shape} "
                             f"(the inner dimensions must be equal), got shape {other.shape}")
        out = self._child(self.data @ other.data, (self, other), "matmul")

        def _backward() -> None:  # Y = A B  =>  dA = dY B^T,  dB = A^T dY
            self._accumulate(out.grad @ other.data.T)
            other._accumulate(self.data.T @ out.grad)
        out._backward = _backward
        return out

    # --- reductions -------------------------------------------------------------------------------
    def sum(self, axis: int | None = None, keepdims: bool = False) -> "Tensor":
        axis = None if axis is None else check_int(axis, "axis", min=-self.data.ndim, max=self.data.ndim - 1)
        out = self._child(self.data.sum(axis=axis, keepdims=keepdims), (self,), "sum")

        def _backward() -> None:  # every input element contributed once: copy the gradient back
            g = out.grad if (keepdims or axis is None) else np.expand_dims(out.grad, axis)
            self._accumulate(np.broadcast_to(g, self.shape).astype(self.data.dtype))
        out._backward = _backward
        return out

    def mean(self, axis: int | None = None, keepdims: bool = False) -> "Tensor":
        axis = None if axis is None else check_int(axis, "axis", min=-self.data.ndim, max=self.data.ndim - 1)
        n = self.data.size if axis is None else self.shape[axis]
        return self.sum(axis=axis, keepdims=keepdims) * (1.0 / n)

    # --- activations ------------------------------------------------------------------------------
    def relu(self) -> "Tensor":
        out = self._child(np.maximum(self.data, 0), (self,), "relu")

        def _backward() -> None:  # slope 1 where the input was positive, else 0 (0 at the kink)
            self._accumulate(out.grad * (self.data > 0))
        out._backward = _backward
        return out

    def tanh(self) -> "Tensor":
        t = np.tanh(self.data)
        out = self._child(t, (self,), "tanh")

        def _backward() -> None:
            self._accumulate(out.grad * (1 - t ** 2))
        out._backward = _backward
        return out

    def sigmoid(self) -> "Tensor":
        ez = np.exp(-np.abs(self.data))  # stable for large |z|
        s = np.where(self.data >= 0, 1 / (1 + ez), ez / (1 + ez))
        out = self._child(s, (self,), "sigmoid")

        def _backward() -> None:
            self._accumulate(out.grad * s * (1 - s))
        out._backward = _backward
        return out

    def log_softmax(self, axis: int = -1) -> "Tensor":
        axis = check_int(axis, "axis", min=-self.data.ndim, max=self.data.ndim - 1)
        shifted = self.data - self.data.max(axis=axis, keepdims=True)  # same result, no overflow
        logp = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        out = self._child(logp, (self,), "log_softmax")

        def _backward() -> None:  # d log p_i / d z_j = [i = j] - p_j
            g = out.grad
            self._accumulate(g - np.exp(logp) * g.sum(axis=axis, keepdims=True))
        out._backward = _backward
        return out


def _tensor(x: Any, dtype: Any = np.float64, name: str = "other") -> Tensor:
    """Wrap a constant (a number or an array) as a Tensor; constants take their partner's dtype."""
    if isinstance(x, Tensor):
        return x
    arr = np.asarray(x)
    if arr.ndim == 0 and arr.dtype.kind in "iuf":
        return Tensor(arr.astype(dtype))
    return Tensor(_as_array(arr, name))  # an array constant must already be floating point


def cross_entropy(logits: Tensor, labels: Iterable[int]) -> Tensor:
    """Mean softmax cross-entropy of ``logits`` (n, classes) for integer ``labels`` (n,)."""
    check_instance(logits, "logits", Tensor, "an autograd Tensor of shape (n, classes)")
    y = np.asarray(labels)
    if logits.data.ndim != 2:
        raise ValueError(f"logits must be 2-D (samples, classes), got shape {logits.shape}")
    if y.shape != (logits.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be {logits.shape[0]} integer class indices, got "
                         f"shape {y.shape} and dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= logits.shape[1]):
        raise ValueError(f"labels must be in [0, {logits.shape[1]}), got values from {y.min()} to {y.max()}")
    onehot = np.zeros(logits.shape, dtype=logits.data.dtype)
    onehot[np.arange(len(y)), y] = 1.0
    return -(logits.log_softmax() * onehot).sum() * (1.0 / len(y))


def mse(pred: Tensor, target: Any) -> Tensor:
    """Mean squared error: the **mean** over every element of ``(pred - target)**2``."""
    check_instance(pred, "pred", Tensor, "an autograd Tensor")
    target = _tensor(target, pred.data.dtype, "target")
    if target.shape != pred.shape:
        raise ValueError(f"target must have pred's shape {pred.shape}, got {target.shape}")
    if not np.all(np.isfinite(target.data)):
        raise ValueError("target must be finite, but it holds NaN or infinity")
    return ((pred - target) ** 2).mean()
