"""Filter (channel) pruning of a convolutional ``nn.Sequential``: a genuinely smaller CNN.

Taught in chapter 9. Following Li et al. (2017, "Pruning Filters for Efficient ConvNets", arXiv 1608.08710),
each ``nn.Conv2d`` loses the fraction of its output filters with the smallest L1 norm (ranked layer by layer
on the original weights, as ``torch.nn.utils.prune.ln_structured(conv, "weight", amount, n=1, dim=0)`` ranks
them). Removing filter ``j`` of layer ``k`` removes feature map ``j``: its bias, its entry in a
``BatchNorm2d`` that follows, the input channel ``j`` of every filter of layer ``k + 1`` and, after the last
convolution, the ``side * side`` consecutive columns that channel owns in the first ``nn.Linear`` after
``nn.Flatten`` (channel-major flattening). The result is a dense network with fewer channels, which every
dense kernel runs faster, unlike unstructured zeros. :func:`mask_channels` gives the same function as a
full-size network with the removed filters zeroed, for checking.
"""

from __future__ import annotations

import copy
from typing import Any

from ..validate import check_choice, check_in_range, check_int_list
from ._checks import check_module

__all__ = ["CRITERIA", "channel_norms", "channel_masks", "mask_channels", "prune_channels", "macs"]

#: The filter-ranking criteria: the L1 norm (Li et al., 2017) or the L2 norm of each output filter.
CRITERIA = ("l1", "l2")


def _plan(model: Any) -> tuple[list[int], int | None]:
    """The indices of the Conv2d layers and of the first Linear after Flatten; checks what can be pruned."""
    from torch import nn

    if not isinstance(check_module(model), nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential of Conv2d, BatchNorm2d, activation, pooling, Flatten "
                        f"and Linear layers, got {type(model).__name__}")
    convs, linear, flat = [], None, False
    for i, m in enumerate(model):
        if isinstance(m, nn.Conv2d):
            if flat:
                raise ValueError(f"model[{i}] is a Conv2d after Flatten; only convolutions before it are pruned")
            if m.groups != 1:
                raise ValueError(f"model[{i}] is a grouped Conv2d (groups={m.groups}); only groups=1 is supported")
            convs.append(i)
        elif isinstance(m, nn.Flatten):
            flat = True
        elif isinstance(m, nn.Linear):
            if not flat:
                raise ValueError(f"model[{i}] is a Linear before any Flatten; expected Flatten first")
            linear = i
            break
        elif isinstance(m, nn.BatchNorm2d):
            if not convs:
                raise ValueError(f"model[{i}] is a BatchNorm2d before the first Conv2d; it cannot be pruned")
        elif any(True for _ in m.parameters(recurse=True)):
            raise TypeError(f"model[{i}] ({type(m).__name__}) has parameters and is not a Conv2d, BatchNorm2d "
                            f"or Linear: channel pruning cannot follow it")
    if not convs:
        raise ValueError("model has no nn.Conv2d layers whose channels could be pruned")
    if linear is None:
        raise ValueError("model must have Flatten and a Linear after its last Conv2d (the classifier head)")
    last = model[convs[-1]].out_channels
    if model[linear].in_features % last:
        raise ValueError(f"the first Linear's in_features ({model[linear].in_features}) is not a multiple of the "
                         f"last Conv2d's {last} channels: the flattening is not channel-major")
    return convs, linear


def channel_norms(model: Any, *, criterion: str = "l1") -> list[Any]:
    """For each ``nn.Conv2d`` (in order), the L1 (or L2) norm of each output filter: a tensor of length c_out.

    Filter ``j`` is the weight slice ``weight[j]`` (``c_in x k_h x k_w``); its bias is not counted.
    """
    import torch

    check_choice(criterion, "criterion", CRITERIA)
    convs, _ = _plan(model)
    p = {"l1": 1, "l2": 2}[criterion]
    return [torch.linalg.vector_norm(model[i].weight.detach().flatten(1), ord=p, dim=1) for i in convs]


