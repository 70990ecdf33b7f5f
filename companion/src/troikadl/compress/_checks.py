"""Argument checks shared by the compression modules (chapters 9 and 10): axes and models.

Private (integers, flags and float tensors are checked by :mod:`troikadl.validate`). Each raises
``TypeError`` for the wrong kind of value and ``ValueError`` for a value out of range, naming the argument
and what was expected.
"""

from __future__ import annotations

from typing import Any

from ..validate import check_instance, check_int


def check_axis(axis: Any, ndim: int, name: str = "axis") -> int | None:
    """``axis`` as a non-negative int for an ``ndim``-D array (``None`` stays ``None``)."""
    if axis is None:
        return None
    return check_int(axis, name, min=-ndim, max=ndim - 1) % ndim


def check_module(model: Any, name: str = "model") -> Any:
    """``model``, checked to be a ``torch.nn.Module``."""
    from torch import nn

    return check_instance(model, name, nn.Module, "a torch.nn.Module")
