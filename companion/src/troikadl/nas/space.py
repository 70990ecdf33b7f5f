"""A search space as a product of option sets: its size, its members in a fixed order, sampling, mutation.

Taught in chapter 8. An *architecture* is a dict that picks one value per option, e.g.
``{"depth": 2, "width": 16, "kernel": 3, "activation": "relu", "skip": True}``. The space is the
Cartesian product of the option sets, so its size is the product of their lengths (not a set of
tuples whose entries are option *categories*, as article 000 §4.2.1 writes it).
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from ._checks import check_rng

__all__ = ["SearchSpace"]

_SCALARS = (bool, int, float, str)  # what Optuna's categorical distributions (and a CSV) can hold


class SearchSpace:
    """The product of named option sets. Members are ordered like nested loops, the last option fastest.

    ``SearchSpace({"depth": [1, 2, 3], "width": [8, 16]})`` has 6 members. Option names must be
    non-empty strings; each option needs at least two distinct values of type bool, int, float or str.
    """

    def __init__(self, options: Mapping[str, Sequence[Any]]):
        if not isinstance(options, Mapping):
            raise TypeError(f"options must be a mapping from option name to a list of values, "
                            f"got {type(options).__name__}")
        if not options:
            raise ValueError("options must name at least one option, got an empty mapping")
        self.options: dict[str, tuple[Any, ...]] = {}
        for name, values in options.items():
            if not isinstance(name, str) or not name:
                raise TypeError(f"option names must be non-empty strings, got {name!r}")
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
                raise TypeError(f"options[{name!r}] must be a list or tuple of values, got {type(values).__name__}")
            values = tuple(values)
            if len(values) < 2:
                raise ValueError(f"options[{name!r}] must offer at least 2 values to choose from, got {list(values)}")
            for v in values:
                if not isinstance(v, _SCALARS) or isinstance(v, np.generic):
                    raise TypeError(f"options[{name!r}] holds {v!r} of type {type(v).__name__}; "
                                    "values must be bool, int, float or str")
            if len({(type(v), v) for v in values}) != len(values):
                raise ValueError(f"options[{name!r}] repeats a value: {list(values)}")
            self.options[name] = values

    # --- size and order -----------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return list(self.options)

    @property
    def size(self) -> int:
        """The number of architectures: the product of the option sets' sizes."""
        return math.prod(len(v) for v in self.options.values())

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for combo in itertools.product(*self.options.values()):
            yield dict(zip(self.options, combo))

    def __repr__(self) -> str:
        inner = " x ".join(f"{k} {list(v)}" for k, v in self.options.items())
        return f"SearchSpace({inner}: {self.size} architectures)"

    def check(self, arch: Mapping[str, Any], name: str = "arch") -> dict[str, Any]:
        """Return ``arch`` as a plain dict if it is a member of the space; else raise ``ValueError``
        (``TypeError`` if it is not a mapping, or a value has the wrong type)."""
        if not isinstance(arch, Mapping):
            raise TypeError(f"{name} must be a dict of option values, got {type(arch).__name__}")
        if set(arch) != set(self.options):
            raise ValueError(f"{name} must set exactly the options {self.names}, got {sorted(arch)}")
        out = {}
        for k, values in self.options.items():
            value = arch[k].item() if isinstance(arch[k], np.generic) else arch[k]  # NumPy scalars from tables
            if not isinstance(value, _SCALARS):
                raise TypeError(f"{name}[{k!r}] must be one of {list(values)}, got {type(value).__name__} {value!r}")
            if not any(type(value) is type(v) and value == v for v in values):
                raise ValueError(f"{name}[{k!r}] = {arch[k]!r} is not one of {list(values)}")
            out[k] = value
        return out

    def index(self, arch: Mapping[str, Any]) -> int:
        """The position of ``arch`` in the space's order (0 ... size - 1)."""
        arch = self.check(arch)
        i = 0
        for k, values in self.options.items():
            pos = next(j for j, v in enumerate(values) if type(v) is type(arch[k]) and v == arch[k])
            i = i * len(values) + pos
        return i

    def __getitem__(self, i: int) -> dict[str, Any]:
        """The architecture at position ``i`` (the inverse of :meth:`index`)."""
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"index must be an integer, got {type(i).__name__}")
        if not 0 <= i < self.size:
            raise IndexError(f"index must be in [0, {self.size}), got {i}")
        picks = []
        for values in reversed(list(self.options.values())):
            i, pos = divmod(int(i), len(values))
            picks.append(values[pos])
        return dict(zip(self.options, reversed(picks)))

    # --- moves a search strategy makes ---------------------------------------------------------------
    def sample(self, *, rng: np.random.Generator) -> dict[str, Any]:
        """An architecture drawn uniformly: each option's value independently and uniformly."""
        check_rng(rng)
        return {k: v[int(rng.integers(len(v)))] for k, v in self.options.items()}

    def mutate(self, arch: Mapping[str, Any], *, rng: np.random.Generator) -> dict[str, Any]:
        """A copy of ``arch`` with exactly one option changed to a *different* value, both chosen uniformly.

        This is the mutation of regularized evolution (Real et al., 2019): the child always differs from
        its parent, and every neighbour at distance one is equally likely.
        """
        child = self.check(arch, "arch")
        check_rng(rng)
        name = self.names[int(rng.integers(len(self.options)))]
        others = [v for v in self.options[name] if not (type(v) is type(child[name]) and v == child[name])]
        child[name] = others[int(rng.integers(len(others)))]
        return child

    def neighbours(self, arch: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every architecture that differs from ``arch`` in exactly one option."""
        arch = self.check(arch)
        out = []
        for k, values in self.options.items():
            for v in values:
                if not (type(v) is type(arch[k]) and v == arch[k]):
                    out.append({**arch, k: v})
        return out
