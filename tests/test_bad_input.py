"""The bad-input promise, checked on the whole package (issue #21 §3).

The course promises that a bad shape, dtype or value raises ``ValueError`` or ``TypeError`` naming the
argument, never a ``KeyError`` three calls deeper and never a silently wrong result. This file keeps a
catalogue of every public function and class of the package that takes user data (enumerated from each
module's ``__all__``), each with one cheap valid call and the kinds of its data arguments. Hypothesis then
replaces ONE argument at a time with a bad value of the right kind for that argument, and each call must
raise ``ValueError`` or ``TypeError`` whose message contains the argument's name (as a word).

Policy (what counts as bad), per kind of argument:

- arrays of floats: wrong number of dimensions, a wrong size along an axis whose size is fixed or must match
  another argument, complex numbers (even with a zero imaginary part), strings (even numeric ones),
  object arrays, booleans, NaN or infinity, an empty array where data are needed, None. Accepted, not
  tested: integer arrays, float32 or float64, lists, torch tensors where NumPy arrays are expected.
  Elementwise maths (activations, softmax, the autograd engine's own arrays) propagates NaN and infinity
  as NumPy does; losses applied to model outputs inside training (``clip_loss``, ``info_nce``,
  ``distillation_loss``) propagate NaN like torch's losses; plots draw diverged paths (NaN is skipped);
  per-sample maps (convolutions, model forwards) accept an empty batch.
- arrays of integers (token ids, indices, class labels): the above, plus fractional values and values
  outside the valid range. Class labels may be booleans (the labels 0 and 1) or whole floats.
- integers (sizes, counts, seeds): fractional (``2.5``) and whole floats (``3.0``: refused, as ``range``
  and NumPy shapes refuse them), ``bool``, strings, None, NaN, values below the minimum or above the
  maximum (zero and negative sizes, negative seeds).
- real numbers (rates, temperatures, probabilities): NaN, infinity, strings, ``bool``, complex, None,
  a list, values out of range.
- names chosen from a set: an unknown name, another type, None. Lists of strings: a bare string (its
  characters would be used), non-string items, an empty list, None. Objects (models, generators,
  tokenizers, functions): None, a string, a number.
- Flags (``bool`` options such as ``standardize``) and free text such as titles are not data; not tested.

Skipped, with the reason (the table ``SKIPPED`` below; a test checks that every other callable in an
``__all__`` is catalogued): ``troikadl.grading`` (the grader's plumbing, run by ``make grade``); records
that the package builds and readers only read (dataclasses such as ``Split``, ``History``, ``QParams``;
their methods that take data are catalogued); callables without data arguments (``current``, ``Timer``,
``stdlib_corpus``...); ``progress`` (its keywords go to tqdm); ``saved_bytes`` and ``storage_bytes`` (any
object ``torch.save`` accepts is valid); the torchrun ``main`` entry points; the abstract ``Optimizer``; the drawing
primitives of ``troikadl.figures.style`` that draw on a diagram's own Axes (``box``, ``arrow``...); and
``troikadl.validate`` itself (tests/test_validate.py). Dunder methods are catalogued where they are the API
(``Tensor.__add__``, ``__matmul__``, ``__pow__``; layers' ``__call__``), not ``__getitem__`` (``IndexError``
is Python's convention for indexing).

Run ``python tests/test_bad_input.py --report [module ...]`` to list every failing (module, function,
argument, bad value, what happened), grouped by module, and the counts. In a pytest run the last test prints
the counts (``pytest tests/test_bad_input.py -rP`` shows them; ``-k summary -s`` runs the catalogue for them).
Where an owner documents another policy for an argument (a range, None allowed), change its kind below.
"""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TROIKA_QUIET", "1")

import atexit  # noqa: E402
import contextlib  # noqa: E402
import functools  # noqa: E402
import io  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402
from collections import defaultdict  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch import nn  # noqa: E402

import troikadl as tk  # noqa: E402

EXAMPLES = 2  # hypothesis examples per (function, argument); each example tries every bad kind once
NAN, INF = float("nan"), float("inf")


# === kinds of argument, each with its bad values ==========================================================

class Lazy:
    """A factory of a fresh valid value (for values a call may change: models, arrays)."""

    def __init__(self, fn: Callable[[], Any]):
        self.fn = fn


def fresh(v: Any) -> Any:
    if isinstance(v, Lazy):
        return v.fn()
    if isinstance(v, np.ndarray):
        return v.copy()
    if isinstance(v, torch.Tensor):
        return v.clone()
    return v


def _np(v: Any) -> np.ndarray:
    return v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)


def _back(v: Any, a: np.ndarray) -> Any:
    """``a`` in ``v``'s container: a tensor if ``v`` was one and torch can hold ``a``'s dtype."""
    return torch.as_tensor(a) if isinstance(v, torch.Tensor) and a.dtype.kind in "biufc" else a


def _put(v: Any, i: int, value: Any, dtype: Any = None) -> Any:
    a = _np(v).astype(dtype or (float if _np(v).dtype.kind in "iub" else _np(v).dtype), copy=True)
    a.flat[i] = value
    return _back(v, a)


def _resize(v: Any, axis: int, grow: bool) -> Any:
    n = v.shape[axis]
    if isinstance(v, torch.Tensor):
        return torch.cat([v, v.narrow(axis, 0, 1)], dim=axis) if grow else v.narrow(axis, 0, n - 1)
    a = np.asarray(v)
    return np.concatenate([a, np.take(a, [0], axis=axis)], axis=axis) if grow else np.take(a, range(n - 1), axis=axis)


class Kind:
    """An argument's kind: its valid value, the labels of its bad values, and a strategy for each."""

    none_ok = False

    def __init__(self, valid: Any = None, *, none: bool = False, expect: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None):
        self.valid, self.none_ok, self.expect, self.extra = valid, none, expect or {}, extra or {}

    def labels(self) -> list[str]:
        return self.own_labels() + list(self.extra) + ([] if self.none_ok else ["None"])

    def own_labels(self) -> list[str]:
        return []

    def bad(self, label: str, v: Any) -> st.SearchStrategy:
        if label in self.extra:
            return st.just(fresh(self.extra[label]))
        if label == "None":
            return st.just(None)
        return self.strategy(label, v)

    def strategy(self, label: str, v: Any) -> st.SearchStrategy:
        raise KeyError(label)


class Fixed(Kind):
    """Not a data argument (a flag, a name, free text): passed as it is, never corrupted."""

    def labels(self) -> list[str]:
        return []


class Floats(Kind):
    """A NumPy array (or torch tensor) of real numbers."""

    def __init__(self, valid: Any, *, nd: tuple[int, ...] | None = None, sz: tuple[int, ...] = (),
                 empty: bool = False, fin: bool = True, **kw: Any):
        super().__init__(valid, **kw)
        self.nd, self.sz, self.empty_ok, self.finite = nd, sz, empty, fin

    def own_labels(self) -> list[str]:
        return ((["wrong ndim"] if self.nd else []) + (["wrong size"] if self.sz else [])
                + self.dtype_labels() + (["NaN or inf"] if self.finite else []) + ([] if self.empty_ok else ["empty"]))

    def dtype_labels(self) -> list[str]:
        return ["complex", "strings", "objects", "bool"]

    def strategy(self, label: str, v: Any) -> st.SearchStrategy:
        size = int(np.prod(v.shape))
        if label == "wrong ndim":
            cands, up, down = [], v, v
            while up.ndim <= max(self.nd):
                up = up[None]
            cands.append(up)
            while down.ndim >= min(self.nd) and down.ndim > 0 and down.shape[0] > 0:
                down = down[0]
            if down.ndim < min(self.nd):
                cands.append(down)
            return st.sampled_from(cands)
        if label == "wrong size":
            moves = [(ax, g) for ax in self.sz for g in (True, False) if g or v.shape[ax] > 1]
            return st.sampled_from(moves).map(lambda m: _resize(v, *m))
        if label == "complex":
            return st.just(_back(v, _np(v).astype(complex) + 0.5j))
        if label == "strings":
            return st.just(_np(v).astype(str))
        if label == "objects":
            return st.integers(0, size - 1).map(lambda i: _put(v, i, None, object))
        if label == "bool":
            return st.just(_back(v, _np(v) > 0))
        if label == "NaN or inf":
            return st.tuples(st.integers(0, size - 1), st.sampled_from([NAN, INF, -INF])).map(
                lambda t: _put(v, t[0], t[1]))
        if label == "empty":
            return st.just(v[:0])
        raise KeyError(label)


class Ints(Floats):
    """An array (or tensor) of integers: token ids, indices, class labels, values in ``[lo, hi]``."""

    def __init__(self, valid: Any, *, lo: int | None = 0, hi: int | None = None, bool_ok: bool = False, **kw: Any):
        super().__init__(valid, fin=False, **kw)
        self.lo, self.hi, self.bool_ok = lo, hi, bool_ok

    def dtype_labels(self) -> list[str]:
        return (["fractional", "complex", "strings"] + ([] if self.bool_ok else ["bool"])
                + (["below range"] if self.lo is not None else []) + (["above range"] if self.hi is not None else []))

    def strategy(self, label: str, v: Any) -> st.SearchStrategy:
        size = int(np.prod(v.shape))
        if label == "fractional":
            return st.integers(0, size - 1).map(lambda i: _put(v, i, float(_np(v).flat[i]) + 0.5, float))
        if label == "below range":
            return st.integers(0, size - 1).map(lambda i: _put(v, i, self.lo - 1, _np(v).dtype))
        if label == "above range":
            return st.integers(0, size - 1).map(lambda i: _put(v, i, self.hi + 1, _np(v).dtype))
        return super().strategy(label, v)


def Lab(valid: Any, classes: int | None, *, lo: int | None = 0, **kw: Any) -> Ints:  # noqa: N802
    """Class labels, one per sample (their number must match the samples), in ``[lo, classes)``."""
    return Ints(valid, nd=(1,), sz=(0,), lo=lo if classes else None, hi=classes - 1 if classes else None,
                bool_ok=True, **kw)


class Bools(Floats):
    """A boolean mask (True keeps / may attend)."""

    def own_labels(self) -> list[str]:
        return (["wrong size"] if self.sz else []) + ["strings", "fractional"]

    def strategy(self, label: str, v: Any) -> st.SearchStrategy:
        if label == "fractional":
            return st.just(_back(v, _np(v).astype(float) * 0.5))
        return super().strategy(label, v)


class Int(Kind):
    """One integer (a size, a count, a seed, an index) in ``[lo, hi]``."""

    def __init__(self, valid: int, *, lo: int | None = None, hi: int | None = None, **kw: Any):
        super().__init__(valid, **kw)
        self.lo, self.hi = lo, hi

    def own_labels(self) -> list[str]:
        return (["fractional", "whole float", "bool", "string", "NaN"] + (["below minimum"] if self.lo is not None else [])
                + (["above maximum"] if self.hi is not None else []))

    def strategy(self, label: str, v: Any) -> st.SearchStrategy:
        return {"fractional": st.just(v + 0.5), "whole float": st.just(float(v)), "bool": st.just(True),
                "string": st.just(str(v)), "NaN": st.just(NAN),
                "below minimum": st.sampled_from(sorted({(self.lo or 0) - 1, min((self.lo or 0) - 1, -3)})),
                "above maximum": st.just((self.hi or 0) + 1)}[label]


def Seed(valid: int = 0, **kw: Any) -> Int:  # noqa: N802
    return Int(valid, lo=0, **kw)


def Pos(valid: int, **kw: Any) -> Int:  # noqa: N802
    return Int(valid, lo=1, **kw)


class Float(Kind):
    """One real number in a range (open or closed at each end)."""

    def __init__(self, valid: float, *, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
                 hi_open: bool = False, **kw: Any):
        super().__init__(valid, **kw)
        self.lo, self.hi, self.lo_open, self.hi_open = lo, hi, lo_open, hi_open

    def own_labels(self) -> list[str]:
        return (["NaN", "infinite", "string", "bool", "complex", "list"] + (["below minimum"] if self.lo is not None else [])
                + (["above maximum"] if self.hi is not None else []))

    def strategy(self, label: str, v: Any) -> st.SearchStrategy:
        lo = [self.lo] if self.lo_open else []
        hi = [self.hi] if self.hi_open else []
        return {"NaN": st.just(NAN), "infinite": st.sampled_from([INF, -INF]), "string": st.just(str(v)),
                "bool": st.just(True), "complex": st.just(complex(v, 1.0)), "list": st.just([v]),
                "below minimum": st.sampled_from(lo + [(self.lo or 0) - 0.5]),
                "above maximum": st.sampled_from(hi + [(self.hi or 0) + 0.5])}[label]


def PosF(valid: float, **kw: Any) -> Float:  # noqa: N802
    return Float(valid, lo=0.0, lo_open=True, **kw)


def Prob(valid: float, **kw: Any) -> Float:  # noqa: N802
    return Float(valid, lo=0.0, hi=1.0, **kw)


class Choice(Kind):
    """One of a fixed set of options (names, or a few numbers)."""

    def __init__(self, valid: Any, options: Any, **kw: Any):
        super().__init__(valid, none=None in list(options), **kw)
        self.options = [o for o in options if o is not None]

    def own_labels(self) -> list[str]:
        numeric = all(isinstance(o, (int, float)) for o in self.options)
        return ["unknown option", "wrong type"] + (["bool"] if numeric and 1 in self.options else [])

    def strategy(self, label: str, v: Any) -> st.SearchStrategy:
        if all(isinstance(o, str) for o in self.options):
            return {"unknown option": st.just(f"no-such-{v}"), "wrong type": st.sampled_from([3, 0.5])}[label]
        return {"unknown option": st.just(max(self.options) + 1), "wrong type": st.just(str(v)),
                "bool": st.just(True)}[label]


class Str(Kind):
    """One string (text, a name)."""

    def own_labels(self) -> list[str]:
        return ["number", "list"]

    def strategy(self, label: str, v: Any) -> st.SearchStrategy:
        return {"number": st.just(3), "list": st.just([v])}[label]


class StrList(Kind):
    """A list of strings (sentences, names, vocabulary)."""

    def __init__(self, valid: Any, *, nonempty: bool = True, **kw: Any):
        super().__init__(valid, **kw)
        self.nonempty = nonempty

    def own_labels(self) -> list[str]:
        return ["bare string", "numbers", "mixed"] + (["empty"] if self.nonempty else [])

    def strategy(self, label: str, v: Any) -> st.SearchStrategy:
        v = list(v)
        return {"bare string": st.just(v[0]), "numbers": st.just([1, 2]), "mixed": st.just(v[:1] + [3]),
                "empty": st.just([])}[label]


class Obj(Kind):
    """An object of a given kind: a model, a generator, a tokenizer, a function, a record."""

    def own_labels(self) -> list[str]:
        return ["string", "number"]

    def strategy(self, label: str, v: Any) -> st.SearchStrategy:
        return {"string": st.just("model"), "number": st.just(3)}[label]


class ObjList(Kind):
    """A list of objects (parameters, weight tensors, masks)."""

    def own_labels(self) -> list[str]:
        return ["bare item", "wrong items", "empty"]

    def strategy(self, label: str, v: Any) -> st.SearchStrategy:
        return {"bare item": st.just(v[0]), "wrong items": st.just([3, "a"]), "empty": st.just([])}[label]


class ArrList(Kind):
    """A list of float arrays."""

    def own_labels(self) -> list[str]:
        return ["bare array", "complex", "NaN", "strings"]

    def strategy(self, label: str, v: Any) -> st.SearchStrategy:
        return {"bare array": st.just(v[0]), "complex": st.just([a + 0.5j for a in v]),
                "NaN": st.just([a * NAN for a in v]), "strings": st.just([a.astype(str) for a in v])}[label]


class IntSeq(Kind):
    """A list or tuple of integers: layer sizes, a shape, seeds, indices."""

    def __init__(self, valid: Any, *, lo: int = 1, hi: int | None = None, length: int | None = None,
                 minlen: int = 1, **kw: Any):
        super().__init__(valid, **kw)
        self.lo, self.hi, self.length, self.minlen = lo, hi, length, minlen

    def own_labels(self) -> list[str]:
        return (["bare int", "fractional", "below minimum", "string"] + (["above maximum"] if self.hi is not None else [])
                + (["wrong length"] if self.length else ["too short"] if self.minlen > 0 else []))

    def strategy(self, label: str, v: Any) -> st.SearchStrategy:
        v = list(v) if v else [self.lo]
        sub = lambda x: type(self.valid)([x] + v[1:]) if isinstance(self.valid, tuple) else [x] + v[1:]  # noqa: E731
        return {"bare int": st.just(v[0]), "fractional": st.just(sub(v[0] + 0.5)), "below minimum": st.just(sub(self.lo - 1)),
                "string": st.just(",".join(map(str, v))), "above maximum": st.just(sub((self.hi or 0) + 1)),
                "wrong length": st.just(tuple(v) + (v[0],)), "too short": st.just(v[:self.minlen - 1])}[label]


class IntPair(Kind):
    """An int or a pair of ints (kernel size, stride, padding)."""

    def __init__(self, valid: Any, *, lo: int = 1, **kw: Any):
        super().__init__(valid, **kw)
        self.lo = lo

    def own_labels(self) -> list[str]:
        return ["fractional", "below minimum", "bool", "string", "wrong length", "fractional in pair"]

    def strategy(self, label: str, v: Any) -> st.SearchStrategy:
        return {"fractional": st.just(self.lo + 1.5), "below minimum": st.just(self.lo - 1), "bool": st.just(True),
                "string": st.just("2"), "wrong length": st.just((2, 2, 2)), "fractional in pair": st.just((2, 1.5))}[label]


class FloatSeq(Kind):
    """A pair of numbers in ``[lo, hi)`` (Adam's betas)."""

    def own_labels(self) -> list[str]:
        return ["bare float", "wrong length", "out of range", "NaN", "string"]

    def strategy(self, label: str, v: Any) -> st.SearchStrategy:
        return {"bare float": st.just(v[0]), "wrong length": st.just(tuple(v[:1])), "out of range": st.just((v[0], 1.5)),
                "NaN": st.just((NAN, v[1])), "string": st.just("0.9, 0.999")}[label]


class PathK(Kind):
    """A file or directory path."""

    def own_labels(self) -> list[str]:
        return ["number"]

    def strategy(self, label: str, v: Any) -> st.SearchStrategy:
        return st.just(3)


class Mapping(Kind):
    """A dict of records or settings."""

    def own_labels(self) -> list[str]:
        return ["not a mapping", "string"]

    def strategy(self, label: str, v: Any) -> st.SearchStrategy:
        return {"not a mapping": st.just(list(v.items()) or [1, 2]), "string": st.just("settings")}[label]


class Arch(Mapping):
    """An architecture of a NAS search space: a dict with one value per option."""

    def own_labels(self) -> list[str]:
        return super().own_labels() + ["unknown value", "missing option"]

    def strategy(self, label: str, v: Any) -> st.SearchStrategy:
        k = next(iter(v))
        if label == "unknown value":
            return st.just({**v, k: "no-such-value"})
        if label == "missing option":
            return st.just({key: x for key, x in v.items() if key != k})
        return super().strategy(label, v)


class Custom(Kind):
    """Bad values listed by hand (for arguments with their own structure)."""

    def __init__(self, valid: Any, bad: dict[str, Any], **kw: Any):
        super().__init__(valid, **kw)
        self.bad_values = bad

    def own_labels(self) -> list[str]:
        return list(self.bad_values)

    def strategy(self, label: str, v: Any) -> st.SearchStrategy:
        value = self.bad_values[label]
        if isinstance(value, Lazy):
            return st.just(value.fn())
        return st.just(value(v) if callable(value) and not isinstance(value, type) else value)


def Axis(valid: int | None, ndim: int, **kw: Any) -> Custom:  # noqa: N802
    return Custom(valid, {"fractional": 0.5, "string": "0", "out of range": ndim, "bool": True}, **kw)


def Dtype(valid: Any = np.float64) -> Custom:  # noqa: N802
    return Custom(valid, {"integer dtype": np.int64, "complex dtype": np.complex128, "not a dtype": "abc"})


def XY(valid: Any, *, labels: str = "any", **kw: Any) -> Custom:  # noqa: N802
    """A ``(X, y)`` pair of inputs and targets."""
    def with_x(f: Callable[[Any], Any]) -> Callable[[Any], Any]:
        return lambda v: (f(v[0]), v[1])

    def with_y(f: Callable[[Any], Any]) -> Callable[[Any], Any]:
        return lambda v: (v[0], f(v[1]))

    bad = {"not a pair": lambda v: (v[0],),
           "inputs: complex": with_x(lambda X: X + 0.5j), "inputs: strings": with_x(lambda X: X.astype(str)),
           "inputs: NaN": with_x(lambda X: _put(X, 0, NAN)),
           "targets: complex": with_y(lambda y: y + 0.5j), "targets: strings": with_y(lambda y: y.astype(str)),
           "targets: NaN": with_y(lambda y: _put(y, 0, NAN)),
           "length mismatch": with_y(lambda y: y[:-1]), "empty": lambda v: (v[0][:0], v[1][:0])}
    if labels == "classes":
        bad["targets: fractional labels"] = with_y(lambda y: y + 0.5)
    return Custom(valid, bad, **kw)


# === the catalogue ======================================================================================

@dataclass
class Entry:
    """One public function (or a method, or a class's constructor) and how to call it validly."""

    module: str
    name: str
    call: Callable[..., Any]
    args: dict[str, Kind]
    build_fn: Callable[[], dict[str, Any]] | None = None
    tf: bool = False
    slow: bool = False  # a valid call that takes seconds: its valid-call test is marked slow

    def build(self) -> dict[str, Any]:
        return self.build_fn() if self.build_fn else {k: fresh(kind.valid) for k, kind in self.args.items()}

    @property
    def data_args(self) -> list[str]:
        return [k for k, kind in self.args.items() if kind.labels()]

    @property
    def id(self) -> str:
        return f"{self.module}.{self.name}"


CATALOGUE: list[Entry] = []


def E(module: str, name: str, call: Callable[..., Any], /, *, _build: Callable[[], dict[str, Any]] | None = None,
      _tf: bool = False, _slow: bool = False, **args: Kind) -> None:
    """Catalogue ``call``; ``_build`` makes correlated valid arguments, ``_tf`` needs Keras, ``_slow`` takes seconds."""
    CATALOGUE.append(Entry(module, name, call, args, _build, _tf, _slow))


