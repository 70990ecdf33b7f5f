"""The IMP (lottery ticket) diagram, troikadl.figures.sparsity.imp_loop: the drawn masks are those
troikadl.compress.lottery.prune_round computes round by round, checked against a reference written here."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from troikadl.compress import lottery  # noqa: E402
from troikadl.figures import sparsity, style  # noqa: E402
from figure_checks import assert_fits, texts  # noqa: E402

ROLE = {v: k for k, v in style.COLORS.items()}


def by_gid(fig, gid):
    return [a for ax in fig.axes for a in list(ax.texts) + list(ax.patches) if a.get_gid() == gid]


def drawn_roles(fig, k, shape):
    out = np.empty(shape, dtype=object)
    for i in range(shape[0]):
        for j in range(shape[1]):
            (p,) = by_gid(fig, f"round {k} {i} {j}")
            out[i, j] = ROLE[matplotlib.colors.to_hex(p.get_facecolor())]
    return out


def reference(rate, rounds, shape, seed):
    """IMP masks written with NumPy: each round drops round(rate * alive) survivors of smallest |w|."""
    rng = np.random.default_rng(seed)
    masks = [np.ones(shape, dtype=bool)]
    for _ in range(rounds):
        w = np.abs(rng.standard_normal(shape)).ravel()
        keep = masks[-1].ravel().copy()
        alive = np.flatnonzero(keep)
        keep[alive[np.argsort(w[alive], kind="stable")[:int(round(rate * alive.size))]]] = False
        masks.append(keep.reshape(shape))
    return masks


@pytest.mark.parametrize("rate, rounds, shape, seed", [(0.5, 3, (4, 6), 0), (0.2, 3, (4, 6), 1), (0.5, 1, (2, 2), 0),
                                                       (0.6, 2, (6, 8), 3), (0.3, 3, (3, 5), 7)])
def test_imp_loop_draws_the_prune_round_masks(rate, rounds, shape, seed):
    fig = sparsity.imp_loop(rate, rounds, shape, seed)
    assert_fits(fig)
    ref = reference(rate, rounds, shape, seed)
    weights, masks = sparsity.imp_rounds(rate, rounds, shape, seed)
    for k in range(rounds + 1):
        roles = drawn_roles(fig, k, shape)
        kept = roles == "param"
        assert (kept == ref[k]).all() and (kept == masks[k]).all()
        if k:  # the package's own round on the drawn weights gives the drawn mask
            again = lottery.prune_round([torch.tensor(weights[k])], [torch.tensor(masks[k - 1])], rate)[0].numpy()
            assert (kept == again).all()
            assert ((roles == "focus") == (ref[k - 1] & ~ref[k])).all()
            assert ((roles == "muted") == ~ref[k - 1]).all()
            assert not (kept & ~ref[k - 1]).any()  # pruned weights stay pruned
        else:
            assert kept.all()
        (t,) = by_gid(fig, f"kept {k}")
        assert t.get_text() == f"{ref[k].sum()} of {ref[k].size} kept"
        (p,) = by_gid(fig, f"planned {k}")
        assert p.get_text().endswith(f"= {(1 - rate) ** k:.1%}")
    assert not by_gid(fig, f"round {rounds + 1} 0 0")
    words = " ".join(texts(fig))
    assert f"prune {rate:.0%}" in words and "control" in words and "θ₀" in words


def test_imp_loop_control_arm_is_a_dotted_side_path():
    fig = sparsity.imp_loop()
    dotted = [p for p in fig.axes[0].patches if p.get_linestyle() == style.ARROWS["skip"]["linestyle"]]
    assert len(dotted) == 1 and type(dotted[0]).__name__ == "FancyArrowPatch"


@pytest.mark.parametrize("kwargs, err, name", [
    (dict(rate=0.0), ValueError, "rate"), (dict(rate=1.0), ValueError, "rate"), (dict(rate="a"), TypeError, "rate"),
    (dict(rounds=0), ValueError, "rounds"), (dict(rounds=4), ValueError, "rounds"),
    (dict(rounds=2.0), TypeError, "rounds"),
    (dict(shape=(4,)), TypeError, "shape"), (dict(shape=(1, 4)), ValueError, "shape"),
    (dict(shape=(4, 9)), ValueError, "shape"), (dict(seed=-1), ValueError, "seed")])
def test_imp_loop_bad_input(kwargs, err, name):
    with pytest.raises(err, match=name):
        sparsity.imp_loop(**kwargs)
