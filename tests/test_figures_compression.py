"""Compression diagrams (troikadl.figures.compression): drawn from the package's own pruning, low-rank and
quantization functions, so that each diagram is checked equal to what the code computes."""

from __future__ import annotations

import re

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

matplotlib.use("Agg")

from troikadl.compress import lowrank, prune  # noqa: E402
from troikadl.compress import quantize as Q  # noqa: E402
from troikadl.figures import compression, style  # noqa: E402
from figure_checks import assert_fits  # noqa: E402


def by_gid(fig, gid):
    return [a for ax in fig.axes for a in list(ax.texts) + list(ax.patches) + list(ax.lines) if a.get_gid() == gid]


def text_of(fig, gid) -> str:
    (t,) = by_gid(fig, gid)
    return t.get_text()


def drawn_mask(fig, name, shape) -> np.ndarray:
    """True where the cell of panel ``name`` is drawn as kept (not muted)."""
    muted = style.COLORS["muted"]
    return np.array([[matplotlib.colors.to_hex(by_gid(fig, f"{name} {i} {j}")[0].get_facecolor()) != muted
                      for j in range(shape[1])] for i in range(shape[0])])


# --- pruning masks ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("W, sparsity", [(None, 0.5), (None, 0.3),
                                          (np.random.default_rng(1).normal(size=(5, 7)), 0.6),
                                          ([[1.0, 2.0, 3.0], [0.5, 0.1, 4.0]], 0.5)])
def test_pruning_masks_draw_the_package_masks(W, sparsity):
    fig = compression.pruning_masks(W, sparsity)
    assert_fits(fig)
    Wa = compression.EXAMPLE_W if W is None else np.asarray(W, dtype=float)
    t = torch.tensor(Wa)
    expected = prune.magnitude_masks([t], sparsity, scope="layer")[0].numpy()
    assert (drawn_mask(fig, "unstructured", Wa.shape) == expected).all()
    # structured: the drawn rows are whole, and they are the rows shrink_mlp keeps
    rows = drawn_mask(fig, "structured", Wa.shape)
    assert (rows == rows[:, :1]).all()
    model = nn.Sequential(nn.Linear(Wa.shape[1], Wa.shape[0], dtype=torch.float64), nn.ReLU(),
                          nn.Linear(Wa.shape[0], 2, dtype=torch.float64))
    with torch.no_grad():
        model[0].weight.copy_(t)
    small = prune.shrink_mlp(model, sparsity)
    assert torch.equal(small[0].weight, t[torch.from_numpy(rows[:, 0])])
    norms = np.linalg.norm(Wa, axis=1)
    assert [float(text_of(fig, f"norm {i}")) for i in range(len(Wa))] == pytest.approx(norms, abs=0.005)


def test_pruning_masks_default_both_remove_the_same_count_and_no_tie_at_the_threshold():
    fig = compression.pruning_masks()
    a = drawn_mask(fig, "unstructured", (6, 8))
    b = drawn_mask(fig, "structured", (6, 8))
    assert (~a).sum() == (~b).sum() == 24
    mags = np.sort(np.abs(compression.EXAMPLE_W).ravel())
    assert mags[23] < mags[24] and len(set(np.linalg.norm(compression.EXAMPLE_W, axis=1))) == 6


@pytest.mark.parametrize("kwargs, err, name", [
    (dict(sparsity=1.0), ValueError, "sparsity"), (dict(sparsity="half"), TypeError, "sparsity"),
    (dict(W=np.zeros((12, 3))), ValueError, "W"), (dict(W=np.zeros(5)), ValueError, "W"),
    (dict(W=[[1.0, np.nan], [1.0, 2.0]]), ValueError, "W"), (dict(W="matrix"), TypeError, "W")])
def test_pruning_masks_bad_input(kwargs, err, name):
    with pytest.raises(err, match=name):
        compression.pruning_masks(**kwargs)


# --- low rank -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("m, n, r", [(256, 256, 16), (256, 64, 8), (256, 64, 64), (1000, 10, 5), (3, 2, 1)])
def test_low_rank_counts_and_shapes_to_scale(m, n, r):
    fig = compression.low_rank(m, n, r)
    assert_fits(fig)
    num = lambda s: int(re.search(r"= ([\d,]+) weights", s).group(1).replace(",", ""))  # noqa: E731
    assert num(text_of(fig, "count-full")) == m * n
    assert num(text_of(fig, "count-factored")) == r * (m + n)
    assert f"up to rank {lowrank.break_even_rank(m, n)} " in text_of(fig, "break-even")
    (W,), (A,), (B,) = by_gid(fig, f"W {m} {n}"), by_gid(fig, f"A {m} {r}"), by_gid(fig, f"B {r} {n}")
    k = W.get_height() / m  # inches per row; every side at least 0.04 in
    for patch, (rows, cols) in ((W, (m, n)), (A, (m, r)), (B, (r, n))):
        assert patch.get_height() == pytest.approx(max(rows * k, 0.04))
        assert patch.get_width() == pytest.approx(max(cols * k, 0.04))


