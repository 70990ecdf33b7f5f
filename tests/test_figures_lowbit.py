"""Low-bit diagrams (troikadl.figures.lowbit): the drawn codes, scales and products are those the package's
group-wise quantizer and LLM.int8() decomposition compute (checked against references written here)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from troikadl.compress import groupwise as GW  # noqa: E402
from troikadl.compress import llm_int8 as L8  # noqa: E402
from troikadl.figures import lowbit, style  # noqa: E402
from figure_checks import assert_fits  # noqa: E402


def by_gid(fig, gid):
    return [a for ax in fig.axes for a in list(ax.texts) + list(ax.patches) if a.get_gid() == gid]


def text(fig, gid) -> str:
    (t,) = by_gid(fig, gid)
    return t.get_text()


def grid(fig, prefix, shape, cast=float):
    return np.array([[cast(text(fig, f"{prefix} text {i} {j}")) for j in range(shape[1])] for i in range(shape[0])])


def role(fig, gid) -> str:
    (p,) = by_gid(fig, gid)
    return {v: k for k, v in style.COLORS.items()}[matplotlib.colors.to_hex(p.get_facecolor())]


# --- group-wise scales ---------------------------------------------------------------------------------------
def reference(W, bits, g):
    """Symmetric absmax codes and scales per group of g columns, written with NumPy here."""
    qmax = 2 ** (bits - 1) - 1
    rows, cols = W.shape
    s = np.abs(W).reshape(rows, cols // g, g).max(-1) / qmax
    s = np.where(s > 0, s, 1.0)
    return np.clip(np.round(W.reshape(rows, cols // g, g) / s[..., None]), -qmax, qmax).reshape(rows, cols), s


@pytest.mark.parametrize("W, group, bits", [(None, 4, 4), (None, 2, 3),
                                            (np.random.default_rng(0).normal(size=(3, 6)), 3, 4),
                                            (np.random.default_rng(1).normal(size=(5, 8)), 8, 6),
                                            (np.random.default_rng(2).normal(size=(1, 4)), 1, 2)])
def test_groupwise_draws_the_package_codes_and_scales(W, group, bits):
    fig = lowbit.groupwise(W, group, bits)
    assert_fits(fig)
    Wa = lowbit.EXAMPLE_GW if W is None else W
    rows, cols = Wa.shape
    assert np.allclose(grid(fig, "W", Wa.shape), np.round(Wa, 2))
    for name, g in (("row", cols), ("group", group)):
        codes, scales = reference(Wa, bits, g)
        gq = GW.group_quantize(Wa, bits, None if name == "row" else group)
        drawn = grid(fig, f"{name} code", Wa.shape, int)
        assert (drawn == codes).all() and (drawn == gq.codes).all()
        drawn_s = np.array([[float(text(fig, f"{name} scale {i} {q}")) for q in range(cols // g)] for i in range(rows)])
        assert np.allclose(drawn_s, scales, atol=5e-4)
        assert all(role(fig, f"{name} code {i} {j}") == ("muted" if codes[i, j] == 0 else "param")
                   for i in range(rows) for j in range(cols))
        assert not by_gid(fig, f"{name} scale 0 {cols // g}")
        deq = (codes.reshape(rows, cols // g, g) * scales[..., None]).reshape(rows, cols)
        cost = text(fig, f"cost {name}")
        assert cost.startswith(f"{bits + 16 / g:g} bits per weight")
        assert float(cost.split("MSE ")[1]) == pytest.approx(np.mean((deq - Wa) ** 2), rel=6e-3, abs=1e-12)
    assert len(by_gid(fig, "W group 0 0")) == 1 and not by_gid(fig, f"W group 0 {cols // group}")


def test_groupwise_default_per_row_scale_rounds_the_outlier_row_away():
    fig = lowbit.groupwise()
    row0 = grid(fig, "row code", lowbit.EXAMPLE_GW.shape, int)[0]
    grp0 = grid(fig, "group code", lowbit.EXAMPLE_GW.shape, int)[0]
    assert (row0 == 0).sum() > (grp0 == 0).sum()


@pytest.mark.parametrize("kwargs, err, name", [
    (dict(W=np.zeros((6, 8))), ValueError, "W"), (dict(W=np.zeros((2, 9))), ValueError, "W"),
    (dict(W=np.zeros(8)), ValueError, "W"), (dict(W="w"), TypeError, "W"),
    (dict(group=3), ValueError, "group"), (dict(group=1), ValueError, "group"), (dict(group=0), ValueError, "group"),
    (dict(group=2.0), TypeError, "group"),
    (dict(bits=1), ValueError, "bits"), (dict(bits=8), ValueError, "bits"), (dict(bits=4.0), TypeError, "bits")])
def test_groupwise_bad_input(kwargs, err, name):
    with pytest.raises(err, match=name):
        lowbit.groupwise(**kwargs)


# --- LLM.int8() ----------------------------------------------------------------------------------------------
def int8_codes(v, dim):
    """Absmax int8 codes and scales over dim, with NumPy."""
    s = np.abs(v).max(axis=dim, keepdims=True) / 127
    s = np.where(s > 0, s, 1.0)
    return np.clip(np.round(v / s), -127, 127), s


RNG = np.random.default_rng(5)
CASES = [(None, None, 6.0), (None, None, 0.5), (None, None, np.inf),
         (np.array([[0.1, 9.0], [0.3, -0.2]]), np.array([[1.0], [2.0]]), 6.0),
         (RNG.normal(size=(4, 4)) * np.array([1, 1, 12, 1]), RNG.normal(size=(4, 2)), 6.0),
         (RNG.normal(size=(2, 3)), RNG.normal(size=(3, 1)), 6.0)]


@pytest.mark.parametrize("X, W, threshold", CASES)
def test_llm_int8_draws_the_package_decomposition(X, W, threshold):
    fig = lowbit.llm_int8(X, W, threshold)
    assert_fits(fig)
    Xa = lowbit.EXAMPLE_X if X is None else X
    Wa = lowbit.EXAMPLE_XW if W is None else W
    n, d = Xa.shape
    m = Wa.shape[1]
    O = (np.abs(Xa) >= threshold).any(0)
    assert (O == L8.outlier_dims(torch.tensor(Xa), threshold).numpy()).all()
    # gold exactly on the outlier columns of X and rows of W
    assert all((role(fig, f"X {i} {j}") == "focus") == O[j] for i in range(n) for j in range(d))
    assert all((role(fig, f"W {j} {q}") == "focus") == O[j] for j in range(d) for q in range(m))
    if O.any():
        assert np.allclose(grid(fig, "Xo", (n, int(O.sum()))), np.round(Xa[:, O], 1))
        assert np.allclose(grid(fig, "Wo", (int(O.sum()), m)), np.round(Wa[O], 1))
    else:
        assert not by_gid(fig, "Xo 0 0")
    keep = ~O
    if keep.any():
        cx, sx = int8_codes(Xa[:, keep], 1)
        cw, sw = int8_codes(Wa[keep], 0)
        assert (grid(fig, "Cx", cx.shape, int) == cx).all() and (grid(fig, "Cw", cw.shape, int) == cw).all()
        assert np.allclose([float(text(fig, f"sx {i}")) for i in range(n)], np.round(sx[:, 0] * 127, 1))
        assert np.allclose([float(text(fig, f"sw {j}")) for j in range(m)], np.round(sw[0] * 127, 1))
        int8_part = (cx @ cw) * (sx * sw)
    else:
        assert not by_gid(fig, "Cx 0 0")
        int8_part = np.zeros((n, m))
    float_part = Xa[:, O] @ Wa[O]
    assert np.allclose(grid(fig, "F", (n, m)), float_part, atol=0.0051)
    assert np.allclose(grid(fig, "I", (n, m)), int8_part, atol=0.0051)
    Y, k = L8.llm_int8_matmul(torch.tensor(Xa), torch.tensor(Wa), threshold)
    assert k == int(O.sum())
    assert np.allclose(grid(fig, "Y", (n, m)), Y.numpy(), atol=0.0051)
    assert float(text(fig, "error").split("= ")[1]) == pytest.approx(np.abs(Y.numpy() - Xa @ Wa).max(), abs=6e-4)
    assert f"O = {{{', '.join(str(j) for j in np.flatnonzero(O))}}}" in text(fig, "outliers")


@pytest.mark.parametrize("kwargs, err, name", [
    (dict(X=np.zeros((5, 4))), ValueError, "X"), (dict(X=np.zeros((2, 5))), ValueError, "X"),
    (dict(X=np.zeros(4)), ValueError, "X"), (dict(X="x"), TypeError, "X"),
    (dict(W=np.zeros((3, 2))), ValueError, "W"), (dict(W=np.zeros((4, 3))), ValueError, "W"),
    (dict(W=[["a"]]), TypeError, "W"), (dict(threshold=-1.0), ValueError, "threshold"),
    (dict(threshold="6"), TypeError, "threshold")])
def test_llm_int8_bad_input(kwargs, err, name):
    with pytest.raises(err, match=name):
        lowbit.llm_int8(**kwargs)
