"""Exercises on neural architecture search (chapter 8): public cases and plausible wrong answers."""

from __future__ import annotations

import math

import numpy as np

from .core import Case, Exercise, register

CHAPTER = "08_nas"

# --- nas.mutate: regularized evolution's mutation, made deterministic by passing the random draws ------


def _mutate(arch, options, u_option, u_value, variant=""):
    names = list(options)
    k = math.floor(u_option * (len(names) - (1 if variant == "n-1 options" else 0)))
    name = names[k]
    values = list(options[name])
    others = values if variant == "may keep" else [v for v in values if v != arch[name]]
    child = dict(arch)
    child[name] = others[math.floor(u_value * len(others))]
    if variant == "two options":
        other = names[(k + 1) % len(names)]
        child[other] = [v for v in options[other] if v != arch[other]][0]
    return child


_OPTS = {"depth": [1, 2, 3], "width": [8, 16, 32, 64], "activation": ["relu", "tanh"]}
_ARCH = {"depth": 2, "width": 16, "activation": "relu"}

register(Exercise(
    id="nas.mutate", chapter=CHAPTER, function="mutate",
    title="The mutation of regularized evolution",
    hint="option = names[floor(u_option * n_options)]; others = that option's values except the parent's, "
         "in order; new value = others[floor(u_value * len(others))]; every other option is copied.",
    cases=[
        Case("first option", (_ARCH, _OPTS, 0.1, 0.0), expected={"depth": 1, "width": 16, "activation": "relu"}),
        Case("the parent's value is skipped", (_ARCH, _OPTS, 0.5, 0.4),
             expected={"depth": 2, "width": 32, "activation": "relu"},
             hint="Choose among the values that differ from the parent's: a mutation must change something."),
        Case("last option, two values", (_ARCH, _OPTS, 0.99, 0.99),
             expected={"depth": 2, "width": 16, "activation": "tanh"}),
        Case("largest draws", (_ARCH, _OPTS, 0.999, 0.999), expected={"depth": 2, "width": 16, "activation": "tanh"},
             hint="With u just below 1, floor(u * n) is n - 1: the last option."),
    ],
    wrong_answers={
        "may return the parent's value": lambda a, o, u1, u2: _mutate(a, o, u1, u2, "may keep"),
        "changes two options": lambda a, o, u1, u2: _mutate(a, o, u1, u2, "two options"),
        "never picks the last option": lambda a, o, u1, u2: _mutate(a, o, u1, u2, "n-1 options"),
    },
))

# --- nas.evolution_step: tournament selection and aging --------------------------------------------------


def _evo(scores, contenders, child_score, variant=""):
    if variant == "global best":
        parent = int(np.argmax(scores))
    elif variant == "position in contenders":
        parent = int(np.argmax([scores[i] for i in contenders]))
    else:
        parent = max(contenders, key=lambda i: (scores[i], -contenders.index(i)))
    new = list(scores) + [child_score]
    if variant == "removes the worst":
        new.pop(int(np.argmin(scores)))
    else:
        new.pop(0)
    return parent, new


register(Exercise(
    id="nas.evolution_step", chapter=CHAPTER, function="evolution_step",
    title="Tournament selection and aging",
    hint="parent = the contender (a population index) with the highest score; then append the child's score "
         "and remove the OLDEST member, index 0, whatever its score.",
    cases=[
        Case("the best contender, not the best member", ([0.9, 0.5, 0.7, 0.6], [1, 2, 3], 0.8),
             expected=(2, [0.5, 0.7, 0.6, 0.8]),
             hint="Only the contenders compete: member 0 is best overall but was not drawn."),
        Case("the oldest dies even when it is the best", ([0.99, 0.2, 0.3], [0, 2], 0.1),
             expected=(0, [0.2, 0.3, 0.1]),
             hint="Aging removes index 0 (the oldest), not the worst: that is the 'regularized' in the name."),
        Case("return a population index", ([0.1, 0.2, 0.3, 0.4, 0.5], [4, 0], 0.0),
             expected=(4, [0.2, 0.3, 0.4, 0.5, 0.0])),
    ],
    wrong_answers={
        "parent is the best member overall": lambda s, c, x: _evo(s, c, x, "global best"),
        "removes the worst instead of the oldest": lambda s, c, x: _evo(s, c, x, "removes the worst"),
        "returns the position within the contenders": lambda s, c, x: _evo(s, c, x, "position in contenders"),
    },
))

# --- nas.pareto_front: the non-dominated architectures ---------------------------------------------------


def _front(cost, score, variant=""):
    cost, score = np.asarray(cost, float), np.asarray(score, float)
    order = np.lexsort((-score, cost))
    out, best = [], -np.inf
    for i in order:
        if (score[i] >= best) if variant == "keeps ties" else (score[i] > best):
            out.append(int(i))
            best = max(best, score[i])
    if variant == "by score":
        out = sorted(out, key=lambda i: -score[i])
    return out


def _front_max_cost(cost, score):
    return _front(-np.asarray(cost, float), score)