def arr(*shape: int, seed: int = 0, dtype: Any = np.float64) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def tarr(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.as_tensor(arr(*shape, seed=seed, dtype=np.float32))


def tiny_mlp(sizes: tuple[int, ...] = (4, 6, 3)) -> nn.Sequential:
    torch.manual_seed(0)
    return tk.cnn.mlp(list(sizes))


TMP = Path(tempfile.mkdtemp(prefix="troika-bad-input-"))
atexit.register(shutil.rmtree, TMP, True)
SENTENCES = ["The cat sat on the mat.", "A dog ran in the park.", "The string module holds text tools.",
             "Files are read from the disk.", "Numbers are added and multiplied."]


@functools.lru_cache(maxsize=None)
def tok() -> Any:
    from troikadl.bert import WordPiece

    return WordPiece.train(SENTENCES, 80)


@functools.lru_cache(maxsize=None)
def pairs() -> Any:
    from troikadl.bert.pairs import encode_pairs

    return encode_pairs([(SENTENCES[i], SENTENCES[i + 1]) for i in range(4)], [1, 0, 1, 0], tok(), 16)


def bert(max_length: int = 16) -> Any:
    from troikadl.bert import Bert, BertSettings

    torch.manual_seed(0)
    return Bert(BertSettings(vocab_size=len(tok()), hidden=8, layers=1, heads=2, intermediate=16, max_length=max_length))


@functools.lru_cache(maxsize=None)
def table() -> Any:
    from troikadl.nas.benchmark import Table

    return Table.load()


@functools.lru_cache(maxsize=None)
def scaling_table() -> Any:
    from troikadl.scaling.sweep import Table

    return Table.load()


@functools.lru_cache(maxsize=None)
def sweep_parts() -> list[Path]:
    """Two disjoint shards of the shipped sweep table (alternate rows), as ``build_table(shard=...)`` writes them."""
    from importlib import resources

    header, columns, *rows = resources.files("troikadl.scaling").joinpath("docstring_gpt.csv").read_text().splitlines()
    paths = [TMP / f"sweep_part{k}.csv" for k in range(2)]
    for k, path in enumerate(paths):
        path.write_text("\n".join([header, columns, *rows[k::2]]) + "\n")
    return paths


@functools.lru_cache(maxsize=None)
def not_a_table() -> Path:
    path = TMP / "not_a_table.csv"
    path.write_text("d_model,layers\n16,1\n")
    return path


@functools.lru_cache(maxsize=None)
def scaling_runs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, D, loss) of 12 runs: 3 sizes x 2 budgets x 2 seeds, on L = 1.7 + 400 / N^0.34 + 400 / D^0.28 with noise."""
    N = np.repeat([1e4, 1e5, 1e6], 4)
    D = np.tile(np.repeat([1e6, 1e7], 2), 3)
    loss = (1.7 + 400 * N ** -0.34 + 400 * D ** -0.28) * np.exp(np.random.default_rng(0).normal(0, 0.01, 12))
    return N, D, loss


@functools.lru_cache(maxsize=None)
def nas_data() -> Any:
    from troikadl.data.tabular import Split

    X, y = arr(24, 1, 8, 8, dtype=np.float32), np.arange(24) % 10
    return Split(X[:12], y[:12], X[18:], y[18:], X_val=X[12:18], y_val=y[12:18])


@functools.lru_cache(maxsize=None)
def ablation_parts() -> list[Path]:
    """Two disjoint shards of a ``troikadl.bert.ablation`` table, written by hand (one row each, same header)."""
    from troikadl.bert.ablation import FIELDS

    paths = [TMP / f"ablation_part{k}.csv" for k in range(2)]
    for seed, path in enumerate(paths):
        row = {"variant": "bert", "seed": str(seed), "seconds": "1.0", "nsp_acc": ""}
        path.write_text('# {"recipe": "tiny"}\n' + ",".join(FIELDS) + "\n"
                        + ",".join(row.get(k, "0.5") for k in FIELDS) + "\n")
    return paths


def keras_dense(n_in: int, n_out: int) -> Any:
    import keras

    layer = keras.layers.Dense(n_out)
    layer.build((None, n_in))
    return layer


@functools.lru_cache(maxsize=None)
def onnx_file() -> Path:
    """A tiny (batch, 4) -> (batch, 3) ONNX model written with onnx's helpers (exporting takes seconds)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    W = numpy_helper.from_array(arr(4, 3, dtype=np.float32), "W")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "tiny",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])], [W])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = TMP / "tiny.onnx"
    onnx.save(model, str(path))
    return path


@functools.lru_cache(maxsize=None)
def tflite_bytes() -> bytes:
    import keras

    from troikadl.compress import deploy

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    return deploy.tflite_convert(model)


