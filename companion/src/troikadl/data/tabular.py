"""Small tabular data sets bundled with scikit-learn, split and standardized the same way everywhere.

Introduced in chapter 1 and used by later chapters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

import numpy as np

from ..validate import as_features, as_labels, check_bool, check_in_range, check_int, check_positive, check_same_length

__all__ = ["Split", "split_and_scale", "breast_cancer", "moons", "digits"]


@dataclass
class Split:
    """A train/test split: ``X_train, y_train, X_test, y_test`` (NumPy), plus names for the columns.

    With a validation split (``val_size=`` in the loaders) ``X_val, y_val`` hold it; otherwise they are None.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    feature_names: list[str] = field(default_factory=list)
    target_names: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        parts = [("train", self.X_train, self.y_train), ("val", self.X_val, self.y_val),
                 ("test", self.X_test, self.y_test)]
        parts = [p for p in parts if p[1] is not None]
        return (f"Split({', '.join(f'{k} {X.shape}' for k, X, _ in parts)}, "
                f"classes {' / '.join(str(np.bincount(y).tolist()) for _, _, y in parts)})")


def _size(value: Any, name: str, n: int) -> int:
    """A split size as a count: a fraction of the ``n`` examples (a float in (0, 1)) or a count (an int >= 1)."""
    if isinstance(value, Integral) and not isinstance(value, (bool, np.bool_)):
        return check_int(value, name, min=1, max=n - 1)
    return math.ceil(check_in_range(value, name, 0.0, 1.0, closed="neither") * n)


def split_and_scale(X: np.ndarray, y: np.ndarray, *, test_size: float | int = 0.25, val_size: float | int | None = None,
                    seed: int = 0, standardize: bool = True) -> Split:
    """Stratified train/test split (and a validation split from the rest if ``val_size``); standardize with the
    **training** mean and std only.

    ``test_size`` and ``val_size`` are fractions of all the examples (floats in (0, 1)) or counts (ints).
    Taught in chapter 1: fitting the scaler on all the data would leak the test set into training.
    """
    from sklearn.model_selection import train_test_split

    X, y = as_features(X, "X"), as_labels(y, "y")
    n = check_same_length(X=X, y=y)
    n_test = _size(test_size, "test_size", n)
    n_val = 0 if val_size is None else _size(val_size, "val_size", n)
    check_int(seed, "seed", min=0)
    classes = len(np.unique(y))  # the splits are stratified: each needs one example of every class
    for name, count in (("test_size", n_test), ("val_size", n_val if val_size is not None else classes)):
        if count < classes:
            raise ValueError(f"{name} must hold at least one example of each of the {classes} classes "
                             f"(the split is stratified), got {count} examples")
    if n - n_test - n_val < classes:
        raise ValueError(f"test_size + val_size must leave at least {classes} of the {n} examples for training "
                         f"(one of each class), got {n_test} + {n_val}")
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
    Xva = yva = None
    if val_size is not None:
        Xtr, Xva, ytr, yva = train_test_split(Xtr, ytr, test_size=n_val, random_state=seed, stratify=ytr)
    if standardize:
        mean, std = Xtr.mean(0), Xtr.std(0)
        std = np.where(std > 0, std, 1.0)
        Xtr, Xte = (Xtr - mean) / std, (Xte - mean) / std
        Xva = None if Xva is None else (Xva - mean) / std
    return Split(Xtr, ytr, Xte, yte, Xva, yva)


def breast_cancer(*, seed: int = 0, test_size: float = 0.25) -> Split:
    """Wisconsin breast-cancer data (569 samples, 30 features), standardized, stratified split.

    Taught in chapter 1. Label 1 is benign, 0 malignant (scikit-learn's coding).
    """
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    s = split_and_scale(d.data, d.target, test_size=test_size, seed=seed)
    s.feature_names, s.target_names = list(d.feature_names), list(d.target_names)
    return s


def moons(*, n: int = 1000, noise: float = 0.2, seed: int = 0, test_size: float | int = 0.25) -> Split:
    """``n`` points of two interleaving half-moons (2 features), not linearly separable; stratified split, unscaled.

    Taught in chapter 1, where one neuron fails on it and one hidden layer succeeds.
    """
    from sklearn.datasets import make_moons

    check_positive(n, "n", integer=True)
    check_positive(noise, "noise", allow_zero=True)
    check_int(seed, "seed", min=0)
    X, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    s = split_and_scale(X, y, test_size=test_size, seed=seed, standardize=False)
    s.feature_names, s.target_names = ["x1", "x2"], ["upper moon", "lower moon"]
    return s


def digits(*, seed: int = 0, test_size: float | int = 0.25, val_size: float | int | None = None,
           images: bool = False) -> Split:
    """scikit-learn's 1,797 handwritten digits (8x8 pixels, 16 grey levels), stratified split.

    Introduced in chapter 2. As vectors (n, 64), each pixel is standardized with the training
    statistics. With ``images=True`` (chapter 4) the inputs are (n, 1, 8, 8) and standardized with one
    global mean and standard deviation instead: per-pixel scaling would give the same ink a different
    value at each position, which fights a convolution's weight sharing. ``val_size`` (chapter 8's
    benchmark: 360 test and 360 validation images) also splits a validation set off the training part.
    """
    from sklearn.datasets import load_digits

    check_bool(images, "images")
    d = load_digits()
    s = split_and_scale(d.data, d.target, test_size=test_size, val_size=val_size, seed=seed, standardize=not images)
    if images:
        mean, std = s.X_train.mean(), s.X_train.std()
        s.X_train, s.X_test = (((X - mean) / std).reshape(-1, 1, 8, 8) for X in (s.X_train, s.X_test))
        if s.X_val is not None:
            s.X_val = ((s.X_val - mean) / std).reshape(-1, 1, 8, 8)
    s.target_names = [str(i) for i in range(10)]
    return s
