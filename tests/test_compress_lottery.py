"""Chapter 9: iterative magnitude pruning (vs torch.nn.utils.prune applied repeatedly), rewinding, the lottery table."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils import prune as tprune

import troikadl as tk
from troikadl.compress import lottery as L
from troikadl.compress import prune as P

SMALL = {"sizes": [64, 24, 10], "epochs": 2, "rounds": 2, "rate": 0.5}


def _net(seed=0, sizes=(12, 9, 7, 3), dtype=torch.float32):
    torch.manual_seed(seed)
    return tk.cnn.mlp(list(sizes)).to(dtype)


def _linears(model):
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


# --- prune_round against torch's repeated global pruning ------------------------------------------------
def _torch_vs_ours(seed, rates, dtype, sizes=(12, 9, 7, 3)):
    """Prune one net with torch (global L1, repeatedly) and with prune_round; perturb the weights between rounds
    as training would (pruned entries of weight_orig too). Returns the number of differing mask entries."""
    ref = _net(seed, sizes, dtype)
    lin = _linears(ref)
    masks = [torch.ones_like(m.weight, dtype=torch.bool) for m in lin]
    g = torch.Generator().manual_seed(seed + 1)
    diff = 0
    for rate in rates:
        tprune.global_unstructured([(m, "weight") for m in lin], pruning_method=tprune.L1Unstructured, amount=rate)
        # ours sees the unmasked values: a pruned weight must stay pruned whatever its value
        masks = L.prune_round([m.weight_orig.detach() for m in lin], masks, rate)
        diff += sum(int((a != m.weight_mask.bool()).sum()) for a, m in zip(masks, lin))
        with torch.no_grad():
            for m in lin:
                m.weight_orig.add_(0.3 * torch.randn(m.weight_orig.shape, generator=g, dtype=dtype))
            ref(torch.zeros(1, sizes[0], dtype=dtype))  # torch ranks `weight`, which only a forward pass updates
    return diff, masks


@pytest.mark.parametrize("rates", [[0.5] * 5, [0.2] * 8, [0.6, 0.3, 0.75, 0.1], [0.0, 0.5, 0.0]])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_prune_round_equals_torch_repeated_global_pruning(rates, dtype):
    diff, masks = _torch_vs_ours(0, rates, dtype)
    assert diff == 0
    n, kept = 12 * 9 + 9 * 7 + 7 * 3, 12 * 9 + 9 * 7 + 7 * 3
    for r in rates:  # torch's PruningContainer: round(amount * remaining) of the remaining weights each time
        kept -= round(r * kept)
    assert sum(int(m.sum()) for m in masks) == kept < n or rates == [0.0, 0.5, 0.0]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), rates=st.lists(st.floats(0.0, 0.95), min_size=1, max_size=6),
       sizes=st.lists(st.integers(1, 12), min_size=2, max_size=4))
def test_prune_round_equals_torch_on_random_configurations(seed, rates, sizes):
    assert _torch_vs_ours(seed, rates, torch.float64, tuple(sizes))[0] == 0


def _naive_round(weights, masks, rate):
    """The statement, written plainly: sort the survivors' (|w|, layer, position) and drop the first k."""
    alive = [(abs(float(v)), i, j) for i, (w, m) in enumerate(zip(weights, masks))
             for j, (v, keep) in enumerate(zip(w.flatten().tolist(), m.flatten().tolist())) if keep]
    out = [m.clone().flatten() for m in masks]
    for _, i, j in sorted(alive)[:round(rate * len(alive))]:
        out[i][j] = False
    return [o.view_as(m) for o, m in zip(out, masks)]


@pytest.mark.parametrize("seed", range(6))
def test_ties_are_broken_by_position_among_survivors(seed):
    g = torch.Generator().manual_seed(seed)
    ws = [torch.randint(-3, 4, (5, 4), generator=g).double(), torch.randint(-3, 4, (3, 5), generator=g).double()]
    masks = [torch.ones_like(w, dtype=torch.bool) for w in ws]
    ref = [m.clone() for m in masks]
    for rate in (0.3, 0.5, 0.25, 0.4):
        masks, ref = L.prune_round(ws, masks, rate), _naive_round(ws, ref, rate)
        assert all(torch.equal(a, b) for a, b in zip(masks, ref))
    # the first round is a global magnitude mask (prune.magnitude_masks, itself checked against torch)
    first = L.prune_round(ws, [torch.ones_like(w, dtype=torch.bool) for w in ws], 0.45)
    assert all(torch.equal(a, b) for a, b in zip(first, P.magnitude_masks(ws, 0.45)))


