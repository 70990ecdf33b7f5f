"""Beyond one machine: data parallelism, ZeRO-1 and fully sharded data parallelism (FSDP), chapter 12.

Chapter 6's character-level decoder (:class:`troikadl.transformer.GPT`) is trained on the docstring corpus
by ``torchrun`` processes with four strategies, every one on the same data and from the same initial weights:

- ``"single"``: one process, the whole global batch, a plain AdamW: the reference (under several processes
  only rank 0 runs it, the others wait);
- ``"ddp"``: :class:`~torch.nn.parallel.DistributedDataParallel`: every rank holds the whole model, all the
  gradients and all of AdamW's state; gradients are averaged over ranks (all-reduce) after backward;
- ``"zero1"``: DDP plus :class:`~torch.distributed.optim.ZeroRedundancyOptimizer` (ZeRO stage 1): each rank
  keeps AdamW's state (two moments) only for its share of the parameter tensors, updates those, and
  broadcasts them to the others;
- ``"fsdp"``: FSDP2 (:func:`torch.distributed.fsdp.fully_shard`, per block and then the whole model):
  parameters, gradients and optimizer state are all split along each tensor's first dimension; a block's
  full weights are gathered (all-gather) just before it runs and freed after, gradients are reduce-scattered.

The global batch of step ``t`` is a pure function of ``(seed, t)`` (:func:`global_batch`); rank ``r`` of
``w`` trains on its contiguous ``1/w`` of the rows, so every strategy follows the 1-process loss trajectory,
up to rounding (sums taken in another order).

One launch runs several strategies in turn (process start-up costs seconds)::

    torchrun --standalone --nproc_per_node=2 -m troikadl.scaling.distributed --strategies single,ddp,zero1,fsdp \\
        --steps 12 --out result.json

On CPU the processes talk through gloo. On a machine with GPUs the same command with
``--nproc_per_node=<number of GPUs>`` uses nccl, one GPU per process (``LOCAL_RANK``). Across machines,
start it on every node with ``torchrun --nnodes=2 --node_rank=<0 or 1> --nproc_per_node=<gpus>
--rdzv_backend=c10d --rdzv_endpoint=<host of node 0>:29500 -m troikadl.scaling.distributed ...``.
:func:`run_torchrun` launches it from Python and returns what rank 0 wrote.

Why FSDP2 and not FSDP1 (``FullyShardedDataParallel``): both run on CPU with gloo in torch 2.13 (tried), but
FSDP2 shards each parameter on its own as a DTensor, so a plain AdamW updates the shards and this rank's bytes
are each DTensor's ``to_local()``; FSDP1 flattens a module's parameters into one padded ``FlatParameter``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..runtime import torchrun_device
from ..validate import as_tensor, check_choice, check_float, check_instance, check_int, check_str_list

__all__ = ["STRATEGIES", "ShardSettings", "global_batch", "local_bytes", "train_strategy", "run_torchrun", "main"]

STRATEGIES = ("single", "ddp", "zero1", "fsdp")


@dataclass(frozen=True)
class ShardSettings:
    """The run: ``steps`` AdamW steps on global batches of ``batch_size`` windows of ``context`` characters."""

    steps: int = 12
    batch_size: int = 8
    context: int = 64
    d_model: int = 64
    layers: int = 2
    heads: int = 4
    lr: float = 3e-3
    weight_decay: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "context", "d_model", "layers", "heads", "seed"):
            check_int(getattr(self, name), name, min=0 if name == "seed" else 1)
        check_float(self.lr, "lr", min=0.0, min_open=True)
        check_float(self.weight_decay, "weight_decay", min=0.0)
        if self.d_model % self.heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by heads ({self.heads})")


def global_batch(ids: Any, step: int, batch_size: int, context: int,
                 seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The global batch of ``step``: (inputs, targets), each (batch_size, context), a pure function of ``(seed, step)``.

    ``batch_size`` windows of ``context + 1`` consecutive ids of the 1-D token sequence ``ids``, at starts
    drawn by ``numpy.random.default_rng([seed, step])``; targets are the inputs shifted by one.
    """
    ids = as_tensor(ids, "ids", ndim=1, dtype="integer")
    step, seed = check_int(step, "step", min=0), check_int(seed, "seed", min=0)
    batch_size, context = check_int(batch_size, "batch_size", min=1), check_int(context, "context", min=1)
    if len(ids) <= context:
        raise ValueError(f"ids must hold more than context + 1 = {context + 1} tokens, got {len(ids)}")
    if int(ids.min()) < 0:
        raise ValueError(f"ids must be token ids (>= 0), got {int(ids.min())}")
    starts = np.random.default_rng([seed, step]).integers(0, len(ids) - context, size=batch_size)
    rows = ids[torch.as_tensor(starts)[:, None] + torch.arange(context + 1)]
    return rows[:, :-1], rows[:, 1:]


