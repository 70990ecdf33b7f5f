"""Regularization from scratch: inverted dropout and early stopping.

Taught in chapter 3 ("What training generalizes to"). :func:`dropout` and the layer :class:`Dropout` are
PyTorch's ``F.dropout`` / ``nn.Dropout`` written out (tested against them and against Keras's ``Dropout``,
statistically); :class:`EarlyStopping` follows Keras's ``EarlyStopping(monitor="val_loss")`` callback and
also keeps a copy of the best weights (``restore_best_weights=True``).

Weight decay, the third regularizer of the chapter, is an optimizer option (:mod:`troikadl.optim`'s
``AdamW``, PyTorch's ``torch.optim.AdamW``).
"""

from __future__ import annotations

import copy
import math
from numbers import Real
from typing import Any

import torch
from torch import nn

from .validate import check_bool, check_float, check_float_tensor, check_instance, check_int

__all__ = ["dropout", "Dropout", "EarlyStopping"]


def dropout(x: Any, p: float, *, training: bool = True, generator: Any = None) -> Any:
    """Inverted dropout: zero each element of ``x`` with probability ``p``, scale the kept ones by 1/(1-p).

    Taught in chapter 3. In training, each element is kept independently with probability ``1 - p``
    (a Bernoulli mask ``m``) and the output is ``x * m / (1 - p)``, so its expected value is ``x``: the next
    layer sees inputs of the same scale in training and in evaluation. In evaluation
    (``training=False``) the layer is the identity. As in PyTorch, ``p = 0`` returns ``x`` and ``p = 1``
    returns zeros (``x * 0``: NaN stays NaN). ``generator`` (a ``torch.Generator``) draws the mask; ``None``
    uses torch's global generator. Keeps ``x``'s dtype and device; gradients flow through the kept elements,
    scaled by the same 1/(1-p).
    """
    check_float_tensor(x, "x", finite=False)
    p = check_float(p, "p", min=0.0, max=1.0)
    check_bool(training, "training")
    if generator is not None:
        check_instance(generator, "generator", torch.Generator, "a torch.Generator")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * torch.zeros((), dtype=x.dtype, device=x.device)
    keep = torch.empty_like(x).bernoulli_(1.0 - p, generator=generator)  # 1 with probability 1 - p, else 0
    return x * keep * (1.0 / (1.0 - p))


class Dropout(nn.Module):
    """The dropout layer: :func:`dropout` in training mode (``model.train()``), the identity after ``model.eval()``.

    Taught in chapter 3; a drop-in for ``torch.nn.Dropout(p)``. ``generator`` as in :func:`dropout`.
    """

    def __init__(self, p: float = 0.5, *, generator: Any = None):
        super().__init__()
        self.p = check_float(p, "p", min=0.0, max=1.0)
        if generator is not None:
            check_instance(generator, "generator", torch.Generator, "a torch.Generator")
        self.generator = generator

    def forward(self, x: Any) -> Any:
        return dropout(x, self.p, training=self.training, generator=self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class EarlyStopping:
    """Stop training when the validation loss has not improved for ``patience`` epochs; keep the best weights.

    Taught in chapter 3. Call :meth:`step` once per epoch with that epoch's validation loss (and the model,
    to keep a copy of its weights when the loss improves); it returns ``True`` when training should stop.
    An epoch improves when its loss is below the best so far minus ``min_delta``; NaN never improves.
    :meth:`step` returns ``True`` at the first epoch (not epoch 0) that is ``patience`` epochs past the best
    one, as Keras's ``EarlyStopping(monitor="val_loss", patience=patience, min_delta=min_delta)`` does
    (epochs counted from 0).
    After training, :meth:`restore` loads the best epoch's weights into the model.

    Attributes: ``best`` (the best loss), ``best_epoch``, ``wait`` (epochs since the best), ``stopped_epoch``
    (``None`` until :meth:`step` returns ``True``), ``epoch`` (epochs seen), ``should_stop``.
    """

    def __init__(self, patience: int = 10, *, min_delta: float = 0.0):
        self.patience = check_int(patience, "patience", min=0)
        self.min_delta = check_float(min_delta, "min_delta", min=0.0)
        self.best, self.best_epoch, self.wait, self.epoch = math.inf, None, 0, 0
        self.stopped_epoch: int | None = None
        self._best_state: dict[str, Any] | None = None

    @property
    def should_stop(self) -> bool:
        return self.stopped_epoch is not None

    def step(self, loss: float, model: Any = None) -> bool:
        """Record one epoch's validation ``loss`` (copying ``model``'s weights if it improved); say whether to stop."""
        if isinstance(loss, torch.Tensor) and loss.numel() == 1:
            loss = loss.item()
        if isinstance(loss, (bool,)) or not isinstance(loss, Real):
            raise TypeError(f"loss must be a real number (the epoch's validation loss), got {type(loss).__name__}")
        if model is not None:
            check_instance(model, "model", nn.Module, "a torch.nn.Module")
        epoch, self.epoch = self.epoch, self.epoch + 1
        self.wait += 1
        if float(loss) + self.min_delta < self.best:  # False for NaN
            self.best, self.best_epoch, self.wait = float(loss), epoch, 0
            if model is not None:
                self._best_state = copy.deepcopy(model.state_dict())
        elif self.wait >= self.patience and epoch > 0 and self.stopped_epoch is None:
            self.stopped_epoch = epoch
        return self.should_stop

    def restore(self, model: Any) -> Any:
        """Load the best epoch's weights into ``model`` (the one passed to :meth:`step`); return it."""
        check_instance(model, "model", nn.Module, "a torch.nn.Module")
        if self._best_state is None:
            raise ValueError("model: no weights were recorded; pass the model to step() on each epoch")
        model.load_state_dict(self._best_state)
        return model