def test_low_rank_default_is_the_chapters_layer():
    fig = compression.low_rank()
    assert "65,536" in text_of(fig, "count-full") and "8,192" in text_of(fig, "count-factored")


@pytest.mark.parametrize("args, err, name", [((0, 4, 1), ValueError, "m"), ((4, 2.0, 1), TypeError, "n"),
                                             ((8, 4, 5), ValueError, "r"), ((8, 4, 0), ValueError, "r")])
def test_low_rank_bad_input(args, err, name):
    with pytest.raises(err, match=rf"\b{name}\b"):
        compression.low_rank(*args)


# --- quantization grid --------------------------------------------------------------------------------------

@pytest.mark.parametrize("lo, hi, bits, symmetric", [(-0.6, 1.5, 3, False), (-0.6, 1.5, 3, True),
                                                     (-0.6, 1.5, 4, False), (-0.6, 1.5, 4, True),
                                                     (0.0, 1.0, 3, True), (-1.0, 0.0, 2, False),
                                                     (-1.0, 0.0, 2, True), (-0.37, 2.9, 4, False)])
def test_quantization_grid_draws_choose_qparams_and_int_range(lo, hi, bits, symmetric):
    fig = compression.quantization_grid(lo, hi, bits=bits, symmetric=symmetric)
    assert_fits(fig)
    qp = Q.choose_qparams(np.array([lo, hi]), bits=bits, symmetric=symmetric)
    qmin, qmax = Q.int_range(bits, symmetric)
    ints = [int(t.get_text()) for t in by_gid(fig, "int tick")]
    assert ints == list(range(qmin, qmax + 1))
    assert float(text_of(fig, "scale").split("= ")[1]) == pytest.approx(float(qp.scale), rel=1e-3)
    assert int(re.search(r"z = (-?\d+):", text_of(fig, "zero point")).group(1)) == int(qp.zero_point)
    assert f"from {qmin} to {qmax}" in text_of(fig, "title")
    for q in (qmin, qmax):  # the clamped zones go to the ends of the grid
        assert text_of(fig, f"clamp {q}") == f"clamped\nto {q}"
    # the float ticks are the representable values s (q - z), evenly spaced, with 0.0 at the zero point
    xs = np.array([by_gid(fig, f"float tick {q}")[0].get_xdata()[0] for q in range(qmin, qmax + 1)])
    assert np.allclose(np.diff(xs), xs[1] - xs[0])
    (zero_line,) = by_gid(fig, f"map {int(qp.zero_point)}")
    assert matplotlib.colors.to_hex(zero_line.get_color()) == style.EDGES["focus"]
    deq = Q.dequantize(np.arange(qmin, qmax + 1), qp)
    assert deq[int(qp.zero_point) - qmin] == 0.0
    for q in (qmin, qmax):
        if q != int(qp.zero_point):
            assert float(text_of(fig, f"float end {q}")) == pytest.approx(deq[q - qmin], rel=1e-3)
    # grey: codes the data's range does not reach
    q_lo, q_hi = Q.quantize(np.array([lo, hi]), qp)
    assert bool(by_gid(fig, "unused")) == (q_lo > qmin or q_hi < qmax)


@pytest.mark.parametrize("args, kwargs, err, name", [
    ((0.5, 1.0), {}, ValueError, "lo"), ((-1.0, -0.5), {}, ValueError, "hi"), ((0.0, 0.0), {}, ValueError, "hi"),
    ((-1.0, 1.0), dict(bits=8), ValueError, "bits"), ((-1.0, 1.0), dict(bits=3.0), TypeError, "bits"),
    ((-1.0, 1.0), dict(symmetric="yes"), TypeError, "symmetric"), (("a", 1.0), {}, TypeError, "lo"),
    ((-1.0, float("inf")), {}, ValueError, "hi")])
def test_quantization_grid_bad_input(args, kwargs, err, name):
    with pytest.raises(err, match=name):
        compression.quantization_grid(*args, **kwargs)
