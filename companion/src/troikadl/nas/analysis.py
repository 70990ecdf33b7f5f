"""Reading a benchmark honestly: the Pareto front, the optimism of a selected score, differences with intervals.

Taught in chapter 8.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..validate import as_float_array, check_in_range, check_positive
from ._checks import check_rng

__all__ = ["pareto_front", "selection_bias", "selection_bias_interval", "SelectionOptimism", "Interval",
           "mean_difference"]


class Interval(NamedTuple):
    """An estimate with the bounds of its confidence interval (chapter 8)."""

    estimate: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.estimate:+.4f} [{self.low:+.4f}, {self.high:+.4f}]"


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


def _gains(select_on: Any, report: Any, fresh: Any, *, siblings: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``select_on`` and the gain to measure, both (architectures, runs), checked.

    With one run per architecture the gain is ``report - fresh``; with several, it is each run's
    ``report - fresh`` minus the mean of the same architecture's other runs (unless ``siblings=False``).
    """
    arrays = []
    for name, x in (("select_on", select_on), ("report", report), ("fresh", fresh)):
        a = as_float_array(x, name)
        if a.ndim not in (1, 2):
            raise ValueError(f"{name} must be 1-D (one score per architecture) or 2-D (architectures, runs), "
                             f"got shape {a.shape}")
        arrays.append(a)
    if not arrays[0].shape == arrays[1].shape == arrays[2].shape:
        raise ValueError(f"select_on, report and fresh must have the same shape (same length), got "
                         f"{arrays[0].shape}, {arrays[1].shape}, {arrays[2].shape}")
    s, r, f = (a.reshape(len(a), -1) for a in arrays)
    if len(s) == 0:
        raise ValueError("select_on, report and fresh must score at least one architecture")
    gain = r - f
    if siblings and gain.shape[1] > 1:  # compare each run with its siblings: same architecture, other seeds
        gain = gain - (gain.sum(1, keepdims=True) - gain) / (gain.shape[1] - 1)
    return s, gain


