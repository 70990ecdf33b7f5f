"""Argument checks shared by the package's public functions.

Every public function that takes user data checks it here, so that a bad shape, dtype or value raises a
``ValueError`` or ``TypeError`` that names the argument and says what was expected, instead of a NumPy
broadcasting error three calls deeper.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["as_features", "as_labels", "as_float_array", "check_positive", "check_in_range",
           "check_same_length"]


def _type_name(x: Any) -> str:
    return type(x).__name__


def as_float_array(x: Any, name: str, *, ndim: int | None = None,
                   dtype: Any = np.float64) -> np.ndarray:
    """Return ``x`` as a float array, checking its number of dimensions.

    Raises ``TypeError`` if ``x`` is not numeric (strings, objects, booleans count as not numeric) and
    ``ValueError`` if it has the wrong number of dimensions or holds NaN or infinity.
    """
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x)
    except Exception as exc:  # pragma: no cover - ragged nested lists etc.
        raise TypeError(f"{name} must be array-like numbers, got {_type_name(x)}") from exc
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.number)):
        raise TypeError(f"{name} must hold numbers (int or float), got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    arr = arr.astype(dtype, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, but it holds NaN or infinity")
    return arr


def as_features(X: Any, name: str = "X", *, n_features: int | None = None) -> np.ndarray:
    """Return ``X`` as a 2-D float64 array of shape (n_samples, n_features), checked."""
    arr = as_float_array(X, name, ndim=2)
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must have at least one row (sample), got shape {arr.shape}")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} columns (features), got shape {arr.shape}")
    return arr


def as_labels(y: Any, name: str = "y", *, n: int | None = None,
              allowed: tuple[int, ...] | None = None) -> np.ndarray:
    """Return ``y`` as a 1-D int64 array of class labels, checked.

    ``n`` is the number of samples it must match; ``allowed`` the label values it may hold.
    """
    if hasattr(y, "detach") and hasattr(y, "cpu"):
        y = y.detach().cpu().numpy()
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per sample), got shape {arr.shape}")
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must hold integer class labels, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold whole-number class labels, got non-integer values")
    arr = arr.astype(np.int64)
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} must have one label per sample ({n}), got {arr.shape[0]}")
    if allowed is not None:
        bad = np.setdiff1d(np.unique(arr), np.asarray(allowed))
        if bad.size:
            raise ValueError(f"{name} must only hold labels {list(allowed)}, got also {bad.tolist()}")
    return arr


def check_same_length(**arrays: Any) -> int:
    """Check that all keyword arrays have the same first dimension; return it."""
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k} has {n}" for k, n in lengths.items())
        raise ValueError(f"{' and '.join(lengths)} must have the same number of samples: {desc}")
    return next(iter(lengths.values()))


def check_positive(value: Any, name: str, *, integer: bool = False,
                   allow_zero: bool = False) -> Any:
    """Check that ``value`` is a positive number (an integer if ``integer``); return it."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be {kind}, got {_type_name(value)}")
    if integer and not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {_type_name(value)}")
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return value


def check_in_range(value: Any, name: str, low: float, high: float, *,
                   closed: str = "both") -> float:
    """Check ``low <= value <= high`` (``closed`` is "both", "left", "right" or "neither")."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {_type_name(value)}")
    lo_ok = value >= low if closed in ("both", "left") else value > low
    hi_ok = value <= high if closed in ("both", "right") else value < high
    if not (lo_ok and hi_ok):
        lb = "[" if closed in ("both", "left") else "("
        rb = "]" if closed in ("both", "right") else ")"
        raise ValueError(f"{name} must be in {lb}{low}, {high}{rb}, got {value!r}")
    return float(value)
