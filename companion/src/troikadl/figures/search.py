"""Diagrams of architecture search (chapter 8): the search loop, DARTS's mixed operation, the two test halves.

:func:`search_loop` draws the three parts of every NAS method with the chapter's instances, read from the
package: the benchmark's space (:data:`troikadl.nas.benchmark.SPACE`), the strategies
(:data:`troikadl.nas.search.STRATEGIES`) and the shipped table (:class:`troikadl.nas.benchmark.Table`).
:func:`darts_mixed_op` draws one mixed edge of a DARTS supernet, with the weights ``softmax(alpha)`` of a
trained edge when given. :func:`two_halves` draws the design of the chapter's selection-bias measurement:
the benchmark's split, with the test set cut in two halves as :func:`troikadl.nas.benchmark.train_architecture`
cuts it, and what is chosen on which half. Two plots of cheaper performance estimates: :func:`rank_scatter`
(a cheap score's ranks against the accuracy's ranks, one panel per score: zero-cost proxies, a supernet's
inherited accuracy), :func:`halving_rungs` (the rungs of a successive-halving run, from its
:class:`troikadl.nas.multifidelity.FidelityResult`) and :func:`cost_front` (a cost against accuracy, with the Pareto
front of :func:`troikadl.nas.analysis.pareto_front`).

Taught in chapter 8.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..validate import as_float_array, check_int, check_str, check_str_list
from .style import ARROWS, EDGES, FONT, arrow, box, brace, canvas, note

__all__ = ["search_loop", "darts_mixed_op", "two_halves", "mixture_weights", "rank_scatter", "halving_rungs",
           "cost_front"]


def _titled(ax: Any, x: float, y: float, title: str, lines: Sequence[str], *, w: float, h: float,
            role: str, gap: float = 0.17) -> Any:
    """A box with a bold 10-pt title and note-size lines under it, the whole block centred."""
    b = box(ax, x, y, w=w, h=h, role=role)
    top = y + (len(lines) * gap) / 2
    note(ax, x, top, title, size=FONT["label"], fontweight="bold")
    for i, line in enumerate(lines):
        note(ax, x, top - (i + 1) * gap - 0.03, line)
    return b


def search_loop() -> Any:
    """The NAS loop of chapter 8 (section 8.4): search space, search strategy, performance estimation.

    The strategy proposes an architecture from the space, the estimate (a training run scored on
    validation data, or a look-up in the tabular benchmark) returns its validation accuracy to the
    strategy, and after the budget the search returns its best architecture, whose test accuracy is
    reported once. The space's options, the strategies' names and the table's size are the package's.
    """
    from ..nas import benchmark, search

    space, table = benchmark.SPACE, benchmark.Table.load()
    sizes = [f"{k} {len(v)}" for k, v in space.options.items()]
    fig, ax = canvas(7.0, 3.55)
    y, h = 2.25, 1.05
    s = _titled(ax, 1.07, y, "Search space", [f"{space.size} small CNNs:", " × ".join(sizes[:3]),
                                             "× " + " × ".join(sizes[3:])], w=2.0, h=h, role="data")
    st = _titled(ax, 3.45, y, "Search strategy", list(search.STRATEGIES), w=1.6, h=h, role="op")
    pe = _titled(ax, 5.9, y, "Performance estimate",
                 ["train $a$, score on validation", "or look it up in the table",
                  f"({len(table)} architectures × {len(table.seeds)} seeds)"], w=2.1, h=h, role="op")
    arrow(ax, s.right, st.left, text="sample,\nmutate", text_offset=(0.0, 0.27))
    arrow(ax, (st.x + 0.3, y + h / 2), (pe.x - 0.3, y + h / 2), bend=-0.32, text="architecture $a$",
          text_offset=(0.0, 0.42))
    arrow(ax, (pe.x - 0.3, y - h / 2), (st.x + 0.3, y - h / 2), bend=-0.32, text="its validation accuracy",
          text_offset=(0.0, -0.42))
    note(ax, (st.x + pe.x) / 2, y, "repeat\nbudget\ntimes", color=EDGES["op"], size=8.5)
    yb = 0.4
    r = box(ax, 1.35, yb, "results: every $a$ tried\nand its validation score", w=2.45, h=0.52, role="muted", size=8.5)
    b = box(ax, 3.95, yb, "best architecture", w=1.5, h=0.42, role="focus")
    t = box(ax, 5.9, yb, "test accuracy,\nreported once", w=1.55, h=0.52, role="out", size=9.0)
    arrow(ax, (st.x - 0.55, y - h / 2), (r.x + 0.5, yb + 0.26), text="after the budget", text_offset=(-0.55, 0.0))
    arrow(ax, r.right, b.left)
    arrow(ax, b.right, t.left)
    return fig


def mixture_weights(alphas: Any, n: int) -> np.ndarray:
    """``softmax(alphas)``, checked: ``alphas`` is a 1-D array (or tensor) of ``n`` finite numbers."""
    a, n = as_float_array(alphas, "alphas", ndim=1), check_int(n, "n", min=1)
    if len(a) != n:
        raise ValueError(f"alphas must hold one number per operation ({n}), got {len(a)}")
    e = np.exp(a - a.max())
    return e / e.sum()


def darts_mixed_op(ops: Sequence[str] | None = None, alphas: Any = None) -> Any:
    """One mixed edge of a DARTS supernet (chapter 8, section 8.8): every candidate operation on its own edge.

    The input node ``x`` feeds each operation of ``ops`` (default: :data:`troikadl.nas.darts.OPS`); each
    output is weighted by ``softmax(alpha)`` and the sum is the output node. With ``alphas`` (one number
    per operation, e.g. ``model.alpha[0]`` of a trained :class:`~troikadl.nas.darts.Supernet`), the real
    weights are written on the edges (3 decimals) and each edge's line is as thick as its weight;
    without, the weights are written as formulas.
    """
    if ops is None:
        from ..nas.darts import OPS as ops
    ops = check_str_list(ops, "ops")
    if len(ops) < 2 or len(set(ops)) != len(ops):
        raise ValueError(f"ops must name at least two distinct operations, got {ops}")
    if len(ops) > 8:
        raise ValueError(f"ops must hold at most 8 operations (one row each), got {len(ops)}")
    w = None if alphas is None else mixture_weights(alphas, len(ops))
    n = len(ops)
    height = 0.5 * n + 0.85
    fig, ax = canvas(7.0, height)
    ymid = (height - 0.35) / 2
    xin = box(ax, 0.45, ymid, "$x$", w=0.5, h=0.5, role="data", shape="circle")
    xout = box(ax, 6.45, ymid, r"$\bar o(x)$", w=0.8, h=0.55, role="out", shape="circle")
    plus = box(ax, 5.35, ymid, "+", w=0.42, h=0.42, role="op", shape="circle", size=13)
    arrow(ax, plus.right, xout.left)
    ys = ymid + (np.arange(n)[::-1] - (n - 1) / 2) * 0.5
    for i, (op, yo) in enumerate(zip(ops, ys)):
        ob = box(ax, 1.95, yo, op, w=1.35, h=0.36, role="muted" if op == "zero" else "op")
        arrow(ax, (xin.x + 0.25, ymid), ob.left, lw=1.0)
        lw = 1.0 if w is None else 0.5 + 6.0 * float(w[i])
        end = np.array([plus.x, ymid]) - 0.21 * np.array([1.15, ymid - yo]) / np.hypot(1.15, ymid - yo)
        ax.plot([ob.right[0], 4.2, end[0]], [yo, yo, end[1]], color=ARROWS["forward"]["color"], lw=lw,
                solid_capstyle="butt", zorder=1, gid=f"weight-line-{i}")
        label = (r"× $\mathrm{softmax}(\alpha)_{%d}$" % (i + 1)) if w is None else f"× {w[i]:.3f}"
        note(ax, 3.42, yo + 0.01, label, size=9.0, gid=f"weight-{i}",
             bbox=dict(facecolor="white", edgecolor="none", pad=1.0))
    head = (r"$\bar o(x) = \sum_o\, \mathrm{softmax}(\alpha)_o\; o(x)$" if w is None else
            r"$\bar o(x) = \sum_o\, \mathrm{softmax}(\alpha)_o\; o(x)$" + f": the weights of this edge, sum "
            f"{w.sum():.3f}; line width ∝ weight")
    note(ax, 3.5, height - 0.2, head, size=9.5)
    return fig


def two_halves() -> Any:
    """The design of chapter 8's selection-bias measurement (section 8.6).

    The benchmark's data are split into training, validation and test images, and the test images into
    halves A and B, with the sizes of the real split. Among ``n`` candidate architectures, each training
    seed's runs are compared on half A (or on validation, or on the leaky mean of both); the chosen run's
    score on A is what a search on the test set would report, B measures the same thing untouched by the
    choice, and the optimism is the chosen run's (A − B) minus the mean (A − B) of its sibling runs
    (the same architecture, the other seeds).
    """
    from ..nas import benchmark

    data, table = benchmark._data(), benchmark.Table.load()
    n_tr, n_va, n_te = len(data.y_train), len(data.y_val), len(data.y_test)
    half = n_te // 2  # the cut of train_architecture: test_a is the first half, test_b the rest
    fig, ax = canvas(7.0, 3.75)
    x0, span, ybar, hb = 0.25, 6.5, 3.15, 0.4
    scale = span / (n_tr + n_va + n_te)
    parts = [(f"train {n_tr:,}", n_tr, "muted"), (f"validation {n_va:,}", n_va, "plain"),
             (f"A {half:,}", half, "focus"), (f"B {n_te - half:,}", n_te - half, "data")]
    x, centre = x0, {}
    for text, size, role in parts:
        bx = box(ax, x + size * scale / 2, ybar, text, w=size * scale, h=hb, role=role, shape="square")
        centre[text.split()[0]] = bx
        x += size * scale
    a_left = centre["A"].x - centre["A"].w / 2
    brace(ax, (a_left, ybar + hb / 2 + 0.03), (x, ybar + hb / 2 + 0.03), side=-0.08)
    note(ax, (a_left + x) / 2, ybar + hb / 2 + 0.28, f"test {n_te:,}: two halves")
    note(ax, x0, ybar + hb / 2 + 0.28, f"the benchmark's {n_tr + n_va + n_te:,} digits", ha="left")
    yc = 2.05
    c = box(ax, 0.95, yc, f"n of the {len(table)}\narchitectures,\ndrawn at random", w=1.45, h=0.72,
            role="plain", size=9.0)
    p = _titled(ax, 3.0, yc, "pick the best", ["on half A (or on validation,", "or on their mean)"],
                w=1.95, h=0.72, role="focus", gap=0.17)
    k = box(ax, 5.35, yc, "chosen run", w=1.2, h=0.42, role="op")
    arrow(ax, c.right, p.left)
    arrow(ax, p.right, k.left)
    note(ax, 3.0, yc - 0.5, f"each of the {len(table.seeds)} training seeds' runs separately", size=8.5)
    ys = 1.1
    ra = box(ax, 4.25, ys, "score on A\nreported: optimistic", w=1.6, h=0.5, role="focus", size=9.0)
    rb = box(ax, 6.1, ys, "score on B\nuntouched by the choice", w=1.65, h=0.5, role="data", size=8.5)
    arrow(ax, (k.x - 0.3, yc - 0.21), ra.top)
    arrow(ax, (k.x + 0.3, yc - 0.21), rb.top)
    arrow(ax, centre["A"].bottom, (p.x + 0.5, yc + 0.36), kind="skip", lw=1.0)
    yo = 0.33
    o = box(ax, 3.5, yo, "", w=6.8, h=0.5, role="out")
    note(ax, 3.5, yo + 0.09, f"optimism = (A − B) of the chosen run − mean (A − B) of its {len(table.seeds) - 1} "
         "sibling runs", size=9.5)
    note(ax, 3.5, yo - 0.12, "siblings: the same architecture, trained with the other seeds", size=8.5)
    arrow(ax, ra.bottom, (ra.x, yo + 0.25))
    arrow(ax, rb.bottom, (rb.x, yo + 0.25))
    return fig


def rank_scatter(scores: Mapping[str, Any], accuracy: Any, *, groups: Sequence[str] | None = None) -> Any:
    """One panel per cheap score (a dict ``{name: scores}``): its rank against the rank of ``accuracy``.

    Ranks run from 1 (lowest) to n, ties get their mean rank (``scipy.stats.rankdata``), so each panel's
    cloud is what Spearman's rho measures; the title gives rho. ``groups`` (one label per point, e.g. the
    activation) colours the points. At most 4 panels, 6.9 in wide.
    """
    from scipy.stats import rankdata
    import matplotlib.pyplot as plt

    if not isinstance(scores, Mapping) or not 1 <= len(scores) <= 4:
        raise TypeError(f"scores must be a dict of 1 to 4 named score arrays, got {type(scores).__name__}"
                        + (f" of {len(scores)}" if isinstance(scores, Mapping) else ""))
    acc = as_float_array(accuracy, "accuracy", ndim=1)
    values = {check_str(k, "scores' names"): as_float_array(v, f"scores[{k!r}]", ndim=1) for k, v in scores.items()}
    for k, v in values.items():
        if len(v) != len(acc):
            raise ValueError(f"scores[{k!r}] must hold one score per accuracy ({len(acc)}), got {len(v)}")
    labels = None if groups is None else check_str_list(groups, "groups")
    if labels is not None and len(labels) != len(acc):
        raise ValueError(f"groups must hold one label per accuracy ({len(acc)}), got {len(labels)}")
    ra = rankdata(acc)
    fig, axes = plt.subplots(1, len(values), figsize=(6.9, 2.55), sharey=True, squeeze=False)
    for ax, (name, v) in zip(axes[0], values.items()):
        rv = rankdata(v)
        rho = float(np.corrcoef(rv, ra)[0, 1])
        for j, g in enumerate([None] if labels is None else sorted(set(labels))):
            idx = np.arange(len(acc)) if g is None else np.flatnonzero(np.array(labels) == g)
            ax.scatter(rv[idx], ra[idx], s=7, alpha=0.75, color=f"C{j}", label=g, gid=f"points-{name}-{g}")
        ax.set_title(f"{name}: ρ = {rho:+.2f}", fontsize=9.5)
        ax.set_xlabel(f"rank of {name}", fontsize=8.5)
        ax.tick_params(labelsize=7.5)
    axes[0, 0].set_ylabel("rank of accuracy", fontsize=8.5)
    if labels is not None:
        axes[0, 0].legend(fontsize=7.5, loc="upper left", handletextpad=0.2, borderpad=0.3)
    fig.tight_layout()
    return fig


def halving_rungs(result: Any) -> Any:
    """The rungs of a successive-halving (or Hyperband) run: each candidate's validation score at every rung
    it reached, one line per candidate, one panel per bracket (at most 4).

    Candidates stopped at a rung end in a grey cross; those promoted continue as blue lines; the run's
    choice (:attr:`~troikadl.nas.multifidelity.FidelityResult.best`) is drawn in gold. Epochs on a log axis.
    """
    import matplotlib.pyplot as plt

    from ..nas.multifidelity import FidelityResult

    if not isinstance(result, FidelityResult):
        raise TypeError(f"result must be a troikadl.nas.multifidelity.FidelityResult, got {type(result).__name__}")
    brackets = list(dict.fromkeys(r.bracket for r in result.rungs))
    if not 1 <= len(brackets) <= 4:
        raise ValueError(f"result must hold 1 to 4 brackets to draw, got {len(brackets)}")
    best = tuple(sorted(result.best.items()))
    fig, axes = plt.subplots(1, len(brackets), figsize=(6.9 if len(brackets) > 1 else 5.0, 3.0), sharey=True,
                             squeeze=False)
    for ax, b in zip(axes[0], brackets):
        rungs = [r for r in result.rungs if r.bracket == b]
        path: dict[tuple, list[tuple[int, float]]] = {}
        for r in rungs:
            for a, sc in zip(r.archs, r.scores):
                path.setdefault(tuple(sorted(a.items())), []).append((r.epochs, sc))
        for key, pts in path.items():
            e, sc = np.array(pts).T
            chosen = key == best and e[-1] == result.max_epochs
            stopped = e[-1] < rungs[-1].epochs
            ax.plot(e, sc, "-", color="#c9a227" if chosen else ("#9a9a9a" if stopped else "C0"),
                    lw=2.2 if chosen else 1.0, zorder=3 if chosen else 2, gid="chosen" if chosen else None)
            if stopped:
                ax.plot(e[-1], sc[-1], "x", color="#7a7a7a", ms=5)
        for r in rungs:
            ax.axvline(r.epochs, color="k", lw=0.5, ls=":")
            ax.text(r.epochs, 1.0, f"{len(r.archs)}", transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                    fontsize=8)
        ax.set_xscale("log")
        ax.set_xticks([r.epochs for r in rungs], [str(r.epochs) for r in rungs])
        ax.minorticks_off()
        ax.set_xlabel("epochs trained", fontsize=8.5)
        ax.tick_params(labelsize=7.5)
        if len(brackets) > 1:
            ax.set_title(f"bracket {b}", fontsize=9, pad=12)
    axes[0, 0].set_ylabel("validation accuracy", fontsize=8.5)
    fig.tight_layout()
    return fig


def cost_front(cost: Any, score: Any, groups: Sequence[str], *, xlabel: str) -> Any:
    """Every architecture's ``cost`` (log axis) against its ``score``, coloured by ``groups`` (one label per point,
    e.g. ``"kernel 3"``), with the Pareto front (:func:`troikadl.nas.analysis.pareto_front`) as a black step line."""
    import matplotlib.pyplot as plt

    from ..nas.analysis import pareto_front

    c = as_float_array(cost, "cost", ndim=1, nonempty=True)
    sc = as_float_array(score, "score", ndim=1, nonempty=True)
    if len(c) != len(sc):
        raise ValueError(f"cost and score must have the same length, got {len(c)} and {len(sc)}")
    if np.any(c <= 0):
        raise ValueError("cost must be positive (it is drawn on a log axis)")
    labels = check_str_list(groups, "groups")
    if len(labels) != len(c):
        raise ValueError(f"groups must hold one label per point ({len(c)}), got {len(labels)}")
    check_str(xlabel, "xlabel")
    front = pareto_front(c, sc)
    fig, ax = plt.subplots(figsize=(6.9, 4.0))
    for j, g in enumerate(dict.fromkeys(labels)):
        idx = np.flatnonzero(np.array(labels) == g)
        ax.scatter(c[idx], sc[idx], s=14, color=f"C{j}", alpha=0.7, label=g, gid=f"points-{g}")
    ax.step(c[front], sc[front], where="post", color="k", lw=1.2, label="Pareto front", gid="front")
    ax.set(xscale="log", xlabel=xlabel, ylabel="validation accuracy (mean of seeds)")
    ax.legend(fontsize=8.5)
    fig.tight_layout()
    return fig
