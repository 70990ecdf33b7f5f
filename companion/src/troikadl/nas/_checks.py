"""Argument checks shared by the NAS modules (chapter 8): integers, random generators, architectures' data.

Private (integers are checked by :mod:`troikadl.validate`). Each raises ``TypeError`` for the wrong kind
of value and ``ValueError`` for a value out of range, naming the argument and what was expected.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..validate import check_int


def check_int_list(values: Any, name: str, *, low: int | None = None, high: int | None = None) -> list[int]:
    """``values`` as a non-empty list of distinct integers, each in ``[low, high]``."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be a list of integers, got {type(values).__name__}")
    out = [check_int(v, f"{name}[{i}]", min=low, max=high) for i, v in enumerate(values)]
    if not out:
        raise ValueError(f"{name} must hold at least one integer, got an empty list")
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must not repeat a value, got {out}")
    return out


def check_rng(rng: Any, name: str = "rng") -> np.random.Generator:
    """``rng``, checked to be a ``numpy.random.Generator``."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{name} must be a numpy.random.Generator (numpy.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")
    return rng


def check_score(value: Any, name: str) -> float:
    """``value`` as a float, checked to be a real, finite number (a validation score, say)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        if not (hasattr(value, "item") and getattr(value, "ndim", None) == 0):  # 0-d arrays and tensors
            raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
        return check_score(value.item(), name)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)
