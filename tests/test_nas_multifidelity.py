"""Chapter 8: the benchmark's learning curves, FLOPs and latency; successive halving and Hyperband on them."""

from __future__ import annotations

import csv
import math
from importlib import resources
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import troikadl as tk
from troikadl.nas import SearchSpace
from troikadl.nas import benchmark, networks
from troikadl.nas import multifidelity as mf

CHEAP = {"depth": 1, "width": 4, "kernel": 1, "activation": "relu", "skip": False}


@pytest.fixture(scope="module")
def table():
    return benchmark.Table.load()


def _bench_data():
    """The benchmark's split, loaded here from its stored settings with the one digits loader."""
    s = benchmark.SETTINGS
    return tk.data.digits(seed=s["data_seed"], test_size=s["test_size"], val_size=s["val_size"], images=True)


# --- the table's new columns ----------------------------------------------------------------------------
def test_the_last_epoch_of_every_curve_is_the_tables_validation_accuracy(table):
    assert table.val_curve.shape == (144, len(table.seeds), benchmark.SETTINGS["epochs"])
    assert np.array_equal(table.val_curve[:, :, -1], table.val)  # exactly: the same predictions
    assert np.all((table.val_curve >= 0) & (table.val_curve <= 1))
    # training helps on average: the mean curve rises from the first epoch to the last
    mean = table.val_curve.mean((0, 1))
    assert mean[0] < mean[2] < mean[5] < mean[-1]


def test_the_objective_reads_the_curve_at_the_asked_epochs(table):
    arch = benchmark.SPACE[77]
    for epochs in (1, 3, 12):
        f = table.objective(rng=np.random.default_rng(0), epochs=epochs)
        g = np.random.default_rng(0)
        seeds = [int(g.integers(len(table.seeds))) for _ in range(20)]  # the same draws, one at a time
        assert [f(arch) for _ in range(20)] == [table.val_curve[77, j, epochs - 1] for j in seeds]
    full, default = (table.objective(rng=np.random.default_rng(1), epochs=e) for e in (12, None))
    assert [full(arch) for _ in range(10)] == [default(arch) for _ in range(10)]
    with pytest.raises(ValueError, match="epochs must be <= 12"):
        table.objective(rng=np.random.default_rng(0), epochs=13)


def test_a_table_without_the_new_columns_still_loads(table):
    lines = resources.files("troikadl.nas").joinpath(benchmark.TABLE_FILE).read_text().splitlines()
    rows = [{k: v for k, v in r.items() if k in benchmark._BASE} for r in csv.DictReader(lines[1:])]
    old = benchmark.Table(rows, table.settings)
    assert old.val_curve is None and old.flops is None and old.latency_ms is None
    assert np.array_equal(old.val, table.val) and np.array_equal(old.params, table.params)
    with pytest.raises(ValueError, match="epochs needs a table with per-epoch"):
        old.objective(rng=np.random.default_rng(0), epochs=3)
    with pytest.raises(TypeError, match="table must be a troikadl.nas.benchmark.Table with learning curves"):
        mf.curve_objective(old, rng=np.random.default_rng(0))


def test_recording_the_curve_changes_no_training_and_each_point_is_a_shorter_training():
    """The curve's epoch e is what training for e epochs gives (no schedule depends on the total), and
    evaluating after every epoch leaves the weights exactly as training without it (checked here by hand)."""
    from troikadl.train import fit, predict

    tk.setup(0)
    data = _bench_data()
    three = benchmark.train_architecture(CHEAP, seed=3, data=data, settings={"epochs": 3})
    two = benchmark.train_architecture(CHEAP, seed=3, data=data, settings={"epochs": 2})
    assert [k for k in three if k.startswith("val_acc_")] == ["val_acc_1", "val_acc_2", "val_acc_3"]
    assert three["val_acc_3"] == three["val_acc"] and two["val_acc_2"] == two["val_acc"]
    assert (two["val_acc_1"], two["val_acc_2"]) == (three["val_acc_1"], three["val_acc_2"])
    assert three["flops"] == networks.arch_flops(CHEAP)
    with torch.random.fork_rng():
        torch.manual_seed(3)
        model = benchmark.build_cnn(CHEAP)
        fit(model, (data.X_train, data.y_train), epochs=3, loss="cross_entropy", lr=benchmark.SETTINGS["lr"],
            batch_size=benchmark.SETTINGS["batch_size"], metric=None, seed=3, show_progress=False)
    pred = predict(model, data.X_test).argmax(1)
    assert float((pred == data.y_test).mean()) == three["test_acc"]
    assert float((predict(model, data.X_val).argmax(1) == data.y_val).mean()) == three["val_acc"]