register(Exercise(
    id="nas.pareto_front", chapter=CHAPTER, function="pareto_front",
    title="The Pareto front of cost against accuracy",
    hint="Sort by cost (best score first among equal costs) and keep a point only when its score beats every "
         "cheaper point's; return the kept indices in order of increasing cost.",
    cases=[
        Case("a staircase", ([1, 2, 3, 4], [0.5, 0.4, 0.8, 0.9]), expected=[0, 2, 3],
             hint="Point 1 costs more than point 0 and scores less: it is dominated."),
        Case("unsorted input", ([30, 10, 20, 40], [0.9, 0.7, 0.6, 0.95]), expected=[1, 0, 3],
             hint="Return indices into the inputs, ordered by cost."),
        Case("equal cost", ([5, 5, 1], [0.8, 0.9, 0.1]), expected=[2, 1],
             hint="At equal cost the lower score is dominated."),
        Case("equal score", ([1, 2, 3], [0.7, 0.7, 0.9]), expected=[0, 2],
             hint="At equal score the higher cost is dominated."),
    ],
    wrong_answers={
        "keeps points that only tie": lambda c, s: _front(c, s, "keeps ties"),
        "ordered by score": lambda c, s: _front(c, s, "by score"),
        "maximizes cost": _front_max_cost,
    },
))

# --- nas.successive_halving: which candidate survives, and what it costs ------------------------------------


def _halving_package(curves, rungs, eta):
    """The expected answer, from the package's tested :func:`troikadl.nas.multifidelity.successive_halving`."""
    from ..nas import multifidelity as mf

    rungs = [int(r) for r in rungs]
    if rungs != mf.rung_epochs(eta=eta, min_epochs=rungs[0], max_epochs=rungs[-1]):
        raise ValueError(f"rungs must be rung_epochs(eta={eta}, min_epochs={rungs[0]}, max_epochs={rungs[-1]})")
    archs = [{"candidate": i} for i in range(len(curves))]
    result = mf.successive_halving(archs, lambda a, e: float(curves[a["candidate"]][e - 1]), eta=eta,
                                   min_epochs=rungs[0], max_epochs=rungs[-1])
    return result.best["candidate"], result.epochs


def _halving_wrong(curves, rungs, eta, variant):
    alive, done, epochs = list(range(len(curves))), 0, 0
    for i, r in enumerate(rungs):
        epochs += len(alive) * (r if variant == "retrains from scratch" else r - done)
        scores = [curves[c][r - 1] for c in alive]
        sign = 1 if variant == "keeps the worst" else -1
        order = sorted(range(len(alive)), key=lambda j: (sign * scores[j], j))
        keep = -(-len(alive) // eta) if variant == "keeps ceil(n / eta)" else max(1, len(alive) // eta)
        if i == len(rungs) - 1:
            keep = 1
        alive, done = [alive[j] for j in order[:keep]], r
    if variant == "judges at the first rung only":
        first = [curves[c][rungs[0] - 1] for c in range(len(curves))]
        return int(np.argmax(first)), epochs
    return alive[0], epochs


def _curves(rows):
    """Learning curves written rung by rung: ``rows[i]`` maps some epochs to candidate i's score; between
    them the score stays at the last one written (a step curve)."""
    e = max(max(r) for r in rows)
    return [[r[max(k for k in r if k <= max(epoch, min(r)))] for epoch in range(1, e + 1)] for r in rows]


_NINE = _curves([{1: 0.50, 4: 0.80, 12: 0.90}, {1: 0.70, 4: 0.72, 12: 0.74}, {1: 0.40, 4: 0.85, 12: 0.95},
                 {1: 0.65, 4: 0.90, 12: 0.92}, {1: 0.30, 4: 0.95, 12: 0.99}, {1: 0.60, 4: 0.70, 12: 0.96},
                 {1: 0.20, 4: 0.60, 12: 0.70}, {1: 0.55, 4: 0.75, 12: 0.80}, {1: 0.10, 4: 0.50, 12: 0.60}])
_TEN = _NINE + _curves([{1: 0.45, 4: 0.97, 12: 0.98}])

register(Exercise(
    id="nas.successive_halving", chapter=CHAPTER, function="successive_halving",
    title="Successive halving on learning curves",
    hint="At each rung r (in order) score every surviving candidate at r epochs: curves[i][r - 1]. Charge "
         "(r - previous rung) epochs per survivor (runs continue). Except at the last rung, keep the best "
         "max(1, n // eta) (ties: the smaller index). Return (index of the best at the last rung, epochs).",
    cases=[
        Case("nine candidates, rungs 1, 4, 12", (_NINE, [1, 4, 12], 3),
             expected=lambda: _halving_package(_NINE, [1, 4, 12], 3),
             hint="9 candidates x 1 epoch, 3 x 3 more, 1 x 8 more: 26 epochs. Candidate 4 is poor after one epoch "
                  "and never reaches rung 4."),
        Case("ten candidates: floor, not ceil", (_TEN, [1, 4, 12], 3),
             expected=lambda: _halving_package(_TEN, [1, 4, 12], 3),
             hint="10 // 3 = 3 survivors, then 3 // 3 = 1: 10 + 3 x 3 + 1 x 8 = 27 epochs."),
        Case("eta 2, rungs 3, 6, 12", (_NINE, [3, 6, 12], 2),
             expected=lambda: _halving_package(_NINE, [3, 6, 12], 2),
             hint="The first rung is 3 epochs: every candidate is charged 3, and its score is curves[i][2]."),
        Case("one rung: plain random search", (_NINE[:3], [12], 3),
             expected=lambda: _halving_package(_NINE[:3], [12], 3),
             hint="A single rung trains every candidate for the full budget and keeps the best."),
    ],
    wrong_answers={
        "keeps ceil(n / eta)": lambda c, r, e: _halving_wrong(c, r, e, "keeps ceil(n / eta)"),
        "retrains from scratch at every rung": lambda c, r, e: _halving_wrong(c, r, e, "retrains from scratch"),
        "keeps the worst": lambda c, r, e: _halving_wrong(c, r, e, "keeps the worst"),
        "judges at the first rung only": lambda c, r, e: _halving_wrong(c, r, e, "judges at the first rung only"),
    },
))
