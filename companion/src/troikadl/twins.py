"""Moving weights between PyTorch models and their Keras twins.

PyTorch's ``nn.Linear`` stores its weight as (out_features, in_features) and computes ``x W^T + b``;
Keras's ``Dense`` stores its kernel as (in_features, out_features) and computes ``x K + b``. The same
layer therefore has ``K = W^T``. Taught in chapter 1; later chapters add their layers here.

Chapter 4 adds convolutions (PyTorch: (out, in, kH, kW) on NCHW images; Keras: (kH, kW, in, out) on
NHWC images) and the dense layer after a ``Flatten``, whose inputs come in a different order: PyTorch
flattens (C, H, W), Keras (H, W, C).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .validate import check_int

__all__ = ["copy_linear_to_keras", "copy_dense_to_torch", "copy_conv2d_to_keras"]


def copy_linear_to_keras(linear: Any, dense: Any, *, flatten_chw: tuple[int, int, int] | None = None) -> None:
    """Copy a ``torch.nn.Linear``'s weights into a built Keras ``Dense`` layer (kernel = weight^T).

    If the layer follows a ``Flatten`` of a (C, H, W) feature map, pass ``flatten_chw``: the kernel's
    rows are then reordered from PyTorch's (C, H, W) flattening to Keras's (H, W, C).
    """
    _check_torch(linear, "linear", "Linear")
    _check_keras(dense, "dense", "Dense")
    w = linear.weight.detach().cpu().numpy()
    if flatten_chw is not None:
        if not isinstance(flatten_chw, (tuple, list)) or len(flatten_chw) != 3:
            raise TypeError(f"flatten_chw must be a (C, H, W) tuple of 3 ints, got {flatten_chw!r}")
        c, h, wd = (check_int(n, f"flatten_chw[{i}]", min=1) for i, n in enumerate(flatten_chw))
        if c * h * wd != w.shape[1]:
            raise ValueError(f"flatten_chw {flatten_chw} has {c * h * wd} values but linear has "
                             f"{w.shape[1]} inputs")
        w = w.reshape(w.shape[0], c, h, wd).transpose(0, 2, 3, 1).reshape(w.shape[0], -1)
    kernel_shape = tuple(dense.kernel.shape)
    if kernel_shape != w.T.shape:
        raise ValueError(f"dense kernel must have shape {w.T.shape} to match linear "
                         f"(out={w.shape[0]}, in={w.shape[1]}), got {kernel_shape}")
    _check_biases(linear.bias is not None, bool(dense.use_bias), "linear", "dense")
    weights = [w.T] + ([linear.bias.detach().cpu().numpy()] if linear.bias is not None else [])
    dense.set_weights([np.asarray(x, dtype=dense.kernel.dtype) for x in weights])


def copy_dense_to_torch(dense: Any, linear: Any) -> None:
    """Copy a built Keras ``Dense`` layer's weights into a ``torch.nn.Linear`` (weight = kernel^T)."""
    import torch

    _check_keras(dense, "dense", "Dense")
    _check_torch(linear, "linear", "Linear")
    params = dense.get_weights()
    kernel = params[0]
    if tuple(linear.weight.shape) != kernel.T.shape:
        raise ValueError(f"linear weight must have shape {kernel.T.shape} to match dense, "
                         f"got {tuple(linear.weight.shape)}")
    _check_biases(len(params) > 1, linear.bias is not None, "dense", "linear")
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(kernel.T, dtype=linear.weight.dtype))
        if len(params) > 1:
            linear.bias.copy_(torch.as_tensor(params[1], dtype=linear.bias.dtype))


def copy_conv2d_to_keras(conv: Any, keras_conv: Any) -> None:
    """Fill a built Keras ``Conv2D`` with a ``torch.nn.Conv2d``'s weights (kernel: (kH, kW, in, out)).

    ``keras_conv`` must have the kernel shape and the bias (or none) that ``conv`` has (``ValueError``).
    """
    _check_torch(conv, "conv", "Conv2d")
    _check_keras(keras_conv, "keras_conv", "Conv2D")
    w = conv.weight.detach().cpu().numpy()
    kernel = w.transpose(2, 3, 1, 0)
    if tuple(keras_conv.kernel.shape) != kernel.shape:
        raise ValueError(f"keras_conv kernel must have shape {kernel.shape} to match conv "
                         f"(out={w.shape[0]}, in={w.shape[1]}, k={w.shape[2:]}), got {tuple(keras_conv.kernel.shape)}")
    _check_biases(conv.bias is not None, bool(keras_conv.use_bias), "conv", "keras_conv")
    weights = [kernel] + ([conv.bias.detach().cpu().numpy()] if conv.bias is not None else [])
    keras_conv.set_weights([np.asarray(x, dtype=keras_conv.kernel.dtype) for x in weights])


def _check_biases(src_has: bool, dst_has: bool, src: str, dst: str) -> None:
    """Both layers have a bias or neither has: a bias left behind would keep the destination's own values."""
    if src_has and not dst_has:
        raise ValueError(f"{src} has a bias but {dst} has none")
    if dst_has and not src_has:
        raise ValueError(f"{dst} has a bias but {src} has none")


def _check_torch(layer: Any, name: str, kind: str) -> None:
    import torch

    if not isinstance(layer, getattr(torch.nn, kind)):
        raise TypeError(f"{name} must be a torch.nn.{kind}, got {type(layer).__name__}")


def _check_keras(layer: Any, name: str, kind: str) -> None:
    """A built Keras layer (checked by what is used: a kernel and set_weights), without importing Keras."""
    if not (hasattr(layer, "set_weights") and hasattr(layer, "get_weights") and getattr(layer, "kernel", None) is not None):
        raise TypeError(f"{name} must be a built Keras {kind} layer (call it once or build it), got {type(layer).__name__}")