# --- FLOPs ------------------------------------------------------------------------------------------------
def test_flops_equal_torchs_flop_counter_on_every_architecture(table):
    from torch.utils.flop_counter import FlopCounterMode

    with torch.random.fork_rng():
        for i, arch in enumerate(benchmark.SPACE):
            model = benchmark.build_cnn(arch)
            with FlopCounterMode(display=False) as counter:
                model(torch.zeros(1, 1, 8, 8))
            assert networks.arch_flops(arch) == counter.get_total_flops() == table.flops[i], arch


def test_flops_by_hand():
    # depth 2, width 8, 3x3, skip: block 1 is 64 pixels x 1 x 8 x 9 MACs plus a 1x1 projection 64 x 1 x 8;
    # block 2 is 64 x 8 x 8 x 9 (identity skip); the classifier 8 x 16 x 10. Times 2.
    arch = {"depth": 2, "width": 8, "kernel": 3, "activation": "tanh", "skip": True}
    assert networks.arch_flops(arch) == 2 * (64 * 8 * 9 + 64 * 8 + 64 * 8 * 8 * 9 + 8 * 16 * 10) == 86528
    assert networks.arch_flops({**arch, "skip": False}) == 2 * (64 * 8 * 9 + 64 * 8 * 8 * 9 + 8 * 16 * 10)


# --- latency --------------------------------------------------------------------------------------------
def test_latency_is_positive_grows_with_the_work_and_restores_threads():
    x = torch.as_tensor(_bench_data().X_val[:1], dtype=torch.float32)
    threads = torch.get_num_threads()
    before = torch.get_rng_state()
    found = networks.measure_latencies([(143, 0), (0, 1)], x, number=10, repeats=5)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.get_num_threads() == threads
    assert set(found) == {(143, 0), (0, 1)} and all(v > 0 and math.isfinite(v) for v in found.values())
    # 3 blocks of 32 channels with 5x5 kernels (about 6.7 MFLOPs) against one 1x1 block of 4 (1.8 kFLOPs)
    assert found[(143, 0)] > 2 * found[(0, 1)]
    model = benchmark.build_cnn(CHEAP)
    assert networks.latency_ms(model, x, number=2, repeats=3, warmup=0) > 0 and not model.training


def test_the_shipped_latencies_are_plausible(table):
    from scipy import stats

    assert table.latency_ms.shape == (144, len(table.seeds)) and np.all(table.latency_ms > 0)
    assert stats.spearmanr(table.latency_ms.mean(1), table.flops).statistic > 0.5


