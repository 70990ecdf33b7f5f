import numpy as np
import pytest

from troikadl import validate as v


def test_as_features_accepts_lists_and_tensors():
    import torch

    assert v.as_features([[1, 2], [3, 4]]).dtype == np.float64
    assert v.as_features(torch.ones(3, 2)).shape == (3, 2)


@pytest.mark.parametrize("bad, exc, words", [
    (np.ones(3), ValueError, "X must be 2-D"),
    (np.zeros((0, 2)), ValueError, "at least one row"),
    (np.array([["a", "b"]]), TypeError, "X must hold numbers"),
    (np.array([[True, False]]), TypeError, "X must hold numbers"),
    (np.array([[np.nan, 1.0]]), ValueError, "finite"),
])
def test_as_features_names_argument_and_expectation(bad, exc, words):
    with pytest.raises(exc, match=words):
        v.as_features(bad)


def test_as_features_checks_columns():
    with pytest.raises(ValueError, match="X must have 2 columns"):
        v.as_features(np.ones((3, 5)), n_features=2)


def test_as_labels():
    assert v.as_labels([0, 1, 1.0]).tolist() == [0, 1, 1]
    assert v.as_labels(np.array([[1], [0]])).tolist() == [1, 0]
    with pytest.raises(ValueError, match="y must hold whole-number"):
        v.as_labels([0.5, 1])
    with pytest.raises(ValueError, match="one label per sample"):
        v.as_labels([0, 1], n=3)
    with pytest.raises(ValueError, match=r"only hold labels \[0, 1\], got also \[2\]"):
        v.as_labels([0, 2], allowed=(0, 1))
    with pytest.raises(TypeError, match="integer class labels"):
        v.as_labels(["a", "b"])


def test_scalars():
    assert v.check_positive(3, "epochs", integer=True) == 3
    with pytest.raises(TypeError, match="epochs must be an integer"):
        v.check_positive(3.0, "epochs", integer=True)
    with pytest.raises(ValueError, match="lr must be > 0"):
        v.check_positive(-1e-3, "lr")
    with pytest.raises(TypeError, match="lr must be a number"):
        v.check_positive("0.1", "lr")
    assert v.check_in_range(0.25, "test_size", 0, 1, closed="neither") == 0.25
    with pytest.raises(ValueError, match=r"test_size must be in \(0, 1\)"):
        v.check_in_range(1, "test_size", 0, 1, closed="neither")


def test_same_length():
    assert v.check_same_length(X=[1, 2], y=[3, 4]) == 2
    with pytest.raises(ValueError, match="X has 2, y has 3"):
        v.check_same_length(X=[1, 2], y=[1, 2, 3])
