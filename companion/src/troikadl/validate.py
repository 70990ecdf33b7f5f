"""Argument checks shared by the package's public functions.

Every public function that takes user data checks it here, so that a bad shape, dtype or value raises a
``ValueError`` (wrong value, size or shape) or ``TypeError`` (wrong kind of object or dtype) whose message
names the argument, says what was expected and what was got, instead of a NumPy broadcasting error three
calls deeper or, worse, a silently wrong result. The policy, applied by every helper:

- numbers are int or float (Python, NumPy or a 0-d array or tensor); ``bool``, complex, strings and other
  objects are not numbers, even where NumPy would convert them (``True`` to 1, ``"0.5"`` to 0.5, a complex
  array to its real part);
- an integer argument takes an int or NumPy integer only: ``2.5`` and also ``3.0`` are refused, as
  ``range``, NumPy shapes and ``torch.nn.Linear`` refuse them (write ``int(x)`` where a float is meant);
- arrays of floats accept integer arrays (converted) and any float precision; NaN and infinity are refused
  unless a function documents that it propagates them (elementwise maths such as activations);
- a list of strings is never a bare string (a string is iterable: its characters would be used silently).

``check_*`` helpers return the checked value (as a plain Python scalar where that applies); ``as_*``
helpers return a converted array or tensor.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, Iterable, Sequence

import numpy as np

__all__ = ["as_features", "as_labels", "as_float_array", "as_int_array", "as_bool_array", "as_tensor",
           "check_float_tensor", "check_int", "check_int_list", "check_float",
           "check_positive", "check_in_range", "check_bool", "check_str", "check_choice", "check_str_list",
           "check_shape", "check_same_length", "check_instance", "check_callable"]


def _got(x: Any) -> str:
    """A short description of what was passed, for messages: ``str 'abc'``, ``array of dtype complex128``."""
    if x is None:
        return "None"
    if hasattr(x, "dtype") and hasattr(x, "shape") and getattr(x, "ndim", 0) > 0:
        return f"{type(x).__name__} of dtype {x.dtype} and shape {tuple(x.shape)}"
    text = repr(x)
    return f"{type(x).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach") and hasattr(x, "dtype")


def _to_numpy(x: Any, name: str) -> np.ndarray:
    """``x`` as a NumPy array whose dtype is real numbers (kinds i, u, f); TypeError for anything else."""
    if x is None or isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be an array of numbers, got {_got(x)}")
    if _is_tensor(x):
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise TypeError(f"{name} must be a rectangular array of numbers, got a ragged {type(x).__name__}") from exc
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} must hold real numbers, got complex dtype {arr.dtype} (the imaginary part would "
                        f"be dropped silently; pass x.real if that is meant)")
    if kind not in "iuf":
        what = {"b": "booleans", "U": "strings", "S": "bytes", "O": "Python objects"}.get(kind, f"dtype {arr.dtype}")
        raise TypeError(f"{name} must hold numbers (int or float), got {what} (dtype {arr.dtype})")
    return arr


def _check_ndim(shape: tuple[int, ...], name: str, ndim: int | Sequence[int] | None) -> None:
    if ndim is None:
        return
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if len(shape) not in allowed:
        want = " or ".join(f"{d}-D" for d in allowed)
        raise ValueError(f"{name} must be {want}, got shape {shape} ({len(shape)}-D)")


def as_float_array(x: Any, name: str, *, ndim: int | Sequence[int] | None = None, dtype: Any = np.float64,
                   finite: bool = True, nonempty: bool = False) -> np.ndarray:
    """Return ``x`` (array-like, or a torch tensor) as a float array (``dtype=None``: keep its dtype), checked.

    ``TypeError`` if it does not hold real numbers (booleans, complex numbers, strings and objects are
    refused); ``ValueError`` if it has the wrong number of dimensions (``ndim``: one or several allowed),
    is empty although ``nonempty``, or holds NaN or infinity although ``finite``.
    """
    arr = _to_numpy(x, name)
    _check_ndim(arr.shape, name, ndim)
    if nonempty and arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    arr = arr if dtype is None else arr.astype(dtype, copy=False)
    if finite and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, but it holds NaN or infinity")
    return arr


def as_int_array(x: Any, name: str, *, ndim: int | Sequence[int] | None = None, min: int | None = None,
                 max: int | None = None, nonempty: bool = False) -> np.ndarray:
    """Return ``x`` as an int64 array (token ids, indices), checked; values must lie in ``[min, max]``.

    A float array is accepted only if every value is a whole number (``2.0``, never ``2.5``).
    """
    arr = _to_numpy(x, name)
    _check_ndim(arr.shape, name, ndim)
    if nonempty and arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold whole numbers (integer ids or indices), got fractional, NaN or "
                             f"infinite values")
    arr = arr.astype(np.int64)
    if arr.size and ((min is not None and arr.min() < min) or (max is not None and arr.max() > max)):
        lo, hi = "-inf" if min is None else min, "inf" if max is None else max
        raise ValueError(f"{name} must hold values in [{lo}, {hi}], got values from {arr.min()} to {arr.max()}")
    return arr


def as_bool_array(x: Any, name: str, *, ndim: int | Sequence[int] | None = None, what: str | None = None) -> np.ndarray:
    """Return ``x`` (array-like, or a torch tensor) as a boolean array (a mask), checked.

    Only booleans are accepted: a mask of 0s and 1s, or floats, raises ``TypeError`` (NumPy would index
    with it instead of masking). ``what`` says what ``True`` means, for the message.
    """
    if x is None or isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be a boolean array, got {_got(x)}")
    arr = np.asarray(x.detach().cpu().numpy() if _is_tensor(x) else x)
    if arr.dtype != bool:
        raise TypeError(f"{name} must be boolean{f' ({what})' if what else ''}, got dtype {arr.dtype}")
    _check_ndim(arr.shape, name, ndim)
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

    ``n`` is the number of samples it must match; ``allowed`` the label values it may hold. Booleans are
    accepted as the labels 0 and 1; floats only if they are whole numbers.
    """
    if y is None or isinstance(y, (str, bytes)):
        raise TypeError(f"{name} must be an array of integer class labels, got {_got(y)}")
    arr = np.asarray(y.detach().cpu() if _is_tensor(y) else y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per sample), got shape {arr.shape}")
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold integer class labels, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and (not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr))):
        raise ValueError(f"{name} must hold whole-number class labels, got non-integer values")
    arr = arr.astype(np.int64)
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} must have one label per sample ({n}), got {arr.shape[0]}")
    if allowed is not None:
        bad = np.setdiff1d(np.unique(arr), np.asarray(allowed))
        if bad.size:
            raise ValueError(f"{name} must only hold labels {list(allowed)}, got also {bad.tolist()}")
    return arr