# --- rungs, successive halving, Hyperband -----------------------------------------------------------------
def test_rung_epochs_by_hand():
    assert mf.rung_epochs(eta=3, max_epochs=12) == [1, 4, 12]
    assert mf.rung_epochs(eta=2, max_epochs=12) == [1, 3, 6, 12]
    assert mf.rung_epochs(eta=3, max_epochs=81) == [1, 3, 9, 27, 81]       # Li et al. (2018), Table 1
    assert mf.rung_epochs(eta=3, max_epochs=243) == [1, 3, 9, 27, 81, 243]  # log(243)/log(3) < 5 in floats
    assert mf.rung_epochs(eta=3, min_epochs=2, max_epochs=12) == [4, 12]
    assert mf.rung_epochs(eta=4, max_epochs=12) == [3, 12]
    assert mf.rung_epochs(eta=3, min_epochs=12, max_epochs=12) == [12]


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 6), st.integers(1, 6), st.integers(0, 300))
def test_rungs_are_geometric_and_end_at_the_full_budget(eta, low, extra):
    high = low + extra
    r = mf.rung_epochs(eta=eta, min_epochs=low, max_epochs=high)
    assert r[-1] == high and low <= r[0] < low * eta  # as many rungs as fit: one more would start below low
    assert low * eta ** (len(r) - 1) <= high < low * eta ** len(r)
    assert all(b >= eta * a for a, b in zip(r, r[1:]))


def _scripted(scores):
    """An objective that answers from ``scores[(id, epochs)]`` and logs its calls."""
    calls = []

    def objective_at(arch, epochs):
        calls.append((arch["id"], epochs))
        return scores[(arch["id"], epochs)]

    return objective_at, calls


def test_successive_halving_keeps_the_best_third_at_each_rung_by_hand():
    first = [0.50, 0.60, 0.90, 0.40, 0.55, 0.80, 0.30, 0.85, 0.20]  # after 1 epoch: ids 2, 7, 5 lead
    scores = {(k, 1): v for k, v in enumerate(first)}
    scores.update({(2, 4): 0.91, (7, 4): 0.95, (5, 4): 0.93, (7, 12): 0.97})
    candidates = [{"id": k} for k in range(9)]
    for resume, epochs in ((True, 9 * 1 + 3 * (4 - 1) + 1 * (12 - 4)), (False, 9 * 1 + 3 * 4 + 1 * 12)):
        objective, calls = _scripted(scores)
        result = mf.successive_halving(candidates, objective, eta=3, max_epochs=12, resume=resume)
        assert calls == [(k, 1) for k in range(9)] + [(2, 4), (7, 4), (5, 4), (7, 12)]
        assert [r.epochs for r in result.rungs] == [1, 4, 12]
        assert [r.promoted for r in result.rungs] == [[2, 7, 5], [1], []]  # positions, best first
        assert [a["id"] for a in result.rungs[1].archs] == [2, 7, 5]
        assert result.best == {"id": 7} and result.epochs == epochs == (26 if resume else 33)
        assert result.models == 9 and result.max_epochs == 12


def test_ties_keep_the_earlier_candidate():
    objective = lambda arch, epochs: 0.5  # noqa: E731
    result = mf.successive_halving([{"id": k} for k in range(4)], objective, eta=2, max_epochs=2)
    assert [r.promoted for r in result.rungs] == [[0, 1], []] and result.best == {"id": 0}


def test_hyperband_brackets_are_those_of_li_et_al_table_1():
    """R = 81, eta = 3 (Li et al., 2018, Table 1): brackets of 81, 34, 15, 8 and 5 candidates."""
    space = SearchSpace({"a": list(range(9)), "b": list(range(9))})
    quality = lambda arch: 9 * arch["a"] + arch["b"]  # noqa: E731
    result = mf.hyperband(space, lambda arch, e: quality(arch) / 100 + e / 1000, eta=3, max_epochs=81,
                          rng=np.random.default_rng(0))
    sizes = {s: [len(r.archs) for r in result.rungs if r.bracket == s] for s in range(5)}
    epochs = {s: [r.epochs for r in result.rungs if r.bracket == s] for s in range(5)}
    assert sizes == {4: [81, 27, 9, 3, 1], 3: [34, 11, 3, 1], 2: [15, 5, 1], 1: [8, 2], 0: [5]}
    assert epochs == {4: [1, 3, 9, 27, 81], 3: [3, 9, 27, 81], 2: [9, 27, 81], 1: [27, 81], 0: [81]}
    # resuming: 81*1 + 27*2 + 9*6 + 3*18 + 54 = 297; 34*3 + 11*6 + 3*18 + 54 = 276; 15*9 + 5*18 + 54 = 279;
    # 8*27 + 2*54 = 324; 5*81 = 405
    assert result.epochs == 297 + 276 + 279 + 324 + 405 and result.models == 81 + 34 + 15 + 8 + 5
    for s in range(5):  # each bracket draws distinct candidates
        first = next(r for r in result.rungs if r.bracket == s)
        assert len({space.index(a) for a in first.archs}) == len(first.archs)
    # the ranking never changes with the epochs, so every bracket keeps its best: the choice is the best drawn
    drawn = [a for r in result.rungs for a in r.archs]
    assert result.best == max(drawn, key=quality)
    again = mf.hyperband(space, lambda arch, e: 0.0, eta=3, max_epochs=81, resume=False, rng=np.random.default_rng(1))
    assert again.epochs == 405 + (102 + 99 + 81 + 81) + (135 + 135 + 81) + (216 + 162) + 405  # restarts: r_i each


