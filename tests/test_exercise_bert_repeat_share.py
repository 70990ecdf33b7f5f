"""Exercise 7.4 (``bert.repeat_share``): its reference is the share of repeated draws that ``pretrain``'s batches
really make, and each registered wrong answer makes the mistake it is named after."""

from __future__ import annotations

import numpy as np
import pytest

import troikadl as tk
from troikadl.bert.pairs import PairData
from troikadl.bert.pretrain import batch_for_step
from troikadl.grading.bert import _repeat

EX = "bert.repeat_share"


def _data(n: int) -> PairData:
    """n pairs whose second token is the row's number, so a batch tells which rows it drew."""
    ids = np.zeros((n, 4), dtype=np.int64)
    ids[:, 0], ids[:, 1], ids[:, 2], ids[:, 3] = 2, 5 + np.arange(n), 3, 0
    special = np.array([[True, False, True, True]] * n)
    return PairData(ids, np.zeros_like(ids), (ids != 0).astype(np.int64), special, np.ones(n, dtype=np.int64),
                    vocab_size=n + 5, mask_id=4)


def _measured_share(n: int, steps: int, batch: int, seed: int) -> float:
    """The share of draws of ``batch_for_step`` (steps 0..steps-1) whose row was drawn at an earlier step."""
    data, seen, repeats = _data(n), set(), 0
    for step in range(steps):
        b = batch_for_step(data, step, batch, seed)
        rows = (np.where(b["labels"][:, 1] >= 0, b["labels"][:, 1], b["ids"][:, 1]) - 5).tolist()
        assert len(set(rows)) == batch   # distinct within a step
        repeats += sum(r in seen for r in rows)
        seen.update(rows)
    return repeats / (steps * batch)


def test_the_reference_is_what_pretrain_draws():
    n, steps, batch = 20, 6, 5   # a batch of a quarter of the pairs: replacement would show
    shares = [_measured_share(n, steps, batch, seed) for seed in range(400)]
    mean, se = np.mean(shares), np.std(shares, ddof=1) / np.sqrt(len(shares))
    assert abs(mean - _repeat(n, steps, batch)) < 4 * se, (mean, se, _repeat(n, steps, batch))
    # ...and the with-replacement formula is measurably different at this size
    assert abs(mean - _repeat(n, steps, batch, "draws with replacement")) > 4 * se


def test_the_reference_on_the_chapter_run_and_by_enumeration():
    # N = 3, B = 2, S = 2: the second step draws 2 of 3 pairs, each of which was drawn at step 1 w.p. 2/3
    assert _repeat(3, 2, 2) == pytest.approx((2 * 2 / 3) / 4)
    assert _repeat(20_000, 600, 32) == pytest.approx(0.3569, abs=1e-4)


def test_solution_passes_and_each_wrong_answer_fails(capsys):
    tk.grading.check(EX, _repeat)
    for name in ("pairs never drawn", "pairs drawn at least once", "draws with replacement", "draws per pair"):
        with pytest.raises(tk.grading.ExerciseFailed):
            tk.grading.check(EX, lambda n, s, b, v=name: _repeat(n, s, b, v))
