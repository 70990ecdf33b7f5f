"""Search strategies (random search, regularized evolution, Optuna's TPE) and their fair comparison.

Taught in chapter 8. Every strategy has the same signature, ``strategy(space, objective, budget, *, rng)``:
it may call ``objective(arch)`` (train an architecture and return its **validation** accuracy) exactly
``budget`` times, and returns a :class:`SearchResult`. Re-evaluating an architecture counts as another
trained model, as it would in a real search.

:func:`simulate` runs a strategy many times against the tabular benchmark, so that its average and its
spread can be compared with another's at the same budget.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from ..validate import check_in_range, check_int, check_positive
from ._checks import check_rng, check_score
from .space import SearchSpace

__all__ = ["SearchResult", "random_search", "regularized_evolution", "tpe_search", "STRATEGIES",
           "Simulation", "simulate"]

Objective = Callable[[Mapping[str, Any]], float]


@dataclass
class SearchResult:
    """What a search saw: the architectures it trained, in order, and their validation scores."""

    strategy: str
    archs: list[dict[str, Any]] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    def best_so_far(self) -> np.ndarray:
        """The best validation score seen after each trained model."""
        return np.maximum.accumulate(np.asarray(self.scores, dtype=float))

    def incumbents(self) -> list[dict[str, Any]]:
        """The architecture the search would return after each trained model (the best so far)."""
        out, best = [], -np.inf
        for arch, score in zip(self.archs, self.scores):
            if score > best:
                best, pick = score, arch
            out.append(pick)
        return out

    @property
    def best(self) -> dict[str, Any]:
        """The architecture with the best validation score (the first one, on ties)."""
        if not self.scores:
            raise ValueError("the search trained no model: there is no best architecture")
        return self.archs[int(np.argmax(self.scores))]


class _Budget:
    """Wraps an objective: records every call and refuses calls beyond the budget."""

    def __init__(self, name: str, objective: Objective, budget: int):
        if not callable(objective):
            raise TypeError(f"objective must be callable arch -> validation score, got {type(objective).__name__}")
        check_positive(budget, "budget", integer=True)
        self.result, self.objective, self.budget = SearchResult(name), objective, budget

    @property
    def left(self) -> int:
        return self.budget - len(self.result.scores)

    def __call__(self, arch: dict[str, Any]) -> float:
        if self.left <= 0:
            raise RuntimeError("the search asked for more trained models than its budget")
        score = check_score(self.objective(arch), f"objective({arch}) (a validation score)")
        self.result.archs.append(dict(arch))
        self.result.scores.append(score)
        return score


def _check(space: Any, rng: Any) -> None:
    if not isinstance(space, SearchSpace):
        raise TypeError(f"space must be a troikadl.nas.SearchSpace, got {type(space).__name__}")
    check_rng(rng)


def random_search(space: SearchSpace, objective: Objective, budget: int, *,
                  rng: np.random.Generator) -> SearchResult:
    """Train ``budget`` architectures drawn uniformly (with replacement) and keep the best.

    Simple, parallel, and a strong baseline that many NAS papers beat by less than their noise
    (Li and Talwalkar, 2019; Yang et al., 2020).
    """
    _check(space, rng)
    run = _Budget("random search", objective, budget)
    while run.left:
        run(space.sample(rng=rng))
    return run.result


def regularized_evolution(space: SearchSpace, objective: Objective, budget: int, *, rng: np.random.Generator,
                          population: int = 10, sample_size: int = 3) -> SearchResult:
    """Regularized ("aging") evolution of Real et al. (2019).

    Start from ``population`` random architectures. Then repeat: draw ``sample_size`` members at random
    (a tournament), mutate the best of them (:meth:`SearchSpace.mutate`), train the child, add it, and
    remove the **oldest** member (not the worst): that is the regularization.
    """
    _check(space, rng)
    check_positive(population, "population", integer=True)
    check_positive(sample_size, "sample_size", integer=True)
    if sample_size > population:
        raise ValueError(f"sample_size must be at most population ({population}), got {sample_size}")
    run = _Budget("regularized evolution", objective, budget)
    pop: deque[tuple[dict[str, Any], float]] = deque()
    while run.left and len(pop) < population:
        arch = space.sample(rng=rng)
        pop.append((arch, run(arch)))
    while run.left:
        contenders = rng.choice(len(pop), size=sample_size, replace=False)
        parent = max((pop[int(i)] for i in contenders), key=lambda member: member[1])[0]
        child = space.mutate(parent, rng=rng)
        pop.append((child, run(child)))
        pop.popleft()  # the oldest dies, however good it was
    return run.result


def tpe_search(space: SearchSpace, objective: Objective, budget: int, *, rng: np.random.Generator,
               n_startup_trials: int = 5) -> SearchResult:
    """Bayesian optimization with Optuna's Tree-structured Parzen Estimator (Bergstra et al., 2011).

    Each option becomes a categorical parameter; the first ``n_startup_trials`` trials are random, then
    TPE proposes architectures from a density ratio of good over bad trials. Optuna's sampler is seeded
    from ``rng``, so a search repeats exactly.
    """
    import optuna

    _check(space, rng)
    check_positive(n_startup_trials, "n_startup_trials", integer=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    run = _Budget("TPE (Optuna)", objective, budget)
    sampler = optuna.samplers.TPESampler(seed=int(rng.integers(2**31)), n_startup_trials=n_startup_trials)
    study = optuna.create_study(direction="maximize", sampler=sampler)

    def trial_objective(trial: Any) -> float:
        arch = {k: trial.suggest_categorical(k, list(v)) for k, v in space.options.items()}
        return run(arch)

    study.optimize(trial_objective, n_trials=budget)
    return run.result


#: The strategies chapter 8 compares, by name.
STRATEGIES: dict[str, Callable[..., SearchResult]] = {
    "random search": random_search,
    "regularized evolution": regularized_evolution,
    "TPE (Optuna)": tpe_search,
}


@dataclass
class Simulation:
    """Many searches of one strategy against a table, all with the same budget.

    ``incumbent_val[r, t]`` is the mean (over the table's seeds) validation accuracy of the architecture
    search ``r`` would return after ``t + 1`` trained models, and ``incumbent_test[r, t]`` its mean test
    accuracy: a search never sees it; we look at it once, for the architecture a search returns.
    ``best_seen[r, t]`` is the best validation score search ``r`` had *observed* by then (one noisy
    training run per evaluation), and ``choices[r]`` the index of the architecture it returns at the end.
    """

    strategy: str
    incumbent_val: np.ndarray
    incumbent_test: np.ndarray
    best_seen: np.ndarray
    choices: list[int]

    @property
    def test(self) -> np.ndarray:
        """The mean test accuracy of the architecture each search returns at the end of its budget."""
        return self.incumbent_test[:, -1]

    def mean_and_band(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """The mean curve and the half-width of its normal-approximation confidence interval."""
        from statistics import NormalDist

        check_in_range(level, "level", 0.0, 1.0, closed="neither")
        z = NormalDist().inv_cdf(0.5 + level / 2)
        n = len(self.incumbent_val)
        return self.incumbent_val.mean(0), z * self.incumbent_val.std(0, ddof=1) / np.sqrt(max(n, 1))


def simulate(strategy: Callable[..., SearchResult], table: Any, *, budget: int, n_searches: int,
             seed: int = 0, **options: Any) -> Simulation:
    """Run ``n_searches`` independent searches of ``strategy`` against ``table`` (a benchmark ``Table``).

    Search ``r`` uses ``numpy.random.default_rng([seed, r])`` for both its own choices and the simulated
    training noise, so every strategy sees the same sequence of random streams.
    """
    if not callable(strategy):
        raise TypeError(f"strategy must be a search function such as random_search, got {type(strategy).__name__}")
    check_positive(n_searches, "n_searches", integer=True)
    check_positive(budget, "budget", integer=True)
    check_int(seed, "seed", min=0)
    if not all(hasattr(table, k) for k in ("space", "val", "test", "objective")):
        raise TypeError(f"table must be a troikadl.nas.benchmark.Table (Table.load()), got {type(table).__name__}")
    mean_val, mean_test = table.val.mean(1), table.test.mean(1)
    curves, tests, seen, choices, name = [], [], [], [], ""
    for r in range(n_searches):
        rng = np.random.default_rng([seed, r])
        result = strategy(table.space, table.objective(rng=rng), budget, rng=rng, **options)
        name = result.strategy
        picks = [table.space.index(a) for a in result.incumbents()]
        curves.append(mean_val[picks])
        tests.append(mean_test[picks])
        seen.append(result.best_so_far())
        choices.append(picks[-1])
    return Simulation(name, np.array(curves), np.array(tests), np.array(seen), choices)