def test_rate_for_and_sparsity_after():
    assert L.sparsity_after(0.2, 10) < 0.9 < L.sparsity_after(0.2, 11)  # 11 rounds of 20% pass 90%
    assert L.sparsity_after(0.5, 0) == 0.0 and abs(L.sparsity_after(0.5, 7) - (1 - 1 / 128)) < 1e-15
    for s, k in ((0.9, 11), (0.98, 5), (0.0, 3), (0.5, 1)):
        assert abs(L.sparsity_after(L.rate_for(s, k), k) - s) < 1e-12
    ws = P.prunable(_net(0, (64, 256, 256, 10)))
    masks, n = [torch.ones_like(w, dtype=torch.bool) for w in ws], sum(w.numel() for w in ws)
    for k in range(1, 8):
        masks = L.prune_round(ws, masks, 0.2)
        assert abs(sum(int(m.sum()) for m in masks) - n * 0.8 ** k) <= k  # rounding loses at most 1/2 a round


# --- rewinding -----------------------------------------------------------------------------------------
def test_rewind_restores_theta0_on_survivors_and_zeros_elsewhere():
    model = _net(1)
    theta0 = {k: v.clone() for k, v in model.state_dict().items()}
    tk.fit(model, (np.random.default_rng(0).normal(size=(40, 12)), np.arange(40) % 3), epochs=3,
           loss="cross_entropy", lr=1e-2, batch_size=8, show_progress=False)
    masks = P.magnitude_masks(P.prunable(model), 0.7)
    P.apply_masks(model, P.random_masks(P.prunable(model), 0.3))  # an older mask: rewind replaces it
    L.rewind(model, theta0, masks)
    for i, (layer, m) in enumerate(zip(_linears(model), masks)):
        w0 = theta0[f"{2 * i}.weight"]
        assert torch.equal(layer.weight[m], w0[m]) and bool((layer.weight[~m] == 0).all())
        assert bool((layer.parametrizations.weight.original[~m] == 0).all())
        assert torch.equal(layer.bias, theta0[f"{2 * i}.bias"])
    tk.fit(model, (np.ones((8, 12)), np.zeros(8, int)), epochs=2, loss="cross_entropy", lr=0.1, show_progress=False)
    assert all(bool((layer.weight[~m] == 0).all()) for layer, m in zip(_linears(model), masks))


# --- the experiment runner -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_run():
    trace = {}
    return L.run_seed(3, settings=SMALL, trace=trace), trace


def test_run_seed_arms_masks_and_starting_weights(small_run):
    rows, trace = small_run
    assert [(r["arm"], r["round"]) for r in rows] == [("dense", 0)] + [(a, k) for a in L.ARMS[1:] for k in (1, 2)]
    theta0 = trace["dense", 0]["start"]
    for k in (1, 2):
        mask = trace["imp_rewind", k]["masks"]
        assert all(torch.equal(a, b) for a, b in zip(trace["imp_reinit", k]["masks"], mask))
        for arm in ("imp_rewind", "imp_reinit", "oneshot_rewind", "imp_late_rewind"):
            start, m = trace[arm, k]["start"], trace[arm, k]["masks"]
            assert all(bool((s[~mm] == 0).all()) for s, mm in zip(start, m))
            same = all(torch.equal(s[mm], t[mm]) for s, t, mm in zip(start, theta0, m))
            assert same == (arm in ("imp_rewind", "oneshot_rewind")), arm  # rewound to theta_0, or not
        reinit = trace["imp_reinit", k]["start"]
        assert all(float((s[mm] - t[mm]).abs().mean()) > 1e-3 for s, t, mm in zip(reinit, theta0, mask))
    # one-shot masks rank the trained dense weights (not theta_0); round 1 of IMP is the same mask
    trained, ones = trace["dense", 0]["end"], [torch.ones_like(m) for m in trace["imp_rewind", 1]["masks"]]
    assert not any(torch.equal(a, b) for a, b in zip(trained, theta0))
    for k in (1, 2):
        n_kept = sum(int(m.sum()) for m in trace["oneshot_rewind", k]["masks"])
        expect = P.magnitude_masks(trained, 1 - n_kept / sum(m.numel() for m in ones))
        assert all(torch.equal(a, b) for a, b in zip(trace["oneshot_rewind", k]["masks"], expect))
    # the second IMP round ranks the weights retrained in round 1
    assert all(torch.equal(a, b) for a, b in zip(trace["imp_rewind", 2]["masks"], L.prune_round(
        trace["imp_rewind", 1]["end"], trace["imp_rewind", 1]["masks"], SMALL["rate"])))
    # round 1 of IMP is the one-shot mask of the trained dense net; round 2 differs (the survivors retrained)
    assert all(torch.equal(a, b) for a, b in zip(trace["imp_rewind", 1]["masks"], trace["oneshot_rewind", 1]["masks"]))
    assert not all(torch.equal(a, b) for a, b in zip(trace["imp_rewind", 2]["masks"],
                                                      trace["oneshot_rewind", 2]["masks"]))
    n = sum(m.numel() for m in theta0)
    for r in rows:
        assert r["remaining"] == sum(int(m.sum()) for m in trace[r["arm"], r["round"]]["masks"])
        assert abs(r["sparsity"] - (1 - r["remaining"] / n)) < 1e-12 and 0 <= r["test_acc"] <= 1
        assert r["remaining"] == {0: n, 1: n - round(n / 2), 2: n - round(n / 2) - round((n - round(n / 2)) / 2)}[
            r["round"]]