def test_searches_repeat_with_their_rng_and_spend_epochs_independent_of_the_scores():
    space = SearchSpace({"a": list(range(6)), "b": list(range(4))})
    for strategy, kwargs in ((mf.successive_halving, {"n": 9}), (mf.hyperband, {})):
        runs = []
        for seed in (0, 0, 1):
            noise = np.random.default_rng(seed + 10)
            runs.append(strategy(space, lambda arch, e: float(noise.random()), max_epochs=12,
                                 rng=np.random.default_rng(seed), **kwargs))
        assert runs[0] == runs[1]
        assert runs[0].rungs[0].archs != runs[2].rungs[0].archs
        assert runs[0].epochs == runs[2].epochs


def test_the_curve_objective_continues_a_run_and_starts_a_new_one_when_asked_for_no_more_epochs():
    space = SearchSpace({"a": [1, 2, 3], "b": [False, True]})
    curve = np.array([[[100 * i + 10 * j + e for e in range(1, 13)] for j in range(3)] for i in range(6)], float)
    fake = SimpleNamespace(space=space, seeds=[0, 1, 2], val_curve=curve)
    f = mf.curve_objective(fake, rng=np.random.default_rng(5))
    g = np.random.default_rng(5)
    draws = iter([int(g.integers(3)) for _ in range(10)])  # one at a time, as the objective draws
    arch, other = space[4], space[1]
    j = next(draws)
    assert f(arch, 1) == 401 + 10 * j
    assert f(arch, 4) == 404 + 10 * j and f(arch, 12) == 412 + 10 * j  # the same run, continued
    k = next(draws)
    assert f(other, 3) == 103 + 10 * k
    j2 = next(draws)
    assert f(arch, 4) == 404 + 10 * j2  # fewer epochs than the run has: a new run, a new seed drawn
    with pytest.raises(ValueError, match="epochs must be <= 12"):
        f(arch, 13)


def test_compare_with_random_search_at_equal_epochs(table):
    cmp = mf.compare_with_random_search(mf.successive_halving, table, n_searches=6, n=9)
    assert cmp.strategy == "successive halving" and np.all(cmp.epochs == 26) and cmp.random_models == 2
    mean_test = table.test.mean(1)
    assert np.array_equal(cmp.test, mean_test[cmp.choices]) and np.array_equal(cmp.random_test,
                                                                               mean_test[cmp.random_choices])
    again = mf.compare_with_random_search(mf.successive_halving, table, n_searches=6, n=9)
    assert again.choices == cmp.choices and again.random_choices == cmp.random_choices
    hb = mf.compare_with_random_search(mf.hyperband, table, n_searches=3, seed=4)
    assert np.all(hb.epochs == 90) and hb.random_models == 7  # brackets of 9, 5 and 3 candidates
    d = hb.difference()
    assert d.low <= d.estimate <= d.high


# --- bad input -------------------------------------------------------------------------------------------
SPACE12 = SearchSpace({"a": list(range(6)), "b": [0, 1]})
OK = lambda arch, e: 0.5  # noqa: E731


