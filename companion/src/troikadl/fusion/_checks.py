"""Argument checks shared by the fusion modules (chapter 11): numbers given as scalars or 0-d tensors.

Private (integers and tensors are checked by :mod:`troikadl.validate`). Each raises ``TypeError`` for the wrong kind
of value and ``ValueError`` for a value out of range, naming the argument and what was expected.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch


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
