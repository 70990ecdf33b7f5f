"""Convolutional networks for the course's data, their Keras twins, and a shape tracer (chapter 4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .twins import copy_conv2d_to_keras, copy_linear_to_keras
from .validate import check_choice, check_instance, check_int, check_int_list

__all__ = ["lenet", "lenet_keras", "copy_to_keras", "cnn1d", "mlp", "mlp_keras", "count_parameters", "trace_shapes",
           "ShapeTrace"]


def lenet(image_size: int = 8, channels: tuple[int, int] = (16, 32), hidden: int = 64,
          n_classes: int = 10, pool: bool = True) -> Any:
    """A LeNet-style CNN for 1-channel square images: two conv-ReLU(-pool) blocks, then two dense layers.

    With ``pool=False`` the max-pooling layers are left out (the dense layer then sees a larger map).
    """
    import torch.nn as nn

    c1, c2 = _check_lenet(image_size, channels, hidden, n_classes, pool)
    side = image_size // 4 if pool else image_size
    layers: list[Any] = [nn.Conv2d(1, c1, 3, padding=1), nn.ReLU()]
    layers += [nn.MaxPool2d(2)] if pool else []
    layers += [nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU()]
    layers += [nn.MaxPool2d(2)] if pool else []
    layers += [nn.Flatten(), nn.Linear(c2 * side * side, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)]
    return nn.Sequential(*layers)


def _check_lenet(image_size: Any, channels: Any, hidden: Any, n_classes: Any, pool: bool) -> tuple[int, int]:
    check_int(image_size, "image_size", min=1)
    if pool and image_size % 4:
        raise ValueError(f"image_size must be divisible by 4 (two 2x2 poolings), got {image_size}")
    c1, c2 = check_int_list(channels, "channels", min=1, length=2, example="(16, 32)")
    check_int(hidden, "hidden", min=1)
    check_int(n_classes, "n_classes", min=1)
    return c1, c2


def _check_model(model: Any) -> Any:
    import torch.nn as nn

    return check_instance(model, "model", nn.Module, "a torch.nn.Module")


def lenet_keras(image_size: int = 8, channels: tuple[int, int] = (16, 32), hidden: int = 64,
                n_classes: int = 10) -> Any:
    """The Keras twin of :func:`lenet` (channels-last images: (batch, H, W, 1))."""
    c1, c2 = _check_lenet(image_size, channels, hidden, n_classes, True)
    import keras

    L = keras.layers
    return keras.Sequential([keras.Input((image_size, image_size, 1)),
                             L.Conv2D(c1, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
                             L.Conv2D(c2, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
                             L.Flatten(), L.Dense(hidden, activation="relu"), L.Dense(n_classes)])


def copy_to_keras(model: Any, keras_model: Any, input_shape: tuple[int, ...]) -> None:
    """Copy a PyTorch ``Sequential`` of Conv2d/Linear (and parameter-free) layers into its Keras twin.

    ``input_shape`` is one PyTorch input, e.g. (1, 8, 8): it is traced to find the (C, H, W) map that
    each ``Flatten`` produces, so that the next dense layer's rows can be reordered.
    """
    import torch.nn as nn

    if not isinstance(_check_model(model), nn.Sequential):
        raise TypeError(f"model must be a torch.nn.Sequential, got {type(model).__name__}")
    if not hasattr(keras_model, "layers"):
        raise TypeError(f"keras_model must be a Keras model (its twin), got {type(keras_model).__name__}")
    trace = trace_shapes(model, input_shape)
    if trace.error:
        raise ValueError(f"model does not run on input_shape {input_shape}: {trace.error}")
    keras_layers = [layer for layer in keras_model.layers if layer.get_weights()]
    torch_layers = [(i, m) for i, m in enumerate(model) if isinstance(m, (nn.Conv2d, nn.Linear))]
    if len(keras_layers) != len(torch_layers):
        raise ValueError(f"the models differ: {len(torch_layers)} PyTorch layers with weights, "
                         f"{len(keras_layers)} Keras layers")
    for (i, layer), klayer in zip(torch_layers, keras_layers):
        if isinstance(layer, nn.Conv2d):
            copy_conv2d_to_keras(layer, klayer)
            continue
        after_flatten = i > 0 and isinstance(model[i - 1], nn.Flatten)
        chw = trace.rows[i - 2].shape if after_flatten and i >= 2 else None
        copy_linear_to_keras(layer, klayer, flatten_chw=chw if chw and len(chw) == 3 else None)


def cnn1d(length: int = 40, channels: int = 32, n_classes: int = 10) -> Any:
    """A small 1-D CNN for MNIST-1D: three strided convolutions, then one dense layer."""
    import torch.nn as nn

    for name, v in (("length", length), ("channels", channels), ("n_classes", n_classes)):
        check_int(v, name, min=1)
    side = length
    for k, s, p in ((5, 2, 2), (3, 2, 1), (3, 2, 1)):
        side = (side + 2 * p - k) // s + 1
    return nn.Sequential(nn.Unflatten(1, (1, length)),
                         nn.Conv1d(1, channels, 5, stride=2, padding=2), nn.ReLU(),
                         nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(channels * side, n_classes))


_ACTIVATIONS = ("relu", "tanh", "sigmoid")


def mlp(sizes: list[int], activation: str = "relu") -> Any:
    """A multilayer perceptron in PyTorch, ``activation`` between its layers: ``mlp([40, 100, 100, 10])``."""
    import torch.nn as nn

    sizes = _check_sizes(sizes)
    check_choice(activation, "activation", _ACTIVATIONS)
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[activation]
    layers: list[Any] = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b), act()]
    return nn.Sequential(*layers[:-1])


def mlp_keras(sizes: list[int], activation: str = "relu") -> Any:
    """The Keras twin of :func:`mlp` (fill it with :func:`copy_to_keras` and ``input_shape=(sizes[0],)``)."""
    sizes = _check_sizes(sizes)
    check_choice(activation, "activation", _ACTIVATIONS)
    import keras

    layers = [keras.layers.Dense(b, activation=activation) for b in sizes[1:-1]]
    return keras.Sequential([keras.Input((sizes[0],)), *layers, keras.layers.Dense(sizes[-1])])


def _check_sizes(sizes: Any) -> list[int]:
    return check_int_list(sizes, "sizes", min=1, min_length=2, example="[40, 100, 10]")


def count_parameters(model: Any) -> int:
    """Number of trainable parameters of a PyTorch model."""
    _check_model(model)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@dataclass
class _Row:
    name: str
    layer: str
    shape: tuple[int, ...]
    params: int


@dataclass
class ShapeTrace:
    """What :func:`trace_shapes` saw: one row per layer that ran, and the error that stopped it, if any."""

    input_shape: tuple[int, ...]
    rows: list[_Row] = field(default_factory=list)
    error: str | None = None

    def __repr__(self) -> str:
        lines = [f"{'layer':<12} {'type':<34} {'output shape':<18} {'params':>8}",
                 f"{'input':<12} {'':<34} {str(self.input_shape):<18} {'':>8}"]
        lines += [f"{r.name:<12} {r.layer[:34]:<34} {str(r.shape):<18} {r.params:>8,}" for r in self.rows]
        lines.append(f"error: {self.error}" if self.error else
                     f"total parameters: {sum(r.params for r in self.rows):,}")
        return "\n".join(lines)


def trace_shapes(model: Any, input_shape: tuple[int, ...], batch: int = 2) -> ShapeTrace:
    """Run a zero batch of ``input_shape`` through ``model`` and record each leaf layer's output shape.

    Shapes are shown without the batch dimension. If a layer fails (a size that does not match the
    feature map, say), the trace stops there and records the error instead of raising it.
    """
    import torch

    _check_model(model)
    input_shape = tuple(check_int_list(input_shape, "input_shape", min=1, min_length=1, example="(1, 8, 8)"))
    check_int(batch, "batch", min=1)
    trace = ShapeTrace(input_shape)
    hooks = []
    for name, module in model.named_modules():
        if len(list(module.children())) == 0:  # leaf layers only
            def record(mod: Any, inp: Any, out: Any, name: str = name) -> None:
                params = sum(p.numel() for p in mod.parameters())
                trace.rows.append(_Row(name, type(mod).__name__ + _extra(mod), tuple(out.shape[1:]), params))
            hooks.append(module.register_forward_hook(record))
    try:
        with torch.no_grad():
            model(torch.zeros(batch, *input_shape))
    except Exception as exc:  # the point of the tracer: show where it breaks
        trace.error = f"{type(exc).__name__}: {exc}"
    finally:
        for h in hooks:
            h.remove()
    return trace


def _extra(mod: Any) -> str:
    text = mod.extra_repr()
    return f"({text})" if text and len(text) < 28 else ""