@pytest.mark.parametrize("call, error, match", [
    (lambda: mf.rung_epochs(eta=1, max_epochs=12), ValueError, "eta must be >= 2"),
    (lambda: mf.rung_epochs(eta=3.0, max_epochs=12), TypeError, "eta must be an integer"),
    (lambda: mf.rung_epochs(min_epochs=0, max_epochs=12), ValueError, "min_epochs must be >= 1"),
    (lambda: mf.rung_epochs(min_epochs=13, max_epochs=12), ValueError, "min_epochs must be at most max_epochs"),
    (lambda: mf.successive_halving(SPACE12, OK, max_epochs=12, rng=np.random.default_rng(0)), ValueError,
     "n must be given"),
    (lambda: mf.successive_halving(SPACE12, OK, n=13, max_epochs=12, rng=np.random.default_rng(0)), ValueError,
     "n must be <= 12"),
    (lambda: mf.successive_halving(SPACE12, OK, n=3, max_epochs=12, rng=0), TypeError, "rng must be a numpy"),
    (lambda: mf.successive_halving([{"a": 1}], OK, n=2, max_epochs=12), ValueError, "n must be None or the number"),
    (lambda: mf.successive_halving([], OK, max_epochs=12), ValueError, "candidates must hold at least one"),
    (lambda: mf.successive_halving("ab", OK, max_epochs=12), TypeError, "candidates must be a SearchSpace"),
    (lambda: mf.successive_halving([{"a": 1}], "f", max_epochs=12), TypeError, "objective_at must be callable"),
    (lambda: mf.successive_halving([{"a": 1}], lambda a, e: float("nan"), max_epochs=12), ValueError,
     "must be a finite number"),
    (lambda: mf.successive_halving([{"a": 1}], OK, max_epochs=12, resume=1), TypeError, "resume must be True"),
    (lambda: mf.hyperband([{"a": 1}], OK, max_epochs=12, rng=np.random.default_rng(0)), TypeError,
     "space must be a troikadl.nas.SearchSpace"),
    (lambda: mf.hyperband(SPACE12, OK, max_epochs=81, rng=np.random.default_rng(0)), ValueError,
     "the first bracket needs 81 distinct architectures"),
    (lambda: mf.curve_objective("table", rng=np.random.default_rng(0)), TypeError, "table must be a"),
    (lambda: mf.compare_with_random_search(mf.successive_halving, "table", n_searches=2, n=3), TypeError,
     "table must be a"),
    (lambda: mf.compare_with_random_search("sh", benchmark.Table.load(), n_searches=2), TypeError,
     "strategy must be"),
    (lambda: mf.compare_with_random_search(lambda space, objective, rng, **kw: mf.FidelityResult("fake", 12, [], 5),
                                           benchmark.Table.load(), n_searches=2), ValueError,
     "less than one full training"),
    (lambda: networks.arch_flops({"depth": 4}), ValueError, "arch must set exactly the options"),
    (lambda: networks.latency_ms("model", torch.zeros(1)), TypeError, "model must be a torch.nn.Module"),
    (lambda: networks.latency_ms(benchmark.build_cnn(CHEAP), [0.0]), TypeError, "x must be a torch.Tensor"),
    (lambda: networks.latency_ms(benchmark.build_cnn(CHEAP), torch.zeros(1, 1, 8, 8), number=0), ValueError,
     "number must be >= 1"),
    (lambda: networks.measure_latencies([(144, 0)], torch.zeros(1, 1, 8, 8)), ValueError, r"jobs\[0\]\[0\] must be"),
    (lambda: networks.measure_latencies([3], torch.zeros(1, 1, 8, 8)), TypeError, r"jobs\[0\] must be an"),
    (lambda: networks.measure_latencies([], torch.zeros(1, 1, 8, 8)), ValueError, "jobs must hold at least one"),
])
def test_bad_input_is_refused_with_a_message_naming_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()