def test_run_seed_repeats_and_its_arms_are_independent(small_run):
    rows, _ = small_run
    again = L.run_seed(3, arms=["dense", "imp_rewind"], settings=SMALL)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in rows if r["arm"] in ("dense", "imp_rewind")]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in again] == strip


def test_run_seed_restores_threads_and_random_state():
    torch.set_num_threads(2)
    torch.manual_seed(5)
    L.run_seed(0, arms=["dense"], settings={**SMALL, "epochs": 1})
    assert torch.get_num_threads() == 2 and torch.equal(torch.rand(3), (torch.manual_seed(5), torch.rand(3))[1])


# --- the shipped table ---------------------------------------------------------------------------------
def test_table_shape_columns_and_settings():
    rows, s = L.load_table(with_settings=True)
    assert s == L.SETTINGS
    assert list(rows[0]) == L.FIELDS
    assert {r["seed"] for r in rows} == set(L.SEEDS)
    per_seed = 1 + (len(L.ARMS) - 1) * s["rounds"]
    assert len(rows) == len(L.SEEDS) * per_seed
    n = sum(a * b for a, b in zip(s["sizes"], s["sizes"][1:]))
    kept = [n]
    for _ in range(s["rounds"]):
        kept.append(kept[-1] - round(s["rate"] * kept[-1]))
    steps = s["epochs"] * math.ceil((1797 - 450 - s["val_size"]) / s["batch_size"])
    for r in rows:
        assert r["arm"] in L.ARMS and r["remaining"] == kept[r["round"]] and r["train_steps"] == steps
        assert 0.0 < r["val_acc"] <= 1 and 0.0 < r["test_acc"] <= 1
    assert L.sparsity_after(s["rate"], s["rounds"]) >= 0.98
    dense = [r["test_acc"] for r in rows if r["arm"] == "dense"]
    assert min(dense) >= 0.95, dense


@pytest.mark.slow
def test_table_rows_rerun_live_within_tolerance():
    rows = L.run_seed(0, arms=["dense", "imp_rewind"])
    table = [r for r in L.load_table() if r["seed"] == 0 and r["arm"] in ("dense", "imp_rewind")]
    for a, b in zip(rows, table):
        assert (a["arm"], a["round"], a["remaining"]) == (b["arm"], b["round"], b["remaining"])
        assert abs(a["test_acc"] - b["test_acc"]) <= 0.02 and abs(a["val_acc"] - b["val_acc"]) <= 0.03


# --- bad input -----------------------------------------------------------------------------------------
def test_bad_input():
    ws = P.prunable(_net())
    ok = [torch.ones_like(w, dtype=torch.bool) for w in ws]
    for rate in (1.0, -0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="rate"):
            L.prune_round(ws, ok, rate)
    with pytest.raises(ValueError, match=r"masks\[1\] must have the shape"):
        L.prune_round(ws, [ok[0], ok[1].T, ok[2]], 0.5)
    with pytest.raises(ValueError, match="one boolean mask per weight"):
        L.prune_round(ws, ok[:2], 0.5)
    with pytest.raises(TypeError, match=r"masks\[0\] must be a boolean"):
        L.prune_round(ws, [ok[0].float(), *ok[1:]], 0.5)
    with pytest.raises(ValueError, match="weights must be a non-empty list"):
        L.prune_round([], [], 0.5)
    with pytest.raises(TypeError, match=r"weights\[0\]"):
        L.prune_round([np.ones((2, 2))], [torch.ones(2, 2, dtype=torch.bool)], 0.5)
    with pytest.raises(ValueError, match="final_sparsity"):
        L.rate_for(1.0, 3)
    with pytest.raises(ValueError, match="rounds"):
        L.rate_for(0.5, 0)
    with pytest.raises(TypeError, match="state must be a state_dict"):
        L.rewind(_net(), [1, 2], ok)
    with pytest.raises(TypeError, match="model"):
        L.rewind("net", {}, ok)
    with pytest.raises(ValueError, match="arms must be names"):
        L.run_seed(0, arms=["dense", "lottery"])
    with pytest.raises(ValueError, match="imp_reinit"):
        L.run_seed(0, arms=["imp_reinit"])
    with pytest.raises(ValueError, match="settings may only change"):
        L.run_seed(0, settings={"epoch": 3})
    with pytest.raises(ValueError, match=r"settings\['rate'\]"):
        L.run_seed(0, settings={"rate": 1.0})
    with pytest.raises(ValueError, match="seed"):
        L.run_seed(-1)
    with pytest.raises(TypeError, match="path"):
        L.load_table(3)
    with pytest.raises(ValueError, match="workers"):
        L.build_table("x.csv", workers=0)
