"""What training a model needs in memory: its state per parameter, and its activations (chapter 12).

Training keeps, for every parameter, its value, its gradient and the optimizer's state: Adam's two moments
(Kingma and Ba 2015), SGD's momentum buffer, plain SGD nothing. In float32 that is 4 + 4 + 8 = 16 bytes
per parameter for Adam. Mixed-precision training (Micikevicius et al. 2018, arXiv 1710.03740) computes with
16-bit weights and gradients but keeps a float32 master copy of the weights for the update, besides Adam's
float32 moments: 2 + 2 + (4 + 4 + 4) = 16 bytes as well, as counted for ZeRO (Rajbhandari et al. 2020,
arXiv 1910.02054, section 3.1). Inference needs only the weights, 4 or 2 bytes per parameter: a model that
fits in a GPU's memory for inference can be 4 to 8 times too large to train there (:func:`fits`).

:func:`training_state_bytes` counts these parts; :func:`measured_training_state_bytes` measures them on a
real model and optimizer after a step; :func:`activation_bytes` measures the tensors a forward pass of the
chapter-6 decoder keeps for the backward one, which grow with the batch and, through the attention weights
(heads x T x T per layer), quadratically with the sequence length.
"""

from __future__ import annotations

from typing import Any

from ..memory import _saved_bytes
from ..transformer.gpt import GPT
from ..validate import check_bool, check_choice, check_instance, check_int, check_positive

__all__ = ["training_state_bytes", "measured_training_state_bytes", "activation_bytes", "fits"]

_PRECISIONS = ("float32", "mixed")
_OPTIMIZERS = ("adam", "sgd", "momentum")
# bytes per parameter: (weights, gradients, master weights) by precision; the optimizer's float32 state by optimizer
_PER_PARAMETER = {"float32": (4, 4, 0), "mixed": (2, 2, 4)}
_OPTIMIZER_STATE = {"adam": 8, "momentum": 4, "sgd": 0}


def training_state_bytes(n_params: Any, *, precision: str = "float32", optimizer: str = "adam") -> dict[str, int]:
    """Bytes that training ``n_params`` parameters keeps besides the activations, by part.

    ``precision`` is "float32" or "mixed" (16-bit weights and gradients, a float32 master copy of the
    weights); ``optimizer`` is "adam" (two float32 moments per parameter), "momentum" (SGD with momentum: one
    buffer) or "sgd" (none). Returns ``weights``, ``gradients``, ``optimizer_state``, ``master_weights`` and
    ``total``, in bytes. Mixed-precision Adam: 2 + 2 + 4 + 4 + 4 = 16 bytes per parameter (ZeRO's count).
    """
    n = check_int(n_params, "n_params", min=1)
    weights, gradients, master = _PER_PARAMETER[check_choice(precision, "precision", _PRECISIONS)]
    state = _OPTIMIZER_STATE[check_choice(optimizer, "optimizer", _OPTIMIZERS)]
    parts = dict(weights=n * weights, gradients=n * gradients, optimizer_state=n * state, master_weights=n * master)
    return parts | {"total": sum(parts.values())}


def measured_training_state_bytes(model: Any, optimizer: Any) -> dict[str, int]:
    """The parts of :func:`training_state_bytes`, measured on the tensors of ``model`` and ``optimizer``.

    ``weights``: the model's parameters (a shared tensor once); ``gradients``: their ``.grad`` (none before
    the first backward pass); ``optimizer_state``: the tensors in ``optimizer.state`` (created by the first
    ``step()``), except Adam's ``step`` entries, a scalar counter per parameter tensor, not per parameter;
    ``master_weights``: 0, a plain PyTorch training keeps no separate copy. Measure after a step.
    """
    import torch

    check_instance(model, "model", torch.nn.Module, "a torch.nn.Module")
    check_instance(optimizer, "optimizer", torch.optim.Optimizer, "a torch.optim.Optimizer")
    size = lambda t: t.numel() * t.element_size()  # noqa: E731
    params = list(model.parameters())
    parts = dict(weights=sum(size(p) for p in params),
                 gradients=sum(size(p.grad) for p in params if p.grad is not None),
                 optimizer_state=sum(size(v) for state in optimizer.state.values() for k, v in state.items()
                                     if k != "step" and isinstance(v, torch.Tensor)),
                 master_weights=0)
    return parts | {"total": sum(parts.values())}


def activation_bytes(model: Any, ids: Any) -> int:
    """Bytes of the tensors a forward pass of our decoder on ``ids`` keeps for the backward pass.

    ``model`` is a :class:`~troikadl.transformer.GPT`, ``ids`` (batch, T) integer token ids. Counted as
    :func:`troikadl.memory.saved_activation_bytes` counts them (each storage once, the parameters not at all),
    with ``saved_tensors_hooks``. Per layer and token: about 16 ``d_model`` numbers (the block's inputs to its
    norms, linear layers and GELU) plus ``heads * T`` attention weights: linear in the batch, quadratic in T.
    """
    check_instance(model, "model", GPT, "a troikadl GPT")
    model._check(ids, None)  # an integer tensor (batch, T) of ids below vocab_size, T within the context
    return _saved_bytes(model, lambda: model(ids), True)


def fits(n_params: Any, memory_bytes: Any, *, training: bool, precision: str = "float32",
         optimizer: str = "adam") -> bool:
    """Whether the weights (``training=False``) or the training state fit in ``memory_bytes``.

    Inference needs the weights: 4 bytes per parameter in float32, 2 in mixed precision (16-bit weights);
    training needs :func:`training_state_bytes`. Activations (and at inference the KV cache) are not counted,
    so ``True`` is necessary, not sufficient: a model that does not fit here does not fit at all.
    """
    memory = check_positive(memory_bytes, "memory_bytes")
    state = training_state_bytes(n_params, precision=precision, optimizer=optimizer)
    return (state["total"] if check_bool(training, "training") else state["weights"]) <= memory