def _catalogue() -> None:  # noqa: C901 - a list, long by nature
    import importlib

    from troikadl import attention, autograd as ag, cnn, conv, gradcheck, landscapes, neuron as nr, optim, plot
    from troikadl import nn as tnn, rnn, runtime, train, transformer, twins
    from troikadl.bert import ablation, evaluation, finetune, keras_model, masking, model as bmodel, pretrain, wordpiece
    from troikadl.bert import pairs as bpairs
    from troikadl.compress import deploy, distill, lowrank, measure, prune, quantize
    from troikadl.data import corpus, sequences, shapes, tabular, vqa
    from troikadl.fusion import contrastive, models as fmodels
    from troikadl.nas import analysis, benchmark, darts, multifidelity as mf, networks, oneshot, proxies, search, space

    report = importlib.import_module("troikadl.report")  # the package's attributes of these names are functions
    mnist1d = importlib.import_module("troikadl.data.mnist1d")

    # --- activations (re-exported by neuron) ---------------------------------------------------------------
    for f in (nr.sigmoid, nr.sigmoid_grad, nr.tanh, nr.tanh_grad, nr.relu, nr.relu_grad, nr.silu, nr.silu_grad):
        E("activations", f.__name__, f, z=Floats(arr(3, 2), empty=True, fin=False))
    for f in (nr.leaky_relu, nr.leaky_relu_grad):
        E("activations", f.__name__, f, z=Floats(arr(3, 2), empty=True, fin=False), negative_slope=Float(0.01, lo=0.0))
    for f in (nr.gelu, nr.gelu_grad):
        E("activations", f.__name__, f, z=Floats(arr(3, 2), empty=True, fin=False),
          approximate=Choice("none", ["none", "tanh"]))

    # --- neuron -----------------------------------------------------------------------------------------
    E("neuron", "neuron", nr.neuron, x=Floats(arr(4, 3), nd=(1, 2), sz=(-1,), empty=True),
      w=Floats(arr(3), nd=(1,), sz=(0,)), b=Float(0.5), activation=Choice("sigmoid", list(nr.ACTIVATIONS)))
    E("neuron", "perceptron_update", nr.perceptron_update, w=Floats(arr(3), nd=(1,), sz=(0,)), b=Float(0.0),
      x=Floats(arr(3), nd=(1,), sz=(0,)), y=Choice(1, [-1, 1]), lr=PosF(1.0))
    X6, y6 = arr(6, 2), np.array([0, 1, 0, 1, 1, 0])
    for cls in (nr.Perceptron, nr.LogisticNeuron):
        n = cls.__name__
        E("neuron", n, cls, lr=PosF(0.5), epochs=Pos(2),
          **({"seed": Seed()} if cls is nr.Perceptron else {}))
        E("neuron", f"{n}.fit", lambda X, y, cls=cls: cls(epochs=2).fit(X, y),
          X=Floats(X6, nd=(2,), sz=(0,)), y=Lab(y6, 2))
        fitted = functools.lru_cache(None)(lambda cls=cls: cls(epochs=2).fit(X6, y6))
        methods = ("decision_function", "predict") if cls is nr.Perceptron else ("predict_proba", "predict")
        for m in methods:
            E("neuron", f"{n}.{m}", lambda X, m=m, fitted=fitted: getattr(fitted(), m)(X),
              X=Floats(arr(4, 2), nd=(2,), sz=(1,), empty=True))
    E("neuron", "LogisticNeuron.loss", lambda loss: nr.LogisticNeuron(loss=loss), loss=Choice("bce", ["bce", "mse"]))
    E("neuron", "LogisticNeuron.fit.w0", lambda w0, b0: nr.LogisticNeuron(epochs=2).fit(X6, y6, w0=w0, b0=b0),
      w0=Floats(np.zeros(2), nd=(1,), sz=(0,), none=True), b0=Float(0.0))
    E("neuron", "SoftmaxRegression", nr.SoftmaxRegression, lr=PosF(0.5), epochs=Pos(2), classes=Int(3, lo=2, none=True))
    y6k = np.array([0, 1, 2, 1, 2, 0])
    E("neuron", "SoftmaxRegression.fit", lambda X, y: nr.SoftmaxRegression(epochs=2).fit(X, y),
      X=Floats(X6, nd=(2,), sz=(0,)), y=Lab(y6k, None))
    fitted_k = functools.lru_cache(None)(lambda: nr.SoftmaxRegression(epochs=2).fit(X6, y6k))
    for m in ("decision_function", "predict_proba", "predict"):
        E("neuron", f"SoftmaxRegression.{m}", lambda X, m=m: getattr(fitted_k(), m)(X),
          X=Floats(arr(4, 2), nd=(2,), sz=(1,), empty=True))
    E("neuron", "SoftmaxRegression.loss_and_grad", lambda X, y: fitted_k().loss_and_grad(X, y),
      X=Floats(X6, nd=(2,), sz=(0,)), y=Lab(y6k, 3))

    # --- autograd and gradient checks ------------------------------------------------------------------
    T = lambda *s: Lazy(lambda: ag.Tensor(arr(*s)))  # noqa: E731
    E("autograd", "Tensor", lambda data: ag.Tensor(data), data=Floats(arr(2, 3), empty=True, fin=False))
    E("autograd", "Tensor.backward", lambda grad: (ag.Tensor(arr(2, 3)) * 2.0).backward(grad),
      grad=Floats(np.ones((2, 3)), nd=(2,), sz=(0, 1), fin=False))
    E("autograd", "Tensor.__add__", lambda other: ag.Tensor(arr(2, 3)) + other,
      other=Floats(arr(2, 3), sz=(-1,), fin=False))
    E("autograd", "Tensor.__mul__", lambda other: ag.Tensor(arr(2, 3)) * other,
      other=Floats(arr(2, 3), sz=(-1,), fin=False))
    E("autograd", "Tensor.__matmul__", lambda other: ag.Tensor(arr(2, 3)) @ other,
      other=Floats(arr(3, 2), nd=(2,), sz=(0,), fin=False))
    E("autograd", "Tensor.__pow__", lambda k: ag.Tensor(arr(2, 3)) ** k, k=Float(2.0))
    for m in ("sum", "mean"):
        E("autograd", f"Tensor.{m}", lambda axis, m=m: getattr(ag.Tensor(arr(2, 3)), m)(axis=axis), axis=Axis(1, 2, none=True))
    E("autograd", "Tensor.log_softmax", lambda axis: ag.Tensor(arr(2, 3)).log_softmax(axis), axis=Axis(-1, 2))
    E("autograd", "cross_entropy", ag.cross_entropy, logits=Obj(T(4, 3)), labels=Lab(np.array([0, 2, 1, 0]), 3))
    E("autograd", "mse", ag.mse, pred=Obj(T(4, 3)), target=Floats(arr(4, 3), nd=(2,), sz=(0, 1)))
    E("autograd", "unbroadcast", ag.unbroadcast, grad=Floats(arr(5, 3), fin=False, empty=True),
      shape=IntSeq((3,), lo=0, minlen=0, extra={"not broadcastable": (4,)}))
    E("gradcheck", "relative_error", gradcheck.relative_error, a=Floats(arr(3, 2), sz=(0, 1), fin=False, empty=True),
      b=Floats(arr(3, 2, seed=1), sz=(0, 1), fin=False, empty=True), floor=PosF(1e-8))
    E("gradcheck", "numerical_gradient", gradcheck.numerical_gradient, f=Obj(lambda: 1.0), x=Floats(arr(3), empty=True),
      eps=PosF(1e-5))

    def gc_build() -> dict[str, Any]:
        p = ag.Tensor(arr(3), requires_grad=True)
        return {"loss": lambda: (p * p).sum(), "params": [p], "eps": 1e-5, "floor": 1e-8}

    E("gradcheck", "gradcheck", gradcheck.gradcheck, _build=gc_build, loss=Obj(), params=ObjList(), eps=PosF(1e-5),
      floor=PosF(1e-8))

    # --- convolutions and CNNs --------------------------------------------------------------------------
    E("conv", "conv_output_size", conv.conv_output_size, n=Pos(8), k=Pos(3), stride=Pos(1), padding=Int(0, lo=0),
      dilation=Pos(1))
    for f in (conv.conv2d_loops, conv.conv2d):
        E("conv", f.__name__, f, x=Floats(arr(2, 3, 5, 5), nd=(4,), sz=(1,), empty=True),
          w=Floats(arr(4, 3, 3, 3), nd=(4,), sz=(1,)), b=Floats(arr(4), nd=(1,), sz=(0,), none=True),
          stride=IntPair(1), padding=IntPair(0, lo=0), dilation=IntPair(1))
    for f in (conv.max_pool2d, conv.avg_pool2d):
        E("conv", f.__name__, f, x=Floats(arr(2, 3, 4, 4), nd=(4,), empty=True), kernel_size=IntPair(2),
          stride=IntPair(2, none=True), padding=IntPair(0, lo=0))
    lenet_args = dict(image_size=Pos(8), channels=IntSeq((2, 4), length=2), hidden=Pos(8), n_classes=Pos(3))
    E("cnn", "lenet", cnn.lenet, **lenet_args)
    E("cnn", "lenet_keras", cnn.lenet_keras, _tf=True, **lenet_args)
    E("cnn", "copy_to_keras", cnn.copy_to_keras, _tf=True,
      model=Obj(Lazy(lambda: cnn.lenet(8, (2, 4), 8, 3))), keras_model=Obj(Lazy(lambda: cnn.lenet_keras(8, (2, 4), 8, 3))),
      input_shape=IntSeq((1, 8, 8)))
    E("cnn", "cnn1d", cnn.cnn1d, length=Pos(40), channels=Pos(4), n_classes=Pos(10))
    E("cnn", "mlp", cnn.mlp, sizes=IntSeq([4, 6, 3], minlen=2), activation=Choice("tanh", ["relu", "tanh", "sigmoid"]))
    E("cnn", "mlp_keras", cnn.mlp_keras, _tf=True, sizes=IntSeq([4, 6, 3], minlen=2),
      activation=Choice("tanh", ["relu", "tanh", "sigmoid"]))
    E("cnn", "count_parameters", cnn.count_parameters, model=Obj(Lazy(tiny_mlp)))
    E("cnn", "trace_shapes", cnn.trace_shapes, model=Obj(Lazy(tiny_mlp)), input_shape=IntSeq((4,)), batch=Pos(2))

    # --- architectures (chapter 4: channels, receptive fields, block parameter counts) ------------------------
    from troikadl import architectures as arch

    E("architectures", "conv_params", arch.conv_params, c_in=Pos(4), c_out=Pos(6), k=Pos(3), groups=Pos(2))
    E("architectures", "conv_macs", arch.conv_macs, c_in=Pos(4), c_out=Pos(6), k=Pos(3), out_size=Pos(5), groups=Pos(2))
    E("architectures", "separable_params", arch.separable_params, c_in=Pos(4), c_out=Pos(6), k=Pos(3))
    E("architectures", "separable_macs", arch.separable_macs, c_in=Pos(4), c_out=Pos(6), k=Pos(3), out_size=Pos(5))
    E("architectures", "DepthwiseSeparableConv2d", arch.DepthwiseSeparableConv2d, c_in=Pos(4), c_out=Pos(6), k=Pos(3),
      stride=Pos(1), padding=Int(0, lo=0), dilation=Pos(1))
    E("architectures", "receptive_field", arch.receptive_field,
      layers=Custom([(3, 1, 1), (2, 2, 1)], {"string": "3,1,1", "None": None, "zero kernel": [(0, 1, 1)],
                                              "fractional stride": [(3, 1.5, 1)], "four numbers": [(3, 1, 1, 1)],
                                              "bare int": 3}))
    E("architectures", "vgg_params", arch.vgg_params,
      config=Custom("vgg11", {"unknown name": "vgg15", "None": None, "empty": [], "zero channels": [0, "M"]}),
      in_channels=Pos(1), image_size=Pos(32), hidden=Pos(8), n_classes=Pos(10))
    E("architectures", "inception_params", arch.inception_params, c_in=Pos(8), c1=Pos(2), c3_reduce=Pos(2), c3=Pos(4),
      c5_reduce=Pos(1), c5=Pos(2), pool_proj=Pos(2))
    E("architectures", "bottleneck_params", arch.bottleneck_params, c_in=Pos(16), c_mid=Pos(4), expansion=Pos(4))
    E("architectures", "mobilenet_block_params", arch.mobilenet_block_params, c_in=Pos(4), c_out=Pos(8), k=Pos(3))

    # --- training loop, plots, reports, twins, runtime ---------------------------------------------------
    Xtr, ytr = arr(8, 4, dtype=np.float32), np.arange(8) % 3
    E("train", "fit", train.fit, model=Obj(Lazy(tiny_mlp)), train=XY((Xtr, ytr), labels="classes"), epochs=Pos(1),
      loss=Choice("cross_entropy", list(train.LOSSES)), lr=PosF(0.01, none=True), batch_size=Pos(4, none=True),
      val=XY((Xtr, ytr), labels="classes", none=True), val_name=Str("val"), metric=Choice("accuracy", ["auto", "accuracy", None]),
      clip_norm=PosF(1.0, none=True), seed=Seed(none=True), desc=Fixed("training"), show_progress=Fixed(False))
    E("train", "evaluate", train.evaluate, model=Obj(Lazy(tiny_mlp)), X=Floats(Xtr), y=Lab(ytr, 3, lo=None),
      loss=Choice("cross_entropy", list(train.LOSSES)), metric=Choice("accuracy", ["auto", "accuracy", None]))
    E("train", "predict", train.predict, model=Obj(Lazy(tiny_mlp)), X=Floats(Xtr), batch_size=Pos(4))
    # a model with two inputs (pixels, token ids) given a tuple of inputs: what fit itself checks of the tuple
    two = (arr(8, 64, dtype=np.float32), np.array([[1, 2, 8, 10, 0, 0]] * 8))
    bad_two = {"lengths differ": lambda X: (X[0], X[1][:-1]), "empty tuple": lambda X: (),
               "a single number": lambda X: (X[0], np.int64(3)), "ids: complex": lambda X: (X[0], X[1] + 0.5j),
               "ids: strings": lambda X: (X[0], X[1].astype(str)), "pixels: NaN": lambda X: (_put(X[0], 0, NAN), X[1]),
               "pixels: empty": lambda X: (X[0][:0], X[1])}
    concat = Obj(Lazy(lambda: fmodels.ConcatFusion(vocab_size=21, hidden=8)))
    E("train", "fit (two inputs)", train.fit, model=concat, epochs=Pos(1), loss=Fixed("bce"), show_progress=Fixed(False),
      train=Custom((two, ytr % 2), {k: (lambda v, f=f: (f(v[0]), v[1])) for k, f in bad_two.items()}))
    E("train", "predict (two inputs)", train.predict, model=concat, X=Custom(two, bad_two))
    E("train", "evaluate (two inputs)", train.evaluate, model=concat, X=Custom(two, bad_two), y=Fixed(ytr % 2),
      loss=Fixed("bce"))
    E("train", "accuracy", train.accuracy, y_true=Ints(ytr, sz=(0,), lo=None, bool_ok=True),
      scores=Floats(arr(8, 3), sz=(0,)))
    hist = train.History({"train_loss": [1.0, 0.5], "val_loss": [1.1, 0.7]})
    E("plot", "learning_curves", plot.learning_curves,
      histories=Custom(hist, {"number": 3, "string": "loss", "empty mapping": {}}), key=Str("loss"))
    E("plot", "decision_boundary", plot.decision_boundary, predict=Obj(lambda g: (g[:, 0] > 0).astype(int)),
      X=Floats(X6, nd=(2,), sz=(0, 1)), y=Lab(y6, 2), resolution=Int(10, lo=2), margin=Float(0.5, lo=0.0))
    E("plot", "paths_on_contours", plot.paths_on_contours, land=Obj(landscapes.VALLEY),
      paths=Custom({"gd": arr(5, 2)}, {"not a mapping": [arr(5, 2)], "wrong shape": {"gd": arr(5, 3)},
                                       "complex": {"gd": arr(5, 2) + 0.5j},
                                       "strings": {"gd": arr(5, 2).astype(str)}}), levels=Pos(5))
    E("report", "report", lambda chapter, budget_s, acc: report.report(chapter, budget_s=budget_s, acc=acc),
      chapter=Str("99_catalogue", extra={"not a chapter id": "chapter 1"}), budget_s=PosF(120.0),
      acc=Custom(0.9, {"complex": 0.9 + 1j, "array": np.ones(3), "NaN": NAN, "infinite": INF}))
    E("report", "load_results", report.load_results, results_dir=PathK(TMP))
    E("report", "status_markdown", report.status_markdown, results=Mapping({}),
      chapters=Custom([("01_neuron", "1. The neuron")], {"bare string": "01_neuron", "not pairs": ["01_neuron"],
                                                          "numbers": [(1, 2)]}))
    E("twins", "copy_linear_to_keras", twins.copy_linear_to_keras, _tf=True, linear=Obj(Lazy(lambda: nn.Linear(3, 2))),
      dense=Obj(Lazy(lambda: keras_dense(3, 2))), flatten_chw=IntSeq((3, 1, 1), length=3, none=True))
    E("twins", "copy_dense_to_torch", twins.copy_dense_to_torch, _tf=True, dense=Obj(Lazy(lambda: keras_dense(3, 2))),
      linear=Obj(Lazy(lambda: nn.Linear(3, 2))))

    def conv_keras() -> Any:
        import keras

        layer = keras.layers.Conv2D(4, 3)
        layer.build((None, 8, 8, 2))
        return layer

    E("twins", "copy_conv2d_to_keras", twins.copy_conv2d_to_keras, _tf=True, conv=Obj(Lazy(lambda: nn.Conv2d(2, 4, 3))),
      keras_conv=Obj(Lazy(conv_keras)))
    E("notebook", "show_source", tk.show_source, obj=Obj(tk.accuracy))
    def restoring(fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` (setup, seed_everything) run without changing the process's runtime for the tests after."""
        def call(**kw: Any) -> Any:
            saved, threads = runtime._CURRENT, torch.get_num_threads()
            try:
                return fn(**kw)
            finally:
                runtime._CURRENT = saved
                runtime._set_threads(threads)
        return call

    E("runtime", "setup", restoring(runtime.setup), seed=Seed(), device=Str("cpu", none=True, extra={"unknown device": "gpu7"}),
      threads=Pos(1, none=True))
    E("runtime", "seed_everything", restoring(runtime.seed_everything), seed=Seed())
    E("runtime", "choose_device", runtime.choose_device,
      environ=Custom({"TROIKA_DEVICE": "cpu"}, {"not a mapping": ["TROIKA_DEVICE=cpu"], "bad value": {"TROIKA_DEVICE": "gpu7"}},
                     none=True, expect={"bad value": "TROIKA_DEVICE"}))
    E("runtime", "torchrun_device", runtime.torchrun_device,
      environ=Custom({"LOCAL_RANK": "0"}, {"not a mapping": ["LOCAL_RANK=0"], "bad value": {"LOCAL_RANK": "first"}},
                     none=True, expect={"bad value": "LOCAL_RANK"}))
    E("runtime", "choose_threads", runtime.choose_threads,
      environ=Custom({"TROIKA_THREADS": "1"}, {"not a mapping": ["TROIKA_THREADS=1"], "bad value": {"TROIKA_THREADS": "two"},
                                               "fractional value": {"TROIKA_THREADS": "1.5"}},
                     none=True, expect={"bad value": "TROIKA_THREADS", "fractional value": "TROIKA_THREADS"}),
      cores=Pos(2, none=True))

    # --- data ---------------------------------------------------------------------------------------------
    E("data.mnist1d", "mnist1d", mnist1d.mnist1d, n=Int(100, lo=10), seed=Seed(42))
    E("data.sequences", "adding_problem", sequences.adding_problem, n=Pos(4), length=Int(5, lo=2), seed=Seed())
    E("data.sequences", "token_task", sequences.token_task, n=Pos(4), length=Pos(5), vocab_size=Pos(7),
      task=Choice("sort", ["sort", "reverse"]), seed=Seed())
    E("data.shapes", "captioned_shapes", shapes.captioned_shapes, n=Pos(3), seed=Seed(),
      combos=Custom([(0, 1), (2, 3)], {"bare pair": (0, 1), "fractional": [(0, 1.5)], "out of range": [(9, 0)],
                                       "string": "ab", "empty": [], "wrong length": [(0, 1, 2)]}, none=True),
      noise=Float(0.05, lo=0.0), templates=IntSeq([0, 2], lo=0, hi=3, none=True))
    E("data.shapes", "caption_tokens", shapes.caption_tokens, shape=Int(1, lo=0, hi=4), colour=Int(2, lo=0, hi=5))
    E("data.shapes", "Shapes.text", lambda i: shapes.captioned_shapes(3).text(i), i=Int(0, lo=0, hi=2))
    Xs, ys = arr(20, 3), np.arange(20) % 2
    E("data.tabular", "split_and_scale", tabular.split_and_scale, X=Floats(Xs, nd=(2,), sz=(0,)), y=Lab(ys, None),
      test_size=Float(0.25, lo=0.0, hi=1.0, lo_open=True, hi_open=True), seed=Seed(),
      val_size=Custom(4, {"zero": 0, "fraction above 1": 1.5, "string": "4", "bool": True, "too large": 20}, none=True))
    ts = Float(0.25, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    E("data.tabular", "breast_cancer", tabular.breast_cancer, seed=Seed(), test_size=ts)
    E("data.tabular", "moons", tabular.moons, n=Pos(40), noise=Float(0.2, lo=0.0), seed=Seed(), test_size=ts)
    E("data.tabular", "digits", tabular.digits, seed=Seed(), test_size=ts, images=Fixed(True),
      val_size=Custom(360, {"zero": 0, "fraction above 1": 1.5, "string": "360", "bool": True, "too large": 1797},
                      none=True))
    E("data.vqa", "mini_vqa", vqa.mini_vqa, n=Pos(5), seed=Seed(),
      image_ids=Ints(np.arange(50), nd=(1,), lo=0, hi=1796, none=True))
    E("data.vqa", "encode_question", vqa.encode_question, text=Str("is it even ?", extra={"unknown word": "is it blue ?"}))
    tiny_corpus = corpus.Corpus((tuple(SENTENCES[:2]), tuple(SENTENCES[2:4]), (SENTENCES[4],)), "3", "x",
                                ("string", "os", "math"))
    E("data.corpus", "Corpus.subset", tiny_corpus.subset,
      keep=Bools(np.array([True, False, True]), sz=(0,), extra={"bare bool": True}))
    E("data.corpus", "sentence_pairs", corpus.sentence_pairs, corpus=Obj(tiny_corpus), n=Pos(4), seed=Seed())

    # --- chapter 2 layers, chapter 3 optimizers and landscapes (others' modules) ---------------------------
    E("nn", "Linear", tnn.Linear, n_in=Pos(3), n_out=Pos(2), rng=Obj(Lazy(np.random.default_rng)),
      init=Choice("he", ["he", "lecun"]), dtype=Dtype())
    E("nn", "Linear.__call__", lambda x: tnn.Linear(3, 2, rng=np.random.default_rng(0))(x),
      x=Custom(T(4, 3), {"wrong ndim": Lazy(lambda: ag.Tensor(arr(4, 3, 1))), "wrong size": Lazy(lambda: ag.Tensor(arr(4, 4))),
                         "string": "x", "number": 3}))
    E("nn", "MLP", tnn.MLP, sizes=IntSeq([3, 4, 2], minlen=2), activation=Choice("relu", ["relu", "tanh", "sigmoid"]),
      seed=Seed(), init=Choice(None, ["he", "lecun", None]), dtype=Dtype())
    E("nn", "MLP.__call__", lambda x: tnn.MLP([3, 4, 2])(x), x=Floats(arr(4, 3), nd=(2,), sz=(1,), empty=True))
    params = lambda: Lazy(lambda: [ag.Tensor(arr(3), requires_grad=True)])  # noqa: E731
    E("nn", "sgd_step", tnn.sgd_step, params=ObjList(params()), lr=PosF(0.1))
    E("nn", "zero_grad", tnn.zero_grad, params=ObjList(params()))
    conv_ = Choice("torch", ["torch", "keras"])
    wd = Float(0.0, lo=0.0, none=True)
    E("optim.sgd", "SGD", optim.SGD, params=ObjList(params()), lr=PosF(0.1, none=True),
      momentum=Float(0.9, lo=0.0, hi=1.0, hi_open=True, none=True), weight_decay=wd, convention=conv_)
    E("optim.adaptive", "AdaGrad", optim.AdaGrad, params=ObjList(params()), lr=PosF(0.01, none=True),
      initial_accumulator_value=Float(0.1, lo=0.0, none=True), eps=PosF(1e-10, none=True), weight_decay=wd,
      convention=conv_)
    E("optim.adaptive", "RMSProp", optim.RMSProp, params=ObjList(params()), lr=PosF(0.01, none=True),
      rho=Float(0.9, lo=0.0, hi=1.0, hi_open=True, none=True), eps=PosF(1e-8, none=True), weight_decay=wd,
      convention=conv_)
    for cls in (optim.Adam, optim.AdamW):
        E("optim.adaptive", cls.__name__, cls, params=ObjList(params()), lr=PosF(0.01, none=True),
          betas=FloatSeq((0.9, 0.999), none=True), eps=PosF(1e-8, none=True), weight_decay=wd, convention=conv_)
    E("landscapes", "descend", landscapes.descend, make_optimizer=Obj(lambda ps: optim.SGD(ps, lr=0.01)),
      land=Obj(landscapes.VALLEY), steps=Pos(3), tol=PosF(1e-3), start=Floats(np.array([1.0, 1.0]), nd=(1,), sz=(0,), none=True))

    # --- schedules (chapter 3) -------------------------------------------------------------------------------
    from troikadl import schedules as sch

    gamma = Float(0.5, lo=0.0, lo_open=True, hi=1.0)
    E("schedules", "step_lr", sch.step_lr, t=Seed(3), lr=PosF(0.1), step_size=Pos(2), gamma=gamma)
    E("schedules", "exponential_lr", sch.exponential_lr, t=Seed(3), lr=PosF(0.1), gamma=gamma)
    E("schedules", "cosine_lr", sch.cosine_lr, t=Seed(3), lr=PosF(0.1), total_steps=Pos(10),
      min_lr=Float(0.01, lo=0.0, hi=0.1))
    E("schedules", "warmup_lr", sch.warmup_lr, t=Seed(3), lr=PosF(0.1), warmup_steps=Seed(2), total_steps=Pos(10),
      decay=Choice("cosine", ["cosine", "linear"]), min_lr=Float(0.0, lo=0.0, hi=0.1),
      start_lr=Float(0.0, lo=0.0, hi=0.1))

    # --- initialization --------------------------------------------------------------------------------------
    from troikadl import initialization as ini, memory

    E("initialization", "gain", ini.gain, activation=Choice("leaky_relu", list(ini.ACTIVATIONS)),
      negative_slope=Float(0.01))
    E("initialization", "xavier_std", ini.xavier_std, fan_in=Pos(3), fan_out=Pos(2), gain=PosF(1.0))
    E("initialization", "he_std", ini.he_std, fan=Pos(3), gain=PosF(1.4))
    for f in (ini.xavier_uniform, ini.xavier_normal):
        E("initialization", f.__name__, f, fan_in=Pos(3), fan_out=Pos(2), gain=PosF(1.0),
          rng=Obj(Lazy(np.random.default_rng)))
    for f in (ini.he_uniform, ini.he_normal):
        E("initialization", f.__name__, f, fan_in=Pos(3), fan_out=Pos(2), gain=PosF(1.4),
          mode=Choice("fan_in", ["fan_in", "fan_out"]), rng=Obj(Lazy(np.random.default_rng)))
    E("initialization", "signal_propagation", ini.signal_propagation, width=Pos(4), depth=Pos(2),
      activation=Choice("relu", ["tanh", "relu"]), weight_std=PosF(0.5), n=Int(3, lo=2), seed=Seed())
    E("memory", "saved_activation_bytes", memory.saved_activation_bytes, model=Obj(Lazy(tiny_mlp)),
      X=Floats(tarr(5, 4), empty=True))

    # --- attention, transformer, rnn (others' modules) ------------------------------------------------------
    E("attention", "softmax", attention.softmax, z=Floats(arr(2, 3), empty=True, fin=False), axis=Axis(-1, 2))
    E("attention", "scaled_dot_product_attention", attention.scaled_dot_product_attention,
      q=Floats(arr(2, 4, 3), nd=(3,), sz=(-1,), empty=True), k=Floats(arr(2, 5, 3), nd=(3,), sz=(-1, -2), empty=True),
      v=Floats(arr(2, 5, 6), nd=(3,), sz=(-2,), empty=True), mask=Bools(np.ones((4, 5), bool), sz=(-1,), none=True),
      causal=Fixed(False), scale=Float(0.5, none=True))
    E("attention", "causal_mask", attention.causal_mask, length=Pos(4))
    E("attention", "padding_mask", attention.padding_mask, lengths=Ints(np.array([2, 3]), nd=(1,), lo=1, hi=4),
      max_length=Pos(4))
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(4, 2, batch_first=True)
    mhaw = attention.MHAWeights.from_torch(mha)
    enc = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, batch_first=True)
    encw = attention.EncoderWeights.from_torch(enc)
    E("attention", "MHAWeights.from_torch", attention.MHAWeights.from_torch, mha=Obj(mha))

    def keras_mha() -> Any:
        import keras

        layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=2)
        layer(np.zeros((1, 3, 4)), np.zeros((1, 3, 4)))
        return layer

    E("attention", "MHAWeights.copy_to_keras", mhaw.copy_to_keras, _tf=True, layer=Obj(Lazy(keras_mha)))
    E("attention", "multi_head_attention", attention.multi_head_attention,
      x_q=Floats(arr(2, 3, 4), nd=(3,), sz=(-1,), empty=True), x_kv=Floats(arr(2, 5, 4), nd=(3,), sz=(-1,), empty=True),
      w=Obj(mhaw), heads=Pos(2), mask=Bools(np.ones((3, 5), bool), sz=(-1,), none=True))
    E("attention", "sinusoidal_positions", attention.sinusoidal_positions, length=Pos(5), d_model=Int(4, lo=2))
    E("attention", "layer_norm", attention.layer_norm, x=Floats(arr(2, 4), sz=(-1,)),
      gamma=Floats(np.ones(4), nd=(1,), sz=(0,)), beta=Floats(np.zeros(4), nd=(1,), sz=(0,)), eps=PosF(1e-5))
    E("attention", "EncoderWeights.from_torch", attention.EncoderWeights.from_torch, layer=Obj(enc))
    E("attention", "encoder_block", attention.encoder_block, x=Floats(arr(2, 3, 4), nd=(3,), sz=(-1,), empty=True),
      w=Obj(encw), heads=Pos(2), mask=Bools(np.ones((3, 3), bool), sz=(-1,), none=True))
    E("transformer.encoder", "TokenEncoder", transformer.TokenEncoder, vocab_size=Pos(10), length=Pos(5), d_model=Pos(8),
      heads=Pos(2), layers=Pos(1), d_ff=Pos(16), n_out=Pos(10, none=True),
      positions=Choice("learned", ["learned", "sinusoidal", "none"]))
    encoder = functools.lru_cache(None)(lambda: transformer.TokenEncoder(10, 5, d_model=8, heads=2, layers=1, d_ff=16))
    ids = torch.as_tensor(np.arange(10).reshape(2, 5) % 10)
    for m in ("forward", "attention_maps"):
        E("transformer.encoder", f"TokenEncoder.{m}", lambda ids, m=m: getattr(encoder(), m)(ids),
          ids=Ints(ids, nd=(2,), lo=0, hi=9, empty=True))
    from troikadl.transformer import gpt as tgpt, hf as thf  # chapter 6: the GPT decoder and its map to GPT-2

    gpt_config = tgpt.GPTConfig(10, 6, d_model=8, heads=2, layers=1, d_ff=16)
    gpt_model = Lazy(lambda: tgpt.GPT(gpt_config))
    E("transformer.gpt", "GPTConfig", tgpt.GPTConfig, vocab_size=Pos(10), n_positions=Pos(6), d_model=Pos(8),
      heads=Pos(2), layers=Pos(1), d_ff=Pos(16, none=True), norm_first=Fixed(True), eps=PosF(1e-5))
    E("transformer.gpt", "GPT", tgpt.GPT, config=Obj(gpt_config))
    kv = (torch.zeros(2, 2, 3, 4), torch.zeros(2, 2, 3, 4))
    E("transformer.gpt", "GPT.forward", lambda ids, cache: tgpt.GPT(gpt_config)(ids, cache),
      ids=Ints(ids[:, :3], nd=(2,), lo=0, hi=9),
      cache=Custom(None, {"a string": "kv", "two layers for one": [kv, kv], "a bare pair": kv,
                          "wrong heads": [(torch.zeros(2, 1, 3, 8), torch.zeros(2, 1, 3, 8))]}, none=True))
    E("transformer.gpt", "GPT.attention_maps", lambda ids: tgpt.GPT(gpt_config).attention_maps(ids),
      ids=Ints(ids[:, :3], nd=(2,), lo=0, hi=9))
    gpt_prefix = Floats(torch.zeros(2, 2, 8), nd=(3,), sz=(0, 2), none=True,
                        extra={"float64": torch.zeros(2, 2, 8).double(), "too long": torch.zeros(2, 4, 8)})
    E("transformer.gpt", "GPT.forward.prefix", lambda ids, prefix: tgpt.GPT(gpt_config)(ids, prefix=prefix),
      ids=Ints(ids[:, :3], nd=(2,), lo=0, hi=9), prefix=gpt_prefix)
    E("transformer.gpt", "GPT.attention_maps.prefix",
      lambda ids, prefix: tgpt.GPT(gpt_config).attention_maps(ids, prefix=prefix),
      ids=Ints(ids[:, :3], nd=(2,), lo=0, hi=9), prefix=gpt_prefix)
    E("transformer.hf", "gpt2_weight_map", thf.gpt2_weight_map, layers=Pos(1))
    E("transformer.hf", "to_hf_gpt2", thf.to_hf_gpt2, model=Obj(gpt_model, extra={"post-norm": Lazy(
        lambda: tgpt.GPT(tgpt.GPTConfig(10, 6, d_model=8, heads=2, norm_first=False)))}), _slow=True)
    E("transformer.hf", "from_hf_gpt2", thf.from_hf_gpt2, _slow=True,
      hf_model=Obj(Lazy(lambda: thf.to_hf_gpt2(tgpt.GPT(gpt_config))), extra={"our GPT": gpt_model}))
    E("rnn.cells", "Weights.random", rnn.Weights.random, n_in=Pos(3), hidden=Pos(4), gates=Choice(1, [1, 3, 4]), seed=Seed())
    w1, w4 = rnn.Weights.random(3, 4), rnn.Weights.random(3, 4, gates=4)
    E("rnn.cells", "rnn_cell", rnn.rnn_cell, x=Floats(arr(2, 3), nd=(2,), sz=(-1,)),
      h=Floats(arr(2, 4), nd=(2,), sz=(0, -1), none=True), w=Obj(w1))  # None: a zero state, as h0
    E("rnn.cells", "lstm_cell", rnn.lstm_cell, x=Floats(arr(2, 3), nd=(2,), sz=(-1,)),
      h=Floats(arr(2, 4), nd=(2,), sz=(0, -1), none=True), c=Floats(arr(2, 4), nd=(2,), sz=(0, -1), none=True), w=Obj(w4))
    E("rnn.cells", "rnn_forward", rnn.rnn_forward, x=Floats(arr(2, 5, 3), nd=(3,), sz=(-1,), empty=True), w=Obj(w1),
      h0=Floats(arr(2, 4), nd=(2,), sz=(0, -1), none=True))
    E("rnn.cells", "lstm_forward", rnn.lstm_forward, x=Floats(arr(2, 5, 3), nd=(3,), sz=(-1,), empty=True), w=Obj(w4),
      h0=Floats(arr(2, 4), nd=(2,), sz=(0, -1), none=True), c0=Floats(arr(2, 4), nd=(2,), sz=(0, -1), none=True))
    E("rnn.frameworks", "from_torch", rnn.from_torch, module=Obj(Lazy(lambda: nn.RNN(3, 4, batch_first=True))))
    E("rnn.frameworks", "to_torch", rnn.to_torch, w=Obj(w1), dtype=Fixed(None))
    E("rnn.frameworks", "to_keras", rnn.to_keras, _tf=True, w=Obj(w1), dtype=Fixed("float64"))
    E("rnn.frameworks", "from_keras", rnn.from_keras, _tf=True, layer=Obj(Lazy(lambda: rnn.to_keras(w1))))
    E("rnn.training", "clip_grad_norm", rnn.clip_grad_norm, grads=ArrList([arr(3), arr(2, 2)]), max_norm=PosF(1.0))
    E("rnn.training", "SequenceModel", rnn.SequenceModel, cell=Choice("LSTM", ["RNN", "GRU", "LSTM"]), n_in=Pos(2), hidden=Pos(4),
      n_out=Pos(1))
    seqm = functools.lru_cache(None)(lambda: rnn.SequenceModel("LSTM", 2, 4, 1))
    w3 = rnn.Weights.random(3, 4, gates=3)
    E("rnn.cells", "Weights", rnn.Weights, W_ih=Floats(w3.W_ih, nd=(2,), sz=(0,)), W_hh=Floats(w3.W_hh, nd=(2,), sz=(0, 1)),
      b=Floats(w3.b, nd=(1,), sz=(0,)), nonlinearity=Choice("tanh", ["tanh"]),
      b_hn=Floats(w3.b_hn, nd=(1,), sz=(0,), none=True), reset_after=Fixed(False))
    E("rnn.cells", "gru_cell", rnn.gru_cell, x=Floats(arr(2, 3), nd=(2,), sz=(-1,)),
      h=Floats(arr(2, 4), nd=(2,), sz=(0, -1), none=True), w=Obj(w3))
    E("rnn.cells", "gru_forward", rnn.gru_forward, x=Floats(arr(2, 5, 3), nd=(3,), sz=(-1,), empty=True), w=Obj(w3),
      h0=Floats(arr(2, 4), nd=(2,), sz=(0, -1), none=True))
    E("rnn.frameworks", "from_torch (GRU)", rnn.from_torch, module=Obj(Lazy(lambda: nn.GRU(3, 4, batch_first=True))))
    E("rnn.frameworks", "to_keras (GRU)", rnn.to_keras, _tf=True, w=Obj(w3), dtype=Fixed("float64"))
    bi = [(rnn.Weights.random(3, 4, 4, seed=1), rnn.Weights.random(3, 4, 4, seed=2)),
          (rnn.Weights.random(8, 4, 4, seed=3), rnn.Weights.random(8, 4, 4, seed=4))]
    E("rnn.stacked", "stacked_forward", rnn.stacked_forward, x=Floats(arr(2, 5, 3), nd=(3,), sz=(-1,), empty=True),
      layers=Custom(bi, {"a bare Weights": bi[0][0], "empty": [], "mixed directions": [bi[0], bi[1][0]],
                         "features that do not chain": [bi[0], bi[0]], "not Weights": [(1, 2)], "a string": "lstm",
                         "mixed kinds": [bi[0], (w3, w3)], "three directions": [bi[0] + bi[0][:1]]}),
      h0=Floats(arr(4, 2, 4), nd=(3,), sz=(0, 1, 2), none=True), c0=Floats(arr(4, 2, 4), nd=(3,), sz=(0, 1, 2), none=True))
    E("rnn.stacked", "stacked_from_torch", rnn.stacked_from_torch,
      module=Obj(Lazy(lambda: nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True))))

    def keras_stack() -> list[Any]:
        import keras
        layers = [keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True)), keras.layers.LSTM(3)]
        keras.Sequential([keras.Input((None, 2)), *layers])
        return layers

    E("rnn.stacked", "stacked_from_keras", rnn.stacked_from_keras, _tf=True,
      layers=Custom(Lazy(keras_stack), {"a bare layer": lambda v: v[0], "empty": [], "not layers": [3],
                                        "a Dense layer": Lazy(lambda: keras_stack()[:1] + [keras_dense(3, 2)]),
                                        "merge_mode sum": Lazy(lambda: [__import__("keras").layers.Bidirectional(
                                            __import__("keras").layers.LSTM(2), merge_mode="sum")])}))
    E("rnn.training", "SequenceModel.forward", lambda x: seqm()(x), x=Floats(tarr(3, 5, 2), nd=(2, 3), sz=(-1,), empty=True))

    # --- BERT (others' modules) --------------------------------------------------------------------------------
    E("bert.wordpiece", "pretokenize", wordpiece.pretokenize, text=Str("Hello, world"))
    E("bert.wordpiece", "WordPiece", wordpiece.WordPiece, vocab=StrList(Lazy(lambda: list(tok().vocab))))
    E("bert.wordpiece", "normalize", wordpiece.normalize, text=Str("Héllo, World"))
    E("bert.wordpiece", "WordPiece.train", wordpiece.WordPiece.train, sentences=StrList(SENTENCES), vocab_size=Pos(80),
      score=Choice("frequency", ["frequency", "likelihood"]), max_input_chars_per_word=Pos(100))
    for m in ("tokenize", "encode"):
        E("bert.wordpiece", f"WordPiece.{m}", lambda text, m=m: getattr(tok(), m)(text), text=Str("the cat sat"))
    E("bert.wordpiece", "WordPiece.decode", lambda ids: tok().decode(ids),
      ids=Ints(Lazy(lambda: np.array(tok().encode("the cat sat"))), nd=(1,), lo=0, hi=len(tok()) - 1, empty=True))

    def mask_build() -> dict[str, Any]:
        pd = pairs()
        return {"ids": pd.ids.copy(), "special": pd.special.copy(), "vocab_size": pd.vocab_size, "mask_id": pd.mask_id,
                "rng": np.random.default_rng(0), "p": 0.15, "first_regular_id": 5}

    V = len(tok())
    E("bert.masking", "mask_tokens", masking.mask_tokens, _build=mask_build, ids=Ints(None, nd=(2,), sz=(-1,), lo=0, hi=V - 1),
      special=Bools(None, sz=(-1,)), vocab_size=Pos(V), mask_id=Int(4, lo=0, hi=V - 1), rng=Obj(),
      p=Prob(0.15), first_regular_id=Int(5, lo=0, hi=V - 1))
    proportions = Custom((0.8, 0.1, 0.1), {"two numbers": (0.5, 0.5), "a bare number": 0.8, "out of range": (1.5, -0.5, 0.0),
                                           "not summing to 1": (0.5, 0.1, 0.1), "NaN": (NAN, 0.1, 0.1),
                                           "strings": ("0.8", "0.1", "0.1")})

    def mask_rows_build() -> dict[str, Any]:  # every row drawn: a bad id anywhere is one mask_rows reads
        pd = pairs()
        return {"ids": pd.ids.copy(), "special": pd.special.copy(), "rows": np.array([2, 0, 3, 1]), "seed": 0,
                "vocab_size": pd.vocab_size, "mask_id": pd.mask_id, "p": 0.15, "first_regular_id": 5,
                "proportions": (0.8, 0.1, 0.1)}

    E("bert.masking", "mask_rows", masking.mask_rows, _build=mask_rows_build,
      ids=Ints(None, nd=(2,), sz=(-1,), lo=0, hi=V - 1), special=Bools(None, sz=(-1,)),
      rows=Ints(None, nd=(1,), lo=0, hi=3, empty=True), seed=Seed(), vocab_size=Pos(V), mask_id=Int(4, lo=0, hi=V - 1),
      p=Prob(0.15), first_regular_id=Int(5, lo=0, hi=V - 1), proportions=proportions)
    E("bert.model", "BertSettings", lambda **kw: bmodel.Bert(bmodel.BertSettings(**kw)), vocab_size=Pos(V),
      hidden=Pos(8), layers=Pos(1), heads=Pos(2), intermediate=Pos(16), max_length=Pos(16), segments=Pos(2),
      init_std=PosF(0.02), eps=PosF(1e-12))
    bids = torch.as_tensor(pairs().ids[:2])
    for m in ("encode", "forward"):
        E("bert.model", f"Bert.{m}", lambda ids, segments, attention_mask, m=m: getattr(bert(), m)(ids, segments, attention_mask),
          ids=Ints(bids, nd=(2,), lo=0, hi=V - 1, empty=True),
          segments=Ints(torch.zeros_like(bids), nd=(2,), sz=(0, 1), lo=0, hi=1, empty=True, none=True),
          attention_mask=Ints(torch.ones_like(bids), nd=(2,), sz=(0, 1), lo=0, hi=1, bool_ok=True, empty=True, none=True))
    E("bert.model", "Bert.reset_parameters", lambda std: bert().reset_parameters(std), std=Float(0.02, lo=0.0))
    E("bert.model", "to_huggingface", bmodel.to_huggingface, model=Obj(Lazy(bert)), _slow=True)
    sp = [(SENTENCES[i], SENTENCES[i + 1]) for i in range(4)]
    E("bert.pairs", "encode_pairs", bpairs.encode_pairs,
      pairs=Custom(sp, {"bare pair": sp[0], "numbers": [(1, 2)], "bare string": SENTENCES[0], "empty": []}),
      nsp=Lab(np.array([1, 0, 1, 0]), 2), tok=Obj(Lazy(tok)), max_length=Int(16, lo=3), n_classes=Int(2, lo=2))
    E("bert.pretrain", "batch_for_step", pretrain.batch_for_step, data=Obj(Lazy(pairs)), step=Int(0, lo=0),
      batch_size=Int(2, lo=1, hi=4), seed=Seed(), masking=Choice("static", ["dynamic", "static"]),
      proportions=proportions, next_only=Fixed(False))
    E("bert.pairs", "PairData.subset", lambda rows: pairs().subset(rows), rows=Ints(np.array([0, 2]), nd=(1,), lo=None, hi=3, empty=True))
    E("bert.pretrain", "pretrain", lambda model, data, stop_after, rank, world, **s: pretrain.pretrain(
        model, data, pretrain.PretrainSettings(**s), stop_after=stop_after, rank=rank, world=world),
      model=Obj(Lazy(bert)), data=Obj(Lazy(pairs)), steps=Pos(2), batch_size=Pos(2), lr=PosF(1e-3), warmup=Int(1, lo=0),
      weight_decay=Float(0.01, lo=0.0), seed=Seed(), stop_after=Pos(1, none=True), rank=Int(0, lo=0), world=Pos(1))
    E("bert.evaluation", "masked_accuracy", evaluation.masked_accuracy, model=Obj(Lazy(bert)), data=Obj(Lazy(pairs)),
      batches=Pos(2), batch_size=Pos(4), seed=Seed(), proportions=proportions)
    E("bert.evaluation", "nsp_accuracy", evaluation.nsp_accuracy, model=Obj(Lazy(bert)), data=Obj(Lazy(pairs)),
      batch_size=Pos(3))
    E("bert.evaluation", "fill_mask", evaluation.fill_mask, model=Obj(Lazy(bert)), tok=Obj(Lazy(tok)),
      text=Str("the [MASK] sat on the mat", extra={"no [MASK]": "the cat sat"}), top_k=Int(3, lo=1, hi=V))
    keras_bert = functools.lru_cache(None)(lambda: keras_model.to_keras(bert()))
    E("bert.keras_model", "to_keras", keras_model.to_keras, _tf=True, model=Obj(Lazy(bert)))
    E("bert.keras_model", "from_keras", keras_model.from_keras, _tf=True, keras_model=Obj(Lazy(keras_bert)))
    kids = pairs().ids[:2]
    E("bert.keras_model", "keras_inputs", keras_model.keras_inputs, _tf=True, keras_model=Obj(Lazy(keras_bert)),
      ids=Ints(kids, nd=(2,), lo=0, hi=V - 1),
      segments=Ints(np.zeros_like(kids), nd=(2,), sz=(0, 1), lo=0, hi=1, none=True),
      attention_mask=Ints(np.ones_like(kids), nd=(2,), sz=(0, 1), lo=0, hi=1, bool_ok=True, none=True))
    E("bert.finetune", "BertClassifier", finetune.BertClassifier, bert=Obj(Lazy(bert)), n_classes=Pos(2))
    E("bert.finetune", "BertClassifier.forward", lambda x: finetune.BertClassifier(bert(), 2)(x),
      x=Ints(Lazy(lambda: torch.as_tensor(finetune.as_inputs(pairs()))), nd=(3,), sz=(1,), lo=0, hi=V - 1, empty=True))
    E("bert.finetune", "word_order_task", finetune.word_order_task, sentences=StrList(SENTENCES[:3]), tok=Obj(Lazy(tok)),
      seed=Seed(), max_length=Int(16, lo=3))
    docs = [tuple(SENTENCES[:2]), tuple(SENTENCES[2:4])]
    E("bert.finetune", "topic_task", finetune.topic_task,
      documents=Custom(docs, {"bare string": SENTENCES[0], "list of strings": SENTENCES[:2], "numbers": [[1, 2]]}),
      modules=StrList(["string", "os"]), tok=Obj(Lazy(tok)), max_length=Int(16, lo=3))
    E("bert.finetune", "as_inputs", finetune.as_inputs, data=Obj(Lazy(pairs)))
    E("bert.finetune", "shuffle_words", finetune.shuffle_words, sentence=Str("the cat sat on the mat"),
      rng=Obj(Lazy(np.random.default_rng)))
    E("bert.finetune", "fine_tune", finetune.fine_tune, init=Obj(Lazy(bert)), train=Obj(Lazy(pairs)),
      n_classes=Int(2, lo=2), lr=PosF(1e-3), epochs=Pos(1), batch_size=Pos(2, none=True),  # None: fit's full batch
      seed=Seed(), show_progress=Fixed(False))
    E("bert.finetune", "compare_inits", finetune.compare_inits,
      arms=Custom(Lazy(lambda: {"pretrained": bert()}), {"not a mapping": lambda v: list(v.items()), "empty": {},
                                                          "a name not a string": Lazy(lambda: {3: bert()})}),
      train=Obj(Lazy(pairs)), val=Obj(Lazy(pairs)), test=Obj(Lazy(pairs)), n_classes=Int(2, lo=2),
      lrs=Custom([1e-3], {"a bare rate": 1e-3, "empty": [], "a negative rate": [-1e-3], "NaN": [NAN], "a string": "1e-3"}),
      epochs=Pos(1), batch_size=Pos(2, none=True), seed=Seed(), log=Obj(None, none=True), show_progress=Fixed(False))

    # bert.ablation, on a tiny recipe (tests/test_bert_pretrain_variants.py's TINY): seconds, not the chapter's minutes
    tiny = {"vocab_size": 300, "pairs": 200, "held_pairs": 64, "max_length": 32, "hidden": 16, "layers": 1, "heads": 2,
            "intermediate": 32, "steps": 6, "batch_size": 8, "warmup": 2, "finetune_lrs": [1e-3], "finetune_epochs": 1,
            "early_step": 3}
    recipe = Custom(tiny, {"not a mapping": list(tiny.items()), "an unknown key": {**tiny, "epochs": 3},
                           "a size of zero": {**tiny, "pairs": 0}}, none=True)  # None: the chapter's (large) recipe
    E("bert.ablation", "recipe_data", ablation.recipe_data, seed=Seed(), recipe=recipe)
    E("bert.ablation", "pretrain_variant", ablation.pretrain_variant,
      variant=Choice("bert", ["bert", "static", "no_nsp", "all_mask"], extra={"not pretrained": "scratch"}),
      seed=Seed(), recipe=recipe, stop_after=Pos(1, none=True))
    E("bert.ablation", "train_row", ablation.train_row, _slow=True, variant=Choice("scratch", list(ablation.VARIANTS)),
      seed=Seed(), recipe=recipe)
    E("bert.ablation", "build_table", ablation.build_table, _slow=True, out=PathK(TMP / "ablation.csv"),
      seeds=IntSeq([0], lo=0, extra={"repeated": [0, 0]}),
      # None: every variant. Known gap (issue #30), left out: an empty list writes an empty table.
      variants=StrList(["scratch"], extra={"an unknown variant": ["albert"], "repeated": ["scratch", "scratch"]},
                       none=True, nonempty=False),
      shard=Custom((0, 1), {"not i/n": "first", "i out of range": (1, 1), "n zero": (0, 0), "fractional": (0.5, 1),
                            "a bare int": 3, "three numbers": (0, 1, 2)}),
      workers=Pos(1), recipe=recipe, log=Obj(lambda s: None))
    E("bert.ablation", "read_table", ablation.read_table, path=PathK(Lazy(lambda: ablation_parts()[0]), none=True,
                                                                      extra={"not a table": not_a_table()}))
    E("bert.ablation", "merge_tables", ablation.merge_tables, out=PathK(TMP / "merged_ablation.csv"),
      parts=Custom(Lazy(ablation_parts), {"a bare path": lambda v: v[0], "empty": [], "numbers": [1, 2],
                                          "the same part twice": lambda v: [v[0], v[0]],
                                          "not a table": lambda v: [not_a_table()]}))

    # --- compression (others' modules) ------------------------------------------------------------------------
    model = Obj(Lazy(tiny_mlp))
    E("compress.deploy", "torch_dynamic_int8", deploy.torch_dynamic_int8, model=model)
    E("compress.deploy", "torch_static_int8", deploy.torch_static_int8, model=model, _slow=True,
      calibration=Floats(arr(8, 4, dtype=np.float32), nd=(2,), sz=(-1,)), batch_size=Pos(4))
    E("compress.deploy", "export_onnx", deploy.export_onnx, model=model, path=PathK(TMP / "export.onnx"),
      n_features=Pos(4), _slow=True)
    E("compress.deploy", "OnnxModel", deploy.OnnxModel, path=PathK(Lazy(onnx_file)), threads=Pos(1))
    E("compress.deploy", "OnnxModel.__call__", lambda X: deploy.OnnxModel(onnx_file())(X),
      X=Floats(arr(3, 4, dtype=np.float32), nd=(2,), sz=(-1,)))
    E("compress.deploy", "onnx_dynamic_int8", deploy.onnx_dynamic_int8, src=PathK(Lazy(onnx_file)),
      dst=PathK(TMP / "q8.onnx"))
    def keras_tiny() -> Any:
        import keras

        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])

    E("compress.deploy", "tflite_convert", deploy.tflite_convert, _tf=True, _slow=True, keras_model=Obj(Lazy(keras_tiny)),
      representative=Floats(arr(8, 4, dtype=np.float32), nd=(2,), sz=(-1,), none=True), batch_size=Pos(4))
    E("compress.deploy", "TFLiteModel", deploy.TFLiteModel, _tf=True,
      flatbuffer=Custom(Lazy(tflite_bytes), {"string": "model", "number": 3, "empty": b""}), threads=Pos(1))
    E("compress.deploy", "TFLiteModel.__call__", lambda X: deploy.TFLiteModel(tflite_bytes())(X), _tf=True,
      X=Floats(arr(3, 4, dtype=np.float32), nd=(2,), sz=(-1,)))
    E("compress.deploy", "file_bytes", deploy.file_bytes, path=PathK(Lazy(onnx_file)))
    E("compress.distill", "distillation_loss", distill.distillation_loss,
      student_logits=Floats(tarr(4, 3), nd=(2,), sz=(-1,), fin=False),
      teacher_logits=Floats(tarr(4, 3, seed=1), nd=(2,), sz=(-1,), fin=False),
      labels=Ints(np.array([0, 1, 2, 1]), nd=(1,), sz=(0,), lo=None, hi=2, none=True), T=PosF(4.0), alpha=Prob(0.9))
    E("compress.distill", "Distiller", distill.Distiller, student=model, teacher=model, T=PosF(4.0), alpha=Prob(0.9))
    E("compress.lowrank", "truncated_svd", lowrank.truncated_svd, W=Floats(arr(5, 4), nd=(2,)), rank=Int(2, lo=1, hi=4))
    E("compress.lowrank", "low_rank_linear", lowrank.low_rank_linear, layer=Obj(Lazy(lambda: nn.Linear(4, 5))),
      rank=Int(2, lo=1, hi=4))
    E("compress.lowrank", "factorize_mlp", lowrank.factorize_mlp, model=model, rank=Pos(2))
    E("compress.lowrank", "break_even_rank", lowrank.break_even_rank, n_out=Pos(5), n_in=Pos(4))
    E("compress.measure", "sparse_state_dict", measure.sparse_state_dict, model=model, layout=Choice("csr", ["csr", "coo"]))
    E("compress.measure", "csr_bytes", measure.csr_bytes, rows=Int(4, lo=0), nnz=Int(3, lo=0), value_bytes=Pos(4),
      index_bytes=Pos(4))  # a matrix with no rows is still a matrix
    E("compress.measure", "bitmask_bytes", measure.bitmask_bytes, rows=Int(4, lo=0), cols=Int(5, lo=0), nnz=Int(3, lo=0, hi=20),
      value_bytes=Pos(4))
    E("compress.measure", "dense_state_dict", measure.dense_state_dict,
      sparse=Mapping(Lazy(lambda: measure.sparse_state_dict(tiny_mlp()))))
    timing = functools.lru_cache(None)(lambda: measure.latency(lambda: None, repeats=3, warmup=0))
    E("compress.measure", "speedup", measure.speedup, slow=Obj(Lazy(timing)), fast=Obj(Lazy(timing)))
    E("compress.measure", "latency", measure.latency, fn=Obj(lambda: None), repeats=Pos(2), warmup=Int(0, lo=0),
      threads=Pos(1, none=True))
    weights = lambda: Lazy(lambda: [w.detach().clone() for w in prune.prunable(tiny_mlp())])  # noqa: E731
    E("compress.prune", "prunable", prune.prunable, model=model)
    sparsity = Float(0.5, lo=0.0, hi=1.0, hi_open=True)
    E("compress.prune", "magnitude_masks", prune.magnitude_masks, weights=ObjList(weights()), sparsity=sparsity,
      scope=Choice("global", ["global", "layer"]))
    E("compress.prune", "random_masks", prune.random_masks, weights=ObjList(weights()), sparsity=sparsity,
      generator=Obj(Lazy(lambda: torch.Generator().manual_seed(0)), none=True))
    E("compress.prune", "apply_masks", prune.apply_masks, model=model,
      masks=ObjList(Lazy(lambda: prune.magnitude_masks(prune.prunable(tiny_mlp()), 0.5))))
    for f in (prune.remove_masks, prune.unit_norms):
        E("compress.prune", f.__name__, f, model=model)
    E("compress.prune", "sparsity", prune.sparsity, model_or_weights=model)
    E("compress.prune", "shrink_mlp", prune.shrink_mlp, model=model, sparsity=sparsity)
    bits = Int(8, lo=2, hi=8)
    E("compress.quantize", "int_range", quantize.int_range, bits=bits, symmetric=Fixed(False))
    E("compress.quantize", "choose_qparams", quantize.choose_qparams, x=Floats(arr(3, 4)), bits=bits,
      axis=Axis(0, 2, none=True))
    qp = quantize.choose_qparams(arr(3, 4), bits=8)
    E("compress.quantize", "quantize", quantize.quantize, x=Floats(arr(3, 4), empty=True), qp=Obj(qp))
    E("compress.quantize", "dequantize", quantize.dequantize, q=Ints(quantize.quantize(arr(3, 4), qp), lo=None, empty=True),
      qp=Obj(qp))
    E("compress.quantize", "fake_quantize", quantize.fake_quantize, x=Floats(tarr(3, 4)), bits=bits,
      axis=Axis(0, 2, none=True))
    E("compress.quantize", "quantize_weights", quantize.quantize_weights, model=model, bits=bits)
    E("compress.quantize", "binarize", quantize.binarize, w=Floats(arr(3, 4)))
    E("compress.quantize", "ternarize", quantize.ternarize, w=Floats(arr(3, 4)), delta_factor=Float(0.7, lo=0.0))

    # --- compression: calibration, channels, N:M, group-wise, LLM.int8(), lottery, precision, QAT, features -----
    from troikadl.compress import observers as cobs
    from troikadl.compress import calibrate as ccal, channels as cch, groupwise as cgw, llm_int8 as c8, lottery as clot
    from troikadl.compress import nm as cnm, precision as cprec, qat as cqat

    samples = Floats(arr(60))  # calibration samples: any shape, flattened
    q_pct = Float(99.0, lo=50.0, hi=100.0, lo_open=True)
    E("compress.calibrate", "minmax_range", ccal.minmax_range, x=samples)
    E("compress.calibrate", "percentile_range", ccal.percentile_range, x=samples, q=q_pct, symmetric=Fixed(False))
    E("compress.calibrate", "mse_range", ccal.mse_range, x=samples, bits=bits, symmetric=Fixed(False), grid=Pos(10))
    E("compress.calibrate", "entropy_range", ccal.entropy_range, x=samples, bits=Int(4, lo=2, hi=8),
      bins=Int(64, lo=8))  # 4-bit signed data: 8 levels, so at least 8 bins
    E("compress.calibrate", "qparams_from_range", ccal.qparams_from_range,
      lo=Float(-1.0, extra={"above hi": 3.0}), hi=Float(2.0), bits=bits, symmetric=Fixed(False), dtype=Dtype())
    E("compress.calibrate", "calibrate", ccal.calibrate, x=samples, method=Choice("mse", list(ccal.METHODS)), bits=bits,
      symmetric=Fixed(False), q=q_pct, grid=Pos(10), bins=Pos(2048))  # every option checked, whichever method
    qp_channel = quantize.choose_qparams(arr(3, 4), bits=8, axis=0)
    E("compress.calibrate", "quant_error", ccal.quant_error, x=samples, qp=Obj(qp, extra={"per channel": qp_channel}))
    E("compress.observers", "prepare_static", cobs.prepare_static, model=model, _slow=True,
      calibration=Floats(arr(8, 4, dtype=np.float32), nd=(2,), sz=(-1,)), batch_size=Pos(4))
    prepared = functools.lru_cache(None)(lambda: cobs.prepare_static(tiny_mlp(), arr(8, 4, dtype=np.float32)))
    E("compress.observers", "observers", cobs.observers, model=Obj(Lazy(prepared), extra={"a float model": tiny_mlp()}))

    cnn_model = Obj(Lazy(lambda: (torch.manual_seed(0), tk.cnn.lenet(channels=(4, 6), hidden=8))[1]),
                    extra={"an MLP (no Conv2d)": tiny_mlp()})
    fraction = Float(0.5, lo=0.0, hi=1.0, hi_open=True)
    criterion = Choice("l1", list(cch.CRITERIA))
    E("compress.channels", "channel_norms", cch.channel_norms, model=cnn_model, criterion=criterion)
    E("compress.channels", "channel_masks", cch.channel_masks, model=cnn_model, fraction=fraction, criterion=criterion)
    cnn_masks = lambda: cch.channel_masks(tk.cnn.lenet(channels=(4, 6), hidden=8), 0.5)  # noqa: E731
    channel_mask_bad = {"not a list": "masks", "one mask too few": Lazy(lambda: cnn_masks()[:1]),
                        "float masks": Lazy(lambda: [m.float() for m in cnn_masks()]),
                        "wrong length": Lazy(lambda: [torch.ones(5, dtype=torch.bool), cnn_masks()[1]]),
                        "removing every channel": Lazy(lambda: [torch.zeros_like(m) for m in cnn_masks()])}
    for f in (cch.mask_channels, cch.prune_channels):
        E("compress.channels", f.__name__, f, model=cnn_model, fraction=fraction, criterion=criterion,
          masks=Custom(None, channel_mask_bad, none=True))
    E("compress.channels", "macs", cch.macs, model=Obj(Lazy(lambda: tk.cnn.lenet(channels=(4, 6), hidden=8))),
      input_shape=IntSeq((1, 8, 8), length=3, extra={"wrong channels": (3, 8, 8)}))

    nm_weights = Lazy(lambda: [w.detach().clone() for w in prune.prunable(tiny_mlp((8, 8, 4)))])
    E("compress.nm", "nm_masks", cnm.nm_masks, n=Int(2, lo=0, hi=4), m=Pos(4, extra={"not dividing the inputs": 3}),
      weights=ObjList(nm_weights, extra={"a vector": [torch.ones(8)], "6 inputs": [torch.ones(2, 6)]}))
    E("compress.nm", "is_nm_sparse", cnm.is_nm_sparse, weight=Floats(tarr(4, 8), sz=(-1,)),  # 2-D or a conv weight
      n=Int(2, lo=0, hi=4), m=Pos(4))
    E("compress.nm", "nm_compressed_bytes", cnm.nm_compressed_bytes, rows=Pos(4),
      cols=Pos(8, extra={"not divisible by m": 6}), n=Int(2, lo=0, hi=4), m=Pos(4), value_bytes=Pos(2))

    group = Pos(4, none=True)
    E("compress.groupwise", "group_quantize", cgw.group_quantize, W=Floats(arr(4, 8), nd=(2,)), bits=bits,
      group_size=group, symmetric=Fixed(True))
    E("compress.groupwise", "group_dequantize", cgw.group_dequantize, gq=Obj(cgw.group_quantize(arr(4, 8), 4, 4)))
    E("compress.groupwise", "group_fake_quantize", cgw.group_fake_quantize, W=Floats(tarr(4, 8), nd=(2,)), bits=bits,
      group_size=Pos(4, none=True, extra={"not dividing the columns": 3}), symmetric=Fixed(False))
    storage = dict(bits=Int(4, lo=1, hi=32), group_size=Pos(4), scale_bytes=Int(2, lo=0), zero_point_bits=Int(0, lo=0))
    E("compress.groupwise", "bits_per_weight", cgw.bits_per_weight, **storage)
    E("compress.groupwise", "packed_bytes", cgw.packed_bytes, rows=Pos(4),
      cols=Pos(8, extra={"not divisible by group_size": 6}), **storage)
    E("compress.groupwise", "quantize_linears_groupwise", cgw.quantize_linears_groupwise,
      model=Obj(Lazy(lambda: tiny_mlp((8, 8, 4)))), bits=bits,
      group_size=Pos(4, none=True, extra={"not dividing a layer's inputs": 3}), symmetric=Fixed(True))

    threshold = Custom(6.0, {"NaN": NAN, "minus infinity": -INF, "negative": -0.5, "string": "6", "bool": True,
                             "complex": 6 + 1j, "list": [6.0]})  # +inf is documented: int8 throughout
    X8 = Floats(tarr(3, 4), nd=(2,), sz=(1,), empty=True)  # an empty batch of tokens gives an empty product
    W8 = Floats(tarr(4, 5, seed=1), nd=(2,), sz=(0,))
    E("compress.llm_int8", "absmax_int8", c8.absmax_int8, v=Floats(tarr(3, 4), empty=True),
      dim=Axis(None, 2, none=True))
    E("compress.llm_int8", "int8_matmul", c8.int8_matmul, X=X8, W=W8, per=Choice("vector", ["tensor", "vector"]))
    E("compress.llm_int8", "outlier_dims", c8.outlier_dims, X=Floats(tarr(3, 4), nd=(2,), empty=True),
      threshold=threshold)
    for f in (c8.llm_int8_parts, c8.llm_int8_matmul):
        E("compress.llm_int8", f.__name__, f, X=X8, W=W8, threshold=threshold)
    modes = Choice("llm_int8", list(c8.MODES))
    E("compress.llm_int8", "Int8Linear", c8.Int8Linear, mode=modes, threshold=threshold,
      linear=Obj(Lazy(lambda: nn.Linear(4, 3)), extra={"a Conv2d": nn.Conv2d(1, 1, 1)}))
    E("compress.llm_int8", "Int8Linear.forward", lambda x: c8.Int8Linear(nn.Linear(4, 3))(x),
      x=Floats(tarr(5, 4), sz=(-1,), empty=True, fin=False))  # (..., in_features), as nn.Linear
    E("compress.llm_int8", "replace_linears", c8.replace_linears, model=model, mode=modes, threshold=threshold)
    E("compress.llm_int8", "activation_absmax", lambda model: c8.activation_absmax(model, tarr(2, 4)),
      model=Obj(Lazy(tiny_mlp), extra={"no Linear": nn.ReLU()}))
    from troikadl.transformer import gpt as tgpt8

    gpt8 = tgpt8.GPTConfig(10, 6, d_model=8, heads=2, layers=1, d_ff=16)
    E("compress.llm_int8", "plant_outliers", c8.plant_outliers, alpha=PosF(40.0),
      gpt=Obj(Lazy(lambda: tgpt8.GPT(gpt8)), extra={"post-norm": tgpt8.GPT(tgpt8.GPTConfig(
          10, 6, d_model=8, heads=2, layers=1, d_ff=16, norm_first=False)), "an MLP": tiny_mlp()}),
      channels=IntSeq([1, 5], lo=0, hi=7, extra={"empty": [], "repeated": [1, 1]}))

    rate = Float(0.2, lo=0.0, hi=1.0, hi_open=True)
    all_kept = lambda: [torch.ones_like(w, dtype=torch.bool) for w in prune.prunable(tiny_mlp())]  # noqa: E731
    lottery_masks = Custom(Lazy(all_kept), {"not a list": "masks", "one mask too few": Lazy(lambda: all_kept()[:1]),
                                            "float masks": Lazy(lambda: [m.float() for m in all_kept()]),
                                            "wrong shape": Lazy(lambda: [m.T for m in all_kept()])})
    E("compress.lottery", "prune_round", clot.prune_round, weights=ObjList(weights()), masks=lottery_masks, rate=rate)
    E("compress.lottery", "rate_for", clot.rate_for, final_sparsity=Float(0.9, lo=0.0, hi=1.0, hi_open=True),
      rounds=Pos(3))
    E("compress.lottery", "sparsity_after", clot.sparsity_after, rate=rate, rounds=Int(3, lo=0))
    E("compress.lottery", "rewind", clot.rewind, model=model, masks=lottery_masks,
      state=Mapping(Lazy(lambda: tiny_mlp().state_dict()),
                    extra={"another model's": tiny_mlp((4, 5, 3)).state_dict(), "unknown keys": {"w": torch.zeros(1)}}))
    small = {"sizes": [64, 4, 10], "epochs": 1, "rounds": 1, "late_epochs": 1}
    lottery_settings = Custom(small, {"not a mapping": "fast", "an unknown key": {"epoch": 1},
                                      "bad value": {"epochs": 0}}, none=True, expect={"bad value": "epochs"})
    E("compress.lottery", "run_seed", clot.run_seed, _slow=True, seed=Seed(), settings=lottery_settings,
      arms=StrList(["dense"], extra={"an unknown arm": ["lottery"], "imp_reinit alone": ["imp_reinit"]}),
      trace=Obj(None, none=True))
    E("compress.lottery", "build_table", clot.build_table, _slow=True, out=PathK(TMP / "lottery.csv"),
      seeds=IntSeq([0], lo=0, extra={"repeated": [0, 0]}), workers=Pos(1), settings=lottery_settings,
      log=Obj(lambda s: None))
    E("compress.lottery", "load_table", clot.load_table, with_settings=Fixed(False),
      path=PathK(None, none=True, extra={"not a table": not_a_table()}))

    E("compress.precision", "FloatFormat", cprec.FloatFormat, name=Str("e3m4"), exponent_bits=Int(3, lo=2, hi=11),
      mantissa_bits=Int(4, lo=0, hi=52), ieee=Fixed(True))  # round_to computes in float64: at most e11m52
    formats = {"an unknown name": "float12", "a number": 3, "an integer dtype": torch.int32}
    E("compress.precision", "format_info", cprec.format_info, dtype=Custom("float16", formats))
    E("compress.precision", "Autocast", cprec.Autocast, model=Obj(Lazy(tiny_mlp)),
      dtype=Custom(torch.bfloat16, {"float32": torch.float32, "a string": "bfloat16", "int8": torch.int8}, none=True))
    E("compress.precision", "round_to", cprec.round_to, x=Floats(arr(3, 4), empty=True, fin=False),
      fmt=Custom("bfloat16", formats))
    E("compress.precision", "LossScaler", cprec.LossScaler, init_scale=PosF(65536.0),
      growth_factor=Float(2.0, lo=1.0, lo_open=True),
      backoff_factor=Float(0.5, lo=0.0, hi=1.0, lo_open=True, hi_open=True),
      growth_interval=Pos(2000))
    E("compress.precision", "LossScaler.scale", lambda loss: cprec.LossScaler().scale(loss),
      loss=Obj(Lazy(lambda: torch.tensor(1.5))))
    sgd = Lazy(lambda: torch.optim.SGD(tiny_mlp().parameters(), lr=0.1))
    for m in ("unscale_", "step"):
        E("compress.precision", f"LossScaler.{m}", lambda optimizer, m=m: getattr(cprec.LossScaler(), m)(optimizer),
          optimizer=Obj(sgd, extra={"a model": tiny_mlp()}))

    E("compress.qat", "fake_quantize_affine", cqat.fake_quantize_affine, x=Floats(tarr(3, 4), empty=True, fin=False),
      scale=PosF(0.05, extra={"two numbers": [0.05, 0.1]}), zero_point=Int(3, lo=0, hi=255), qmin=Int(0),
      qmax=Int(255, extra={"below qmin": -1}))
    abits = Int(8, lo=2, hi=8)
    E("compress.qat", "ActFakeQuant", cqat.ActFakeQuant, bits=abits,
      averaging_constant=Float(0.01, lo=0.0, hi=1.0, lo_open=True))
    E("compress.qat", "ActFakeQuant.forward", lambda x: cqat.ActFakeQuant()(x), x=Floats(tarr(3, 4), empty=True))
    E("compress.qat", "quantize_model", cqat.quantize_model, w_bits=Int(8, lo=2, hi=8, none=True),
      a_bits=Int(8, lo=2, hi=8, none=True), model=Obj(Lazy(tiny_mlp), extra={"not a Sequential": nn.Linear(4, 3)}))
    qmodel = Lazy(lambda: cqat.quantize_model(tiny_mlp(), 8, 8))
    E("compress.qat", "calibrate", cqat.calibrate, model=Obj(qmodel, extra={"no quantizers": tiny_mlp()}),
      X=Floats(arr(5, 4), sz=(-1,)))  # any shape the model takes (an MLP may flatten images)
    E("compress.qat", "act_quantizers", cqat.act_quantizers, model=Obj(qmodel))

    feats = dict(student_features=Floats(tarr(4, 3), nd=(2,), sz=(-1,)),
                 teacher_features=Floats(tarr(4, 3, seed=1), nd=(2,), sz=(-1,)))
    E("compress.distill", "feature_loss", distill.feature_loss, kind=Choice("mse", list(distill.FEATURE_LOSSES)),
      **feats)
    student, teacher = Obj(Lazy(lambda: tiny_mlp((4, 6, 3)))), Obj(Lazy(lambda: tiny_mlp((4, 8, 3))))
    E("compress.distill", "FeatureDistiller", distill.FeatureDistiller, student=student, teacher=teacher,
      student_layer=Int(-2, lo=-3, hi=2), teacher_layer=Int(-2, lo=-3, hi=2), beta=Float(1.0, lo=0.0),
      regressor=Custom("auto", {"an unknown name": "conv", "a number": 3}, none=True,
                       extra={"None with unequal widths": None}, expect={"None with unequal widths": "regressor"}),
      kind=Choice("mse", list(distill.FEATURE_LOSSES)), T=PosF(4.0), alpha=Prob(0.9))
    fdist = lambda: distill.FeatureDistiller(tiny_mlp((4, 6, 3)), tiny_mlp((4, 8, 3)))  # noqa: E731
    # the input's shape is checked by the wrapped networks' own layers, as in torch (RuntimeError)
    E("compress.distill", "FeatureDistiller.forward", lambda x: fdist()(x), x=Floats(tarr(5, 4), empty=True, fin=False))

    def fd_out() -> tuple[Any, Any]:
        d = fdist()
        return d, d(tarr(5, 4))

    E("compress.distill", "FeatureDistiller.split", lambda out: fd_out()[0].split(out),
      out=Floats(Lazy(lambda: fd_out()[1].detach()), nd=(2,), sz=(1,), fin=False, empty=True))
    fd_labels = Lab(torch.tensor([0, 1, 2, 1, 0]), 3, lo=None, none=True)  # None: no hard term
    fd_labels.expect = {label: "labels" for label in fd_labels.labels()}  # y is distillation_loss's labels
    E("compress.distill", "FeatureDistiller.loss", lambda out, y: fd_out()[0].loss(out, y), y=fd_labels,
      out=Floats(Lazy(lambda: fd_out()[1].detach()), nd=(2,), sz=(1,), fin=False, expect={"empty": "labels"}))

    # --- NAS and fusion (others' modules) ------------------------------------------------------------------------
    options = {"depth": [1, 2], "act": ["relu", "tanh"]}
    E("nas.space", "SearchSpace", space.SearchSpace,
      options=Custom(options, {"not a mapping": list(options.items()), "bare string values": {"act": "relu"},
                               "too few values": {"depth": [1]}, "empty": {}}))
    sspace, a0 = space.SearchSpace(options), {"depth": 1, "act": "relu"}
    for m in ("check", "index", "neighbours"):
        E("nas.space", f"SearchSpace.{m}", getattr(sspace, m), arch=Arch(a0))
    E("nas.space", "SearchSpace.sample", sspace.sample, rng=Obj(Lazy(np.random.default_rng)))
    E("nas.space", "SearchSpace.mutate", sspace.mutate, arch=Arch(a0), rng=Obj(Lazy(np.random.default_rng)))
    arch0 = benchmark.SPACE[0]
    E("nas.networks", "build_cnn", networks.build_cnn, arch=Arch(arch0), in_channels=Pos(1), n_classes=Pos(10),
      side=Int(8, lo=2))
    E("nas.networks", "arch_parameters", networks.arch_parameters, arch=Arch(arch0))
    E("nas.networks", "arch_flops", networks.arch_flops, arch=Arch(arch0))
    cnn0 = Obj(Lazy(lambda: networks.build_cnn(arch0)))
    image = Obj(Lazy(lambda: torch.zeros(1, 1, 8, 8)))
    E("nas.networks", "latency_ms", networks.latency_ms, model=cnn0, x=image, number=Pos(2), repeats=Pos(2),
      warmup=Int(1, lo=0))
    E("nas.networks", "measure_latencies", networks.measure_latencies, x=image, number=Pos(1), repeats=Pos(1),
      jobs=Custom([(0, 0), (1, 0)], {"a bare pair": (0, 0), "not pairs": [0, 1], "a triple": [(0, 0, 0)],
                                     "an index out of range": [(144, 0)], "a negative seed": [(0, -1)],
                                     "a fractional index": [(0.5, 0)], "empty": []}),
      log=Obj(None, none=True))
    E("nas.benchmark", "train_architecture", benchmark.train_architecture, arch=Arch(arch0), seed=Seed(),
      data=Obj(Lazy(nas_data), none=True),
      settings=Custom({"epochs": 1}, {"not a mapping": "fast", "bad value": {"epochs": 0}}, none=True,
                      expect={"bad value": "epochs"}))
    E("nas.benchmark", "build_table", benchmark.build_table, out=PathK(TMP / "table.csv"), seeds=IntSeq([0], lo=0),
      indices=IntSeq([0], lo=0, hi=143, none=True), workers=Pos(1), log=Obj(lambda s: None), _slow=True)
    E("nas.benchmark", "Table.load", benchmark.Table.load, path=PathK(None, none=True))
    E("nas.benchmark", "Table.row", lambda arch: table().row(arch), arch=Arch(arch0))
    E("nas.benchmark", "Table.objective", lambda rng, epochs: table().objective(rng=rng, epochs=epochs),
      rng=Obj(Lazy(np.random.default_rng)), epochs=Int(3, lo=1, hi=12, none=True))
    objective = Obj(Lazy(lambda: table().objective(rng=np.random.default_rng(0))))
    rng = Obj(Lazy(np.random.default_rng))
    E("nas.search", "random_search", search.random_search, space=Obj(benchmark.SPACE), objective=objective,
      budget=Pos(3), rng=rng)
    E("nas.search", "regularized_evolution", search.regularized_evolution, space=Obj(benchmark.SPACE),
      objective=objective, budget=Pos(4), rng=rng, population=Pos(3), sample_size=Pos(2))
    E("nas.search", "tpe_search", search.tpe_search, space=Obj(benchmark.SPACE), objective=objective, budget=Pos(2),
      rng=rng, n_startup_trials=Pos(1))
    E("nas.search", "simulate", search.simulate, strategy=Obj(search.random_search), table=Obj(Lazy(table)),
      budget=Pos(3), n_searches=Pos(2), seed=Seed())
    sim = functools.lru_cache(None)(lambda: search.simulate(search.random_search, table(), budget=3, n_searches=2))
    E("nas.search", "Simulation.mean_and_band", lambda level: sim().mean_and_band(level),
      level=Float(0.95, lo=0.0, hi=1.0, lo_open=True, hi_open=True))
    E("nas.analysis", "pareto_front", analysis.pareto_front, cost=Floats(arr(5), nd=(1,), sz=(0,)),
      score=Floats(arr(5, seed=1), nd=(1,), sz=(0,)))
    E("nas.analysis", "mean_difference", analysis.mean_difference, x=Floats(arr(5), nd=(1,), sz=(0,)),
      y=Floats(arr(5, seed=1), nd=(1,), sz=(0,)), level=Float(0.95, lo=0.0, hi=1.0, lo_open=True, hi_open=True))
    E("nas.analysis", "selection_bias_interval", analysis.selection_bias_interval,
      select_on=Floats(arr(5), nd=(1,), sz=(0,)), report=Floats(arr(5, seed=1), nd=(1,), sz=(0,)),
      fresh=Floats(arr(5, seed=2), nd=(1,), sz=(0,)), n_candidates=Int(2, lo=1, hi=5), n_draws=Pos(10),
      level=Float(0.95, lo=0.0, hi=1.0, lo_open=True, hi_open=True), rng=rng)
    E("nas.analysis", "selection_bias", analysis.selection_bias, select_on=Floats(arr(5), nd=(1,), sz=(0,)),
      report=Floats(arr(5, seed=1), nd=(1,), sz=(0,)), fresh=Floats(arr(5, seed=2), nd=(1,), sz=(0,)),
      n_candidates=Int(2, lo=1, hi=5), n_draws=Pos(10), rng=rng)
    small = space.SearchSpace({"depth": [1, 2], "width": [4, 8], "kernel": [1, 3], "activation": ["relu", "tanh"],
                               "skip": [False, True]})  # 32 architectures of the benchmark's space
    E("nas.proxies", "synflow", proxies.synflow, model=cnn0, input_shape=IntSeq((1, 8, 8), extra={"too small": (1, 1, 1)}))
    E("nas.proxies", "grad_norm", proxies.grad_norm, model=cnn0, X=Floats(arr(4, 1, 8, 8), nd=(4,), sz=(0, 1)),
      y=Lab(np.array([0, 1, 2, 3]), 10))
    E("nas.proxies", "naswot", proxies.naswot, model=cnn0, X=Floats(arr(4, 1, 8, 8), nd=(4,), sz=(1,)))
    E("nas.proxies", "proxy_scores", proxies.proxy_scores, space=Obj(small, extra={"a space beyond the benchmark's":
                                                                                 space.SearchSpace(options)}),
      data=Obj(Lazy(nas_data)), seed=Seed(), batch_size=Int(4, lo=1, hi=12),
      proxies=StrList(["naswot"], extra={"an unknown proxy": ["params"], "repeated": ["naswot", "naswot"]}))
    E("nas.proxies", "rank_correlation", proxies.rank_correlation, x=Floats(arr(10), nd=(1,), sz=(0,)),
      y=Floats(arr(10, seed=1), nd=(1,), sz=(0,)), method=Choice("spearman", ["spearman", "kendall"]),
      n_boot=Int(20, lo=2), seed=Seed(), level=Float(0.95, lo=0.0, hi=1.0, lo_open=True, hi_open=True))
    objective_at = Obj(lambda arch, epochs: 0.5)
    E("nas.multifidelity", "rung_epochs", mf.rung_epochs, eta=Int(3, lo=2), min_epochs=Pos(1), max_epochs=Pos(12))
    E("nas.multifidelity", "successive_halving", mf.successive_halving, candidates=Obj(benchmark.SPACE),
      objective_at=objective_at, n=Int(3, lo=1, hi=benchmark.SPACE.size), eta=Int(3, lo=2), min_epochs=Pos(1),
      max_epochs=Pos(12), rng=rng)
    E("nas.multifidelity", "hyperband", mf.hyperband, space=Obj(benchmark.SPACE), objective_at=objective_at,
      eta=Int(3, lo=2), min_epochs=Pos(1), max_epochs=Pos(12), rng=rng)
    E("nas.multifidelity", "curve_objective", mf.curve_objective, table=Obj(Lazy(table)), rng=rng)
    E("nas.multifidelity", "compare_with_random_search", mf.compare_with_random_search,
      strategy=Obj(mf.successive_halving), table=Obj(Lazy(table)), n_searches=Pos(2), seed=Seed(), n=Pos(3))
    fidelity = functools.lru_cache(None)(lambda: mf.compare_with_random_search(mf.successive_halving, table(),
                                                                                n_searches=3, n=3))
    E("nas.multifidelity", "FidelityComparison.difference", lambda level: fidelity().difference(level),
      level=Float(0.95, lo=0.0, hi=1.0, lo_open=True, hi_open=True))
    relu0 = oneshot.ARCHS[0]
    supernet = functools.lru_cache(None)(lambda: (torch.manual_seed(0), oneshot.OneShotSupernet())[1])
    E("nas.oneshot", "OneShotSupernet", oneshot.OneShotSupernet, in_channels=Pos(1), n_classes=Int(10, lo=2),
      side=Int(8, lo=2))
    E("nas.oneshot", "OneShotSupernet.extract", lambda arch: supernet().extract(arch),
      arch=Arch(relu0, extra={"a tanh architecture": {**relu0, "activation": "tanh"}}))
    # forward refuses non-floating images (TypeError, tested in test_nas_oneshot); like torch's own modules it lets
    # NaN through (a check would cost a device sync per step). inherited_accuracy names y for a length mismatch.
    E("nas.oneshot", "OneShotSupernet.forward", lambda x, arch: supernet()(x, arch),
      x=Custom(tarr(4, 1, 8, 8), {"wrong ndim": lambda v: v[0], "wrong ndim (5-D)": lambda v: v[None],
                                  "wrong size (channels)": lambda v: _resize(v, 1, True),
                                  "wrong size (side)": lambda v: _resize(v, 2, False),
                                  "strings": lambda v: _np(v).astype(str), "objects": lambda v: _put(v, 0, None, object)}),
      arch=Arch(relu0))
    E("nas.oneshot", "inherited_accuracy", oneshot.inherited_accuracy, model=Obj(Lazy(supernet)),
      X=Floats(arr(4, 1, 8, 8), nd=(4,), sz=(1, 2)), y=Lab(np.array([0, 1, 2, 3]), 10), batch_size=Pos(4096))
    E("nas.oneshot", "train_supernet", oneshot.train_supernet, data=Obj(Lazy(nas_data), none=True), epochs=Pos(1),
      batch_size=Pos(4), lr=PosF(3e-3), seed=Seed())
    ops = StrList(["conv 3x3", "skip"])
    E("nas.darts", "Supernet", darts.Supernet, channels=Pos(2), edges=Pos(1), ops=ops, n_classes=Pos(10),
      side=Int(8, lo=2))
    E("nas.darts", "darts_search", darts.darts_search, data=Obj(Lazy(nas_data)), steps=Pos(1), batch_size=Pos(4),
      w_lr=PosF(3e-3), alpha_lr=PosF(3e-3), channels=Pos(2), edges=Pos(1), ops=ops, seed=Seed())
    derived = {"an unknown operation": ["conv 9x9"], "zero (a cut edge)": ["zero", "skip"]}
    E("nas.darts", "derived_network", darts.derived_network, derived=StrList(["conv 3x3", "skip"], extra=derived),
      channels=Pos(2), n_classes=Int(10, lo=2), side=Int(8, lo=2))
    E("nas.darts", "retrain_derived", darts.retrain_derived, derived=StrList(["skip"], extra=derived), seed=Seed(),
      channels=Pos(2), data=Obj(Lazy(nas_data), none=True),
      settings=Custom({"epochs": 1}, {"not a mapping": "fast", "bad value": {"epochs": 0}, "an unknown key": {"epoch": 1}},
                      none=True, expect={"bad value": "epochs"}))
    E("fusion.contrastive", "info_nce", contrastive.info_nce, image_emb=Floats(tarr(4, 8), nd=(2,), sz=(-1,), fin=False),
      text_emb=Floats(tarr(4, 8, seed=1), nd=(2,), sz=(-1,), fin=False), temperature=PosF(0.1))
    E("fusion.contrastive", "clip_loss", contrastive.clip_loss, logits=Floats(tarr(4, 4), nd=(2,), sz=(-1,), fin=False))
    caps = np.array([[0, 1, 7], [0, 2, 8]])
    E("fusion.contrastive", "ClipModel", contrastive.ClipModel, vocab_size=Pos(12), dim=Pos(8),
      text=Choice("tokens", ["tokens", "caption"]), pad_id=Int(11, lo=0, hi=11, none=True),
      init_temperature=PosF(0.1), min_temperature=PosF(0.01, hi=0.1, none=True))
    clip = functools.lru_cache(None)(lambda: contrastive.ClipModel(vocab_size=12, dim=8))
    E("fusion.contrastive", "ClipModel.forward", lambda images, captions: clip()(images, captions),
      images=Floats(tarr(2, 3, 16, 16), nd=(4,), sz=(0, 1), empty=True),
      captions=Ints(torch.as_tensor(caps), nd=(2,), sz=(0, -1), lo=0, hi=11, empty=True))
    E("fusion.contrastive", "ClipModel.encode_images", lambda images: clip().encode_images(images),
      images=Floats(tarr(2, 3, 16, 16), nd=(4,), sz=(1,), empty=True))
    E("fusion.contrastive", "ClipModel.encode_captions", lambda captions: clip().encode_captions(captions),
      captions=Ints(torch.as_tensor(caps), nd=(2,), sz=(-1,), lo=0, hi=11, empty=True))
    E("fusion.contrastive", "recall_at_k", contrastive.recall_at_k, similarity=Floats(arr(4, 5), nd=(2,)),
      targets=Ints(np.arange(4), nd=(1,), sz=(0,), lo=0, hi=4), k=Int(1, lo=1, hi=5))
    qs = np.array([[1, 2, 8, 10, 0, 0]] * 3)
    fimage = Floats(tarr(3, 64), nd=(2,), sz=(0, -1), empty=True)  # a forward's two inputs
    ftokens = Ints(torch.as_tensor(qs), nd=(2,), sz=(0, -1), lo=0, hi=20, empty=True)
    for cls in (fmodels.ImageOnly, fmodels.TextOnly, fmodels.EarlyFusion, fmodels.LateFusion, fmodels.ConcatFusion,
                fmodels.FiLMFusion, fmodels.CrossAttentionFusion):
        extra = {"heads": Pos(2)} if cls is fmodels.CrossAttentionFusion else {}
        E("fusion.models", cls.__name__, cls, vocab_size=Pos(21), hidden=Pos(8), **extra)
        made = functools.lru_cache(None)(lambda cls=cls: cls(vocab_size=21, hidden=8))
        E("fusion.models", f"{cls.__name__}.forward", lambda image, tokens, made=made: made()(image, tokens),
          image=fimage, tokens=ftokens)
    E("fusion.models", "ModalityDropout", fmodels.ModalityDropout, model=model, p=Float(0.2, lo=0.0, hi=0.5, hi_open=True))
    dropout = functools.lru_cache(None)(lambda: fmodels.ModalityDropout(fmodels.ConcatFusion(vocab_size=21, hidden=8)))
    E("fusion.models", "ModalityDropout.forward", lambda image, tokens: dropout()(image, tokens), image=fimage,
      tokens=ftokens)
    E("fusion.models", "concat_fusion_keras", fmodels.concat_fusion_keras, _tf=True, vocab_size=Pos(21), hidden=Pos(8))
    E("fusion.models", "copy_to_keras", fmodels.copy_to_keras, _tf=True,
      model=Obj(Lazy(lambda: fmodels.ConcatFusion(vocab_size=21, hidden=8))),
      keras_model=Obj(Lazy(lambda: fmodels.concat_fusion_keras(vocab_size=21, hidden=8))))

    # --- chapter 11 deepened: ViT, zero-shot prompts, captioning, late fusion, prefix tokens, BLEU -------------
    from troikadl import vit
    from troikadl.data import scenes
    from troikadl.fusion import captioning, late, prefix as fprefix, zeroshot
    from troikadl.language_model import bleu as lbleu

    vit_images = Floats(tarr(2, 1, 8, 8), nd=(4,), sz=(1, 2, 3), empty=True)
    E("vit", "patchify", vit.patchify, images=Floats(tarr(2, 1, 8, 8), nd=(4,), empty=True),
      patch=Pos(2, extra={"not dividing the image": 3}))
    E("vit", "PatchEmbedding", vit.PatchEmbedding, image_size=Pos(8), patch=Pos(2, extra={"not dividing": 3}),
      channels=Pos(1), d_model=Pos(8), cls=Fixed(True), positions=Fixed(True), bias=Fixed(True))
    embedding = functools.lru_cache(None)(lambda: (torch.manual_seed(0), vit.PatchEmbedding(image_size=8, patch=2,
                                                                                            d_model=8))[1])
    E("vit", "PatchEmbedding.forward", lambda images: embedding()(images), images=vit_images)
    E("vit", "PatchEmbedding.check_images", lambda images: embedding().check_images(images), images=vit_images)
    E("vit", "ViT", vit.ViT, image_size=Pos(8), patch=Pos(2, extra={"not dividing": 3}), channels=Pos(1),
      d_model=Pos(8, extra={"not divisible by heads": 7}), heads=Pos(2), layers=Pos(1), d_ff=Pos(16),
      n_classes=Pos(10), pool=Choice("cls", ["cls", "mean"]), positions=Fixed(True),
      eps=Float(1e-5, lo=0.0, hi=1.0, lo_open=True, hi_open=True))
    small_vit = functools.lru_cache(None)(lambda: (torch.manual_seed(0), vit.ViT(d_model=8, heads=2, layers=1,
                                                                                 d_ff=16))[1])
    for m in ("forward", "features"):
        E("vit", f"ViT.{m}", lambda images, m=m: getattr(small_vit(), m)(images), images=vit_images)
    E("vit", "ViT.attention", lambda images, layer: small_vit().attention(images, layer), images=vit_images,
      layer=Int(-1, lo=-1, hi=0))
    E("vit", "to_hf_vit_embeddings", vit.to_hf_vit_embeddings, _slow=True,
      embedding=Custom(Lazy(embedding), {"a string": "embedding", "a number": 3, "a ViT": Lazy(small_vit),
                                          "no [CLS] token": Lazy(lambda: vit.PatchEmbedding(image_size=8, patch=2,
                                                                                             cls=False)),
                                          "no bias": Lazy(lambda: vit.PatchEmbedding(image_size=8, patch=2,
                                                                                      bias=False))}))
    E("vit", "to_hf_vit", vit.to_hf_vit, _slow=True,
      model=Custom(Lazy(small_vit), {"a string": "model", "a number": 3, "a PatchEmbedding": Lazy(embedding),
                                      "pool='mean'": Lazy(lambda: vit.ViT(d_model=8, heads=2, layers=1,
                                                                          pool="mean"))}))
    from troikadl.figures import multimodal as fmultimodal, vision as fvision

    E("figures.vision", "patch_embedding", fvision.patch_embedding, patch=Pos(4, extra={"not dividing": 3,
                                                                                       "too many patches": 1}),
      image=Floats(arr(8, 8), nd=(2, 3), extra={"2 channels": arr(2, 8, 8), "a row of pixels": arr(0, 8)}),
      d_model=Pos(16))
    prefix_small = functools.lru_cache(None)(lambda: fprefix.PrefixVQA(vocab_size=len(vqa.VOCAB), n_prefix=2,
                                                                        d_model=8, heads=2, layers=1, hidden=8))
    # an unknown word is refused by vqa.encode_question, whose message names its own argument, ``text``
    E("figures.multimodal", "prefix_tokens", fmultimodal.prefix_tokens,
      model=Obj(Lazy(prefix_small), none=True, extra={"another fusion model": fmodels.ConcatFusion(vocab_size=21)}),
      question=Str("is it even ?", extra={"unknown word": "is it blue ?"}, expect={"unknown word": "text"}))

    # zero-shot classification: the prompts' token ids are the text encoder's to range-check (it names them)
    clip_prompts = functools.lru_cache(None)(lambda: (torch.manual_seed(0), contrastive.ClipModel(
        vocab_size=len(shapes.PROMPT_VOCAB), dim=8, pad_id=shapes.PAD_ID))[1])
    E("fusion.zeroshot", "ensemble_embeddings", zeroshot.ensemble_embeddings,
      prompt_emb=Floats(tarr(3, 2, 4), nd=(3,), extra={"a zero vector": torch.zeros(3, 2, 4),
                                                       "templates that cancel": torch.tensor([[[1.0], [-1.0]]])}))
    E("fusion.zeroshot", "class_embeddings", zeroshot.class_embeddings,
      encode_text=Obj(Lazy(lambda: clip_prompts().encode_captions),
                      extra={"one embedding too many": lambda t: torch.ones(len(t) + 1, 4),
                             "1-D embeddings": lambda t: torch.ones(len(t))}),
      prompts=Ints(shapes.class_prompts([(0, 0), (1, 1), (2, 2)], [0, 1]), nd=(3,), lo=None))
    E("fusion.zeroshot", "zero_shot_predict", zeroshot.zero_shot_predict,
      image_emb=Floats(tarr(5, 4), nd=(2,), sz=(1,), empty=True),
      class_emb=Floats(tarr(3, 4, seed=1), nd=(2,), sz=(1,)))

    # image captioning (the decoder's arguments are Seq2SeqTransformer's, catalogued above)
    cap_vocab = len(scenes.VOCAB)
    cap_model = functools.lru_cache(None)(lambda: (torch.manual_seed(0), captioning.ImageCaptioner(
        cap_vocab, 10, conv_channels=4, d_model=8, heads=2, d_ff=16))[1])
    cap_images = Floats(tarr(2, 3, 24, 24), nd=(4,), sz=(1, 2, 3))
    cap_ids = torch.as_tensor(scenes.captioned_scenes(2).captions)
    cap_tgt = Ints(cap_ids[:, :-1], nd=(2,), sz=(0,), lo=0, hi=cap_vocab - 1, extra={"no <bos>": cap_ids[:, 1:]})
    E("fusion.captioning", "ImageCaptioner", captioning.ImageCaptioner, vocab_size=Int(cap_vocab, lo=4),
      caption_len=Pos(10), image_size=Int(24, lo=8), channels=Pos(3), grid=Pos(4), conv_channels=Pos(4),
      d_model=Pos(8, extra={"not divisible by heads": 7}), heads=Pos(2), d_ff=Pos(16), dec_layers=Pos(1))
    for m in ("forward", "cross_attention_maps"):
        E("fusion.captioning", f"ImageCaptioner.{m}",
          lambda images, tgt_in, m=m: getattr(cap_model(), m)(images, tgt_in), images=cap_images, tgt_in=cap_tgt)
    E("fusion.captioning", "ImageCaptioner.encode", lambda images: cap_model().encode(images), images=cap_images)
    E("fusion.captioning", "ImageCaptioner.greedy_decode",
      lambda images, max_len, prefix: cap_model().greedy_decode(images, max_len, prefix=prefix),
      images=cap_images, max_len=Int(4, lo=1, hi=10),
      prefix=Custom(None, {"no <bos>": torch.tensor([[5, 5]] * 2), "wrong batch": torch.tensor([[1, 5]]),
                           "a string": "a", "floats": torch.ones(2, 2)}, none=True))
    E("fusion.captioning", "strip_caption", captioning.strip_caption,
      ids=Ints(cap_ids[0], nd=(1,), lo=0, empty=True))
    E("fusion.captioning", "caption_scores", captioning.caption_scores, model=Obj(Lazy(cap_model)),
      images=cap_images, captions=Ints(cap_ids, nd=(2,), sz=(0,), lo=0, hi=cap_vocab - 1,
                                       extra={"no <bos>": cap_ids.roll(1, dims=1), "one column": cap_ids[:, :1]}),
      batch_size=Pos(512))

    # late fusion: ScoreFusion's combiner_hidden is read by combiner="mlp" only, so that is the valid call
    E("fusion.late", "ScoreFusion", late.ScoreFusion, vocab_size=Int(21, lo=2), combiner=Choice("mlp", late.COMBINERS),
      width=Pos(2), hidden=Pos(8), bias=Fixed(False), combiner_hidden=Pos(4))
    for combiner in late.COMBINERS:
        made = functools.lru_cache(None)(lambda c=combiner: late.ScoreFusion(vocab_size=21, combiner=c, hidden=8))
        for m in ("forward", "scores"):
            E("fusion.late", f"ScoreFusion.{m}.{combiner}", lambda image, tokens, made=made, m=m:
              getattr(made(), m)(image, tokens), image=fimage, tokens=ftokens)
    E("fusion.late", "answer_matrix", late.answer_matrix,
      templates=StrList(["even", "greater"], none=True, extra={"an unknown template": ["even", "blue"]}))
    answers = late.answer_matrix(["greater"])[0]
    for f in (late.realize, late.realizable):
        E("fusion.late", f.__name__, f, combiner=Choice("sum", late.REALIZABLE),
          answers=Ints(answers, nd=(2,), lo=0, hi=1, extra={"no columns": answers[:, :0]}))

    # image tokens for a language model
    E("fusion.prefix", "PrefixVQA", fprefix.PrefixVQA, vocab_size=Int(21, lo=2), n_prefix=Pos(2),
      d_model=Pos(8, extra={"not divisible by heads": 7}), heads=Pos(2), layers=Pos(1), hidden=Pos(8),
      encoder=Obj(None, none=True, extra={"a 3-D output": nn.Unflatten(1, (8, 8)),
                                        "a wrong input size": nn.Linear(10, 4)}))
    prefix_vqa = functools.lru_cache(None)(lambda: fprefix.PrefixVQA(vocab_size=21, n_prefix=2, d_model=8, heads=2,
                                                                      layers=1, hidden=8))
    for m in ("forward", "answer_attention"):
        E("fusion.prefix", f"PrefixVQA.{m}", lambda image, tokens, m=m: getattr(prefix_vqa(), m)(image, tokens),
          image=fimage, tokens=ftokens)

    # contrastive additions: same-group positives, the InfoNCE floor, padded captions
    groups = np.array([0, 0, 1, 2])
    E("fusion.contrastive", "multi_positive_loss", contrastive.multi_positive_loss,
      logits=Floats(tarr(4, 4), nd=(2,), sz=(0, 1)), groups=Ints(groups, nd=(1,), sz=(0,), lo=None),
      mode=Choice("soft", ["soft", "mask"]))
    E("fusion.contrastive", "infonce_floor", contrastive.infonce_floor, groups=Ints(groups, nd=(1,), lo=None))
    padded = torch.as_tensor(shapes.class_prompts([(0, 0), (1, 1)], [1]))[:, 0]
    E("fusion.contrastive", "ClipModel.encode_captions.pad_id",
      lambda captions: clip_prompts().encode_captions(captions),
      captions=Ints(padded, nd=(2,), lo=0, hi=len(shapes.PROMPT_VOCAB) - 1, empty=True,
                    extra={"no tokens": padded[:, :0], "a caption of padding only": torch.full((2, 3), shapes.PAD_ID)}))

    # the data of the chapter's new sections
    E("data.scenes", "caption_words", scenes.caption_words, size=Int(1, lo=0, hi=1), colour=Int(2, lo=0, hi=5),
      shape=Int(3, lo=0, hi=4), row=Int(0, lo=0, hi=1), col=Int(1, lo=0, hi=1))
    E("data.scenes", "draw_mask", scenes.draw_mask, shape=Choice("circle", shapes.SHAPES),
      cy=Float(12.0, lo=4.0, hi=20.0), cx=Float(6.0, lo=4.0, hi=20.0), r=Float(4.0, lo=0.0, hi=7.0, lo_open=True))
    E("data.scenes", "captioned_scenes", scenes.captioned_scenes, n=Pos(3), seed=Seed(),
      combos=Custom([(0, 1), (2, 3)], {"bare pair": (0, 1), "fractional": [(0, 1.5)], "out of range": [(9, 0)],
                                       "string": "ab", "empty": [], "wrong length": [(0, 1, 2)]}, none=True),
      noise=Float(0.05, lo=0.0, hi=0.1))
    E("data.scenes", "Scenes.text", lambda i: scenes.captioned_scenes(3).text(i), i=Int(0, lo=0, hi=2))
    E("data.shapes", "prompt_tokens", shapes.prompt_tokens, shape=Int(1, lo=0, hi=4), colour=Int(2, lo=0, hi=5),
      template=Int(1, lo=0, hi=len(shapes.TEMPLATES) - 1), length=Int(shapes.PROMPT_LENGTH + 1, lo=5))
    pairs_bad = {"bare pair": (0, 1), "fractional": [(0, 1.5)], "out of range": [(9, 0)], "string": "ab", "empty": [],
                 "wrong length": [(0, 1, 2)]}
    E("data.shapes", "class_prompts", shapes.class_prompts, pairs=Custom([(0, 1), (2, 3)], pairs_bad),
      templates=IntSeq([0, 2], lo=0, hi=len(shapes.TEMPLATES) - 1, none=True))

    # BLEU: sentences are lists of tokens; references, per candidate, a list of reference sentences
    sentence = ["a", "cat", "sat"]
    bad_sentence = {"a string": "a cat", "a number": 3, "nested": [["a"], "cat"]}
    E("language_model.bleu", "ngram_counts", lbleu.ngram_counts, tokens=Custom(sentence, bad_sentence), n=Pos(2))
    E("language_model.bleu", "modified_precision", lbleu.modified_precision, n=Pos(2),
      candidate=Custom(sentence, bad_sentence),
      references=Custom([["a", "cat"], ["the", "cat", "sat"]], {"empty": [], "a bare sentence": sentence,
                                                                 "a string": "a cat", "a number": 3}))
    E("language_model.bleu", "brevity_penalty", lbleu.brevity_penalty, candidate_length=Int(3, lo=0),
      reference_length=Int(4, lo=0))
    E("language_model.bleu", "bleu", lbleu.bleu, max_n=Pos(2), smoothing=Choice("none", lbleu.SMOOTHINGS),
      candidates=Custom([sentence, ["a", "dog"]], {"empty": [], "a string": "a cat", "a bare sentence": ["a", "dog"],
                                                   "nested too deep": [[sentence], [["a", "dog"]]]}),
      references=Custom([[sentence], [["a", "dog"]]], {"one list too few": [[sentence]], "a string": "a cat",
                                                       "an empty list of references": [[sentence], []],
                                                       "bare sentences": [sentence, ["a", "dog"]]}))

    # --- normalization and resnet (chapter 4: batch normalization, residual connections) ---------------------
    from troikadl import normalization as bnorm
    from troikadl import resnet

    conv = Choice("torch", ["torch", "keras"])
    E("normalization", "batch_norm", bnorm.batch_norm, x=Floats(tarr(4, 2, 3, 3)),
      running_mean=Floats(torch.zeros(2), nd=(1,), sz=(0,)), running_var=Floats(torch.ones(2), nd=(1,), sz=(0,)),
      weight=Floats(torch.ones(2), nd=(1,), sz=(0,), none=True), bias=Floats(torch.zeros(2), nd=(1,), sz=(0,), none=True),
      momentum=Prob(0.1), eps=PosF(1e-5), convention=conv)
    E("normalization", "BatchNorm2d", bnorm.BatchNorm2d, channels=Pos(2), eps=PosF(1e-5), momentum=Prob(0.1, none=True),
      convention=conv)
    E("normalization", "BatchNorm2d.forward", lambda x: bnorm.BatchNorm2d(2)(x), x=Floats(tarr(4, 2, 3, 3), nd=(4,), sz=(1,)))
    E("resnet", "ResidualBlock", resnet.ResidualBlock, channels=Pos(2), out_channels=Pos(4, none=True), stride=Pos(1))
    E("resnet", "ResidualBlock.forward", lambda x: resnet.ResidualBlock(2)(x), x=Floats(tarr(2, 2, 4, 4), nd=(4,), sz=(1,)))
    E("resnet", "ResNet", resnet.ResNet, widths=IntSeq((4, 8)), blocks=Pos(1), in_channels=Pos(1), classes=Pos(10))
    E("resnet", "ResNet.forward", lambda x: resnet.ResNet((2,))(x), x=Floats(tarr(2, 1, 8, 8), nd=(4,)))
    E("resnet", "deep_cnn", resnet.deep_cnn, depth=Pos(2), channels=Pos(4), in_channels=Pos(1), classes=Pos(10))
    E("resnet", "gradient_norms", resnet.gradient_norms, model=Obj(Lazy(lambda: resnet.deep_cnn(2, 4))),
      X=Floats(tarr(4, 1, 8, 8), nd=(4,)), y=Lab(np.arange(4) % 3, None))

    from troikadl.data import augment

    E("data.augment", "random_shift", augment.random_shift, x=Floats(tarr(2, 1, 4, 4), nd=(4,), empty=True),
      max_shift=Int(1, lo=0, hi=3), fill=Float(0.0), generator=Obj(None, none=True))
    E("data.augment", "random_rotation", augment.random_rotation, x=Floats(tarr(2, 1, 4, 4), nd=(4,), empty=True),
      max_degrees=Float(10.0, lo=0.0, hi=180.0), fill=Float(0.0), generator=Obj(None, none=True))

    # --- language_model (chapter 5: the character language model) --------------------------------------------
    from troikadl import language_model as lm

    lm_vocab = lm.CharVocab.from_text("banana band")
    lm_model = Lazy(lambda: lm.CharRNN(12, 5, embed=4))
    E("language_model.text", "CharVocab", lm.CharVocab,
      chars=StrList(list("abc"), extra={"not single characters": ["ab", "c"], "repeated": ["a", "a"]}))
    E("language_model.text", "CharVocab.from_text", lm.CharVocab.from_text, text=Str("banana", extra={"empty": ""}))
    E("language_model.text", "CharVocab.encode", lm_vocab.encode, text=Str("band"))
    E("language_model.text", "CharVocab.decode", lm_vocab.decode,
      ids=Ints(np.array([1, 2, 0]), nd=(1,), lo=0, hi=len(lm_vocab) - 1, empty=True))
    E("language_model.text", "train_val_split", lm.train_val_split,
      corpus=StrList(["one doc", "two docs", "three"], extra={"one document": ["only"]}),
      val_fraction=Float(0.3, lo=0.0, hi=1.0, lo_open=True, hi_open=True), seed=Seed())
    E("language_model.text", "bptt_batches", lm.bptt_batches,
      ids=Ints(np.arange(20) % 5, nd=(1,), lo=0, extra={"too short": np.array([1])}), batch_size=Pos(2), bptt=Pos(4))
    E("language_model.char_rnn", "CharRNN", lm.CharRNN, vocab_size=Int(12, lo=2), hidden=Pos(5),
      cell=Choice("LSTM", list(lm.CELLS)), embed=Pos(4))
    E("language_model.char_rnn", "CharRNN.forward", lambda ids, state: lm.CharRNN(12, 5, embed=4)(ids, state),
      ids=Ints(torch.zeros(2, 3, dtype=torch.long), nd=(2,), lo=0, hi=11),
      state=Custom(None, {"one tensor for an LSTM": torch.zeros(1, 2, 5), "a string": "h",
                          "wrong shape": (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4))}, none=True))
    E("language_model.char_rnn", "char_rnn_parameters", lm.char_rnn_parameters, vocab_size=Int(12, lo=2), hidden=Pos(5),
      cell=Choice("LSTM", list(lm.CELLS)), embed=Pos(4))
    E("language_model.char_rnn", "matched_hidden", lm.matched_hidden, vocab_size=Int(12, lo=2), hidden=Pos(8),
      reference=Choice("LSTM", list(lm.CELLS)), embed=Pos(4))
    E("language_model.char_rnn", "train_lm", lm.train_lm, model=Obj(lm_model), ids=Ints(np.arange(40) % 12, nd=(1,), lo=0, hi=11),
      steps=Pos(2), batch_size=Pos(2), bptt=Pos(4), lr=PosF(1e-2), clip_norm=PosF(1.0, none=True),
      carry_state=Fixed(True), schedule=Obj(None, none=True), desc=Fixed("t"))
    E("language_model.evaluation", "perplexity", lm.perplexity, model=Obj(lm_model),
      ids=Ints(np.arange(30) % 12, nd=(1,), lo=0, hi=11), batch_size=Pos(2), bptt=Pos(5))
    E("language_model.evaluation", "unigram_perplexity", lm.unigram_perplexity,
      train_ids=Ints(np.arange(20) % 6, nd=(1,), lo=0, hi=5), ids=Ints(np.array([1, 2, 3]), nd=(1,), lo=0, hi=5),
      vocab_size=Int(6, lo=2))
    E("language_model.evaluation", "bigram_perplexity", lm.bigram_perplexity,
      train_ids=Ints(np.arange(20) % 6, nd=(1,), lo=0, hi=5), ids=Ints(np.array([1, 2, 3]), nd=(1,), lo=0, hi=5),
      vocab_size=Int(6, lo=2))
    bad_logits = {"NaN": torch.tensor([[0.0, NAN, 1.0]]), "+inf": torch.tensor([[0.0, INF, 1.0]]),
                  "a row of -inf": torch.tensor([[0.0, 1.0, 2.0], [-INF, -INF, -INF]])}  # -inf alone: a token left out
    E("language_model.sampling", "sample_next", lm.sample_next,
      logits=Floats(torch.zeros(2, 5, dtype=torch.float64), empty=True, fin=False, extra=bad_logits),
      temperature=Float(1.0, lo=0.0), generator=Obj(None, none=True))
    E("language_model.sampling", "sample", lm.sample, model=Obj(Lazy(lambda: lm.CharRNN(len(lm_vocab), 5, embed=4))),
      vocab=Obj(lm_vocab, extra={"another vocabulary": lm.CharVocab(list("ab"))}), prompt=Str("ab", extra={"empty": ""}),
      length=Int(5, lo=0), temperature=Float(1.0, lo=0.0), generator=Obj(None, none=True))

    # --- transformer.generation, transformer.rope (chapter 6: decoding, the KV cache, RoPE) -------------------
    from troikadl.transformer import generation as tgen, rope as trope

    for name in ("top_k_filter", "top_p_filter"):
        E("transformer.generation", name, getattr(tgen, name),
          logits=Floats(torch.zeros(2, 5, dtype=torch.float64), empty=True, fin=False, extra=bad_logits),
          **({"k": Pos(2)} if name == "top_k_filter" else {"p": Prob(0.9)}))
    gen_model = Lazy(lambda: transformer.GPT(transformer.GPTConfig(vocab_size=7, n_positions=16, d_model=8, heads=2,
                                                                   layers=1)))
    E("transformer.generation", "generate", tgen.generate, model=Obj(gen_model),
      ids=Ints(torch.zeros(2, 3, dtype=torch.long), nd=(1, 2), lo=0, hi=6), max_new_tokens=Int(3, lo=0),
      temperature=Float(1.0, lo=0.0), top_k=Pos(2, none=True), top_p=Prob(0.9, none=True), greedy=Fixed(False),
      use_cache=Fixed(True), generator=Obj(None, none=True))
    E("transformer.generation", "kv_cache_bytes", tgen.kv_cache_bytes, layers=Pos(2), heads=Pos(2), d_head=Pos(4),
      length=Int(5, lo=0), batch=Pos(1), bytes_per_value=Pos(4))
    E("transformer.rope", "rope_angles", trope.rope_angles, positions=Floats(torch.arange(4.0), empty=True),
      d_head=Int(6, lo=2, extra={"odd": 5}), base=Float(10000.0, lo=1.0, lo_open=True), dtype=Fixed(torch.float64))
    E("transformer.rope", "apply_rope", trope.apply_rope, x=Floats(torch.zeros(4, 6, dtype=torch.float64), sz=(-1, -2)),
      positions=Floats(torch.arange(4.0), sz=(-1,)), base=Float(10000.0, lo=1.0, lo_open=True))

    # --- data.translation, transformer.seq2seq (chapter 6: the encoder-decoder and its number-to-words task) ------
    from troikadl.data import translation as ttr
    from troikadl.transformer import seq2seq as ts2s

    E("data.translation", "TokenVocab", ttr.TokenVocab,
      tokens=StrList(["a", "b"], extra={"repeated": ["a", "a"], "a special token": ["a", "<eos>"]}))
    E("data.translation", "TokenVocab.encode", ttr.WORD_VOCAB.encode, bos=Fixed(True), eos=Fixed(True),
      tokens=StrList(["three", "thousand"], nonempty=False, extra={"unknown": ["lakh"], "special": ["<pad>"]}))
    E("data.translation", "TokenVocab.decode", ttr.WORD_VOCAB.decode,
      ids=Ints(np.array([1, 5, 2]), nd=(1,), lo=0, hi=len(ttr.WORD_VOCAB) - 1, empty=True))
    E("data.translation", "number_to_words", ttr.number_to_words, value=Int(1001, lo=0, hi=ttr.MAX_VALUE))
    E("data.translation", "number_words", ttr.number_words, max_value=Int(20, lo=1, hi=ttr.MAX_VALUE),
      test_fraction=Float(0.2, lo=0.0, hi=1.0, lo_open=True, hi_open=True, extra={"no training left": 0.99}),
      seed=Seed())
    E("data.translation", "NumberPairs.text", lambda i: ttr.number_words(20)[1].text(i), i=Int(0, lo=0, hi=3))
    s2s = functools.lru_cache(None)(lambda: ts2s.Seq2SeqTransformer(13, 33, 4, 6, d_model=8, heads=2, d_ff=16,
                                                                    enc_layers=1, dec_layers=1))
    s2s_src = torch.tensor([[4, 5, 0, 0], [6, 7, 8, 9]])
    s2s_tgt = torch.tensor([[1, 7, 2, 0, 0], [1, 8, 9, 10, 2]])
    bad_src = {"all padding": torch.zeros(2, 4, dtype=torch.long), "too long": torch.full((2, 5), 4)}
    E("transformer.seq2seq", "causal_mask", ts2s.causal_mask, length=Pos(3), device=Fixed(None))
    E("transformer.seq2seq", "Seq2SeqTransformer", ts2s.Seq2SeqTransformer, src_vocab=Int(13, lo=4),
      tgt_vocab=Int(33, lo=4), src_len=Pos(4), tgt_len=Pos(6), d_model=Pos(8, extra={"not divisible": 7}),
      heads=Pos(2), d_ff=Pos(16), enc_layers=Pos(1), dec_layers=Pos(1))
    for m in ("forward", "cross_attention_maps"):
        E("transformer.seq2seq", f"Seq2SeqTransformer.{m}",
          lambda src, tgt_in, m=m: getattr(s2s(), m)(src, tgt_in),
          src=Ints(s2s_src, nd=(2,), lo=0, hi=12, empty=True, extra=bad_src),
          tgt_in=Ints(s2s_tgt[:, :-1], nd=(2,), sz=(0,), lo=0, hi=32, extra={"no <bos>": s2s_tgt[:, 1:]}))
    E("transformer.seq2seq", "Seq2SeqTransformer.greedy_decode",
      lambda src, max_len, prefix: s2s().greedy_decode(src, max_len, prefix=prefix),
      src=Ints(s2s_src, nd=(2,), lo=0, hi=12, empty=True, extra=bad_src), max_len=Int(4, lo=1, hi=6),
      prefix=Custom(None, {"no <bos>": torch.tensor([[5, 5]] * 2), "wrong batch": torch.tensor([[1, 5]]),
                           "a special token": torch.tensor([[1, 0]] * 2),
                           "longer than max_len": torch.ones(2, 5).long(),
                           "a string": "one", "floats": torch.ones(2, 2)}, none=True))
    E("transformer.seq2seq", "seq2seq_accuracy", ts2s.seq2seq_accuracy, model=Obj(Lazy(s2s)),
      src=Ints(s2s_src, nd=(2,), lo=0, hi=12, extra=bad_src),
      tgt=Ints(s2s_tgt, nd=(2,), sz=(0,), lo=0, hi=32, extra={"one column": s2s_tgt[:, :1]}), batch_size=Pos(8))

    # --- scaling (chapter 12: counting, memory, the sweep, fits, sharded training) -----------------------------
    from troikadl.scaling import counting as sc_count, distributed as sc_dist, fit as sc_fit, memory as sc_mem
    from troikadl.scaling import sweep as sc_sweep

    def hf(cls: str, **kw: Any) -> Lazy:  # a Hugging Face configuration (transformers imported when first used)
        return Lazy(lambda: getattr(importlib.import_module("transformers"), cls)(**kw))

    hf_config = {"a dict": {"n_embd": 8}, "zero width": hf("GPT2Config", n_embd=0),
                 "cross-attention": hf("GPT2Config", n_embd=8, n_layer=1, n_head=2, add_cross_attention=True)}
    sc_config = Custom(gpt_config, {"string": "gpt2", "number": 3, **hf_config}, expect={"zero width": "config.n_embd"})
    for name in ("parameter_breakdown", "analytic_parameters", "build_on_meta", "meta_parameters"):
        E("scaling.counting", name, getattr(sc_count, name), config=sc_config)
    E("scaling.counting", "count_parameters", sc_count.count_parameters, model=Obj(gpt_model))
    E("scaling.counting", "training_flops", sc_count.training_flops, n_params=PosF(10.0), n_tokens=PosF(7.0))
    E("scaling.counting", "forward_flops_per_token", sc_count.forward_flops_per_token,
      config=Custom(gpt_config, {"string": "gpt2", "number": 3, **hf_config, "an encoder (BERT)": hf(
          "BertConfig", hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)},
          expect={"zero width": "config.n_embd"}),
      n_ctx=Pos(4, none=True))
    precision, optimizer = Choice("float32", ["float32", "mixed"]), Choice("adam", ["adam", "sgd", "momentum"])
    E("scaling.memory", "training_state_bytes", sc_mem.training_state_bytes, n_params=Pos(10), precision=precision,
      optimizer=optimizer)
    E("scaling.memory", "measured_training_state_bytes", sc_mem.measured_training_state_bytes,
      model=Obj(Lazy(lambda: nn.Linear(3, 2))),
      optimizer=Obj(Lazy(lambda: torch.optim.SGD(nn.Linear(3, 2).parameters(), lr=0.1)), extra={"a name": "adam"}))
    E("scaling.memory", "activation_bytes", sc_mem.activation_bytes, model=Obj(gpt_model),
      ids=Ints(ids[:, :3], nd=(2,), lo=0, hi=9, extra={"longer than the context": torch.zeros(2, 7, dtype=torch.long)}))
    E("scaling.memory", "fits", sc_mem.fits, n_params=Pos(10), memory_bytes=PosF(100.0), training=Fixed(True),
      precision=precision, optimizer=optimizer)
    quick = {"sizes": [[16, 1, 2]], "steps": [2]}  # one tiny row: a valid sweep in a second
    sweep_settings = {"not a mapping": "quick", "an unknown key": {"epochs": 1}, "no sizes": {"sizes": []},
                      "a size of two numbers": {"sizes": [[16, 1]]}, "zero steps": {"steps": [0]},
                      "steps a bare int": {"steps": 2}}
    E("scaling.sweep", "train_row", sc_sweep.train_row, d_model=Pos(16, extra={"not divisible by heads": 15}),
      layers=Pos(1), heads=Pos(2), steps=Pos(2), seed=Seed(),
      settings=Custom(None, {**sweep_settings, "a negative rate": {"lr": -1.0}}, none=True,
                      expect={"a negative rate": "lr"}))
    E("scaling.sweep", "build_table", sc_sweep.build_table, _slow=True, out=PathK(TMP / "sweep.csv"),
      seeds=IntSeq([0], lo=0, extra={"repeated": [0, 0]}),
      shard=Custom((0, 1), {"not i/n": "first", "i out of range": (1, 1), "n zero": (0, 0), "fractional": (0.5, 1),
                            "a bare int": 3, "three numbers": (0, 1, 2)}),
      workers=Pos(1), settings=Custom(quick, sweep_settings, none=True), log=Obj(lambda s: None))
    E("scaling.sweep", "merge_tables", sc_sweep.merge_tables, out=PathK(TMP / "merged.csv"),
      parts=Custom(Lazy(sweep_parts), {"a bare path": lambda v: v[0], "empty": [], "numbers": [1, 2],
                                       "the same part twice": lambda v: [v[0], v[0]],
                                       "not a table": lambda v: [not_a_table()]}))
    E("scaling.sweep", "Table.load", sc_sweep.Table.load,
      path=PathK(None, none=True, extra={"not a table": not_a_table()}))
    E("scaling.sweep", "Table.row", lambda i: scaling_table().row(i), i=Int(0, lo=0, hi=len(scaling_table()) - 1))
    Ns, Ds, Ls = scaling_runs()
    run = lambda v, **kw: Floats(v, nd=(1,), sz=(0,), **kw)  # noqa: E731 - one value per run
    E("scaling.fit", "fit_power_law", sc_fit.fit_power_law, x=run(Ns, extra={"a zero": _put(Ns, 0, 0.0)}),
      loss=run(Ls, extra={"a zero": _put(Ls, 0, 0.0)}), delta=PosF(1e-3), starts=Pos(2))
    E("scaling.fit", "fit_loss_surface", sc_fit.fit_loss_surface, N=run(Ns, extra={"a negative": -Ns}),
      D=run(Ds, extra={"a zero": _put(Ds, 0, 0.0)}), loss=run(Ls), delta=PosF(1e-3), starts=Pos(1))
    E("scaling.fit", "bootstrap_fit", sc_fit.bootstrap_fit, N=run(Ns, extra={"no repeated cell": np.arange(1.0, 13.0)}),
      D=run(Ds), loss=run(Ls), n_boot=Pos(2), seed=Seed(), compute=PosF(1e12, none=True), delta=PosF(1e-3))
    surface = sc_fit.LossSurface(1.7, 400.0, 400.0, 0.34, 0.28)
    E("scaling.fit", "compute_optimal", sc_fit.compute_optimal,
      fit=Obj(surface, extra={"a PowerLaw": sc_fit.PowerLaw(1.7, 400.0, 0.34),
                              "a negative exponent": sc_fit.LossSurface(1.7, 400.0, 400.0, -0.1, 0.28)}),
      C=Floats(np.array([1e18, 1e20]), extra={"a zero": np.array([0.0, 1e18])}))
    E("scaling.fit", "huber_log_objective", sc_fit.huber_log_objective, law=Obj(surface), N=run(Ns), loss=run(Ls),
      D=run(Ds), delta=PosF(1e-3))
    E("scaling.fit", "PowerLaw.predict", sc_fit.PowerLaw(1.7, 400.0, 0.34).predict,
      x=Floats(np.array([1e3, 1e6]), extra={"a negative": np.array([-1.0, 1e6])}))
    E("scaling.fit", "LossSurface.predict", surface.predict,
      N=Floats(np.array([1e6, 1e7]), extra={"a zero": np.array([0.0, 1e7])}),
      D=Floats(np.array([1e8, 1e9]), extra={"a negative": np.array([-1.0, 1e9]), "not broadcastable": np.ones(3)}))
    fitted_boot = functools.lru_cache(None)(lambda: sc_fit.bootstrap_fit(Ns, Ds, Ls, n_boot=2))
    E("scaling.fit", "Bootstrap.interval", lambda name, level: fitted_boot().interval(name, level),
      name=Choice("alpha", ["E", "A", "B", "alpha", "beta", "a", "ratio"]),
      level=Float(0.9, lo=0.0, hi=1.0, lo_open=True, hi_open=True))
    E("scaling.distributed", "ShardSettings", sc_dist.ShardSettings, steps=Pos(12), batch_size=Pos(8), context=Pos(64),
      d_model=Pos(64, extra={"not divisible by heads": 66}), layers=Pos(2), heads=Pos(4), lr=PosF(3e-3),
      weight_decay=Float(0.01, lo=0.0), seed=Seed())
    E("scaling.distributed", "global_batch", sc_dist.global_batch,
      ids=Ints(np.arange(200) % 50, nd=(1,), lo=0, extra={"shorter than the context": np.arange(10)}),
      step=Int(0, lo=0), batch_size=Pos(2), context=Pos(16), seed=Seed())
    E("scaling.distributed", "local_bytes", sc_dist.local_bytes, model=Obj(Lazy(lambda: nn.Linear(3, 2))),
      optimizer=Obj(Lazy(lambda: torch.optim.SGD(nn.Linear(3, 2).parameters(), lr=0.1)), extra={"a name": "adam"}))
    shard = sc_dist.ShardSettings(steps=1, batch_size=2, context=8, d_model=8, layers=1, heads=2)
    E("scaling.distributed", "train_strategy", sc_dist.train_strategy,
      strategy=Choice("single", list(sc_dist.STRATEGIES), extra={"without a process group": "ddp"}),
      ids=Ints(np.arange(100) % 20, nd=(1,), lo=0, hi=19), vocab_size=Pos(20, extra={"below the ids": 5}),
      settings=Obj(shard, extra={"a dict": {"steps": 1}}),
      device=Custom("cpu", {"an unknown name": "gpu7", "a float": 2.5}))
    # a valid call starts torchrun processes (15-20 s); every bad value is refused before the launch
    E("scaling.distributed", "run_torchrun", sc_dist.run_torchrun, _slow=True, nproc=Pos(1),
      strategies=StrList(["single"], extra={"an unknown strategy": ["zero3"]}), timeout=PosF(300.0), steps=Pos(1),
      batch_size=Pos(2), context=Pos(8), d_model=Pos(8, extra={"not divisible by heads": 9}), layers=Pos(1),
      heads=Pos(2))

    # --- regularization (chapter 3: dropout, early stopping) -------------------------------------------------
    from troikadl import regularization as reg

    E("regularization", "dropout", reg.dropout, x=Floats(tarr(3, 4), empty=True, fin=False), p=Prob(0.5),
      training=Fixed(True), generator=Obj(None, none=True))
    E("regularization", "Dropout", reg.Dropout, p=Prob(0.5), generator=Obj(None, none=True))
    E("regularization", "Dropout.forward", lambda x: reg.Dropout(0.5)(x), x=Floats(tarr(3, 4), empty=True, fin=False))
    E("regularization", "EarlyStopping", reg.EarlyStopping, patience=Int(10, lo=0), min_delta=Float(0.0, lo=0.0))
    E("regularization", "EarlyStopping.step", lambda loss, model: reg.EarlyStopping(2).step(loss, model),
      loss=Custom(0.5, {"string": "0.5", "bool": True, "complex": 0.5 + 1j, "list": [0.5]}),  # NaN: no improvement
      model=Obj(Lazy(tiny_mlp), none=True))

    def _stopper_with_weights() -> Any:
        stopper = reg.EarlyStopping(2)
        stopper.step(1.0, tiny_mlp())
        return stopper

    E("regularization", "EarlyStopping.restore", lambda model: _stopper_with_weights().restore(model),
      model=Obj(Lazy(tiny_mlp)))

    # --- figures (the course's diagrams; isolated() closes the figures each call draws) -------------------------
    from troikadl.bert import mask_tokens
    from troikadl.figures import (attention as fattention, bert as fbert, blocks as fblocks,
                                  compression as fcompression, convolution as fconvolution, fusion as ffusion,
                                  graph as fgraph, layers as flayers, networks as fnetworks, search as fsearch,
                                  style as fstyle)
    from troikadl.figures import recurrent as frecurrent
    from troikadl.figures import decoder as fdecoder

    E("figures.style", "canvas", fstyle.canvas, width=Float(3.0, lo=0.5, hi=fstyle.MAX_WIDTH),
      height=Float(1.0, lo=0.3, hi=12.0), title=Fixed("a title"))
    E("figures.style", "text_width", fstyle.text_width, text=Str("softmax"), size=PosF(10.0))

    def graph_build() -> dict[str, Any]:
        w = ag.Tensor(np.array(0.8))
        L = ((w * 1.5).tanh() - 0.2) ** 2
        L.backward()
        return {"root": L, "names": {"w": w, "L": L}}

    graph_names = Mapping(None, none=True, extra={"a value not a tensor": {"w": 0.8},
                                                  "a tensor of another graph": {"w": ag.Tensor(np.array(1.0))},
                                                  "a key not a string": {3: ag.Tensor(np.array(1.0))}})
    E("figures.graph", "graph_of", fgraph.graph_of, _build=graph_build, root=Obj(), names=graph_names)
    E("figures.graph", "computational_graph", fgraph.computational_graph,
      _build=lambda: {**graph_build(), "width": 7.0, "height": 3.6}, root=Obj(),
      names=graph_names, width=Float(7.0, lo=0.5, hi=fstyle.MAX_WIDTH), height=Float(3.6, lo=0.3, hi=12.0))
    dag = {"a": [], "b": ["a"], "c": ["a", "b"]}
    bad_dag = {"a parent not a node": {"a": [], "b": ["z"]}, "a cycle": {"a": ["b"], "b": ["a"]}}
    E("figures.graph", "layered_layout", fgraph.layered_layout, parents=Mapping(dag, extra=bad_dag))
    E("figures.graph", "transitive_reduction", fgraph.transitive_reduction,  # no DAG check: layered_layout's
      parents=Mapping(dag, extra={"a parent not a node": bad_dag["a parent not a node"]}))
    E("figures.graph", "course_map", fgraph.course_map,
      prerequisites=Mapping({"01": [], "02": ["01"], "03": ["01", "02"]}, extra={"empty mapping": {}, **bad_dag}),
      titles=Mapping({"01": "1. Neuron"}, none=True), width=Float(7.0, lo=0.5, hi=fstyle.MAX_WIDTH),
      height=Float(3.0, lo=0.3, hi=12.0))
    E("figures.networks", "neuron", fnetworks.neuron, n=Int(3, lo=1, hi=99),
      activation=Choice("f", ["f", "sigmoid", "tanh", "relu"]))
    E("figures.networks", "perceptron_update", fnetworks.perceptron_update,
      w=Floats(np.array([2.0, 0.5]), nd=(1,), sz=(0,), extra={"zero vector": np.zeros(2)}),
      x=Floats(np.array([-0.5, 1.5]), nd=(1,), sz=(0,)), y=Choice(1, [-1, 1]), b=Float(0.0), lr=PosF(1.0))
    E("figures.layers", "dense_network", flayers.dense_network, sizes=IntSeq([4, 3], hi=8, minlen=2),
      dropout=Float(0.5, lo=0.0, hi=0.95), seed=Int(0, lo=0), output=Choice("softmax", ["none", "softmax", "step", "sigmoid"]))
    E("figures.layers", "dropout_mask", flayers.dropout_mask, sizes=IntSeq([4, 3], hi=8, minlen=2),
      p=Float(0.5, lo=0.0, hi=1.0), seed=Int(0, lo=0))
    E("figures.networks", "rnn_unrolled", fnetworks.rnn_unrolled, steps=Int(3, lo=2, hi=5))
    E("figures.recurrent", "stacked_bidirectional", frecurrent.stacked_bidirectional, layers=Int(2, lo=1, hi=3),
      steps=Int(4, lo=2, hi=5))
    E("figures.convolution", "conv_sliding", fconvolution.conv_sliding, n=Pos(5, hi=12),
      kernel=Pos(3, extra={"larger than the padded input": 9}), stride=Pos(1), padding=Int(0, lo=0),
      dilation=Pos(1, extra={"dilated beyond the padded input": 4}),
      output=IntSeq((0, 1), lo=0, length=2, extra={"outside the output grid": (3, 0)}))
    E("figures.convolution", "max_pooling", fconvolution.max_pooling,
      x=Floats(arr(4, 4), nd=(2,), none=True, extra={"too large": np.ones((11, 4))}), size=Pos(2, hi=4))
    E("figures.convolution", "shape_trace", fconvolution.shape_trace,
      shapes=Custom([(1, 8, 8), (4, 8, 8), (16,)],
                    {"string": "1x8x8", "one shape": [(1, 8, 8)], "a bare shape": (1, 8, 8),
                     "fractional": [(1, 8, 8.5), (16,)], "zero size": [(1, 8, 8), (0,)],
                     "two dimensions": [(8, 8), (16,)], "not shapes": [1, 2],
                     "too many blocks": [(k,) for k in range(1, 11)]}),
      names=StrList(["conv", "linear"], none=True, extra={"wrong count": ["conv"]}))
    E("figures.blocks", "residual_block", fblocks.residual_block,
      block=Obj(Lazy(lambda: tk.resnet.ResidualBlock(8, 16, stride=2)), none=True))
    E("figures.blocks", "depthwise_separable", fblocks.depthwise_separable, c_in=Pos(3, hi=8), c_out=Pos(4, hi=8),
      k=Pos(3, hi=7, extra={"even": 4}))
    E("figures.attention", "scaled_dot_product_attention", fattention.scaled_dot_product_attention,
      shapes=IntSeq((2, 3, 4, 4), hi=10_000, length=4, none=True), mask=Fixed(True))
    E("figures.attention", "multi_head_attention", fattention.multi_head_attention, heads=Int(2, lo=1, hi=64),
      d_model=Int(8, lo=1, hi=100_000, none=True, extra={"not divisible by heads": 9}))
    E("figures.attention", "encoder_block", fattention.encoder_block, norm_first=Fixed(False),
      activation=Choice("relu", ["relu", "gelu"]))
    E("figures.decoder", "decoder_block", fdecoder.decoder_block, norm_first=Fixed(True), mask_size=Int(5, lo=2, hi=8))
    E("figures.decoder", "kv_cache", fdecoder.kv_cache, step=Int(4, lo=2, hi=8),
      layers=Int(2, lo=1, hi=1_000, none=True), d_model=Int(8, lo=1, hi=1_000_000, none=True))
    E("figures.decoder", "encoder_decoder", fdecoder.encoder_decoder, length=Int(4, lo=2, hi=6),
      norm_first=Fixed(False))
    keep = pairs().attention[0] == 1
    pair_ids = pairs().ids[0][keep]
    E("figures.bert", "bert_inputs", fbert.bert_inputs, tokens=StrList([tok().vocab[i] for i in pair_ids]),
      segments=Ints(pairs().segments[0][keep], nd=(1,), sz=(0,), lo=0, hi=1),
      ids=Ints(pair_ids, nd=(1,), sz=(0,), lo=0, none=True))
    masked_in, masked_lab = mask_tokens(pair_ids, pairs().special[0][keep], vocab_size=V, mask_id=tok().mask_id,
                                        rng=np.random.default_rng(0), p=0.5)
    unselected, other_ids = masked_lab == train.IGNORE, (pair_ids + 1) % V
    E("figures.bert", "masking", fbert.masking, ids=Ints(pair_ids, nd=(1,), sz=(0,), lo=0, hi=V - 1),
      inputs=Ints(masked_in, nd=(1,), sz=(0,), lo=0, hi=V - 1,
                  extra={"changed where not selected": np.where(unselected, other_ids, masked_in)}),
      labels=Ints(masked_lab, nd=(1,), sz=(0,), lo=train.IGNORE, hi=V - 1,
                  extra={"not the original ids": np.where(unselected, train.IGNORE, other_ids)}),
      tok=Obj(Lazy(tok)))
    E("figures.search", "mixture_weights", fsearch.mixture_weights,
      alphas=Floats(np.array([0.1, 0.2, 0.3]), nd=(1,), sz=(0,)), n=Pos(3))
    E("figures.search", "darts_mixed_op", fsearch.darts_mixed_op,
      ops=StrList(["conv3", "pool", "skip"], none=True, extra={"one op": ["conv3"], "a repeated op": ["conv3", "conv3"],
                                                               "too many": [f"op{k}" for k in range(9)]}),
      alphas=Floats(np.array([0.5, -0.5, 0.0]), nd=(1,), sz=(0,), none=True))
    E("figures.search", "cost_front", fsearch.cost_front,
      cost=Floats(np.abs(arr(10)) + 0.1, nd=(1,), sz=(0,), extra={"zero cost": np.zeros(10)}),
      score=Floats(arr(10, seed=1), nd=(1,), sz=(0,)),
      groups=StrList(["kernel 1", "kernel 3"] * 5, extra={"wrong length": ["kernel 1"] * 9}),
      xlabel=Str("latency (ms)"))
    E("figures.search", "rank_scatter", fsearch.rank_scatter,
      scores=Custom({"params": arr(10), "naswot": arr(10, seed=1)},
                    {"not a mapping": lambda v: list(v.values()), "empty": {},
                     "five scores": {f"s{k}": arr(10) for k in range(5)},
                     "a short score": lambda v: {**v, "params": arr(9)}, "NaN scores": {"params": arr(10) * NAN},
                     "string scores": {"params": arr(10).astype(str)}, "a name not a string": {3: arr(10)}}),
      accuracy=Floats(arr(10, seed=2), nd=(1,), sz=(0,)),
      groups=StrList(["relu", "tanh"] * 5, none=True, extra={"wrong length": ["relu"] * 9}))
    halving = functools.lru_cache(None)(lambda: mf.successive_halving(benchmark.SPACE, lambda a, e: 0.5, n=9, max_epochs=9,
                                                                       rng=np.random.default_rng(0)))
    five_brackets = mf.hyperband(benchmark.SPACE, lambda a, e: 0.5, eta=2, max_epochs=16, rng=np.random.default_rng(0))
    E("figures.search", "halving_rungs", fsearch.halving_rungs,
      result=Obj(Lazy(halving), extra={"five brackets": five_brackets}))
    E("figures.bert", "pretraining_losses", fbert.pretraining_losses,
      mlm=Floats(np.abs(arr(30)) + 1.0, nd=(1,), sz=(0,)), nsp=Floats(np.abs(arr(30, seed=1)), nd=(1,), sz=(0,)),
      window=Int(5, lo=1, hi=30))
    E("figures.compression", "pruning_masks", fcompression.pruning_masks,
      W=Floats(arr(3, 4), nd=(2,), none=True, extra={"too large": np.ones((9, 4)), "too small": np.ones((1, 4))}),
      sparsity=Float(0.5, lo=0.0, hi=1.0, hi_open=True))
    E("figures.compression", "low_rank", fcompression.low_rank, m=Pos(8), n=Pos(6), r=Pos(2, hi=6))
    E("figures.compression", "quantization_grid", fcompression.quantization_grid, lo=Float(-1.0, hi=0.0),
      hi=Float(2.0, lo=0.0), bits=Choice(3, [2, 3, 4]), symmetric=Fixed(False))
    from troikadl.figures import sparsity as fsparsity

    E("figures.sparsity", "channel_pruning", fsparsity.channel_pruning,
      fraction=Float(0.5, lo=0.0, hi=1.0, hi_open=True),
      norms=Floats(np.array([3.1, 0.8, 2.4, 0.5]), nd=(1,), none=True,
                   extra={"too many": np.ones(9), "one": np.ones(1), "a negative norm": np.array([3.1, -0.8, 2.4, 0.5])}),
      next_filters=Int(3, lo=1, hi=4))
    E("figures.sparsity", "nm_pattern", fsparsity.nm_pattern, n=Int(2, lo=1, hi=3), m=Int(4, lo=2, hi=8),
      W=Floats(arr(4, 8), nd=(2,), none=True, extra={"too many rows": np.ones((9, 8)), "6 columns": np.ones((4, 6))}))
    for f in (fsparsity.imp_rounds, fsparsity.imp_loop):
        E("figures.sparsity", f.__name__, f, rate=Float(0.5, lo=0.0, hi=1.0, lo_open=True, hi_open=True),
          rounds=Int(3, lo=1, hi=3), seed=Seed(),
          shape=IntSeq((4, 6), lo=2, hi=6, length=2, extra={"too many columns": (4, 9), "a list of one": [4]}))
    from troikadl.figures import lowbit as flowbit

    E("figures.lowbit", "groupwise", flowbit.groupwise, bits=Int(4, lo=2, hi=6),
      W=Floats(flowbit.EXAMPLE_GW, nd=(2,), none=True, extra={"too many rows": np.ones((6, 8)),
                                                               "too many columns": np.ones((4, 9))}),
      group=Int(4, lo=1, hi=8, extra={"not dividing the columns": 3, "more than 4 groups": 1}))
    E("figures.lowbit", "llm_int8", flowbit.llm_int8, threshold=threshold,  # +inf is valid: no outlier dimension
      X=Floats(flowbit.EXAMPLE_X, nd=(2,), sz=(1,), none=True, extra={"too many tokens": np.ones((5, 4))}),
      W=Floats(flowbit.EXAMPLE_XW, nd=(2,), sz=(0,), none=True, extra={"three outputs": np.ones((4, 3))}))
    from troikadl.figures import supernet as fsupernet

    path_a, path_b = fsupernet.DEFAULT_PATHS
    E("figures.supernet", "inherited_slices", fsupernet.inherited_slices,
      arch=Arch(path_a, extra={"a tanh architecture": {**path_a, "activation": "tanh"}}))
    E("figures.supernet", "supernet", fsupernet.supernet, _slow=True,
      paths=Custom(list(fsupernet.DEFAULT_PATHS),
                   {"a bare dict": path_a, "string": "paths", "one path": [path_a],
                    "three paths": [path_a, path_b, path_a],
                    "the same path twice": [path_a, path_a], "a tanh path": [{**path_a, "activation": "tanh"}, path_b],
                    "an unknown value": [{**path_a, "depth": 9}, path_b], "not a dict": [3, path_b]}, none=True))
    from troikadl.figures import tokenizers as ftokenizers

    corpus = list(ftokenizers.EXAMPLE_CORPUS)
    E("figures.tokenizers", "merge_steps", ftokenizers.merge_steps,  # the default corpus allows 7 frequency merges
      n=Int(4, lo=1, hi=8, extra={"more merges than the corpus allows": 8}),
      sentences=StrList(corpus, extra={"no words": ["", " "], "too few merges for n": ["ab"]}),
      score=Choice("frequency", list(ftokenizers.SCORES), extra={"a list": ["frequency"]}))
    E("figures.tokenizers", "subword_merges", ftokenizers.subword_merges, n=Int(4, lo=1, hi=6),
      sentences=StrList(corpus, none=True, extra={"no words": [""], "seven words": [f"w{k}" for k in "abcdefg"],
                                                   "long words": ["x" * 40, "y" * 40, "z" * 40],
                                                   "too few merges for n": ["ab"]}),
      word=Str("hugs", extra={"two words": "hug pug", "empty": ""}))
    from troikadl.figures import formats as fformats
    E("figures.formats", "float_formats", fformats.float_formats, names=StrList(["float32", "bfloat16"]))
    for f in (ffusion.model_sizes, ffusion.fusion_kinds):
        E("figures.fusion", f.__name__, f, vocab_size=Int(21, lo=2, none=True))
    E("figures.fusion", "clip_similarity", ffusion.clip_similarity,
      S=Floats(arr(3, 3), nd=(2,), sz=(0, 1), extra={"too large": np.eye(9), "too small": np.eye(1)}),
      image_labels=Custom(["a", "b", "c"], {"wrong count": ["a", "b"], "number": 3, "non-string items": ["a", 3, "c"],
                                            "images without colour channels": np.zeros((3, 4, 4, 2)),
                                            "images: NaN": np.full((3, 4, 4, 3), NAN)}, none=True),
      text_labels=StrList(["x", "y", "z"], none=True, extra={"wrong count": ["x"]}))
    from troikadl.figures import scale as fscale

    E("figures.scale", "sharding", fscale.sharding, ranks=Int(2, lo=1, hi=4))
    E("figures.scale", "training_flops", fscale.training_flops, n_in=Int(4, lo=1, hi=1_000_000),
      n_out=Int(3, lo=1, hi=1_000_000), tokens=Int(5, lo=1, hi=1_000_000))


_catalogue()


# === running one argument's bad values ===================================================================

@dataclass
class Tally:
    """What every bad value did: per (module, function, argument, kind of bad value)."""

    calls: int = 0
    cases: dict[tuple[str, str, str, str], list[str]] = field(default_factory=dict)  # failures; [] = passed

    def record(self, entry: Entry, arg: str, label: str, failure: str | None) -> None:
        self.calls += 1
        fails = self.cases.setdefault((entry.module, entry.name, arg, label), [])
        if failure and len(fails) < 1:
            fails.append(failure)

    def summary(self) -> str:
        cases = len(self.cases)
        passed = sum(not f for f in self.cases.values())
        functions = len({k[:2] for k in self.cases})
        arguments = len({k[:3] for k in self.cases})
        pct = 100 * passed / cases if cases else 0.0
        return (f"bad-input catalogue: {functions} functions, {arguments} data arguments, {cases} bad-value cases "
                f"(function, argument, kind of bad value) tried with {self.calls} calls; {passed} raised ValueError or "
                f"TypeError naming the argument ({pct:.1f}%), {cases - passed} did not")


TALLY = Tally()


def _names(message: str, name: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", message) is not None


def _short(value: Any) -> str:
    if isinstance(value, (np.ndarray, torch.Tensor)):
        a = _np(value) if not (isinstance(value, torch.Tensor)) else value
        return f"{type(value).__name__}(dtype={a.dtype}, shape={tuple(a.shape)})"
    text = repr(value)
    return text if len(text) <= 50 else text[:47] + "..."


@contextlib.contextmanager
def isolated() -> Any:
    """Run a call in a scratch directory (a bad path such as 3 or None becomes a file there, not in the
    repository), without TROIKA_RESULTS_DIR (report() must not write records), quietly."""
    saved, cwd = os.environ.pop("TROIKA_RESULTS_DIR", None), os.getcwd()
    scratch = TMP / "cwd"
    scratch.mkdir(exist_ok=True)
    os.chdir(scratch)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        os.chdir(cwd)
        if saved is not None:
            os.environ["TROIKA_RESULTS_DIR"] = saved
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")


def attempt(entry: Entry, args: dict[str, Any], name: str) -> str | None:
    """Call with one bad argument; None if it raised ValueError/TypeError naming ``name``, else what happened."""
    try:
        with isolated():
            entry.call(**args)
    except (ValueError, TypeError) as exc:
        if _names(str(exc), name):
            return None
        return f"{type(exc).__name__} without naming {name!r}: {str(exc)[:150]}"
    except Exception as exc:  # noqa: BLE001 - any other exception type is the failure we record
        return f"{type(exc).__name__} (not ValueError/TypeError): {str(exc)[:150]}"
    return "returned without an error"


def check_argument(entry: Entry, arg: str, examples: int = EXAMPLES) -> dict[str, str]:
    """Try every kind of bad value of ``arg`` (hypothesis draws the details); return the failures by kind."""
    kind = entry.args[arg]
    failures: dict[str, str] = {}

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data: Any) -> None:
        for label in kind.labels():
            args = entry.build()
            bad = data.draw(kind.bad(label, args[arg]), label=f"{arg}: {label}")
            args[arg] = bad
            failure = attempt(entry, args, kind.expect.get(label, arg))
            TALLY.record(entry, arg, label, failure and f"{label} = {_short(bad)}: {failure}")
            if failure and label not in failures:
                failures[label] = f"{_short(bad)} -> {failure}"

    run()
    return failures


def _marks(entry: Entry, *, valid: bool = False) -> list[Any]:
    marks = [pytest.mark.tf] if entry.tf else []
    return marks + ([pytest.mark.slow] if valid and entry.slow else [])


@pytest.mark.parametrize("entry", [pytest.param(e, id=e.id, marks=_marks(e, valid=True)) for e in CATALOGUE])
def test_valid_call_succeeds(entry: Entry) -> None:
    """Each catalogue entry's valid call runs: a catalogue whose calls always fail would test nothing."""
    with isolated():
        entry.call(**entry.build())


@pytest.mark.parametrize("entry, arg", [pytest.param(e, a, id=f"{e.id}:{a}", marks=_marks(e))
                                        for e in CATALOGUE for a in e.data_args])
def test_bad_values_raise_naming_the_argument(entry: Entry, arg: str) -> None:
    failures = check_argument(entry, arg)
    assert not failures, f"{entry.id}({arg}=...): " + "; ".join(f"[{k}] {v}" for k, v in failures.items())


#: Public callables (from the modules' ``__all__``) deliberately left out of the catalogue, with the reason.
SKIPPED = {
    **{f"troikadl.validate.{n}": "the checks themselves (tests/test_validate.py)" for n in tk.validate.__all__},
    **{f"troikadl.{n}": "a record built by the package and read by readers (a dataclass)" for n in (
        "bert.pretrain.PretrainSettings", "cnn.ShapeTrace", "compress.measure.Timing", "compress.quantize.QParams",
        "data.tabular.Split", "data.translation.NumberPairs", "data.vqa.VQA", "landscapes.Landscape", "nas.analysis.Interval",
        "nas.analysis.SelectionOptimism", "nas.darts.DartsResult", "nas.search.SearchResult",
        "runtime.Runtime", "train.History", "figures.graph.GraphNode", "figures.style.Box",
        "scaling.counting.Reference", "bert.pretrain.Losses", "bert.finetune.Comparison", "bert.ablation.RecipeData",
        "nas.multifidelity.Rung", "nas.multifidelity.FidelityResult", "nas.oneshot.OneShotResult",
        "compress.calibrate.QuantError", "compress.observers.ObserverInfo", "compress.groupwise.GroupQuantized",
        "figures.tokenizers.Merge")},
    **{f"troikadl.{n}": "takes no data argument" for n in (
        "runtime.Timer", "runtime.current", "runtime.import_tf", "runtime.load_triton_first", "runtime.quiet",
        "data.corpus.stdlib_corpus", "figures.networks.lstm_cell", "figures.networks.lstm_gate_order",
        "figures.search.search_loop", "figures.search.two_halves",
        "figures.recurrent.gru_cell", "figures.recurrent.gru_gate_order", "scaling.counting.reference_models")},
    **{f"troikadl.figures.style.{n}": "a drawing primitive on a diagram's own matplotlib Axes, called by the "
       "diagrams (tests/test_figures.py)" for n in ("box", "arrow", "note", "cells", "brace")},
    "troikadl.notebook.require": "takes package names as *args; its errors are tested in tests/test_notebook.py",
    "troikadl.runtime.progress": "passes its keywords to tqdm",
    "troikadl.compress.measure.saved_bytes": "any object torch.save accepts is valid",
    "troikadl.compress.measure.storage_bytes": "any object torch.save accepts is valid",
    "troikadl.bert.pretrain.main": "the torchrun command line: argparse checks its arguments",
    "troikadl.bert.ablation.main": "the command line (python -m troikadl.bert.ablation): argparse checks its arguments",
    "troikadl.scaling.distributed.main": "the torchrun command line: argparse checks its arguments",
    "troikadl.optim.base.Optimizer": "the abstract base of SGD, AdaGrad, RMSProp, Adam and AdamW, which are catalogued",
}


def _public_callables() -> list[str]:
    """``module.qualname`` of every callable in the ``__all__`` of every public module (grading excluded)."""
    import importlib
    import inspect
    import pkgutil

    found = set()
    for info in pkgutil.walk_packages(tk.__path__, "troikadl."):
        if info.name.startswith("troikadl.grading") or any(p.startswith("_") for p in info.name.split(".")):
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if callable(obj) and not inspect.ismodule(obj):
                found.add(f"{obj.__module__}.{obj.__qualname__}")
    return sorted(found)


def test_the_catalogue_covers_every_public_callable() -> None:
    """A function added to an ``__all__`` must join the catalogue (or SKIPPED, with a reason)."""
    entries = {f"troikadl.{e.module}.{e.name}" for e in CATALOGUE}
    missing = [key for key in _public_callables() if key not in SKIPPED
               and not any(e == key or e.startswith(key + ".") for e in entries)]
    assert not missing, f"public callables missing from the bad-input catalogue: {missing}"
    assert not set(SKIPPED) - set(_public_callables()), "SKIPPED names something that is no longer public"


def test_zz_summary() -> None:
    """The counts of this run, for the record (``-rP`` shows them); run alone, it runs the catalogue first."""
    if not TALLY.cases:
        for entry in CATALOGUE:
            for arg in entry.data_args:
                check_argument(entry, arg)
    print(TALLY.summary())


def test_the_harness_catches_a_silent_function() -> None:
    """A function that accepts anything, or raises without naming, fails the check (the test can fail)."""
    silent = Entry("test", "silent", lambda x: None, {"x": Floats(arr(3, 2))})
    assert set(check_argument(silent, "x", examples=1)) == set(silent.args["x"].labels())
    def vague(x: Any) -> None:
        raise ValueError("bad input")

    vague = Entry("test", "vague", vague, {"x": Floats(arr(3, 2))})
    assert check_argument(vague, "x", examples=1)
    named = Entry("test", "named", lambda x: tk.validate.as_float_array(x, "x", ndim=2, nonempty=True),
                  {"x": Floats(arr(3, 2), nd=(2,))})
    assert check_argument(named, "x", examples=1) == {}
    for key in [k for k in TALLY.cases if k[0] == "test"]:  # keep the catalogue's counts clean
        del TALLY.cases[key]


def run_report(modules: list[str]) -> int:
    """Run the catalogue outside pytest; print the failures grouped by module, and the counts."""
    by_module: dict[str, list[str]] = defaultdict(list)
    for entry in CATALOGUE:
        if modules and not any(entry.module == m or entry.module.startswith(m + ".") for m in modules):
            continue
        try:
            with isolated():
                entry.call(**entry.build())
        except Exception as exc:  # noqa: BLE001
            by_module[entry.module].append(f"{entry.name}: the VALID call failed: {type(exc).__name__}: {exc}")
        for arg in entry.data_args:
            for label, what in check_argument(entry, arg).items():
                by_module[entry.module].append(f"{entry.name}({arg}) [{label}] {what}")
    for module in sorted(by_module):
        print(f"\n== troikadl.{module}: {len(by_module[module])} failing")
        for line in by_module[module]:
            print("  " + line)
    print("\n" + TALLY.summary())
    return 1 if by_module else 0


if __name__ == "__main__":
    if "--report" not in sys.argv:
        sys.exit("usage: python tests/test_bad_input.py --report [module ...]   (e.g. neuron data compress.quantize)")
    sys.exit(run_report([a for a in sys.argv[1:] if a != "--report"]))
