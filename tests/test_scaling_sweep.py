"""Chapter 12: the scaling sweep (a tiny grid built, sharded and merged; rows re-trained) and its shipped table."""

from __future__ import annotations

import csv
import functools
import json
import math

import numpy as np
import pytest
import torch

import troikadl.language_model as lm
from troikadl.scaling import sweep

TINY = {"sizes": [[16, 1, 2], [16, 2, 2]], "steps": [2, 4]}  # seconds, not minutes
TINY_ROWS = 2 * 2 * 2  # sizes x budgets x seeds
CONTEXT = 64


def _rows(path):
    lines = path.read_text().splitlines()
    return lines[0], list(csv.DictReader(lines[1:]))


def _losses(path):
    """Everything but the seconds column, which is a measurement."""
    header, rows = _rows(path)
    return header, [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


# --- building, sharding, merging ----------------------------------------------------------------------
def test_cli_shards_merge_into_the_unsharded_table(tmp_path, capsys):
    tiny = ["--settings", json.dumps(TINY), "--seeds", "1", "0"]
    sweep.main(["--out", str(tmp_path / "all.csv"), *tiny])
    for i in range(3):  # three shards of eight rows: 3 + 3 + 2
        sweep.main(["--out", str(tmp_path / f"part{i}.csv"), "--shard", f"{i}/3", *tiny])
    parts = [_rows(tmp_path / f"part{i}.csv")[1] for i in range(3)]
    assert sorted(len(p) for p in parts) == [2, 3, 3]
    sweep.main(["--merge", *(str(tmp_path / f"part{i}.csv") for i in (2, 0, 1)), "--out", str(tmp_path / "m.csv")])
    assert "wrote" in capsys.readouterr().out
    header, rows = _losses(tmp_path / "all.csv")
    assert _losses(tmp_path / "m.csv") == (header, rows)
    assert len(rows) == TINY_ROWS
    order = [(TINY["sizes"].index([int(r["d_model"]), int(r["layers"]), int(r["heads"])]), int(r["steps"]),
              int(r["seed"])) for r in rows]
    assert order == sorted(order) and len(set(order)) == TINY_ROWS  # canonical order, every row once
    assert json.loads(header[2:])["settings"] == {**sweep.SETTINGS, **TINY}


def test_worker_processes_train_the_same_rows_as_one_process(tmp_path):
    small = {**TINY, "sizes": TINY["sizes"][:1]}
    one = sweep.build_table(tmp_path / "one.csv", seeds=[0, 1], settings=small, log=lambda s: None)
    two = sweep.build_table(tmp_path / "two.csv", seeds=[0, 1], settings=small, workers=2, log=lambda s: None)
    assert _losses(one) == _losses(two)


def test_merge_refuses_overlapping_or_mismatched_parts(tmp_path):
    a = sweep.build_table(tmp_path / "a.csv", seeds=[0], settings={**TINY, "steps": [2]}, log=lambda s: None)
    with pytest.raises(ValueError, match="more than once"):
        sweep.merge_tables([a, a], tmp_path / "m.csv")
    b = sweep.build_table(tmp_path / "b.csv", seeds=[1], settings={**TINY, "steps": [2], "lr": 1e-3},
                          log=lambda s: None)
    with pytest.raises(ValueError, match="different settings"):
        sweep.merge_tables([a, b], tmp_path / "m.csv")


def test_rows_count_parameters_tokens_and_flops_as_written_out(tmp_path):
    out = sweep.build_table(tmp_path / "t.csv", seeds=[0], settings=TINY, log=lambda s: None)
    _, rows = _rows(out)
    vocab = None
    for r in rows:
        d, layers, n = int(r["d_model"]), int(r["layers"]), int(r["non_embedding_params"])
        # per block: qkv 3d^2 + 3d, projection d^2 + d, MLP 8d^2 + 5d, two LayerNorms 4d; a final LayerNorm 2d
        assert n == layers * (12 * d * d + 13 * d) + 2 * d
        vocab_r = (int(r["params"]) - n) / d - CONTEXT  # the token table (vocab x d) and the positions (64 x d)
        assert vocab_r == int(vocab_r) and (vocab is None or vocab == vocab_r)
        vocab = vocab_r
        assert int(r["tokens"]) == int(r["steps"]) * int(r["batch"]) * CONTEXT == int(r["steps"]) * 4 * 64
        assert int(r["flops"]) == 6 * n * int(r["tokens"])
        assert float(r["lr"]) == 3e-3 and math.isfinite(float(r["val_loss"])) and float(r["seconds"]) > 0


# --- one row ------------------------------------------------------------------------------------------
def test_train_row_is_bit_identical_twice_and_leaves_the_caller_alone():
    torch.manual_seed(123)
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # the row trains on one thread, then gives the caller its two back
        rows = [sweep.train_row(16, 1, 2, steps=3, seed=s, settings=TINY) for s in (0, 0, 1)]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert rows[0]["val_loss"] == rows[1]["val_loss"] and rows[0]["train_loss"] == rows[1]["train_loss"]
    assert rows[0]["val_loss"] != rows[2]["val_loss"]  # the seed matters
    assert torch.equal(torch.get_rng_state(), state)


def test_train_row_uses_warmup_then_cosine_matched_to_its_budget(monkeypatch):
    seen = {}
    real = lm.train_lm

    def spy(model, ids, **kw):
        seen.update(kw)
        return real(model, ids, **kw)

    monkeypatch.setattr(lm, "train_lm", spy)
    steps, lr = 40, 3e-3
    row = sweep.train_row(16, 1, 2, steps=steps, seed=0, settings={**TINY, "lr": lr})
    sched = [seen["schedule"](t) for t in range(steps)]
    assert seen["steps"] == steps and seen["bptt"] == CONTEXT and seen["carry_state"] is False
    assert seen["clip_norm"] == 1.0 and seen["batch_size"] == 4
    assert sched[0] == 0.0 and sched[4] == pytest.approx(lr, rel=1e-12)  # warmup: the first tenth (4 steps)
    assert np.all(np.diff(sched[:5]) > 0) and np.all(np.diff(sched[4:]) < 0)
    t = np.arange(4, steps)  # then a cosine from lr to lr / 10 at the last step (written out here)
    want = lr / 10 + (lr - lr / 10) * (1 + np.cos(np.pi * (t - 4) / (steps - 4))) / 2
    np.testing.assert_allclose(sched[4:], want, rtol=1e-12)
    assert row["tokens"] == steps * 4 * CONTEXT


def test_train_row_is_chapter_6s_recipe_written_out():
    from troikadl.data.corpus import stdlib_corpus
    from troikadl.schedules import warmup_lr
    from troikadl.transformer import GPT, GPTConfig

    train_text, val_text = lm.train_val_split(stdlib_corpus(), val_fraction=0.1, seed=0)
    vocab = lm.CharVocab.from_text(train_text)
    steps, lr = 5, 3e-3  # the sweep's peak rate
    torch.manual_seed(5)
    model = GPT(GPTConfig(vocab_size=len(vocab), n_positions=CONTEXT, d_model=16, heads=2, layers=1))
    hist = lm.train_lm(model, vocab.encode(train_text), steps=steps, batch_size=4, bptt=CONTEXT, lr=lr,
                       clip_norm=1.0, carry_state=False,
                       schedule=functools.partial(warmup_lr, lr=lr, warmup_steps=0, total_steps=steps, min_lr=lr / 10))
    val = vocab.encode(val_text)[:20_000]
    want = math.log(lm.perplexity(model, val, batch_size=20, bptt=CONTEXT, carry_state=False))
    row = sweep.train_row(16, 1, 2, steps=steps, seed=5, settings=TINY)
    assert row["val_loss"] == pytest.approx(want, abs=1e-6)
    assert row["train_loss"] == pytest.approx(hist["loss"][-1], abs=1e-6)  # the last tenth of 5 steps: 1 step
    assert row["params"] == sum(p.numel() for p in model.parameters())


# --- the shipped table --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def table():
    return sweep.Table.load()


def test_shipped_table_is_the_full_grid_of_the_documented_settings(table):
    s = sweep.SETTINGS
    assert table.settings == s and table.seeds == list(sweep.SEEDS)
    assert len(table) == len(s["sizes"]) * len(s["steps"]) * len(sweep.SEEDS)
    cells = {(int(d), int(n), int(k)) for d, n, k in zip(table.d_model, table.steps, table.seed)}
    assert len(cells) == len(table)
    assert np.log10(table.N.max() / table.N.min()) >= 1.5 and len(set(table.D.tolist())) >= 4
    assert np.all(table.D <= 470_000) and np.all(table.d_model // table.heads >= 8)
    assert f"{table.seconds.sum() / 60:.0f} CPU-minutes" in sweep.__doc__


def test_shipped_losses_fall_with_size_and_with_data(table):
    def mean(n, d):
        return table.loss[(table.N == n) & (table.D == d)].mean()

    Ns, Ds = sorted(set(table.N.tolist())), sorted(set(table.D.tolist()))
    assert all(mean(n, Ds[-1]) > mean(m, Ds[-1]) for n, m in zip(Ns, Ns[1:]))  # bigger is better with most data
    assert all(mean(Ns[-1], d) > mean(Ns[-1], e) for d, e in zip(Ds, Ds[1:]))  # more data is better, largest N
    assert np.all(table.loss < np.log(99))  # better than uniform over the vocabulary


def test_train_row_reproduces_the_cheapest_shipped_row(table):
    i = int(np.argmin(table.seconds))
    r = table.row(i)
    if sweep._data(0.1, 0, 20_000)[3] != table.corpus_sha256:
        pytest.skip("this Python builds another docstring corpus than the table's")
    live = sweep.train_row(r["d_model"], r["layers"], r["heads"], steps=r["steps"], seed=r["seed"])
    for k in ("val_loss", "train_loss"):  # the table's 6 decimals on its processor; another kind rounds float32
        assert abs(live[k] - r[k]) <= 1e-3, (k, live[k], r[k])  # sums differently (3.3e-4 seen on a 113-step row)


# --- bad input ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, exc, match", [
    (lambda: sweep.train_row(30, 1, 4, steps=2, seed=0), ValueError, "divisible"),
    (lambda: sweep.train_row(16, 1, 2, steps=0, seed=0), ValueError, "steps"),
    (lambda: sweep.train_row(16, 1, 2, steps=2, seed=-1), ValueError, "seed"),
    (lambda: sweep.train_row(16.0, 1, 2, steps=2, seed=0), TypeError, "d_model"),
    (lambda: sweep.train_row(16, 1, 2, steps=2, seed=0, settings={"epochs": 3}), ValueError, "settings"),
    (lambda: sweep.build_table(3, log=print), TypeError, "out"),
    (lambda: sweep.build_table("t.csv", shard="2/2"), ValueError, "shard"),
    (lambda: sweep.build_table("t.csv", shard="a/2"), ValueError, "shard"),
    (lambda: sweep.build_table("t.csv", seeds=[0, 0]), ValueError, "seeds"),
    (lambda: sweep.build_table("t.csv", workers=0), ValueError, "workers"),
    (lambda: sweep.merge_tables("a.csv", "m.csv"), TypeError, "parts"),
    (lambda: sweep.build_table("t.csv", settings={"sizes": [[16, 1]]}), ValueError, "sizes"),
    (lambda: sweep.Table.load(3), TypeError, "path"),
])
def test_bad_input_names_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