def as_tensor(x: Any, name: str, *, ndim: int | Sequence[int] | None = None, dtype: str = "floating",
              finite: bool = True, nonempty: bool = False, convert: bool = True) -> Any:
    """Return ``x`` as a torch tensor, checked. ``dtype`` is "floating", "integer" or "any" (real numbers).

    Arrays and lists are converted when ``convert`` (else ``TypeError``). Complex and boolean tensors are
    refused; an integer tensor passed where floats are expected becomes torch's default float dtype.
    """
    import torch

    if not isinstance(x, torch.Tensor):
        if not convert or x is None or isinstance(x, (str, bytes)):
            raise TypeError(f"{name} must be a torch tensor, got {_got(x)}")
        x = torch.as_tensor(_to_numpy(x, name))
    if x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"{name} must hold real numbers, got a tensor of dtype {x.dtype}")
    _check_ndim(tuple(x.shape), name, ndim)
    if nonempty and x.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(x.shape)}")
    if dtype == "integer" and x.is_floating_point():
        raise TypeError(f"{name} must hold integers (e.g. token ids), got a tensor of dtype {x.dtype}")
    if dtype == "floating" and not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    if finite and x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite, but it holds NaN or infinity")
    return x


def check_float_tensor(x: Any, name: str, *, ndim: int | None = None, finite: bool = True) -> Any:
    """Check that ``x`` is a floating-point torch tensor (of ``ndim`` dimensions), finite if ``finite``.

    Unlike :func:`as_tensor` nothing is converted: a transform that must keep its input's dtype and device
    takes only tensors. A tensor on the ``meta`` device has no values, so its finiteness is not checked.
    """
    import torch

    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {_got(x)}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating-point tensor (float32 or float64), got {x.dtype}")
    _check_ndim(tuple(x.shape), name, ndim)
    if finite and x.device.type != "meta" and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite, but it holds NaN or infinity")
    return x