def channel_masks(model: Any, fraction: float, *, criterion: str = "l1") -> list[Any]:
    """For each ``nn.Conv2d``, a boolean vector over its output channels: True keeps the channel.

    ``round(fraction * c_out)`` filters with the smallest norm go (:func:`channel_norms`), but at least
    one stays in every layer. Ranking ties are broken by position (the earlier filter stays).
    """
    import torch

    f = check_in_range(fraction, "fraction", 0.0, 1.0, closed="left")
    masks = []
    for norms in channel_norms(model, criterion=criterion):
        c = norms.numel()
        n_drop = min(int(round(f * c)), c - 1)
        keep = torch.zeros(c, dtype=torch.bool, device=norms.device)
        keep[torch.argsort(norms, descending=True, stable=True)[:c - n_drop]] = True
        masks.append(keep)
    return masks


def _owners(model: Any, convs: list[int], linear: int) -> dict[int, int]:
    """Which conv's output channels each BatchNorm2d (by index) normalizes: the nearest Conv2d before it."""
    from torch import nn

    owner, out = -1, {}
    for i in range(linear):
        if i in convs:
            owner = convs.index(i)
        elif isinstance(model[i], nn.BatchNorm2d):
            if model[i].num_features != model[convs[owner]].out_channels:
                raise ValueError(f"model[{i}] BatchNorm2d has {model[i].num_features} features but the Conv2d "
                                 f"before it has {model[convs[owner]].out_channels} channels")
            out[i] = owner
    return out


def _check_masks(model: Any, masks: Any, convs: list[int]) -> list[Any]:
    import torch

    if not isinstance(masks, (list, tuple)) or len(masks) != len(convs):
        raise ValueError(f"masks must be a list of one boolean vector per Conv2d ({len(convs)}), got "
                         f"{len(masks) if isinstance(masks, (list, tuple)) else type(masks).__name__}")
    for k, (mask, i) in enumerate(zip(masks, convs)):
        c = model[i].out_channels
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != (c,):
            raise ValueError(f"masks[{k}] must be a boolean tensor of shape ({c},) (model[{i}]'s output channels), "
                             f"got {getattr(mask, 'dtype', type(mask).__name__)} {tuple(getattr(mask, 'shape', ()))}")
        if not bool(mask.any()):
            raise ValueError(f"masks[{k}] removes every channel of model[{i}]; keep at least one")
    return [m.cpu() for m in masks]


def mask_channels(model: Any, fraction: float, *, criterion: str = "l1", masks: Any = None) -> Any:
    """A full-size copy of ``model`` whose removed channels are zeroed: the same function as :func:`prune_channels`.

    The removed filters' weights and biases become zero, and so do the ``weight`` and ``bias`` of a
    ``BatchNorm2d`` on those channels, so the removed feature maps are exactly zero everywhere (``ReLU(0)``,
    pooling of zeros and the next layer's products with them are zero). ``torch.nn.utils.prune.ln_structured``
    zeroes the weight only: its pruned channels still carry the constant ``ReLU(bias)``.
    ``masks`` (from :func:`channel_masks`) overrides ``fraction`` and ``criterion``.
    """
    import torch

    convs, linear = _plan(model)
    keeps = _check_masks(model, masks, convs) if masks is not None else \
        [m.cpu() for m in channel_masks(model, fraction, criterion=criterion)]
    new = copy.deepcopy(model)
    owners = _owners(model, convs, linear)
    with torch.no_grad():
        for i, keep in zip(convs, keeps):
            new[i].weight[~keep.to(new[i].weight.device)] = 0
            if new[i].bias is not None:
                new[i].bias[~keep.to(new[i].bias.device)] = 0
        for i, k in owners.items():
            for p in (new[i].weight, new[i].bias):
                if p is not None:
                    p[~keeps[k].to(p.device)] = 0
    return new


