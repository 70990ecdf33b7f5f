"""Structured-sparsity diagrams (troikadl.figures.sparsity): the drawn filters, maps, slices and N:M masks are
those the package's channel pruning and N:M functions compute (checked against torch's own where one exists)."""

from __future__ import annotations

import re

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import prune as tprune

matplotlib.use("Agg")

from troikadl.compress import nm as NM  # noqa: E402
from troikadl.compress import prune  # noqa: E402
from troikadl.figures import compression, sparsity, style  # noqa: E402
from figure_checks import assert_fits  # noqa: E402


def by_gid(fig, gid):
    return [a for ax in fig.axes for a in list(ax.texts) + list(ax.patches) + list(ax.lines) if a.get_gid() == gid]


def kept(fig, gid) -> bool:
    (p,) = by_gid(fig, gid)
    return matplotlib.colors.to_hex(p.get_facecolor()) != style.COLORS["muted"]


# --- channel pruning ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("norms, fraction, nf", [(None, 0.5, 3), (None, 0.3, 2), ([2.0, 1.0], 0.5, 1),
                                                 ([0.3, 0.9, 0.1, 0.5, 0.7, 0.2, 0.8, 0.6], 0.75, 4),
                                                 ([1.0, 2.0, 3.0], 0.0, 2)])
def test_channel_pruning_draws_the_ln_structured_choice(norms, fraction, nf):
    fig = sparsity.channel_pruning(norms, fraction, nf)
    assert_fits(fig)
    v = sparsity.EXAMPLE_NORMS if norms is None else np.asarray(norms)
    conv = nn.Conv2d(1, len(v), 1, bias=False)  # torch's choice on a conv whose filters have these L1 norms
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(v, dtype=torch.float32).view(-1, 1, 1, 1))
    tprune.ln_structured(conv, "weight", amount=fraction, n=1, dim=0)
    expected = conv.weight_mask.flatten().bool().numpy()
    drawn = np.array([kept(fig, f"filter {j}") for j in range(len(v))])
    assert (drawn == expected).all()
    assert all(kept(fig, f"map {j}") == expected[j] for j in range(len(v)))
    for q in range(nf):
        assert [kept(fig, f"slice {q} {j}") for j in range(len(v))] == list(expected)
    assert not by_gid(fig, f"slice {nf} 0")
    for j in range(len(v)):  # crossed out exactly when removed, two strokes per box
        assert len(by_gid(fig, f"cross filter {j}")) == (0 if expected[j] else 2)
        assert len(by_gid(fig, f"cross map {j}")) == (0 if expected[j] else 2)
        (t,) = by_gid(fig, f"norm {j}")
        assert float(t.get_text()) == pytest.approx(v[j], abs=0.005)
    r = int((~expected).sum())
    (s,) = by_gid(fig, "summary")
    assert f"removing {r} of {len(v)} filters" in s.get_text() and f"{len(v)} → {len(v) - r} channels" in s.get_text()


@pytest.mark.parametrize("kwargs, err, name", [
    (dict(norms=[1.0]), ValueError, "norms"), (dict(norms=[1.0, -2.0]), ValueError, "norms"),
    (dict(norms=list(range(1, 10))), ValueError, "norms"), (dict(norms="abc"), TypeError, "norms"),
    (dict(fraction=1.0), ValueError, "fraction"), (dict(next_filters=0), ValueError, "next_filters"),
    (dict(next_filters=2.5), TypeError, "next_filters")])
def test_channel_pruning_bad_input(kwargs, err, name):
    with pytest.raises(err, match=name):
        sparsity.channel_pruning(**kwargs)


# --- N:M pattern ---------------------------------------------------------------------------------------------
def drawn(fig, name, shape):
    return np.array([[kept(fig, f"{name} {i} {j}") for j in range(shape[1])] for i in range(shape[0])])


@pytest.mark.parametrize("W, n, m", [(None, 2, 4), (None, 1, 4), (np.random.default_rng(3).normal(size=(5, 12)), 2, 4),
                                     (np.random.default_rng(4).normal(size=(3, 6)), 1, 2),
                                     (np.random.default_rng(5).normal(size=(8, 8)), 4, 8)])
def test_nm_pattern_draws_the_package_masks(W, n, m):
    fig = sparsity.nm_pattern(W, n, m)
    assert_fits(fig)
    Wa = compression.EXAMPLE_W if W is None else W
    rows, cols = Wa.shape
    nm_drawn, un_drawn = drawn(fig, "nm", Wa.shape), drawn(fig, "unstructured", Wa.shape)
    # an N:M mask: exactly n of each group, and the n largest |w| (a reference written with np.argsort)
    g = np.abs(Wa).reshape(rows, cols // m, m)
    ref = np.zeros_like(g, dtype=bool)
    np.put_along_axis(ref, np.argsort(-g, axis=-1, kind="stable")[..., :n], True, axis=-1)
    assert (nm_drawn == ref.reshape(rows, cols)).all()
    assert (nm_drawn == NM.nm_masks([torch.tensor(Wa)], n=n, m=m)[0].numpy()).all()
    t = torch.tensor(Wa)
    assert (un_drawn == prune.magnitude_masks([t], 1 - n / m, scope="layer")[0].numpy()).all()
    assert nm_drawn.sum() == un_drawn.sum() == rows * cols * n // m
    # one outline per group and panel; the red ones are the groups the unstructured mask overfills
    bad = un_drawn.reshape(rows, cols // m, m).sum(-1) > n
    for i in range(rows):
        for q in range(cols // m):
            assert len(by_gid(fig, f"group nm {i} {q}")) == 1
            assert len(by_gid(fig, f"group unstructured {i} {q}" + (" bad" if bad[i, q] else ""))) == 1
    (sub,) = by_gid(fig, "sub unstructured")
    assert re.match(rf"{bad.sum()} of {bad.size} groups keep more than {n}", sub.get_text())


def test_nm_pattern_default_shows_the_unstructured_mask_breaks_two_four():
    fig = sparsity.nm_pattern()
    (sub,) = by_gid(fig, "sub unstructured")
    assert int(sub.get_text().split()[0]) > 0


@pytest.mark.parametrize("kwargs, err, name", [
    (dict(W=np.zeros((3, 6))), ValueError, "W"), (dict(W=np.zeros((9, 8))), ValueError, "W"),
    (dict(W=np.zeros(8)), ValueError, "W"), (dict(W="w"), TypeError, "W"),
    (dict(n=4, m=4), ValueError, "n"), (dict(n=0), ValueError, "n"), (dict(m=1, n=1), ValueError, "m"),
    (dict(n=2.0), TypeError, "n")])
def test_nm_pattern_bad_input(kwargs, err, name):
    with pytest.raises(err, match=name):
        sparsity.nm_pattern(**kwargs)