def _local(t: Any) -> torch.Tensor:
    return t.to_local() if hasattr(t, "to_local") else t  # a DTensor (FSDP2's shards) -> this rank's piece


def local_bytes(model: torch.nn.Module, optimizer: Any) -> dict[str, int]:
    """Bytes of parameters, gradients and optimizer state that this process holds (its shards only).

    FSDP2's parameters, gradients and AdamW moments are DTensors: their local pieces are counted. A
    :class:`~torch.distributed.optim.ZeroRedundancyOptimizer` holds state only for this rank's parameters.
    """
    check_instance(model, "model", torch.nn.Module, "a torch.nn.Module")
    check_instance(optimizer, "optimizer", torch.optim.Optimizer, "a torch.optim.Optimizer")
    params = list(model.parameters())
    inner = getattr(optimizer, "optim", optimizer)  # ZeroRedundancyOptimizer wraps this rank's local optimizer
    state = [v for s in inner.state.values() for v in s.values() if isinstance(v, torch.Tensor)]
    size = lambda ts: sum(_local(t).numel() * _local(t).element_size() for t in ts)  # noqa: E731
    return {"parameter_bytes": size(params), "gradient_bytes": size(p.grad for p in params if p.grad is not None),
            "optimizer_bytes": size(state)}


def _grad_norm(model: torch.nn.Module, device: torch.device) -> float:
    """The L2 norm of the whole (averaged) gradient; FSDP2's shards are summed over ranks."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    sq = sum(_local(g).double().pow(2).sum() for g in grads).to(device)
    if any(hasattr(g, "to_local") for g in grads):
        dist.all_reduce(sq)
    return float(sq.sqrt())


def _wrap(model: torch.nn.Module, strategy: str, settings: ShardSettings, device: torch.device) -> tuple:
    """(the module to call, the optimizer) for ``strategy``."""
    kw = {"lr": settings.lr, "weight_decay": settings.weight_decay}
    if strategy == "single":
        return model, torch.optim.AdamW(model.parameters(), **kw)
    if strategy == "fsdp":
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        mesh = init_device_mesh(device.type, (torch.distributed.get_world_size(),))  # else a GPU per rank if CUDA
        for part in [*model.blocks, model]:  # each block, then the rest
            fully_shard(part, mesh=mesh)
        return model, torch.optim.AdamW(model.parameters(), **kw)
    from torch.nn.parallel import DistributedDataParallel

    # gradient_as_bucket_view: the gradients live in DDP's all-reduce buckets instead of being copied out of them
    net = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None,
                                  gradient_as_bucket_view=True)
    if strategy == "ddp":
        return net, torch.optim.AdamW(model.parameters(), **kw)
    with warnings.catch_warnings():  # its functional optimizers use torch.jit, deprecated in torch 2.13
        warnings.simplefilter("ignore", DeprecationWarning)
        from torch.distributed.optim import ZeroRedundancyOptimizer
    return net, ZeroRedundancyOptimizer(model.parameters(), optimizer_class=torch.optim.AdamW, **kw)


def train_strategy(strategy: str, ids: Any, vocab_size: int, settings: ShardSettings, *,
                   device: Any = "cpu") -> dict[str, Any]:
    """Train a fresh GPT with ``strategy`` on this rank's slice of each global batch; what this rank measured.

    Every strategy but ``"single"`` needs an initialized process group (torchrun); its rank and size say
    which slice of each global batch this process trains on. Returns ``losses`` (each step's loss of the
    global batch: the mean over ranks of their slices' losses), ``grad_norms`` (each step's norm of the
    gradient the optimizer applies), ``seconds``, and :func:`local_bytes` after the last step
    (``peak_bytes``: the GPU's, None on CPU).
    """
    from ..transformer import GPT, GPTConfig

    check_choice(strategy, "strategy", STRATEGIES)
    check_instance(settings, "settings", ShardSettings, "a ShardSettings")
    vocab_size = check_int(vocab_size, "vocab_size", min=1)
    ids = as_tensor(ids, "ids", ndim=1, dtype="integer", nonempty=True)
    if int(ids.min()) < 0 or int(ids.max()) >= vocab_size:
        raise ValueError(f"ids must be token ids in [0, vocab_size={vocab_size}), got [{ids.min()}, {ids.max()}]")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise TypeError(f"device must be a torch.device or a name such as 'cpu' or 'cuda:0', got {device!r}") from exc
    if strategy != "single" and not dist.is_initialized():
        raise ValueError(f"strategy {strategy!r} needs a process group: run under torchrun (see run_torchrun)")
    rank, share = (0, 1) if strategy == "single" else (dist.get_rank(), dist.get_world_size())
    if settings.batch_size % share:
        raise ValueError(f"batch_size ({settings.batch_size}) must be divisible by the world size {share}")
    torch.manual_seed(settings.seed)  # the same initial weights on every rank
    model = GPT(GPTConfig(vocab_size=vocab_size, n_positions=settings.context, d_model=settings.d_model,
                          heads=settings.heads, layers=settings.layers)).to(device)
    net, opt = _wrap(model, strategy, settings, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    rows = settings.batch_size // share
    part = slice(rank * rows, (rank + 1) * rows) if share > 1 else slice(None)
    losses, norms, start = [], [], time.perf_counter()
    for step in range(settings.steps):
        x, y = global_batch(ids, step, settings.batch_size, settings.context, settings.seed)
        with warnings.catch_warnings():  # FSDP2 warns that the returned KV cache holds views: nothing edits them
            warnings.filterwarnings("ignore", message="FSDP2-wrapped module", category=UserWarning)
            logits, _ = net(x[part].to(device))
        loss = F.cross_entropy(logits.reshape(-1, vocab_size), y[part].reshape(-1).to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()  # DDP and FSDP average the gradients over ranks here
        norms.append(_grad_norm(model, device))  # Adam would hide gradients summed instead of averaged: check
        opt.step()
        mean = loss.detach().clone()
        if share > 1:
            dist.all_reduce(mean)
            mean /= share
        losses.append(float(mean))
    return {"losses": losses, "grad_norms": norms, "seconds": time.perf_counter() - start, **local_bytes(model, opt),
            "peak_bytes": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None}


def main(argv: list[str] | None = None) -> None:
    """The torchrun entry point: train each strategy in turn; rank 0 writes every rank's measurements as JSON."""
    from .. import language_model as lm
    from ..data.corpus import stdlib_corpus

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strategies", default=",".join(STRATEGIES), help=f"comma-separated, from {STRATEGIES}")
    for field, value in asdict(ShardSettings()).items():
        ap.add_argument("--" + field.replace("_", "-"), type=type(value), default=value)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    strategies = [check_choice(s, "--strategies", STRATEGIES) for s in args.strategies.split(",")]
    settings = ShardSettings(**{f: getattr(args, f) for f in asdict(ShardSettings())})
    torch.set_num_threads(1)
    device = torchrun_device()  # a GPU per process, or the CPU for all
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.set_device(device)
    backend = "nccl" if cuda else "gloo"
    store = None
    if "WORLD_SIZE" in os.environ:  # torchrun: it sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT
        dist.init_process_group(backend)
    else:  # a plain `python -m`: a process group of one, through a file (no network)
        store = tempfile.TemporaryDirectory()
        dist.init_process_group(backend, store=dist.FileStore(f"{store.name}/store", 1), rank=0, world_size=1)
    rank, world = dist.get_rank(), dist.get_world_size()
    train_text, _ = lm.train_val_split(stdlib_corpus(), val_fraction=0.1, seed=0)  # chapter 6's data
    vocab = lm.CharVocab.from_text(train_text)
    ids = vocab.encode(train_text)  # the same on every rank: each draws the same global batches from it
    out: dict[str, Any] = {"world": world, "backend": backend, "settings": asdict(settings), "vocab_size": len(vocab),
                           "torch": torch.__version__, "strategies": {}}
    for strategy in strategies:
        mine = None if strategy == "single" and rank > 0 else {  # "single" runs on rank 0 only
            "rank": rank, **train_strategy(strategy, ids, len(vocab), settings, device=device)}
        ranks: list[Any] = [None] * world
        dist.all_gather_object(ranks, mine)
        ranks = [r for r in ranks if r is not None]
        curves = [{k: r.pop(k) for k in ("losses", "grad_norms", "seconds")} for r in ranks]  # rank 0's curves
        out["strategies"][strategy] = {**curves[0], "seconds": max(c["seconds"] for c in curves), "ranks": ranks}
    out["max_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # rank 0's process, all of it
    if rank == 0:
        Path(args.out).write_text(json.dumps(out, indent=1))
    dist.destroy_process_group()
    if store is not None:
        store.cleanup()


def run_torchrun(nproc: int = 2, strategies: Any = STRATEGIES, *, timeout: float = 600,
                 **settings: Any) -> dict[str, Any]:
    """Launch ``torchrun --standalone --nproc_per_node=nproc -m troikadl.scaling.distributed``; return rank 0's JSON.

    ``settings`` are :class:`ShardSettings` fields. The processes' output is captured: nothing is printed,
    and a failed launch raises ``RuntimeError`` with their stderr. ``seconds`` in the result is the launch's
    wall time, start-up included. Runs offline: the rendezvous is on localhost.
    """
    nproc = check_int(nproc, "nproc", min=1)
    strategies = [check_choice(x, f"strategies[{i}]", STRATEGIES)
                  for i, x in enumerate(check_str_list(strategies, "strategies"))]
    timeout = check_float(timeout, "timeout", min=0.0, min_open=True)
    s = ShardSettings()
    unknown = set(settings) - set(asdict(s))
    if unknown:
        raise TypeError(f"settings: unknown ShardSettings fields {sorted(unknown)}; the fields are {list(asdict(s))}")
    s = ShardSettings(**settings)
    if s.batch_size % nproc:
        raise ValueError(f"batch_size ({s.batch_size}) must be divisible by nproc ({nproc})")
    torchrun = Path(sys.executable).with_name("torchrun")
    args = [f"--{k.replace('_', '-')}={v}" for k, v in asdict(s).items()]
    env = {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", **os.environ}  # torchrun warns if unset
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "result.json"
        cmd = [str(torchrun), "--standalone", f"--nproc_per_node={nproc}", "-m", "troikadl.scaling.distributed",
               "--strategies", ",".join(strategies), *args, "--out", str(out)]
        start = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0 or not out.is_file():
            raise RuntimeError(f"torchrun failed (exit status {done.returncode}): {' '.join(cmd)}\n"
                               f"--- stderr ---\n{done.stderr[-6000:]}")
        result = json.loads(out.read_text())
    result["seconds"] = time.perf_counter() - start
    return result


if __name__ == "__main__":
    main()