def prune_channels(model: Any, fraction: float, *, criterion: str = "l1", masks: Any = None) -> Any:
    """A new, smaller ``nn.Sequential``: each Conv2d keeps the ``1 - fraction`` of its filters with the largest norm.

    The removed channels also leave the next Conv2d's input channels, any ``BatchNorm2d`` on them (its
    running statistics too) and, after the last convolution, the first Linear's columns (channel ``j`` owns
    columns ``j * s .. j * s + s - 1``, ``s = in_features / c_out``). Input and output sizes, layer types,
    hyperparameters, dtype and device are unchanged; ``fraction = 0`` gives an equal copy. ``masks`` (from
    :func:`channel_masks`) overrides ``fraction`` and ``criterion``.
    """
    import torch
    from torch import nn

    convs, linear = _plan(model)
    keeps = _check_masks(model, masks, convs) if masks is not None else \
        [m.cpu() for m in channel_masks(model, fraction, criterion=criterion)]
    idx = [torch.nonzero(k).flatten() for k in keeps]
    new = copy.deepcopy(model)
    owners = _owners(model, convs, linear)

    def take(t: Any, dim: int, index: Any) -> Any:
        return None if t is None else t.detach().index_select(dim, index.to(t.device)).clone()

    with torch.no_grad():
        for k, i in enumerate(convs):
            old = model[i]
            w = take(old.weight, 0, idx[k])
            if k > 0:
                w = take(w, 1, idx[k - 1])
            conv = nn.Conv2d(w.shape[1], w.shape[0], old.kernel_size, stride=old.stride, padding=old.padding,
                             dilation=old.dilation, bias=old.bias is not None, padding_mode=old.padding_mode,
                             dtype=w.dtype, device=w.device)
            conv.weight.copy_(w)
            if old.bias is not None:
                conv.bias.copy_(take(old.bias, 0, idx[k]))
            new[i] = conv
        for i, k in owners.items():
            old = model[i]
            state = {name: (take(v, 0, idx[k]) if v.ndim == 1 else v.clone()) for name, v in old.state_dict().items()}
            floats = [v for v in state.values() if v.is_floating_point()]
            bn = nn.BatchNorm2d(len(idx[k]), eps=old.eps, momentum=old.momentum, affine=old.affine,
                                track_running_stats=old.track_running_stats,
                                device=floats[0].device if floats else None, dtype=floats[0].dtype if floats else None)
            bn.load_state_dict(state)
            new[i] = bn
        old = model[linear]
        per = old.in_features // model[convs[-1]].out_channels
        cols = (idx[-1][:, None] * per + torch.arange(per)).flatten()
        fc = nn.Linear(len(cols), old.out_features, bias=old.bias is not None, dtype=old.weight.dtype,
                       device=old.weight.device)
        fc.weight.copy_(take(old.weight, 1, cols))
        if old.bias is not None:
            fc.bias.copy_(old.bias.detach())
        new[linear] = fc
    new.train(model.training)
    return new


def macs(model: Any, input_shape: Any) -> int:
    """Multiply-adds of one forward pass of one input of ``input_shape`` (e.g. ``(1, 8, 8)``), counted by tracing.

    Each Conv2d output value costs ``(c_in / groups) k_h k_w`` multiply-adds and each Linear output value
    ``in_features``; biases, normalization, activations and pooling are not counted.
    """
    import torch
    from torch import nn

    check_module(model)
    shape = check_int_list(input_shape, "input_shape", min=1, min_length=1, example="(1, 8, 8)")
    total = [0]

    def hook(mod: Any, inp: Any, out: Any) -> None:
        per = out[0].numel()
        if isinstance(mod, nn.Conv2d):
            total[0] += per * (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
        else:
            total[0] += per * mod.in_features

    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    p = next(model.parameters(), None)
    was = model.training
    try:
        model.eval()
        with torch.no_grad():
            try:
                model(torch.zeros(1, *shape, dtype=p.dtype if p is not None else torch.float32,
                                  device=p.device if p is not None else "cpu"))
            except RuntimeError as exc:  # torch's shape errors: the input does not fit the model
                raise ValueError(f"input_shape {tuple(shape)} does not fit model (one input, without the batch "
                                 f"dimension, e.g. (1, 8, 8)): {str(exc)[:200]}") from exc
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    return int(total[0])