def _scalar(value: Any) -> Any:
    """Unwrap a 0-d NumPy array or torch tensor to a Python number; leave everything else as it is."""
    if (isinstance(value, np.ndarray) or _is_tensor(value)) and value.ndim == 0:
        return value.item()
    return value


def check_int(value: Any, name: str, *, min: int | None = None, max: int | None = None) -> int:
    """Check that ``value`` is an integer in ``[min, max]`` (bounds optional); return it as an ``int``.

    ``bool`` and every float, ``3.0`` included, raise ``TypeError``.
    """
    value = _scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {_got(value)}")
    value = int(value)
    if min is not None and value < min:
        raise ValueError(f"{name} must be >= {min}, got {value}")
    if max is not None and value > max:
        raise ValueError(f"{name} must be <= {max}, got {value}")
    return value


def check_int_list(value: Any, name: str, *, min: int | None = None, max: int | None = None,
                   length: int | None = None, min_length: int = 0, example: str | None = None) -> list[int]:
    """Check that ``value`` is a list or tuple of integers in ``[min, max]`` (layer sizes, a shape, a pair).

    ``length`` fixes the number of items, ``min_length`` bounds it below; ``example`` (such as "[64, 32, 10]")
    completes the message. Returns a list of ``int``. A bare int, a string or another iterable raise
    ``TypeError``; a wrong number of items ``ValueError``; each item is checked by :func:`check_int`.
    """
    like = f" such as {example}" if example else ""
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list or tuple of integers{like}, got {_got(value)}")
    if length is not None and len(value) != length:
        raise ValueError(f"{name} must hold {length} integers{like}, got {len(value)}: {list(value)!r:.80}")
    if len(value) < min_length:
        raise ValueError(f"{name} must hold at least {min_length} integers{like}, got {len(value)}: "
                         f"{list(value)!r:.80}")
    return [check_int(v, f"{name}[{i}]", min=min, max=max) for i, v in enumerate(value)]


def check_float(value: Any, name: str, *, min: float | None = None, max: float | None = None,
                min_open: bool = False, max_open: bool = False, finite: bool = True) -> float:
    """Check that ``value`` is a real number within the bounds; return it as a ``float``.

    ``min_open`` / ``max_open`` exclude the bound itself. NaN is always refused; infinity unless
    ``finite=False``. ``bool``, complex numbers and strings raise ``TypeError``.
    """
    value = _scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {_got(value)}")
    value = float(value)
    if math.isnan(value) or (finite and math.isinf(value)):
        raise ValueError(f"{name} must be a finite number, got {value}")
    lo_bad = min is not None and (value <= min if min_open else value < min)
    hi_bad = max is not None and (value >= max if max_open else value > max)
    if lo_bad or hi_bad:
        if max is None:
            want = f"{'>' if min_open else '>='} {min:g}"
        elif min is None:
            want = f"{'<' if max_open else '<='} {max:g}"
        else:
            want = f"in {'(' if min_open else '['}{min:g}, {max:g}{')' if max_open else ']'}"
        raise ValueError(f"{name} must be {want}, got {value:g}")
    return value


