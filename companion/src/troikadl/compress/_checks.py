"""Argument checks shared by the compression modules (chapters 9 and 10): integers, flags, float tensors.

Private: generic enough to move to :mod:`troikadl.validate` one day. Each raises ``TypeError`` for the
wrong kind of value and ``ValueError`` for a value out of range, naming the argument and what was expected.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int, checked to be an integer (not a bool, not a float) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = (f"between {low} and {high}" if low is not None and high is not None
                  else f">= {low}" if low is not None else f"<= {high}")
        raise ValueError(f"{name} must be an integer {bounds}, got {value}")
    return int(value)


def check_bool(value: Any, name: str) -> bool:
    """``value``, checked to be True or False (not 0, 1 or a string)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def check_axis(axis: Any, ndim: int, name: str = "axis") -> int | None:
    """``axis`` as a non-negative int for an ``ndim``-D array (``None`` stays ``None``)."""
    if axis is None:
        return None
    return check_int(axis, name, low=-ndim, high=ndim - 1) % ndim


def check_module(model: Any, name: str = "model") -> Any:
    """``model``, checked to be a ``torch.nn.Module``."""
    from torch import nn

    if not isinstance(model, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(model).__name__}")
    return model


def check_float_tensor(x: Any, name: str, *, ndim: int | None = None, finite: bool = True) -> Any:
    """``x``, checked to be a floating-point torch tensor (of ``ndim`` dimensions), finite if ``finite``.

    A tensor on the ``meta`` device has a shape and a dtype but no values: its finiteness is not checked.
    """
    import torch

    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating-point tensor (float32 or float64), got {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(x.shape)}")
    if finite and x.device.type != "meta" and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite, but it holds NaN or infinity")
    return x
