"""Multi-fidelity search: successive halving and Hyperband, simulated on the benchmark, budgets in epochs.

Taught in chapter 8. Training every candidate for the full budget spends most epochs on architectures that
look poor after one. Successive halving (Jamieson and Talwalkar, 2016, "Non-stochastic Best Arm
Identification and Hyperparameter Optimization", AISTATS, arXiv:1502.07943) trains ``n`` candidates for a
few epochs, keeps the best ``1/eta`` of them, trains those longer, and so on up to the full budget.
Hyperband (Li, Jamieson, DeSalvo, Rostamizadeh and Talwalkar, 2018, "Hyperband: A Novel Bandit-Based
Approach to Hyperparameter Optimization", JMLR 18(185), arXiv:1603.06560) hedges the one choice successive
halving leaves open, how early to judge, by running brackets from the most aggressive (many candidates,
one epoch) to none at all (a few candidates, all trained for the full budget: random search).

**Rungs.** With ``eta``, ``min_epochs`` and ``max_epochs``, let ``s`` be the largest integer with
``min_epochs * eta**s <= max_epochs``; rung ``i`` (``i = 0 ... s``) trains for ``max_epochs // eta**(s - i)``
epochs (:func:`rung_epochs`: 1, 4, 12 for ``eta=3`` and 12 epochs; 1, 3, 9, 27, 81 for Hyperband's own
example). Hyperband's bracket ``s`` uses the last ``s + 1`` rungs and starts
``ceil((s_max + 1) * eta**s / (s + 1))`` candidates (81, 34, 15, 8, 5 in Li et al.'s Table 1).
Each rung keeps the best ``max(1, floor(n_i / eta))`` candidates (ties: the earlier candidate).

**Budget.** Epochs are counted. A promoted candidate **continues** its training run (``resume=True``): going
from rung ``i - 1`` to rung ``i`` costs ``r_i - r_{i-1}`` more epochs; with ``resume=False`` every rung trains
from scratch and costs ``r_i``. The number of epochs depends only on ``n``, ``eta`` and the rungs, never on
the scores. :func:`curve_objective` reads training runs from the benchmark's learning curves
(``Table.val_curve``), and :func:`compare_with_random_search` compares a strategy with random search that
trains as many full-budget models as the same epochs pay for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..validate import check_int
from ._checks import check_rng, check_score
from .analysis import Interval, mean_difference
from .space import SearchSpace

__all__ = ["rung_epochs", "Rung", "FidelityResult", "successive_halving", "hyperband", "curve_objective",
           "FidelityComparison", "compare_with_random_search"]

ObjectiveAt = Callable[[Mapping[str, Any], int], float]


def rung_epochs(*, eta: int = 3, min_epochs: int = 1, max_epochs: int) -> list[int]:
    """The epochs of every rung, from ``min_epochs`` or more up to ``max_epochs`` (see the module's docstring)."""
    eta = check_int(eta, "eta", min=2)
    min_epochs = check_int(min_epochs, "min_epochs", min=1)
    max_epochs = check_int(max_epochs, "max_epochs", min=1)
    if min_epochs > max_epochs:
        raise ValueError(f"min_epochs must be at most max_epochs ({max_epochs}), got {min_epochs}")
    s = 0
    while min_epochs * eta ** (s + 1) <= max_epochs:
        s += 1
    return [max_epochs // eta ** (s - i) for i in range(s + 1)]


@dataclass
class Rung:
    """One rung: the candidates trained to ``epochs`` (in order), their validation scores, and the positions
    (in ``archs``) of those promoted to the next rung, best first (none at a bracket's last rung)."""

    bracket: int
    epochs: int
    archs: list[dict[str, Any]]
    scores: list[float]
    promoted: list[int]


@dataclass
class FidelityResult:
    """What a multi-fidelity search did: every rung of every bracket, and the epochs it spent in all."""

    strategy: str
    max_epochs: int
    rungs: list[Rung] = field(default_factory=list)
    epochs: int = 0

    @property
    def best(self) -> dict[str, Any]:
        """The chosen architecture: the best score among the candidates trained for ``max_epochs`` (the
        first one, on ties)."""
        final = [(score, a) for r in self.rungs if r.epochs == self.max_epochs for a, score in zip(r.archs, r.scores)]
        if not final:
            raise ValueError("the search trained no model for the full budget: there is no best architecture")
        return max(final, key=lambda pair: pair[0])[1]

    @property
    def models(self) -> int:
        """How many training runs the search started (the candidates of every bracket's first rung)."""
        firsts: dict[int, int] = {}
        for r in self.rungs:
            firsts.setdefault(r.bracket, len(r.archs))
        return sum(firsts.values())


def _halve(result: FidelityResult, candidates: list[dict[str, Any]], objective_at: ObjectiveAt, epochs: list[int],
           eta: int, resume: bool, bracket: int) -> None:
    """Successive halving of ``candidates`` over the rungs ``epochs``; appends its rungs to ``result``."""
    done = 0
    for i, e in enumerate(epochs):
        scores = [check_score(objective_at(a, e), f"objective_at({a}, {e}) (a validation score)") for a in candidates]
        result.epochs += len(candidates) * (e - done if resume else e)
        keep = [] if i == len(epochs) - 1 else [int(j) for j in np.argsort(-np.asarray(scores), kind="stable")
                                                [:max(1, len(candidates) // eta)]]
        result.rungs.append(Rung(bracket, e, [dict(a) for a in candidates], scores, keep))
        candidates, done = [candidates[j] for j in keep], e


def _check_common(objective_at: Any, resume: Any) -> None:
    if not callable(objective_at):
        raise TypeError(f"objective_at must be callable (arch, epochs) -> validation score, "
                        f"got {type(objective_at).__name__}")
    if not isinstance(resume, bool):
        raise TypeError(f"resume must be True or False, got {type(resume).__name__}")


def _draw(space: SearchSpace, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """``n`` distinct architectures of ``space``, drawn uniformly without replacement."""
    return [space[int(i)] for i in rng.choice(space.size, size=n, replace=False)]


def successive_halving(candidates: SearchSpace | Sequence[Mapping[str, Any]], objective_at: ObjectiveAt, *,
                       n: int | None = None, eta: int = 3, min_epochs: int = 1, max_epochs: int,
                       resume: bool = True, rng: np.random.Generator | None = None) -> FidelityResult:
    """Successive halving over the rungs of :func:`rung_epochs`; ``objective_at(arch, epochs)`` trains.

    ``candidates`` is a :class:`SearchSpace` (then ``n`` distinct architectures are drawn with ``rng``) or
    a list of architectures (used in order; ``n``, if given, must be its length).
    """
    _check_common(objective_at, resume)
    epochs = rung_epochs(eta=eta, min_epochs=min_epochs, max_epochs=max_epochs)
    if isinstance(candidates, SearchSpace):
        if n is None:
            raise ValueError("n must be given (how many architectures to draw) when candidates is a SearchSpace")
        n = check_int(n, "n", min=1, max=candidates.size)
        archs = _draw(candidates, n, check_rng(rng))
    else:
        if isinstance(candidates, (str, bytes, Mapping)) or not isinstance(candidates, Sequence):
            raise TypeError(f"candidates must be a SearchSpace or a list of architectures (dicts), "
                            f"got {type(candidates).__name__}")
        if not candidates or not all(isinstance(a, Mapping) for a in candidates):
            raise ValueError("candidates must hold at least one architecture, each a dict of option values")
        if n is not None and check_int(n, "n", min=1) != len(candidates):
            raise ValueError(f"n must be None or the number of candidates ({len(candidates)}), got {n}")
        if rng is not None:
            check_rng(rng)
        archs = [dict(a) for a in candidates]
    result = FidelityResult("successive halving", epochs[-1])
    _halve(result, archs, objective_at, epochs, eta, resume, bracket=len(epochs) - 1)
    return result


def hyperband(space: SearchSpace, objective_at: ObjectiveAt, *, eta: int = 3, min_epochs: int = 1, max_epochs: int,
              resume: bool = True, rng: np.random.Generator) -> FidelityResult:
    """One run of Hyperband (all its brackets, most aggressive first), each bracket drawing its own candidates.

    The brackets and their sizes are in the module's docstring; the choice is the best score among every
    bracket's candidates trained for ``max_epochs`` (:attr:`FidelityResult.best`).
    """
    if not isinstance(space, SearchSpace):
        raise TypeError(f"space must be a troikadl.nas.SearchSpace, got {type(space).__name__}")
    _check_common(objective_at, resume)
    check_rng(rng)
    epochs = rung_epochs(eta=eta, min_epochs=min_epochs, max_epochs=max_epochs)
    s_max = len(epochs) - 1
    sizes = [-(-(s_max + 1) * eta ** s // (s + 1)) for s in range(s_max, -1, -1)]
    if sizes[0] > space.size:
        raise ValueError(f"the first bracket needs {sizes[0]} distinct architectures, the space has {space.size}: "
                         f"use a larger eta or min_epochs")
    result = FidelityResult("Hyperband", epochs[-1])
    for s, n in zip(range(s_max, -1, -1), sizes):
        _halve(result, _draw(space, n, rng), objective_at, epochs[s_max - s:], eta, resume, bracket=s)
    return result


def curve_objective(table: Any, *, rng: np.random.Generator) -> ObjectiveAt:
    """Simulated training runs read from a benchmark table's learning curves (``table.val_curve``).

    ``objective_at(arch, epochs)`` returns the validation accuracy of a run of ``arch`` after ``epochs``
    epochs. The first call for an architecture starts a run with one of the table's seeds, drawn with
    ``rng``; a later call asking for **more** epochs continues that run (same seed, further along its
    curve); asking for the same or fewer epochs starts a new run with a new seed (a run only goes forward).
    """
    if getattr(table, "val_curve", None) is None or not hasattr(table, "space"):
        raise TypeError(f"table must be a troikadl.nas.benchmark.Table with learning curves (Table.load()), "
                        f"got {type(table).__name__}")
    check_rng(rng)
    runs: dict[int, tuple[int, int]] = {}  # architecture index -> (seed column, epochs trained so far)

    def objective_at(arch: Mapping[str, Any], epochs: int) -> float:
        i = table.space.index(arch)
        epochs = check_int(epochs, "epochs", min=1, max=table.val_curve.shape[2])
        seed, trained = runs.get(i, (-1, epochs))
        if epochs <= trained:
            seed = int(rng.integers(len(table.seeds)))
        runs[i] = (seed, epochs)
        return float(table.val_curve[i, seed, epochs - 1])

    return objective_at


@dataclass
class FidelityComparison:
    """``n`` searches of a multi-fidelity strategy against ``n`` random searches at the same epochs.

    ``test[r]`` is the mean test accuracy (over the table's seeds) of the architecture search ``r`` chose,
    ``epochs[r]`` the epochs it spent; random search ``r`` trained ``random_models`` architectures for the
    full budget (as many as ``min(epochs)`` pays for) and its choice scored ``random_test[r]``.
    """

    strategy: str
    epochs: np.ndarray
    test: np.ndarray
    choices: list[int]
    random_models: int
    random_test: np.ndarray
    random_choices: list[int]

    def difference(self, level: float = 0.95) -> Interval:
        """Mean test accuracy of the strategy's choices minus random search's, with a paired t interval."""
        return mean_difference(self.test, self.random_test, paired=True, level=level)


def compare_with_random_search(strategy: Callable[..., FidelityResult], table: Any, *, n_searches: int,
                               seed: int = 0, **options: Any) -> FidelityComparison:
    """Run ``strategy`` (:func:`successive_halving` or :func:`hyperband`, with ``options``) ``n_searches``
    times on ``table`` and random search as often, each random search training as many full-budget models
    as the strategy's epochs pay for (the fewest over its searches; leftover epochs are not spent).

    Search ``r`` uses ``numpy.random.default_rng([seed, r])`` for its candidates and its training noise
    (:func:`curve_objective`); random search ``r`` uses ``default_rng([seed, r, 1])`` and ``table.objective``.
    ``max_epochs`` defaults to the table's full budget.
    """
    from .search import random_search

    if not callable(strategy):
        raise TypeError(f"strategy must be successive_halving or hyperband, got {type(strategy).__name__}")
    n_searches = check_int(n_searches, "n_searches", min=1)
    seed = check_int(seed, "seed", min=0)
    if getattr(table, "val_curve", None) is None or not hasattr(table, "objective"):
        raise TypeError(f"table must be a troikadl.nas.benchmark.Table with learning curves (Table.load()), "
                        f"got {type(table).__name__}")
    options.setdefault("max_epochs", table.val_curve.shape[2])
    mean_test = table.test.mean(1)
    runs = []
    for r in range(n_searches):
        rng = np.random.default_rng([seed, r])
        runs.append(strategy(table.space, curve_objective(table, rng=rng), rng=rng, **options))
    epochs = np.array([run.epochs for run in runs])
    models = int(epochs.min()) // int(options["max_epochs"])
    if models < 1:
        raise ValueError(f"the strategy spent {int(epochs.min())} epochs, less than one full training "
                         f"({options['max_epochs']}): random search could train no model")
    picks = [table.space.index(run.best) for run in runs]
    random_picks = []
    for r in range(n_searches):
        rng = np.random.default_rng([seed, r, 1])
        random_picks.append(table.space.index(random_search(table.space, table.objective(rng=rng), models,
                                                            rng=rng).best))
    return FidelityComparison(runs[0].strategy, epochs, mean_test[picks], picks, models, mean_test[random_picks],
                              random_picks)
