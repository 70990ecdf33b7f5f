"""Reading a benchmark honestly: the Pareto front of cost against accuracy, and the test-set selection bias.

Taught in chapter 8.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..validate import as_float_array, check_positive

__all__ = ["pareto_front", "selection_bias"]


def pareto_front(cost: Any, score: Any) -> np.ndarray:
    """Indices of the points no other point beats, sorted by increasing cost.

    A point is dominated when another has cost <= and score >= with at least one strict. With equal
    (cost, score) pairs, only the first occurrence is kept. Lower cost (e.g. parameters) and higher
    score (e.g. accuracy) are better.
    """
    cost = as_float_array(cost, "cost", ndim=1)
    score = as_float_array(score, "score", ndim=1)
    if len(cost) != len(score):
        raise ValueError(f"cost and score must have the same length, got {len(cost)} and {len(score)}")
    if len(cost) == 0:
        raise ValueError("cost and score must hold at least one point")
    order = np.lexsort((-score, cost))  # by cost, and the best score first among equal costs
    front, best = [], -np.inf
    for i in order:
        if score[i] > best:
            front.append(int(i))
            best = score[i]
    return np.array(front, dtype=np.int64)


def selection_bias(select_on: Any, report: Any, fresh: Any, n_candidates: int, *, n_draws: int = 2000,
                   rng: np.random.Generator) -> np.ndarray:
    """What picking the best of ``n_candidates`` on ``select_on`` does to the score you ``report``.

    Each draw takes ``n_candidates`` architectures at random, picks the one with the highest
    ``select_on``, and returns ``report[pick] - fresh[pick]``, where ``fresh`` is an independent
    measurement of the same quantity (the other half of the test set, say). Its mean is the optimism of
    the reported score: positive when ``report`` is ``select_on`` itself, about zero when the choice was
    made on other data (validation).
    """
    s = as_float_array(select_on, "select_on", ndim=1)
    r = as_float_array(report, "report", ndim=1)
    f = as_float_array(fresh, "fresh", ndim=1)
    if not len(s) == len(r) == len(f):
        raise ValueError(f"select_on, report and fresh must have the same length, got {len(s)}, {len(r)}, {len(f)}")
    check_positive(n_candidates, "n_candidates", integer=True)
    check_positive(n_draws, "n_draws", integer=True)
    if n_candidates > len(s):
        raise ValueError(f"n_candidates must be at most {len(s)} (the number of architectures), got {n_candidates}")
    out = np.empty(n_draws)
    for d in range(n_draws):
        idx = rng.choice(len(s), size=n_candidates, replace=False)
        pick = idx[np.argmax(s[idx])]
        out[d] = r[pick] - f[pick]
    return out
