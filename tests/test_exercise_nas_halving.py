"""Exercise 8.4 (``nas.successive_halving``): its expected values, its hand-counted cases, its wrong answers.

The expected values come from :func:`troikadl.nas.multifidelity.successive_halving` (tested against Li et al.'s
Table 1 and hand cases in tests/test_nas_multifidelity.py). Here: the public cases' answers, counted by hand in
this file; the package agrees with the exercise's statement (an independent few-line version written below) on
random curves; and each registered wrong answer makes the mistake it is named after.
"""

from __future__ import annotations

import numpy as np
import pytest

import troikadl as tk
from troikadl.grading import EXERCISES
from troikadl.grading.nas import _NINE, _TEN, _halving_package

EX = "nas.successive_halving"


def statement(curves, rungs, eta):
    """The exercise's statement, written independently: survivors by score (ties: smaller index), runs continue."""
    alive, epochs, done = list(range(len(curves))), 0, 0
    for k, r in enumerate(rungs):
        epochs += len(alive) * (r - done)
        ranked = sorted(alive, key=lambda i: (-curves[i][r - 1], i))
        alive, done = ranked[:1 if k == len(rungs) - 1 else max(1, len(alive) // eta)], r
    return alive[0], epochs


def test_public_cases_by_hand():
    # nine: after 1 epoch the best three are 1 (0.70), 3 (0.65), 5 (0.60); after 4 epochs 3 (0.90) leads;
    # 9 x 1 + 3 x 3 + 1 x 8 = 26 epochs. Candidate 4 would end best (0.99) but is dropped after one epoch.
    assert _halving_package(_NINE, [1, 4, 12], 3) == (3, 26)
    assert _halving_package(_TEN, [1, 4, 12], 3) == (3, 27)  # 10 + 3 x 3 + 1 x 8
    # eta 2: epoch 3 reads the epoch-1 value (step curves), keep 4 (1, 3, 5, 7); epoch 6 reads the epoch-4
    # value, keep 2 (3: 0.90, 7: 0.75); epoch 12: 3. Epochs 9 x 3 + 4 x 3 + 2 x 6 = 51.
    assert _halving_package(_NINE, [3, 6, 12], 2) == (3, 51)
    assert _halving_package(_NINE[:3], [12], 3) == (2, 36)
    assert max(range(9), key=lambda i: _NINE[i][-1]) == 4


def test_reference_passes(capsys):
    tk.grading.check(EX, statement)
    assert "\u2713" in capsys.readouterr().out


@pytest.mark.parametrize("seed", range(40))
def test_the_package_follows_the_statement_on_random_curves(seed):
    r = np.random.default_rng(seed)
    eta = int(r.integers(2, 5))
    lo = int(r.choice([1, 2, 3]))
    rungs = tk.nas.multifidelity.rung_epochs(eta=eta, min_epochs=lo, max_epochs=12)
    curves = r.random((int(r.integers(1, 40)), 12)).tolist()
    assert _halving_package(curves, rungs, eta) == statement(curves, rungs, eta)


def test_rungs_that_the_package_would_not_use_are_refused():
    with pytest.raises(ValueError, match="rungs"):
        _halving_package(_NINE, [1, 5, 12], 3)


def test_each_wrong_answer_makes_its_mistake():
    wrong = EXERCISES[EX].wrong_answers
    assert wrong["keeps ceil(n / eta)"](_TEN, [1, 4, 12], 3) == (3, 10 + 4 * 3 + 2 * 8)
    assert wrong["retrains from scratch at every rung"](_NINE, [1, 4, 12], 3) == (3, 9 * 1 + 3 * 4 + 1 * 12)
    assert wrong["keeps the worst"](_NINE, [1, 4, 12], 3)[0] == 8  # 0.10 after one epoch, then alone
    assert wrong["judges at the first rung only"](_NINE, [1, 4, 12], 3) == (1, 26)
