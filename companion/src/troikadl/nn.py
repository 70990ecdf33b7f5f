"""Layers and a multilayer perceptron built on the :mod:`troikadl.autograd` engine (chapter 2)."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from .autograd import Tensor
from .validate import as_float_array, check_choice, check_instance, check_int, check_int_list, check_positive

__all__ = ["Linear", "MLP", "sgd_step", "zero_grad"]

_INIT_GAIN = {"he": 2.0, "lecun": 1.0}


def _check_dtype(dtype: Any) -> np.dtype:
    """``dtype`` as ``np.float32`` or ``np.float64`` (NumPy would read None as float64: refused here)."""
    try:
        ok = dtype is not None and np.dtype(dtype) in (np.float32, np.float64)
    except TypeError:  # 'abc', 3...
        ok = False
    if not ok:
        raise TypeError(f"dtype must be np.float32 or np.float64, got {dtype!r}")
    return np.dtype(dtype)


def _as_input(x: Any, n_in: int) -> Tensor:
    """``x`` as a Tensor of shape (batch, n_in). An array must hold finite real numbers (ints become
    float64); a Tensor is passed on as it is, since the engine's values may legitimately diverge."""
    if not isinstance(x, Tensor):
        arr = as_float_array(x, "x", ndim=2, dtype=None)
        x = Tensor(arr if arr.dtype.kind == "f" else arr.astype(np.float64))
    if x.data.ndim != 2 or x.shape[1] != n_in:
        raise ValueError(f"x must have shape (batch, {n_in}), got {x.shape}")
    return x


def _as_params(params: Any) -> list[Tensor]:
    """``params`` as a non-empty list of Tensors (a bare Tensor is refused: wrap it in a list)."""
    if isinstance(params, Tensor) or not isinstance(params, Iterable):
        raise TypeError(f"params must be a list of Tensors (e.g. model.parameters()), got {type(params).__name__}")
    params = list(params)
    if not params:
        raise ValueError("params must hold at least one Tensor, got an empty list")
    for i, p in enumerate(params):
        check_instance(p, f"params[{i}]", Tensor, "an autograd Tensor")
    return params


class Linear:
    """A dense layer ``x W + b`` with ``W`` of shape (n_in, n_out), the layout Keras uses.

    ``init="he"`` draws ``W`` from N(0, 2/n_in), which He et al. (2015) derive for ReLU: it keeps the
    scale of a ReLU network's signals roughly constant from layer to layer. ``"lecun"`` draws from
    N(0, 1/n_in), which LeCun et al. (1998) recommend for symmetric, tanh-like units (they prefer those to
    the logistic sigmoid, whose outputs are all positive). With the logistic sigmoid this scale does not
    keep the backward signal: its slope is at most 1/4, and chapter 2 measures the gradient shrinking
    about fourfold per layer.
    """

    def __init__(self, n_in: int, n_out: int, *, rng: np.random.Generator, init: str = "he",
                 dtype: type = np.float64) -> None:
        check_positive(n_in, "n_in", integer=True)
        check_positive(n_out, "n_out", integer=True)
        check_instance(rng, "rng", np.random.Generator, "a NumPy Generator (np.random.default_rng(seed))")
        dtype = _check_dtype(dtype)
        check_choice(init, "init", sorted(_INIT_GAIN))
        std = np.sqrt(_INIT_GAIN[init] / n_in)
        self.W = Tensor(rng.normal(0.0, std, (n_in, n_out)).astype(dtype), requires_grad=True)
        self.b = Tensor(np.zeros(n_out, dtype=dtype), requires_grad=True)

    def __call__(self, x: Tensor | np.ndarray) -> Tensor:
        x = _as_input(x, self.W.shape[0])
        return x @ self.W + self.b

    def parameters(self) -> list[Tensor]:
        return [self.W, self.b]


class MLP:
    """Dense layers with an activation between them and none after the last (it outputs logits).

    ``sizes=[64, 32, 10]`` makes 64 -> 32 -> 10. ``activation`` is "relu", "tanh" or "sigmoid";
    ``init`` (see :class:`Linear`) defaults to "he" for ReLU and "lecun" for the other two.
    After a forward pass, ``mlp.pre_activations`` holds each hidden layer's ``z`` (chapter 2 uses them).
    """

    def __init__(self, sizes: list[int], activation: str = "relu", *, seed: int = 0,
                 init: str | None = None, dtype: type = np.float64) -> None:
        sizes = check_int_list(sizes, "sizes", min=1, min_length=2, example="[64, 32, 10]")
        check_choice(activation, "activation", ("relu", "tanh", "sigmoid"))
        seed = check_int(seed, "seed", min=0)
        dtype = _check_dtype(dtype)
        init = init or ("he" if activation == "relu" else "lecun")
        rng = np.random.default_rng(seed)
        self.activation = activation
        self.layers = [Linear(a, b, rng=rng, init=init, dtype=dtype) for a, b in zip(sizes, sizes[1:])]
        self.pre_activations: list[Tensor] = []

    def __call__(self, x: Tensor | np.ndarray) -> Tensor:
        h = _as_input(x, self.layers[0].W.shape[0])
        self.pre_activations = []
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                self.pre_activations.append(h)
                h = getattr(h, self.activation)()
        return h

    def parameters(self) -> list[Tensor]:
        return [p for layer in self.layers for p in layer.parameters()]

    def to_torch(self) -> Any:
        """The same network as a ``torch.nn.Sequential`` (:func:`troikadl.cnn.mlp`) holding copies of the
        weights (``Linear.weight = W^T``), in their dtype."""
        import torch

        from .cnn import mlp

        sizes = [self.layers[0].W.shape[0]] + [layer.W.shape[1] for layer in self.layers]
        net = mlp(sizes, self.activation).to(torch.float64 if self.layers[0].W.data.dtype == np.float64
                                              else torch.float32)
        with torch.no_grad():
            for lin, layer in zip(net[::2], self.layers):
                lin.weight.copy_(torch.as_tensor(layer.W.data.T))
                lin.bias.copy_(torch.as_tensor(layer.b.data))
        return net

    def to_keras(self) -> Any:
        """The same network as a Keras ``Sequential`` (Dense kernels are (in, out), like ours)."""
        import keras

        n_in = self.layers[0].W.shape[0]
        dtype = str(self.layers[0].W.data.dtype)
        model = keras.Sequential([keras.Input((n_in,), dtype=dtype)] + [
            keras.layers.Dense(layer.W.shape[1], dtype=dtype,
                               activation=self.activation if i < len(self.layers) - 1 else None)
            for i, layer in enumerate(self.layers)])
        for dense, layer in zip(model.layers, self.layers):
            dense.set_weights([layer.W.data, layer.b.data])
        return model


def zero_grad(params: Iterable[Tensor]) -> None:
    """Forget accumulated gradients (leaves add up gradients over backward passes, as in PyTorch)."""
    params = _as_params(params)
    for p in params:
        p.grad = None


def sgd_step(params: Iterable[Tensor], lr: float) -> None:
    """Plain gradient descent: ``p <- p - lr * dL/dp`` for every parameter (chapter 3 does better)."""
    params = _as_params(params)
    check_positive(lr, "lr")
    for p in params:
        if p.grad is not None:
            p.data -= lr * p.grad
