"""Chapter 12: DDP, ZeRO-1 and FSDP2 on 2 torchrun processes (gloo) follow the 1-process run, each sharding its part."""

from __future__ import annotations

import math
import sys
import tempfile

import pytest
import torch

from troikadl.scaling.distributed import (STRATEGIES, ShardSettings, global_batch, local_bytes, run_torchrun,
                                          train_strategy)
from troikadl.transformer import GPT, GPTConfig

# Measured: over 16 float32 AdamW steps the 2-process losses and gradient norms differ from the 1-process ones
# by at most 1.1e-7 relative (only the order of the sums differs: per-rank means, then an all-reduce, versus one
# mean over the whole batch); 1e-5 leaves a wide margin, and a rank training on the wrong rows is off by 4e-2.
RTOL = 1e-5
VOCAB = 99  # the training text's characters (chapter 6's CharVocab)


def _params(s: ShardSettings, vocab: int) -> list[torch.nn.Parameter]:
    return list(GPT(GPTConfig(vocab_size=vocab, n_positions=s.context, d_model=s.d_model, heads=s.heads,
                              layers=s.layers)).parameters())


def _zero1_expected(params: list[torch.nn.Parameter], world: int) -> list[int]:
    """ZeroRedundancyOptimizer's split: whole tensors, largest first, each to the rank holding the fewest elements;
    per rank, AdamW's two float32 moments of its tensors plus a float32 step counter per tensor."""
    sizes, count = [0] * world, [0] * world
    for n in sorted((p.numel() for p in params), reverse=True):
        r = sizes.index(min(sizes))
        sizes[r] += n
        count[r] += 1
    return [8 * n + 4 * c for n, c in zip(sizes, count)]