def _draws(s: np.ndarray, gain: np.ndarray, n: int, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """(n_draws, runs): the gain of the candidate picked on ``s`` among ``n`` drawn at random."""
    cand = np.argsort(rng.random((n_draws, len(s))), axis=1)[:, :n]       # n distinct candidates per draw
    pick = np.argmax(s[cand], axis=1)[:, None, :]                          # (draws, 1, runs); ties: random
    return np.take_along_axis(gain[cand], pick, axis=1)[:, 0, :]


def _check_draw_args(n_candidates: int, n_draws: int, n_archs: int, rng: Any) -> None:
    check_positive(n_candidates, "n_candidates", integer=True)
    check_positive(n_draws, "n_draws", integer=True)
    check_rng(rng)
    if n_candidates > n_archs:
        raise ValueError(f"n_candidates must be at most {n_archs} (the number of architectures), got {n_candidates}")


def selection_bias(select_on: Any, report: Any, fresh: Any, n_candidates: int, *, n_draws: int = 2000,
                   rng: np.random.Generator) -> np.ndarray:
    """What picking the best of ``n_candidates`` on ``select_on`` does to the score you ``report``.

    Each draw takes ``n_candidates`` architectures at random and picks the one with the highest
    ``select_on`` (ties broken at random). ``fresh`` is an independent measurement of what ``report``
    measures (the other half of the test set, say), and the draw's value is the pick's
    ``report - fresh``. Its mean estimates the optimism of the reported score (positive when ``report``
    is ``select_on`` itself), plus whatever difference in difficulty the two measurements have for the
    architectures that get picked.

    Two halves of a test set are never equally hard, and not equally hard for every architecture. With
    2-D inputs (architectures, runs), e.g. one column per training seed, each run is selected separately
    (same candidates) and its ``report - fresh`` is compared with the mean ``report - fresh`` of the
    same architecture's **other** runs: whatever the two measurements' difficulty does to that
    architecture cancels, and what remains is the luck of the chosen run. Nothing forces it to zero.
    The result then has shape (n_draws, runs); 1-D inputs give (n_draws,).
    """
    s, gain = _gains(select_on, report, fresh)
    _check_draw_args(n_candidates, n_draws, len(s), rng)
    out = _draws(s, gain, int(n_candidates), int(n_draws), rng)
    return out[:, 0] if np.ndim(select_on) == 1 else out


class SelectionOptimism(NamedTuple):
    """The optimism of a selected score, its confidence interval, and how many runs the picks landed on."""

    estimate: float
    low: float
    high: float
    effective_runs: float

    def __str__(self) -> str:
        return (f"{self.estimate:+.4f} [{self.low:+.4f}, {self.high:+.4f}] "
                f"({self.effective_runs:.0f} effective runs)")


def selection_bias_interval(select_on: Any, report: Any, fresh: Any, n_candidates: int, *, n_draws: int = 2000,
                            level: float = 0.95, rng: np.random.Generator) -> SelectionOptimism:
    """The mean of :func:`selection_bias` (same inputs and draws), with a confidence interval.

    The estimate is a weighted sum of the runs' gains ``report - fresh``: each picked run counts with
    plus its share of the picks, its sibling runs with minus that share divided among them, so every
    architecture's weights add up to zero and its own level cancels. Its standard error is
    ``tau * sqrt(sum of squared weights)``, where ``tau**2`` is the variance of the gain between runs of
    one architecture (training noise; pooled over architectures). This is exact when the gains of the
    picked runs are independent of the choice, the case a control checks (a choice made on validation
    data); when the choice was made on ``report`` itself it is an approximation. ``effective_runs``
    is ``1 / sum(share**2)``: how many distinct runs the picks were spread over. With 1-D inputs (one
    run each) there are no siblings: the weights are the shares and ``tau`` is the spread of the gain
    over architectures.
    """
    from statistics import NormalDist

    s, raw = _gains(select_on, report, fresh, siblings=False)
    _check_draw_args(n_candidates, n_draws, len(s), rng)
    check_in_range(level, "level", 0.0, 1.0, closed="neither")
    n_arch, m = raw.shape
    cand = np.argsort(rng.random((int(n_draws), n_arch)), axis=1)[:, :int(n_candidates)]
    picks = np.take_along_axis(cand, np.argmax(s[cand], axis=1), axis=1)  # (draws, runs): the picked architecture
    share = np.zeros((n_arch, m))
    for j in range(m):
        share[:, j] = np.bincount(picks[:, j], minlength=n_arch)
    share /= share.sum()
    if m > 1:
        weight = share - (share.sum(1, keepdims=True) - share) / (m - 1)
        tau2 = float(raw.var(1, ddof=1).mean())
    else:
        weight, tau2 = share, float(raw.var(ddof=1)) if n_arch > 1 else 0.0
    estimate = float((weight * raw).sum())
    half = NormalDist().inv_cdf(0.5 + level / 2) * np.sqrt(tau2 * float((weight ** 2).sum()))
    return SelectionOptimism(estimate, estimate - half, estimate + half, float(1 / (share ** 2).sum()))


def mean_difference(x: Any, y: Any, *, paired: bool = True, level: float = 0.95) -> Interval:
    """The mean of ``x`` minus the mean of ``y``, with a t confidence interval.

    ``paired=True`` when ``x[i]`` and ``y[i]`` belong together (two strategies run on the same random
    stream ``i``): the interval then comes from the ``n`` differences ``x[i] - y[i]``. Otherwise the
    two samples are treated as independent (Welch's interval).
    """
    from scipy import stats

    a, b = as_float_array(x, "x", ndim=1), as_float_array(y, "y", ndim=1)
    if not isinstance(paired, bool):
        raise TypeError(f"paired must be True or False, got {type(paired).__name__}")
    check_in_range(level, "level", 0.0, 1.0, closed="neither")
    if paired and len(a) != len(b):
        raise ValueError(f"paired samples x and y must have the same length, got {len(a)} and {len(b)}")
    if min(len(a), len(b)) < 2:
        raise ValueError(f"x and y need at least 2 values each for an interval, got {len(a)} and {len(b)}")
    q = 0.5 + level / 2
    if paired:
        d = a - b
        est, se, df = d.mean(), d.std(ddof=1) / np.sqrt(len(d)), len(d) - 1
    else:
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        est, se = a.mean() - b.mean(), np.sqrt(va + vb)
        df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)) if va + vb > 0 else 1.0
    half = float(stats.t.ppf(q, df) * se)
    return Interval(float(est), float(est - half), float(est + half))
