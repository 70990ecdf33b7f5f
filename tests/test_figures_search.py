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