def check_positive(value: Any, name: str, *, integer: bool = False, allow_zero: bool = False) -> Any:
    """Check that ``value`` is a positive number (an integer if ``integer``); return it."""
    if integer:
        value = check_int(value, name)
    else:
        value = _scalar(value)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
            raise TypeError(f"{name} must be a number, got {_got(value)}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return value if integer else float(value)


def check_in_range(value: Any, name: str, low: float, high: float, *, closed: str = "both") -> float:
    """Check ``low <= value <= high`` (``closed`` is "both", "left", "right" or "neither"); return a float."""
    check_choice(closed, "closed", ("both", "left", "right", "neither"))
    return check_float(value, name, min=low, max=high, min_open=closed in ("right", "neither"),
                       max_open=closed in ("left", "neither"))


def check_bool(value: Any, name: str) -> bool:
    """Check that ``value`` is ``True`` or ``False`` (a string such as ``"no"`` would count as true)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {_got(value)}")
    return bool(value)


def check_str(value: Any, name: str, *, nonempty: bool = False) -> str:
    """Check that ``value`` is a string (non-empty if ``nonempty``); return it."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {_got(value)}")
    if nonempty and not value:
        raise ValueError(f"{name} must not be an empty string")
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (bool, np.bool_)) != isinstance(b, (bool, np.bool_)):
        return False
    try:
        return bool(a == b)
    except Exception:  # an array compared with an option, say
        return False


def check_choice(value: Any, name: str, options: Iterable[Any]) -> Any:
    """Check that ``value`` is one of ``options``; return it. ``TypeError`` if it is not even of their type."""
    options = list(options)
    if not any(_same(value, o) for o in options):
        error = TypeError if all(isinstance(o, str) for o in options) and not isinstance(value, str) else ValueError
        raise error(f"{name} must be one of {options}, got {_got(value)}")
    return value


def check_str_list(value: Any, name: str, *, nonempty: bool = True) -> list[str]:
    """Check that ``value`` is a list (or other iterable) of strings, not a bare string; return a list."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a list of strings, not a single string (wrap it: [{value!r:.40}])")
    if value is None or not isinstance(value, Iterable) or isinstance(value, dict):
        raise TypeError(f"{name} must be a list of strings, got {_got(value)}")
    items = list(value)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise TypeError(f"{name} must hold only strings, but {name}[{i}] is {_got(item)}")
    if nonempty and not items:
        raise ValueError(f"{name} must hold at least one string, got an empty list")
    return items


def check_shape(x: Any, name: str, shape: Sequence[int | str | None], *, desc: str | None = None) -> Any:
    """Check ``x.shape`` against ``shape``: an int fixes a size, None is any size, and a name is any size
    that is the same wherever the name repeats.

    ``check_shape(X, "X", ("batch", 3))`` accepts (5, 3) and refuses (5, 4) or (5, 3, 1). Returns ``x``.
    """
    got, want, named = tuple(int(s) for s in np.shape(x)), tuple(shape), {}
    ok = len(got) == len(want) and all(g == w if isinstance(w, Integral) else
                                       w is None or named.setdefault(w, g) == g for g, w in zip(got, want))
    if not ok:
        text = desc or "(" + ", ".join("*" if w is None else str(w) for w in want) + ("," if len(want) == 1 else "") + ")"
        raise ValueError(f"{name} must have shape {text}, got {got}")
    return x


def check_same_length(**arrays: Any) -> int:
    """Check that all keyword arrays have the same first dimension; return it."""
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k} has {n}" for k, n in lengths.items())
        raise ValueError(f"{' and '.join(lengths)} must have the same number of samples: {desc}")
    return next(iter(lengths.values()))


def check_instance(value: Any, name: str, types: type | tuple[type, ...], what: str | None = None) -> Any:
    """Check ``isinstance(value, types)``; ``what`` describes the expected object in the message."""
    if not isinstance(value, types):
        names = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        raise TypeError(f"{name} must be {what or 'a ' + names}, got {_got(value)}")
    return value


def check_callable(value: Any, name: str, what: str = "a function") -> Any:
    """Check that ``value`` can be called (a function, a model, a lambda...)."""
    if not callable(value):
        raise TypeError(f"{name} must be {what}, got {_got(value)}")
    return value
