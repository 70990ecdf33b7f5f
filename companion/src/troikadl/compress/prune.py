"""Pruning with masks: magnitude (global or per layer), random, and structured (whole hidden units).

Taught in chapter 9. Pruning sets weights to **zero** and keeps them there: a binary mask multiplies
each weight matrix, during fine-tuning too. (Multiplying every weight by a "pruning probability", as
article 001 §4.2.1 writes it, zeroes nothing.) Unstructured masks leave the shapes as they are;
structured pruning removes whole units and gives a genuinely smaller dense network.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..validate import check_float_tensor, check_in_range
from ._checks import check_module

__all__ = ["prunable", "magnitude_masks", "random_masks", "apply_masks", "remove_masks", "sparsity",
           "unit_norms", "shrink_mlp"]


def _check_sparsity(sparsity: float) -> float:
    return check_in_range(sparsity, "sparsity", 0.0, 1.0, closed="left")


def prunable(model: Any) -> list[Any]:
    """The weight matrices of a model's ``nn.Linear`` layers, in order (biases are not pruned)."""
    from torch import nn

    check_module(model)
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not layers:
        raise ValueError("model has no nn.Linear layers to prune")
    return [m.weight for m in layers]


def _weights(weights: Sequence[Any], name: str = "weights") -> list[Any]:
    """The weights, detached, checked to be a non-empty sequence of finite float tensors."""
    if not isinstance(weights, (list, tuple)) or not weights:
        raise ValueError(f"{name} must be a non-empty list of weight tensors, got {weights!r:.60}")
    return [check_float_tensor(w, f"{name}[{i}]").detach() for i, w in enumerate(weights)]


def _smallest(scores: Any, k: int) -> Any:
    """A boolean mask that is False at exactly the ``k`` smallest scores (ties broken by position)."""
    import torch

    flat = scores.flatten()
    keep = torch.ones_like(flat, dtype=torch.bool)
    if k > 0:
        order = torch.argsort(flat, stable=True)
        keep[order[:k]] = False
    return keep.view_as(scores)


def magnitude_masks(weights: Sequence[Any], sparsity: float, *, scope: str = "global") -> list[Any]:
    """Masks that remove the ``sparsity`` fraction of weights with the smallest absolute value.

    ``scope="global"`` ranks all weights together (layers with many small weights lose more);
    ``"layer"`` removes the same fraction from each matrix. Exactly ``round(sparsity * n)`` weights are
    removed (ties broken by position), globally or per layer. Masks are boolean, on each weight's
    device: True keeps a weight.
    """
    import torch

    s = _check_sparsity(sparsity)
    if scope not in ("global", "layer"):
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
    ws = _weights(weights)
    if scope == "global" and len({w.device for w in ws}) > 1:
        raise ValueError("weights must all be on one device for a global mask")
    if scope == "layer":
        return [_smallest(w.abs(), int(round(s * w.numel()))) for w in ws]
    flat = torch.cat([w.abs().flatten() for w in ws])
    keep = _smallest(flat, int(round(s * flat.numel())))
    return [m.view_as(w) for m, w in zip(torch.split(keep, [w.numel() for w in ws]), ws)]


def random_masks(weights: Sequence[Any], sparsity: float, *, generator: Any = None) -> list[Any]:
    """Masks that remove the ``sparsity`` fraction of each matrix's weights at random: the control.

    The random scores are drawn on the ``generator``'s device (the CPU by default), so that a seed gives
    the same masks everywhere; each mask is then moved to its weight's device.
    """
    import torch

    s = _check_sparsity(sparsity)
    ws = _weights(weights)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    device = generator.device if generator is not None else "cpu"
    return [_smallest(torch.rand(w.shape, generator=generator, device=device),
                      int(round(s * w.numel()))).to(w.device) for w in ws]


