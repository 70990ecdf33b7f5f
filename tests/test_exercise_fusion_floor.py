"""Exercise 11.3 (``fusion.infonce_floor``): its expected values, its hand-computed cases, its wrong answers.

The expected values come from :func:`troikadl.fusion.contrastive.infonce_floor` (tested against a direct
optimisation of a tiny batch in tests/test_fusion_zeroshot.py). Here: the public cases' answers, computed by hand;
the package agrees with the exercise's statement (an independent version written below) on random batches; and
each registered wrong answer makes the mistake it is named after.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

import troikadl as tk
from troikadl.grading import EXERCISES
from troikadl.grading.fusion import _IDS_MIXED, _floor_package

EX = "fusion.infonce_floor"


def statement(caption_ids):
    """The exercise's statement, written independently: each row pays log(copies of its caption)."""
    counts = Counter(int(c) for c in caption_ids)
    return sum(math.log(counts[int(c)]) for c in caption_ids) / len(caption_ids)


def test_public_cases_by_hand():
    assert _floor_package([0, 1, 2, 3]) == 0.0
    assert _floor_package([5, 5, 7]) == pytest.approx(2 * math.log(2) / 3)  # rows 0, 1: log 2; row 2: 0
    assert _floor_package([2, 2, 2, 2]) == pytest.approx(math.log(4))
    assert _floor_package(_IDS_MIXED) == pytest.approx((3 * math.log(3) + 2 * math.log(2)) / 6)


def test_reference_passes(capsys):
    tk.grading.check(EX, statement)
    assert "\u2713" in capsys.readouterr().out


@pytest.mark.parametrize("seed", range(30))
def test_the_package_follows_the_statement_on_random_batches(seed):
    r = np.random.default_rng(seed)
    ids = r.integers(-5, int(r.integers(1, 40)), int(r.integers(1, 130)))
    assert _floor_package(ids) == pytest.approx(statement(ids), rel=1e-12, abs=1e-15)


def test_each_wrong_answer_makes_its_mistake():
    wrong, ids = EXERCISES[EX].wrong_answers, _IDS_MIXED  # copies: 3, 2, 3, 1, 2, 3
    assert wrong["log of the batch size"](ids) == pytest.approx(math.log(6))
    assert wrong["counts the image itself twice"](ids) == pytest.approx((3 * math.log(4) + 2 * math.log(3)
                                                                         + math.log(2)) / 6)
    assert wrong["one direction only"](ids) == pytest.approx(statement(ids) / 2)
    assert wrong["averages over distinct captions"](ids) == pytest.approx((math.log(3) + math.log(2)) / 3)
    assert wrong["ignores the duplicates"](ids) == 0.0
