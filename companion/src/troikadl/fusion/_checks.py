"""Argument checks shared by the fusion modules (chapter 11): integers, probabilities, tensors.

Private: generic enough to move to :mod:`troikadl.validate`. Each raises ``TypeError`` for the wrong kind
of value and ``ValueError`` for a value out of range, naming the argument and what was expected.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch


def check_int(value: Any, name: str, *, low: int | None = None) -> int:
    """``value`` as an int, checked to be an integer (not a bool, not a float), at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value}")
    return int(value)


def check_number(value: Any, name: str) -> float:
    """``value`` as a float, checked to be a finite real number (a Python or NumPy number, or a 0-d tensor)."""
    if isinstance(value, torch.Tensor):
        if value.ndim != 0 or not (value.dtype.is_floating_point or value.dtype in (torch.int32, torch.int64)):
            raise TypeError(f"{name} must be a number or a 0-d tensor, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def check_tensor(x: Any, name: str, *, ndim: int | None = None) -> torch.Tensor:
    """``x``, checked to be a floating-point torch tensor of ``ndim`` dimensions with finite values."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(x.shape)}")
    if x.device.type != "meta" and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite, but it holds NaN or infinity")
    return x
