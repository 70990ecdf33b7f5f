"""Exercise 10.3 (``quant.predicted_mse``): its expected values, its hand-computed cases, its wrong answers.

The expected values come from :func:`troikadl.compress.groupwise.group_quantize`'s scales (tested against
``torch.fake_quantize_per_channel_affine`` in tests/test_quantize_lowbit.py). Here: the public cases' answers,
computed by hand in this file; the package agrees with the exercise's statement (an independent few-line version
written below, with a loop over groups) on random matrices; each registered wrong answer makes the mistake it is
named after; and the prediction is close to the measured error where the statement says it should be.
"""

from __future__ import annotations

import numpy as np
import pytest

import troikadl as tk
import troikadl.compress.groupwise as G
from troikadl.grading import EXERCISES
from troikadl.grading.quant import _W_HAND, _W_ZERO, _predicted_package

EX = "quant.predicted_mse"


def statement(W, bits, group_size):
    """The exercise's statement, written independently: a loop over every group of every row."""
    W = np.asarray(W, dtype=float)
    total = 0.0
    for row in W:
        for start in range(0, len(row), group_size):
            s = max(abs(v) for v in row[start:start + group_size]) / (2 ** (bits - 1) - 1)
            total += group_size * s * s / 12
    return total / W.size


def test_public_cases_by_hand():
    # _W_HAND, groups of 2: maxima 1, 0.25 | 0.7, 0.35; int4: s = max / 7; mean of s^2 / 12 over 4 equal groups
    assert _predicted_package(_W_HAND, 4, 2) == pytest.approx((1 + 1 / 16 + 0.49 + 0.1225) / 49 / 48, rel=1e-12)
    assert _predicted_package(_W_HAND, 4, 4) == pytest.approx((1 + 0.49) / 49 / 24, rel=1e-12)
    assert _predicted_package(_W_HAND, 3, 2) == pytest.approx((1 + 1 / 16 + 0.49 + 0.1225) / 9 / 48, rel=1e-12)
    # _W_ZERO: groups 0 | 0.6 | 0 | 1.2: the zero groups contribute 0, not the package's placeholder scale 1
    assert _predicted_package(_W_ZERO, 4, 2) == pytest.approx((0.36 + 1.44) / 49 / 48, rel=1e-12)


def test_reference_passes(capsys):
    tk.grading.check(EX, statement)
    assert "\u2713" in capsys.readouterr().out


@pytest.mark.parametrize("seed", range(20))
def test_the_package_follows_the_statement_on_random_matrices(seed):
    r = np.random.default_rng(seed)
    g = int(r.choice([1, 2, 4, 8, 16]))
    W = r.normal(size=(int(r.integers(1, 6)), g * int(r.integers(1, 6)))) * r.uniform(0.01, 10)
    W[r.random(W.shape) < 0.2] = 0.0
    bits = int(r.integers(2, 9))
    assert _predicted_package(W, bits, g) == pytest.approx(statement(W, bits, g), rel=1e-12, abs=1e-300)


def test_each_wrong_answer_makes_its_mistake():
    wrong = EXERCISES[EX].wrong_answers
    right = statement(_W_HAND, 4, 2)
    assert wrong["s^2 / 4 instead of s^2 / 12"](_W_HAND, 4, 2) == pytest.approx(3 * right)
    assert wrong["step from 2^b - 1 levels"](_W_HAND, 4, 2) == pytest.approx(right * (7 / 15) ** 2)
    assert wrong["per-tensor max instead of per group"](_W_HAND, 4, 2) == pytest.approx(1 / 49 / 12)
    mean_s = (1 + 0.25 + 0.7 + 0.35) / 4 / 7
    assert wrong["mean of s, squared"](_W_HAND, 4, 2) == pytest.approx(mean_s ** 2 / 12)


@pytest.mark.parametrize("bits, g", [(4, 32), (4, 64), (4, 256), (8, 64)])
def test_the_prediction_holds_where_values_span_many_steps(bits, g):
    """Gaussian weights, 4 or 8 bits: within 10 % of the measured error (each group's largest weight is exact,
    so the measured error is about (g - 1) / g of the prediction)."""
    W = np.random.default_rng(0).normal(size=(128, 256))
    measured = np.mean((G.group_fake_quantize(W, bits, g) - W) ** 2)
    ratio = measured / statement(W, bits, g)
    assert 0.9 < ratio < 1.1
    assert ratio == pytest.approx((g - 1) / g, abs=0.03)


def test_the_prediction_fails_where_values_do_not_span_many_steps():
    """One large weight per group and the rest far below half a step: they all round to 0, so the error is
    their own mean square, far below s^2 / 12."""
    r = np.random.default_rng(1)
    W = r.normal(size=(64, 128)) * 0.01
    W[:, ::32] = 1.0
    measured = np.mean((G.group_fake_quantize(W, 4, 32) - W) ** 2)
    assert measured < 0.1 * statement(W, 4, 32)
    assert measured == pytest.approx(np.mean(np.where(W == 1.0, 0.0, W) ** 2), rel=1e-9)
