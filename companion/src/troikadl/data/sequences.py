"""Generated sequence tasks, seeded (chapters 5 and 6)."""

from __future__ import annotations

import numpy as np

from ..validate import check_choice, check_int, check_positive

__all__ = ["adding_problem", "token_task"]


def adding_problem(n: int, length: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem (Hochreiter and Schmidhuber, 1997): sum the two marked numbers of a sequence.

    Each of the ``n`` sequences has ``length`` steps with two features: a number uniform in [0, 1), and
    a marker that is 1 at exactly two random positions and 0 elsewhere. The target is the sum of the two
    marked numbers. Predicting the constant 1 gives a mean squared error of 1/6 (about 0.167); doing
    better requires remembering a number seen up to ``length`` steps earlier.
    Returns ``X`` (n, length, 2) float32 and ``y`` (n,) float32.
    """
    check_positive(n, "n", integer=True)
    check_positive(length, "length", integer=True)
    if length < 2:
        raise ValueError(f"length must be at least 2 (two marked positions), got {length}")
    check_int(seed, "seed", min=0)
    rng = np.random.default_rng(seed)
    values = rng.random((n, length))
    marked = rng.random((n, length)).argsort(axis=1)[:, :2]  # two distinct positions per row
    markers = np.zeros((n, length))
    np.put_along_axis(markers, marked, 1.0, axis=1)
    X = np.stack([values, markers], axis=-1).astype(np.float32)
    y = (values * markers).sum(axis=1).astype(np.float32)
    return X, y


def token_task(n: int, length: int, vocab_size: int, task: str = "sort", *, seed: int = 0
               ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sequences of random tokens in ``range(vocab_size)`` and their ``task``: "sort" or "reverse" (chapter 6).

    Returns ``X`` and ``y``, both int64 of shape (n, length): ``y[i]`` is ``X[i]`` sorted or reversed.
    """
    check_positive(n, "n", integer=True)
    check_positive(length, "length", integer=True)
    check_positive(vocab_size, "vocab_size", integer=True)
    check_choice(task, "task", ("sort", "reverse"))
    check_int(seed, "seed", min=0)
    X = np.random.default_rng(seed).integers(0, vocab_size, size=(n, length))
    return X, (np.sort(X, axis=1) if task == "sort" else X[:, ::-1].copy())
