"""Small tabular data sets bundled with scikit-learn, split and standardized the same way everywhere.

Introduced in chapter 1 and used by later chapters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..validate import as_features, as_labels, check_in_range, check_int, check_positive, check_same_length

__all__ = ["Split", "split_and_scale", "breast_cancer", "moons", "digits"]


@dataclass
class Split:
    """A train/test split: ``X_train, y_train, X_test, y_test`` (NumPy), plus names for the columns."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    feature_names: list[str] = field(default_factory=list)
    target_names: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return (f"Split(train {self.X_train.shape}, test {self.X_test.shape}, "
                f"classes {np.bincount(self.y_train).tolist()} / {np.bincount(self.y_test).tolist()})")


def split_and_scale(X: np.ndarray, y: np.ndarray, *, test_size: float = 0.25, seed: int = 0,
                    standardize: bool = True) -> Split:
    """Stratified train/test split; standardize with the **training** mean and std only.

    Taught in chapter 1: fitting the scaler on all the data would leak the test set into training.
    """
    from sklearn.model_selection import train_test_split

    X, y = as_features(X, "X"), as_labels(y, "y")
    check_same_length(X=X, y=y)
    check_in_range(test_size, "test_size", 0.0, 1.0, closed="neither")
    check_int(seed, "seed", min=0)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
    if standardize:
        mean, std = Xtr.mean(0), Xtr.std(0)
        std = np.where(std > 0, std, 1.0)
        Xtr, Xte = (Xtr - mean) / std, (Xte - mean) / std
    return Split(Xtr, ytr, Xte, yte)


def breast_cancer(*, seed: int = 0, test_size: float = 0.25) -> Split:
    """Wisconsin breast-cancer data (569 samples, 30 features), standardized, stratified split.

    Taught in chapter 1. Label 1 is benign, 0 malignant (scikit-learn's coding).
    """
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    s = split_and_scale(d.data, d.target, test_size=test_size, seed=seed)
    s.feature_names, s.target_names = list(d.feature_names), list(d.target_names)
    return s


def moons(*, n_samples: int = 1000, noise: float = 0.2, seed: int = 0, test_size: float = 0.25) -> Split:
    """Two interleaving half-moons (2 features), not linearly separable; stratified split, unscaled.

    Taught in chapter 1, where one neuron fails on it and one hidden layer succeeds.
    """
    from sklearn.datasets import make_moons

    check_positive(n_samples, "n_samples", integer=True)
    check_positive(noise, "noise", allow_zero=True)
    check_int(seed, "seed", min=0)
    X, y = make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    s = split_and_scale(X, y, test_size=test_size, seed=seed, standardize=False)
    s.feature_names, s.target_names = ["x1", "x2"], ["upper moon", "lower moon"]
    return s


def digits(*, seed: int = 0, test_size: float = 0.25, images: bool = False) -> Split:
    """scikit-learn's 1,797 handwritten digits (8x8 pixels, 16 grey levels), stratified split.

    Introduced in chapter 2. As vectors (n, 64), each pixel is standardized with the training
    statistics. With ``images=True`` (chapter 4) the inputs are (n, 1, 8, 8) and standardized with one
    global mean and standard deviation instead: per-pixel scaling would give the same ink a different
    value at each position, which fights a convolution's weight sharing.
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    s = split_and_scale(d.data, d.target, test_size=test_size, seed=seed, standardize=not images)
    if images:
        mean, std = s.X_train.mean(), s.X_train.std()
        s.X_train = ((s.X_train - mean) / std).reshape(-1, 1, 8, 8)
        s.X_test = ((s.X_test - mean) / std).reshape(-1, 1, 8, 8)
    s.target_names = [str(i) for i in range(10)]
    return s
