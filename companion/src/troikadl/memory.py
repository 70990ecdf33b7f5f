"""What backpropagation costs in memory: the tensors autograd keeps from the forward pass for the backward one.

Taught in chapter 2. The backward rule of ``Y = A W`` needs ``A`` (for ``dW = A^T dY``), the one of ReLU
needs its output: so a forward pass that may be differentiated keeps, for every layer, the activations its
backward rule will read, until ``backward()`` frees them. That memory grows with depth and with the batch
size, and it is what ``torch.no_grad()`` avoids at evaluation. PyTorch lets us watch it:
``torch.autograd.graph.saved_tensors_hooks`` calls a function on every tensor saved for backward.
"""

from __future__ import annotations

from typing import Any

from .validate import check_bool, check_float_tensor, check_instance

__all__ = ["saved_activation_bytes"]


def saved_activation_bytes(model: Any, X: Any, *, grad: bool = True) -> int:
    """Bytes of the tensors that a forward pass of ``model`` on ``X`` saves for the backward pass.

    Each storage is counted once (a ReLU's output, saved by the ReLU and by the next layer, is one
    tensor), and the model's own parameters are not counted: they exist whether or not a graph is built.
    With ``grad=False`` the forward pass runs under ``torch.no_grad()``, which saves nothing (0).
    """
    import torch

    check_instance(model, "model", torch.nn.Module, "a torch.nn.Module")
    X = check_float_tensor(X, "X")
    return _saved_bytes(model, lambda: model(X), check_bool(grad, "grad"))


def _saved_bytes(model: Any, forward: Any, grad: bool) -> int:
    """What :func:`saved_activation_bytes` counts, for any call ``forward()`` of ``model`` (arguments checked)."""
    import torch

    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), torch.set_grad_enabled(grad):
        forward()
    return sum(saved.values())
