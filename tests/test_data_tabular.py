"""troikadl.data.tabular: the one digits loader (with chapter 8's validation split), moons, split sizes."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_moons
from sklearn.model_selection import train_test_split

import troikadl as tk
from troikadl.data import tabular

EXACT = 1e-12  # float64 standardization of values below 17: agreement to rounding


def test_digits_with_a_validation_split_is_sklearns_two_stratified_splits_scaled_on_train_only():
    """Chapter 8's benchmark split, rebuilt here with scikit-learn: 360 test images split off first, then 360
    validation images from the rest, all standardized with the training images' global mean and std."""
    d = load_digits()
    Xrest, Xte, yrest, yte = train_test_split(d.data, d.target, test_size=360, random_state=3, stratify=d.target)
    Xtr, Xva, ytr, yva = train_test_split(Xrest, yrest, test_size=360, random_state=3, stratify=yrest)
    mean, std = Xtr.mean(), Xtr.std()
    s = tk.data.digits(seed=3, test_size=360, val_size=360, images=True)
    for got, raw, y_got, y in ((s.X_train, Xtr, s.y_train, ytr), (s.X_val, Xva, s.y_val, yva),
                               (s.X_test, Xte, s.y_test, yte)):
        assert got.shape == (len(raw), 1, 8, 8)
        np.testing.assert_allclose(got.reshape(len(raw), 64), (raw - mean) / std, rtol=0, atol=EXACT)
        np.testing.assert_array_equal(y_got, y)
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (1077, 360, 360)
    for y in (s.y_val, s.y_test):  # stratified: each class within one image of its share
        assert np.all(np.abs(np.bincount(y, minlength=10) - np.bincount(d.target) * len(y) / 1797) < 1)


def test_digits_vectors_scale_the_validation_split_with_the_training_statistics():
    s = tk.data.digits(seed=0, test_size=0.2, val_size=0.1)
    d = load_digits()
    n_test, n_val = int(np.ceil(0.2 * 1797)), int(np.ceil(0.1 * 1797))
    assert (len(s.X_test), len(s.X_val), len(s.X_train)) == (n_test, n_val, 1797 - n_test - n_val)
    Xrest, _, yrest, _ = train_test_split(d.data, d.target, test_size=0.2, random_state=0, stratify=d.target)
    Xtr, Xva, _, _ = train_test_split(Xrest, yrest, test_size=n_val, random_state=0, stratify=yrest)
    mean, std = Xtr.mean(0), np.where(Xtr.std(0) > 0, Xtr.std(0), 1.0)
    np.testing.assert_allclose(s.X_val, (Xva - mean) / std, rtol=0, atol=EXACT)
    assert "val (180, 64)" in repr(s)
    plain = tk.data.digits(seed=0)
    assert plain.X_val is None and plain.y_val is None and "val" not in repr(plain)


def test_moons_takes_n_and_is_sklearns_draw():
    s = tk.data.moons(n=300, noise=0.1, seed=2)
    X, y = make_moons(n_samples=300, noise=0.1, random_state=2)
    Xtr, Xte, _, _ = train_test_split(X, y, test_size=0.25, random_state=2, stratify=y)
    np.testing.assert_array_equal(s.X_train, Xtr)
    np.testing.assert_array_equal(s.X_test, Xte)


def test_split_sizes_are_fractions_or_counts_and_leave_every_class_in_every_split():
    X, y = np.arange(40.0).reshape(20, 2), np.arange(20) % 2
    s = tk.data.split_and_scale(X, y, test_size=4, val_size=6, seed=0)
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (10, 6, 4)
    with pytest.raises(ValueError, match=r"test_size \+ val_size must leave at least 2"):
        tk.data.split_and_scale(X, y, test_size=10, val_size=9)
    with pytest.raises(ValueError, match="val_size must hold at least one example of each of the 2 classes"):
        tk.data.split_and_scale(X, y, val_size=1)
    with pytest.raises(ValueError, match=r"test_size must be in \(0, 1\)"):
        tk.data.split_and_scale(X, y, test_size=1.5)
    with pytest.raises(TypeError, match="test_size must be a real number"):
        tk.data.split_and_scale(X, y, test_size=True)
    with pytest.raises(TypeError, match="images must be True or False"):
        tk.data.digits(images="yes")


def test_every_seed_of_the_tabular_loaders_is_keyword_only_and_features_come_before_labels():
    for name in tabular.__all__:
        obj = getattr(tabular, name)
        if inspect.isfunction(obj):
            params = inspect.signature(obj).parameters
            assert params["seed"].kind is inspect.Parameter.KEYWORD_ONLY, name
            assert not any(p.endswith("_samples") for p in params), name  # a count of examples is `n`
    assert list(inspect.signature(tabular.split_and_scale).parameters)[:2] == ["X", "y"]