def _fsdp_expected(params: list[torch.nn.Parameter], world: int) -> list[int]:
    """FSDP2's split: every tensor along its first dimension as torch.chunk does (ceil(rows / world) per rank)."""
    out = [0] * world
    for p in params:
        rows, per = p.shape[0], math.ceil(p.shape[0] / world)
        for r in range(world):
            out[r] += 4 * max(0, min(per, rows - r * per)) * (p.numel() // rows)
    return out


def test_global_batch_is_a_pure_function_of_seed_and_step():
    ids = torch.arange(1000) % 97
    x, y = global_batch(ids, 3, 6, 16, seed=1)
    assert x.shape == y.shape == (6, 16) and x.dtype == torch.int64
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets: the inputs shifted by one
    assert torch.equal((y - x) % 97, torch.ones_like(x))  # consecutive ids of the sequence
    again = global_batch(ids.clone(), 3, 6, 16, seed=1)
    assert torch.equal(x, again[0]) and torch.equal(y, again[1])
    assert not torch.equal(x, global_batch(ids, 4, 6, 16, seed=1)[0])
    assert not torch.equal(x, global_batch(ids, 3, 6, 16, seed=2)[0])


@pytest.fixture
def group_of_one():
    """An in-process gloo process group of one rank (through a file, no network)."""
    import torch.distributed as dist

    with tempfile.NamedTemporaryFile() as f:
        dist.init_process_group("gloo", store=dist.FileStore(f.name, 1), rank=0, world_size=1)
        try:
            yield
        finally:
            dist.destroy_process_group()


def test_one_process_strategies_match_and_hold_everything(group_of_one):
    ids = torch.arange(2000) % 11  # learnable: each id predicts the next
    s = ShardSettings(steps=3, batch_size=4, context=16, d_model=16, layers=1, heads=2)
    runs = {k: train_strategy(k, ids, 11, s) for k in STRATEGIES}
    ref = runs["single"]
    assert ref["losses"][-1] < ref["losses"][0] and ref["peak_bytes"] is None
    n = sum(p.numel() for p in GPT(GPTConfig(vocab_size=11, n_positions=16, d_model=16, heads=2,
                                             layers=1)).parameters())
    tensors = len(list(GPT(GPTConfig(vocab_size=11, n_positions=16, d_model=16, heads=2, layers=1)).parameters()))
    for k, run in runs.items():
        assert run["losses"] == pytest.approx(ref["losses"], rel=1e-6), k
        assert run["grad_norms"] == pytest.approx(ref["grad_norms"], rel=1e-6) and len(run["grad_norms"]) == 3, k
        assert (run["parameter_bytes"], run["gradient_bytes"], run["optimizer_bytes"]) == (
            4 * n, 4 * n, 8 * n + 4 * tensors), k


def test_local_bytes_counts_a_plain_model():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    assert local_bytes(model, opt) == {"parameter_bytes": 32, "gradient_bytes": 0, "optimizer_bytes": 0}
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    assert local_bytes(model, opt) == {"parameter_bytes": 32, "gradient_bytes": 32, "optimizer_bytes": 72}


def test_bad_input():
    ids = torch.arange(100)
    with pytest.raises(ValueError, match="steps"):
        ShardSettings(steps=0)
    with pytest.raises(ValueError, match="divisible by heads"):
        ShardSettings(d_model=10, heads=4)
    with pytest.raises(ValueError, match="ids must hold more than"):
        global_batch(ids[:10], 0, 2, 16)
    with pytest.raises(TypeError, match="ids must hold integers"):
        global_batch(ids.float(), 0, 2, 16)
    with pytest.raises(ValueError, match="step"):
        global_batch(ids, -1, 2, 16)
    with pytest.raises(ValueError, match=r"ids must be token ids \(>= 0\)"):
        global_batch(ids - 1, 0, 2, 16)
    with pytest.raises(ValueError, match=r"ids must be token ids in \[0, vocab_size=50\)"):
        train_strategy("single", ids, 50, ShardSettings())
    with pytest.raises(TypeError, match="device must be"):
        train_strategy("single", ids, 100, ShardSettings(), device="gpu7")
    with pytest.raises(TypeError, match="optimizer"):
        local_bytes(torch.nn.Linear(2, 2), None)
    with pytest.raises(ValueError, match="strategy must be one of"):
        train_strategy("zero3", ids, 100, ShardSettings())
    with pytest.raises(ValueError, match="needs a process group"):
        train_strategy("ddp", ids, 100, ShardSettings())
    with pytest.raises(TypeError, match="settings must be a ShardSettings"):
        train_strategy("single", ids, 100, {"steps": 2})
    with pytest.raises(ValueError, match="nproc"):
        run_torchrun(0)
    with pytest.raises(ValueError, match=r"strategies\[1\]"):
        run_torchrun(2, ["ddp", "zero3"])
    with pytest.raises(TypeError, match="unknown ShardSettings fields"):
        run_torchrun(2, steps=2, step=3)
    with pytest.raises(ValueError, match="divisible by nproc"):
        run_torchrun(3, batch_size=8)


def test_a_failed_launch_raises_with_its_stderr(tmp_path, monkeypatch):
    fake = tmp_path / "torchrun"  # run_torchrun takes torchrun from next to sys.executable
    fake.write_text("#!/bin/sh\necho 'rank 1 failed: boom' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(RuntimeError, match=r"exit status 3\)(.|\n)*rank 1 failed: boom"):
        run_torchrun(2, ["ddp"], steps=1)


SETTINGS = ShardSettings(steps=16)


@pytest.fixture(scope="module")
def two():
    return run_torchrun(2, STRATEGIES, steps=SETTINGS.steps)


@pytest.mark.slow
def test_two_processes_follow_the_one_process_losses(two):
    assert two["world"] == 2 and two["backend"] == "gloo"
    ref = two["strategies"]["single"]["losses"]
    assert len(ref) == SETTINGS.steps and ref[-1] < ref[0] - 0.5
    norms = two["strategies"]["single"]["grad_norms"]
    for k in ("ddp", "zero1", "fsdp"):
        assert two["strategies"][k]["losses"] == pytest.approx(ref, rel=RTOL, abs=0), k
        # Adam is blind to the gradient's scale (summed instead of averaged over ranks): the norms are not
        assert two["strategies"][k]["grad_norms"] == pytest.approx(norms, rel=RTOL, abs=0), k


@pytest.mark.slow
def test_each_strategy_holds_its_share(two):
    params = _params(SETTINGS, two["vocab_size"])
    full = 4 * sum(p.numel() for p in params)  # 442,112 bytes: 110,528 float32 parameters
    adam = 2 * full + 4 * len(params)  # two moments and a step counter per tensor: 884,336 bytes
    got = {k: [(r["parameter_bytes"], r["gradient_bytes"], r["optimizer_bytes"]) for r in v["ranks"]]
           for k, v in two["strategies"].items()}
    assert got["single"] == [(full, full, adam)]
    assert got["ddp"] == [(full, full, adam)] * 2
    zero = _zero1_expected(params, 2)  # [443,924, 440,412]: whole tensors cannot be split evenly
    assert got["zero1"] == [(full, full, zero[0]), (full, full, zero[1])] and sum(zero) == adam
    shard = _fsdp_expected(params, 2)  # [221,184, 220,928]: the 99-row token table splits 50 / 49
    assert got["fsdp"] == [(b, b, 2 * b + 4 * len(params)) for b in shard] and sum(shard) == full
    for k in ("zero1", "fsdp"):
        assert all(abs(opt / adam - 0.5) < 0.01 for _, _, opt in got[k]), k


def test_main_without_torchrun_is_a_process_group_of_one(tmp_path, monkeypatch):
    import json

    from troikadl.scaling.distributed import main

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    threads = torch.get_num_threads()
    try:
        main(["--strategies", "single,fsdp", "--steps", "2", "--d-model", "16", "--layers", "1", "--context", "16",
              "--out", str(tmp_path / "one.json")])
    finally:
        torch.set_num_threads(threads)
    got = json.loads((tmp_path / "one.json").read_text())
    assert got["world"] == 1 and got["vocab_size"] == VOCAB and got["settings"]["d_model"] == 16
    single, fsdp = got["strategies"]["single"], got["strategies"]["fsdp"]
    assert fsdp["losses"] == pytest.approx(single["losses"], rel=1e-6) and len(single["losses"]) == 2
    assert fsdp["ranks"][0]["optimizer_bytes"] == single["ranks"][0]["optimizer_bytes"]
    with pytest.raises(ValueError, match="--strategies must be one of"):
        main(["--strategies", "ddp,zero3", "--out", str(tmp_path / "x.json")])
