"""Exercise 9.2 (``compress.prune_round``): its expected values, its hand-counted cases, its wrong answers.

The expected values come from :func:`troikadl.compress.lottery.prune_round` (checked equal to
``torch.nn.utils.prune.global_unstructured`` applied repeatedly in tests/test_compress_lottery.py). Here: the public
cases' answers, worked out by hand in this file; the package agrees with the exercise's statement (an independent
few-line version written below) on random inputs; and each registered wrong answer makes the mistake it is named
after.
"""

from __future__ import annotations

import numpy as np
import pytest

import troikadl as tk
from troikadl.grading import EXERCISES
from troikadl.grading.compress import _ALL, _HALF, _W1, _W2, _round_package

EX = "compress.prune_round"


def statement(weights, masks, rate):
    """The exercise's statement, written independently: sort the survivors by (|w|, position), drop the first k."""
    flat = [(abs(float(v)), pos) for pos, (v, keep) in enumerate(zip(np.concatenate([np.ravel(w) for w in weights]),
                                                                       np.concatenate([np.ravel(m) for m in masks])))
            if keep]
    dropped = {pos for _, pos in sorted(flat)[:round(rate * len(flat))]}
    out, start = [], 0
    for m in masks:
        m = np.asarray(m, bool)
        out.append(np.array([bool(k) and start + i not in dropped for i, k in enumerate(m.ravel())]).reshape(m.shape))
        start += m.size
    return out


def _eq(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_public_cases_by_hand():
    # all 10 weights alive, rate 0.5: the 5 smallest |w| are 0.02, 0.05, 0.1, 0.2, 0.3 (four of them in _W2)
    assert _eq(_round_package([_W1, _W2], _ALL, 0.5),
               [np.array([[True, False], [True, True]]), np.array([[False, False, False], [True, True, False]])])
    # 7 survive (0.5, 0.1, 2, 3 | 1, 0.4, 0.3): round(3.5) = 4 go: 0.1, 0.3, 0.4, 0.5; 0.02, 0.05, 0.2 were gone
    assert _eq(_round_package([_W1, _W2], _HALF, 0.5),
               [np.array([[False, False], [True, True]]), np.array([[False, False, False], [True, False, False]])])
    # 5.0 was pruned earlier and stays pruned; of 0.1, 0.2, 0.3, round(1) = 1 goes: 0.1
    assert _eq(_round_package([np.array([[5.0, 0.1, 0.2, 0.3]])], [np.array([[False, True, True, True]])], 1 / 3),
               [np.array([[False, False, True, True]])])
    # 4 survive (0.3, 0.1, 0.2, 0.4), 2 go: 0.1 and 0.2; the zeros were pruned already
    assert _eq(_round_package([np.array([[0.0, 0.0, 0.3, -0.1, 0.2, 0.4]])],
                              [np.array([[False, False, True, True, True, True]])], 0.5),
               [np.array([[False, False, True, False, False, True]])])
    # ties: 5 survive, round(2.0) = 2 go, the first two survivors (positions 0 and 2)
    assert _eq(_round_package([np.ones((1, 6))], [np.array([[True, False, True, True, True, True]])], 0.4),
               [np.array([[False, False, False, True, True, True]])])


def test_reference_passes(capsys):
    tk.grading.check(EX, statement)
    assert "\u2713" in capsys.readouterr().out


@pytest.mark.parametrize("seed", range(40))
def test_the_package_follows_the_statement_on_random_inputs(seed):
    r = np.random.default_rng(seed)
    ints = seed % 2 == 0  # integer weights: many ties
    ws = [(r.integers(-3, 4, size=tuple(r.integers(1, 6, 2))) if ints else r.normal(size=tuple(r.integers(1, 6, 2))))
          for _ in range(int(r.integers(1, 4)))]
    masks = [r.random(w.shape) < r.uniform(0.3, 1.0) for w in ws]
    for rate in r.uniform(0, 0.95, size=3):
        got, want = _round_package(ws, masks, rate), statement(ws, masks, rate)
        assert _eq(got, want)
        masks = got


def test_each_wrong_answer_makes_its_mistake():
    wrong = EXERCISES[EX].wrong_answers
    # 7 survivors but round(0.5 * 10) = 5 removed
    assert sum(int(m.sum()) for m in wrong["prunes a fraction of ALL weights instead of the survivors"](
        [_W1, _W2], _HALF, 0.5)) == 7 - 5
    # per layer: 2 of _W1's 4 and 3 of _W2's 6 (global takes 1 and 4)
    per = wrong["per-layer instead of global"]([_W1, _W2], _ALL, 0.5)
    assert [int((~m).sum()) for m in per] == [2, 3]
    # the two pruned zeros are "removed" again: no live weight goes
    zeros = wrong["counts pruned zeros as the smallest"]([np.array([[0.0, 0.0, 0.3, -0.1, 0.2, 0.4]])],
                                                          [np.array([[False, False, True, True, True, True]])], 0.5)
    assert _eq(zeros, [np.array([[False, False, True, True, True, True]])])
    # the large pruned 5.0 comes back
    back = wrong["forgets the old mask (pruned weights come back)"]([np.array([[5.0, 0.1, 0.2, 0.3]])],
                                                                    [np.array([[False, True, True, True]])], 1 / 3)
    assert bool(back[0][0, 0])
    assert _eq(wrong["removes the largest"]([np.array([[1.0, 3.0, 2.0]])], [np.ones((1, 3), bool)], 1 / 3),
               [np.array([[True, False, True]])])
