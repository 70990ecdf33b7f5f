"""The diagrams of chapter 8 (troikadl.figures.search): drawn headless, within the width, true to the package."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from troikadl.figures import search as fs  # noqa: E402
from troikadl.nas import benchmark, darts  # noqa: E402
from figure_checks import assert_fits  # noqa: E402


def texts(fig):
    return [t.get_text() for t in fig.axes[0].texts]


def test_search_loop_names_the_chapters_instances():
    fig = fs.search_loop()
    assert_fits(fig)
    words = " ".join(texts(fig))
    for name in __import__("troikadl.nas.search", fromlist=["STRATEGIES"]).STRATEGIES:
        assert name in words
    assert f"{benchmark.SPACE.size} small CNNs" in words
    sizes = [int(n) for n in re.findall(r"(?:depth|width|kernel|activation|skip) (\d+)", words)]
    assert sizes == [len(v) for v in benchmark.SPACE.options.values()]
    assert int(np.prod(sizes)) == benchmark.SPACE.size
    assert f"{len(benchmark.Table.load())} architectures × 3 seeds" in words


def drawn_weights(fig, n):
    by_gid = {t.get_gid(): t.get_text() for t in fig.axes[0].texts}
    return np.array([float(by_gid[f"weight-{i}"].replace("×", "")) for i in range(n)])


def test_darts_mixed_op_draws_softmax_of_alphas():
    alphas = np.array([0.9, 1.6, -0.4, 0.7, -1.2])
    fig = fs.darts_mixed_op(darts.OPS, alphas)
    assert_fits(fig)
    w = np.exp(alphas) / np.exp(alphas).sum()
    drawn = drawn_weights(fig, len(alphas))
    np.testing.assert_allclose(drawn, w, atol=5e-4)
    assert abs(drawn.sum() - 1) < 3e-3
    widths = {ln.get_gid(): ln.get_linewidth() for ln in fig.axes[0].lines}
    lw = np.array([widths[f"weight-line-{i}"] for i in range(len(alphas))])
    np.testing.assert_allclose((lw - lw.min()) / (lw.max() - lw.min()), (w - w.min()) / (w.max() - w.min()))
    ops = [t.get_text() for t in fig.axes[0].texts]
    assert all(op in ops for op in darts.OPS)


def test_darts_mixed_op_reads_a_trained_supernet_and_defaults():
    import torch

    torch.manual_seed(0)
    net = darts.Supernet()
    fig = fs.darts_mixed_op(net.ops, net.alpha[0])  # a tensor with grad: read as numbers
    np.testing.assert_allclose(drawn_weights(fig, len(net.ops)), net.mixture()[0].detach().numpy(), atol=5e-4)
    fig = fs.darts_mixed_op()
    assert_fits(fig)
    assert sum("softmax" in t for t in texts(fig)) == len(darts.OPS) + 1


def test_two_halves_draws_the_benchmarks_split():
    fig = fs.two_halves()
    assert_fits(fig)
    words = texts(fig)
    data = benchmark._data()
    n_te = len(data.y_test)
    assert f"train {len(data.y_train):,}" in words and f"validation {len(data.y_val):,}" in words
    assert f"A {n_te // 2}" in words and f"B {n_te - n_te // 2}" in words
    assert any("2 sibling runs" in t for t in words)  # 3 seeds in the table: 2 siblings
    # the halves' boxes are in proportion to their sizes, as the whole bar is
    from matplotlib.patches import FancyBboxPatch

    bar = sorted((p for p in fig.axes[0].patches if isinstance(p, FancyBboxPatch)
                  and abs(p.get_y() - fig.axes[0].patches[0].get_y()) < 1e-9), key=lambda p: p.get_x())
    widths = np.array([p.get_width() for p in bar])
    np.testing.assert_allclose(widths / widths.sum(), np.array([len(data.y_train), len(data.y_val), n_te // 2,
                                                                n_te - n_te // 2]) / 1797)


@pytest.mark.parametrize("kwargs, error, word", [
    (dict(ops="conv 3x3"), TypeError, "ops"),
    (dict(ops=["conv 3x3"]), ValueError, "ops"),
    (dict(ops=["skip", "skip"]), ValueError, "ops"),
    (dict(ops=["a", "b"], alphas=[1.0]), ValueError, "alphas"),
    (dict(ops=["a", "b"], alphas=[[1.0, 2.0]]), ValueError, "alphas"),
    (dict(ops=["a", "b"], alphas=["x", "y"]), TypeError, "alphas"),
    (dict(ops=["a", "b"], alphas=[1.0, np.nan]), ValueError, "alphas"),
])
def test_darts_mixed_op_bad_input(kwargs, error, word):
    with pytest.raises(error, match=word):
        fs.darts_mixed_op(**kwargs)


# --- the plots of cheaper performance estimates (section 8.9-8.11) ----------------------------------------------
def test_rank_scatter_draws_the_ranks_scipy_gives():
    from scipy.stats import rankdata, spearmanr

    r = np.random.default_rng(0)
    acc = np.round(r.random(40), 1)  # many ties
    scores = {"a": acc + r.normal(0, 0.3, 40), "b": -acc, "params": r.integers(0, 5, 40)}
    groups = ["relu" if i % 3 else "tanh" for i in range(40)]
    fig = fs.rank_scatter(scores, acc, groups=groups)
    assert_fits(fig)
    assert len(fig.axes) == 3
    for ax, (name, v) in zip(fig.axes, scores.items()):
        pts = np.concatenate([c.get_offsets() for c in ax.collections])
        want = np.column_stack([rankdata(v), rankdata(acc)])
        assert sorted(map(tuple, pts)) == sorted(map(tuple, want))
        assert len(ax.collections) == 2  # one per group
        assert ax.get_title() == f"{name}: ρ = {spearmanr(v, acc)[0]:+.2f}"
    assert fig.axes[1].get_title().endswith("-1.00")


@pytest.mark.parametrize("kwargs, error, word", [
    (dict(scores=[1, 2, 3], accuracy=[1, 2, 3]), TypeError, "scores"),
    (dict(scores={k: [1, 2, 3] for k in "abcde"}, accuracy=[1, 2, 3]), TypeError, "scores"),
    (dict(scores={"a": [1, 2]}, accuracy=[1, 2, 3]), ValueError, "scores"),
    (dict(scores={"a": [1, 2, 3]}, accuracy=[[1, 2, 3]]), ValueError, "accuracy"),
    (dict(scores={"a": [1, 2, 3]}, accuracy=[1, 2, 3], groups=["x"]), ValueError, "groups"),
])
def test_rank_scatter_bad_input(kwargs, error, word):
    with pytest.raises(error, match=word):
        fs.rank_scatter(**kwargs)


def test_halving_rungs_draws_every_candidate_at_the_rungs_it_reached():
    from troikadl.nas import multifidelity as mf

    archs = [{"i": i} for i in range(9)]
    final = [0.5, 0.74, 0.6, 0.92, 0.3, 0.96, 0.2, 0.8, 0.1]

    def objective_at(a, e):
        return {1: 0.1 * (a["i"] % 5) + 0.01 * a["i"], 4: 0.5 + final[a["i"]] / 4, 12: final[a["i"]]}[e]

    res = mf.successive_halving(archs, objective_at, max_epochs=12)
    fig = fs.halving_rungs(res)
    assert_fits(fig)
    ax = fig.axes[0]
    lines = [ln for ln in ax.lines if ln.get_linestyle() == "-"]
    crosses = [ln for ln in ax.lines if ln.get_marker() == "x"]
    assert len(lines) == 9 and len(crosses) == 8  # 6 stop at rung 1, 2 at rung 4; the choice goes on
    reached = sorted(len(ln.get_xdata()) for ln in lines)
    assert reached == [1] * 6 + [2] * 2 + [3]
    chosen = [ln for ln in ax.lines if ln.get_gid() == "chosen"]
    assert len(chosen) == 1 and list(chosen[0].get_xdata()) == [1, 4, 12]
    assert chosen[0].get_ydata()[-1] == max(final[a["i"]] for a in res.rungs[-1].archs)
    assert [t.get_text() for t in ax.texts] == ["9", "3", "1"]


def test_halving_rungs_draws_hyperband_brackets_and_refuses_other_input():
    from troikadl.nas import multifidelity as mf

    table = benchmark.Table.load()
    res = mf.hyperband(benchmark.SPACE, mf.curve_objective(table, rng=np.random.default_rng(0)), max_epochs=12,
                       rng=np.random.default_rng(0))
    fig = fs.halving_rungs(res)
    assert_fits(fig)
    assert [ax.get_title() for ax in fig.axes] == ["bracket 2", "bracket 1", "bracket 0"]
    with pytest.raises(TypeError, match="result"):
        fs.halving_rungs({"rungs": []})


def test_cost_front_draws_every_point_and_the_pareto_front():
    cost = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 2.5])
    score = np.array([0.5, 0.4, 0.8, 0.9, 0.85, 0.8])
    groups = ["kernel 1", "kernel 3", "kernel 3", "kernel 5", "kernel 5", "kernel 1"]
    fig = fs.cost_front(cost, score, groups, xlabel="latency (ms)")
    assert_fits(fig)
    ax = fig.axes[0]
    pts = np.concatenate([col.get_offsets() for col in ax.collections])
    assert sorted(map(tuple, pts)) == sorted(zip(cost, score))
    assert [col.get_label() for col in ax.collections] == ["kernel 1", "kernel 3", "kernel 5"]
    front = [ln for ln in ax.lines if ln.get_gid() == "front"][0]
    # by hand: (1, 0.5), then (2.5, 0.8) beats (2, 0.4) and ties (3, 0.8) at higher cost, then (4, 0.9)
    assert list(front.get_xdata()) == [1.0, 2.5, 4.0] and list(front.get_ydata()) == [0.5, 0.8, 0.9]
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "latency (ms)"


@pytest.mark.parametrize("kwargs, error, word", [
    (dict(cost=[1, 2], score=[0.1], groups=["a", "b"]), ValueError, "cost"),
    (dict(cost=[0, 2], score=[0.1, 0.2], groups=["a", "b"]), ValueError, "cost"),
    (dict(cost=[1, 2], score=[0.1, 0.2], groups=["a"]), ValueError, "groups"),
    (dict(cost=[1, 2], score=[0.1, 0.2], groups="ab"), TypeError, "groups"),
])
def test_cost_front_bad_input(kwargs, error, word):
    with pytest.raises(error, match=word):
        fs.cost_front(xlabel="x", **kwargs)