def apply_masks(model: Any, masks: Sequence[Any]) -> Any:
    """Make each ``nn.Linear`` weight ``original * mask``, so pruned weights stay zero while training.

    Uses ``torch.nn.utils.parametrize``: the trained tensor becomes
    ``layer.parametrizations.weight.original``, ``layer.weight`` is computed from it, and the mask (a
    boolean tensor of the weight's shape, True = kept) is a buffer on the weight's device; gradients
    reach only the kept weights. Returns the model (changed in place). :func:`remove_masks` bakes the
    zeros in.
    """
    import torch
    from torch import nn
    from torch.nn.utils import parametrize

    class Mask(nn.Module):
        def __init__(self, mask: torch.Tensor):
            super().__init__()
            self.register_buffer("mask", mask)

        def forward(self, w: torch.Tensor) -> torch.Tensor:
            return w * self.mask

    layers = [m for m in check_module(model).modules() if isinstance(m, nn.Linear)]
    if not isinstance(masks, (list, tuple)) or len(masks) != len(layers):
        raise ValueError(f"masks must be a list of one mask per nn.Linear layer ({len(layers)}), got "
                         f"{len(masks) if isinstance(masks, (list, tuple)) else type(masks).__name__}")
    for i, (layer, mask) in enumerate(zip(layers, masks)):
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise TypeError(f"masks[{i}] must be a boolean torch tensor (True = kept), got "
                            f"{getattr(mask, 'dtype', type(mask).__name__)}")
        if tuple(mask.shape) != tuple(layer.weight.shape):
            raise ValueError(f"masks[{i}] must have its layer's weight shape {tuple(layer.weight.shape)}, "
                             f"got {tuple(mask.shape)}")
        if parametrize.is_parametrized(layer, "weight"):
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
        parametrize.register_parametrization(layer, "weight",
                                             Mask(mask.to(layer.weight.device, layer.weight.dtype)))
    return model


def remove_masks(model: Any) -> Any:
    """Bake the masks into the weights (the zeros stay) and drop the parametrizations."""
    from torch import nn
    from torch.nn.utils import parametrize

    for m in check_module(model).modules():
        if isinstance(m, nn.Linear) and parametrize.is_parametrized(m, "weight"):
            parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)
    return model


def sparsity(model_or_weights: Any) -> float:
    """The fraction of exactly-zero entries among the ``nn.Linear`` weights (or the given tensors)."""
    if hasattr(model_or_weights, "modules"):
        ws = prunable(model_or_weights)
    elif isinstance(model_or_weights, (list, tuple)):
        ws = _weights(model_or_weights, "model_or_weights")
    else:
        raise TypeError(f"model_or_weights must be a torch.nn.Module or a list of weight tensors, got "
                        f"{type(model_or_weights).__name__}")
    total = sum(w.numel() for w in ws)
    return float(sum(int((w == 0).sum()) for w in ws)) / total


def unit_norms(model: Any) -> list[Any]:
    """For each hidden ``nn.Linear`` layer (all but the last), the L2 norm of each unit's incoming weights."""
    return [w.detach().norm(dim=1) for w in prunable(model)[:-1]]


def shrink_mlp(model: Any, sparsity: float) -> Any:
    """Structured pruning of a Linear/activation stack: drop the ``sparsity`` fraction of hidden units.

    In each hidden layer the units with the smallest incoming-weight L2 norm (measured in the original
    model, layer by layer, like ``torch.nn.utils.prune.ln_structured``) go: their row of that
    layer's weight and bias, and their column of the next layer's weight. The result is a new, smaller
    ``nn.Sequential`` of the same kinds of layers (the input and output sizes are unchanged), with the
    model's dtype and device.
    """
    import copy

    import torch
    from torch import nn

    s = _check_sparsity(sparsity)
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential of Linear and activation layers, got {type(model).__name__}")
    new = copy.deepcopy(model)
    linears = [m for m in new if isinstance(m, nn.Linear)]
    keep_in = None
    for k, layer in enumerate(linears):
        w, b = layer.weight.detach(), layer.bias.detach() if layer.bias is not None else None
        norms = w.norm(dim=1)  # ranked on the original layer, as torch's ln_structured does
        if keep_in is not None:
            w = w[:, keep_in]
        if k < len(linears) - 1:
            n_drop = int(round(s * w.shape[0]))
            if n_drop >= w.shape[0]:
                raise ValueError(f"sparsity {s} would remove every unit of hidden layer {k}")
            keep_out = torch.sort(torch.argsort(norms, descending=True)[:w.shape[0] - n_drop]).values
            w = w[keep_out]
            b = b[keep_out] if b is not None else None
            keep_in = keep_out
        fresh = nn.Linear(w.shape[1], w.shape[0], bias=b is not None, dtype=w.dtype, device=w.device)
        with torch.no_grad():
            fresh.weight.copy_(w)
            if b is not None:
                fresh.bias.copy_(b)
        idx = next(i for i, m in enumerate(new) if m is layer)
        new[idx] = fresh
    return new
