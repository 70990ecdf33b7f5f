"""Pretraining BERT (MLM + NSP): deterministic batches, resumable checkpoints, and DistributedDataParallel.

Taught in chapter 7. Every step's batch is a pure function of ``(seed, step)``: which sentence pairs,
and which tokens are masked. So a run that is stopped and resumed from a checkpoint (model, optimizer,
schedule and step) continues exactly as if it had never stopped, and under ``torchrun`` every rank can
build the same global batch and train on its own disjoint slice of it.

With ``world`` ranks, each rank's loss is its share of the *global* batch's loss: sums over its masked
tokens and pairs, divided by the global counts, times ``world`` (DDP averages gradients over ranks). The
gradient is then exactly that of the 1-process run on the whole batch, which a test checks.

:class:`PretrainSettings` also chooses the variant (static or dynamic masking, the shares of the 80/10/10 rule,
with or without NSP) and :func:`pretrain` returns the MLM and NSP losses as well as their sum (:class:`Losses`).

Run it on several processes (CPU: gloo; GPU: nccl) with, for example::

    torchrun --standalone --nproc_per_node=2 -m troikadl.bert.pretrain --steps 20 --out model.pt
"""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..runtime import torchrun_device
from ..train import IGNORE
from ..validate import check_bool, check_choice, check_positive
from .evaluation import masked_accuracy
from .masking import _proportions, mask_rows, mask_tokens
from .model import Bert, BertSettings
from .pairs import PairData, encode_pairs
from .wordpiece import WordPiece

__all__ = ["PretrainSettings", "PairData", "encode_pairs", "batch_for_step", "Losses", "pretrain", "masked_accuracy",
           "main"]


@dataclass(frozen=True)
class PretrainSettings:
    """How :func:`pretrain` trains. The last three fields choose the pretraining variant; their defaults are
    BERT's recipe with RoBERTa's dynamic masking (what this module always did).

    ``masking``: "dynamic" (a new mask for every step's batch) or "static" (each pair masked once, the same
    mask whenever it is drawn; :func:`~troikadl.bert.masking.mask_rows`). ``proportions``: the shares
    (mask, random, unchanged) of the selected tokens; ``(1, 0, 0)`` is the 100% [MASK] ablation of Devlin et
    al. (2019, Table 8). ``nsp=False`` trains MLM alone, on pairs whose B *follows* A (label 1) only, so
    that every input is contiguous text, as in RoBERTa's inputs without NSP; the NSP head is then untrained.
    """

    steps: int = 600
    batch_size: int = 32
    lr: float = 1e-3
    warmup: int = 60
    weight_decay: float = 0.01
    seed: int = 0
    masking: str = "dynamic"
    proportions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    nsp: bool = True

    def __post_init__(self) -> None:
        check_positive(self.steps, "steps", integer=True)
        check_positive(self.batch_size, "batch_size", integer=True)
        check_positive(self.lr, "lr")
        check_positive(self.warmup, "warmup", integer=True, allow_zero=True)
        check_positive(self.weight_decay, "weight_decay", allow_zero=True)
        check_positive(self.seed, "seed", integer=True, allow_zero=True)
        check_choice(self.masking, "masking", ("dynamic", "static"))
        object.__setattr__(self, "proportions", _proportions(self.proportions))
        object.__setattr__(self, "nsp", check_bool(self.nsp, "nsp"))


def batch_for_step(data: PairData, step: int, batch_size: int, seed: int, *, masking: str = "dynamic",
                   proportions: tuple[float, float, float] = (0.8, 0.1, 0.1),
                   next_only: bool = False) -> dict[str, np.ndarray]:
    """The global batch of ``step``: a seeded choice of pairs, masked with a seeded generator.

    The pairs come from a generator seeded by ``(seed, step)``; with ``next_only`` only pairs of label 1 (B
    follows A) are drawn. ``masking="dynamic"`` masks them with the same generator (a new mask at every
    step), "static" with :func:`~troikadl.bert.masking.mask_rows` (one mask per pair, whatever the step).
    """
    if not isinstance(data, PairData):
        raise TypeError(f"data must be a PairData, got {type(data).__name__}")
    check_positive(step, "step", integer=True, allow_zero=True)
    check_positive(seed, "seed", integer=True, allow_zero=True)
    check_positive(batch_size, "batch_size", integer=True)
    check_choice(masking, "masking", ("dynamic", "static"))
    pool = np.flatnonzero(data.nsp == 1) if check_bool(next_only, "next_only") else np.arange(len(data.ids))
    if batch_size > len(pool):
        raise ValueError(f"batch_size must be at most the number of pairs{' of label 1' if next_only else ''} "
                         f"({len(pool)}), got {batch_size}")
    rng = np.random.default_rng([seed, step])
    rows = pool[rng.choice(len(pool), size=batch_size, replace=False)]
    batch = data.subset(rows)
    if masking == "dynamic":
        inputs, labels = mask_tokens(batch.ids, batch.special, vocab_size=data.vocab_size, mask_id=data.mask_id,
                                     rng=rng, proportions=proportions)
    else:
        inputs, labels = mask_rows(data.ids, data.special, rows, seed=seed, vocab_size=data.vocab_size,
                                   mask_id=data.mask_id, proportions=proportions)
    return {"ids": inputs, "segments": batch.segments, "attention": batch.attention, "labels": labels,
            "nsp": batch.nsp}


def _losses(model: Any, batch: dict[str, np.ndarray], rank: int, world: int, device: Any,
            nsp: bool = True) -> tuple[torch.Tensor, float, float]:
    """This rank's loss to minimize, and its MLM and NSP parts as floats (NaN for NSP when ``nsp`` is False)."""
    n_masked = max(int((batch["labels"] != IGNORE).sum()), 1)
    n_pairs = len(batch["nsp"])
    local = {k: torch.as_tensor(v[rank::world], device=device) for k, v in batch.items()}
    mlm_logits, nsp_logits = model(local["ids"], local["segments"], local["attention"])
    mlm_sum = F.cross_entropy(mlm_logits.reshape(-1, mlm_logits.shape[-1]), local["labels"].reshape(-1),
                              ignore_index=IGNORE, reduction="sum")
    if not nsp:
        return mlm_sum / n_masked * world, float(mlm_sum.detach() / n_masked), float("nan")
    mlm, nsp_part = mlm_sum / n_masked, F.cross_entropy(nsp_logits, local["nsp"], reduction="sum") / n_pairs
    return (mlm + nsp_part) * world, float(mlm.detach()), float(nsp_part.detach())


def _loss(model: Any, batch: dict[str, np.ndarray], rank: int, world: int, device: Any) -> torch.Tensor:
    """MLM + NSP: the loss of BERT's pretraining (see :func:`_losses`)."""
    return _losses(model, batch, rank, world, device)[0]


def _schedule(settings: PretrainSettings) -> Any:
    def factor(step: int) -> float:  # linear warm-up, then linear decay to zero
        if step < settings.warmup:
            return (step + 1) / settings.warmup
        return max(0.0, (settings.steps - step) / max(1, settings.steps - settings.warmup))
    return factor


class Losses(list):
    """The loss of every step (a list of floats, MLM + NSP, as :func:`pretrain` always returned), with its two
    parts as lists of the same length: ``mlm`` and ``nsp`` (NaN at steps that do not train NSP).

    Under ``torchrun`` each rank records its share of the global batch's losses, as the total always was.
    """

    def __init__(self, total: Any = (), mlm: Any = (), nsp: Any = ()) -> None:
        super().__init__(total)
        self.mlm, self.nsp = list(mlm), list(nsp)


def pretrain(model: Bert, data: PairData, settings: PretrainSettings, *, checkpoint: str | os.PathLike[str] | None = None,
             resume: bool = False, stop_after: int | None = None, rank: int = 0, world: int = 1,
             wrapped: Any = None, desc: str = "pretraining") -> Losses:
    """Train for ``settings.steps`` steps (AdamW, warm-up and linear decay); return the loss of every step.

    The :class:`Losses` returned is a list of the totals, with the MLM and NSP parts as ``.mlm`` and ``.nsp``.
    ``checkpoint`` is a file: with ``resume=True`` training continues from it (it must exist), and with
    ``stop_after=k`` the run saves it after step k and returns, as an interrupted Colab session would.
    ``wrapped`` is the DDP wrapper of ``model`` when running under torchrun (with ``settings.nsp=False`` the
    NSP head gets no gradient: wrap with ``find_unused_parameters=True``).
    """
    from ..runtime import progress

    if not isinstance(model, Bert):
        raise TypeError(f"model must be a troikadl Bert, got {type(model).__name__}")
    if not isinstance(data, PairData):
        raise TypeError(f"data must be a PairData, got {type(data).__name__}")
    if not isinstance(settings, PretrainSettings):
        raise TypeError(f"settings must be a PretrainSettings, got {type(settings).__name__}")
    check_positive(world, "world", integer=True)
    check_positive(rank, "rank", integer=True, allow_zero=True)
    if stop_after is not None:
        check_positive(stop_after, "stop_after", integer=True)
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank must be in [0, world), got rank {rank} and world {world}")
    if settings.batch_size % world:
        raise ValueError(f"batch_size {settings.batch_size} must be divisible by the world size {world}")
    device = next(model.parameters()).device
    net = wrapped if wrapped is not None else model
    decay = [p for n, p in model.named_parameters() if p.dim() > 1]
    no_decay = [p for n, p in model.named_parameters() if p.dim() <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": settings.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=settings.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(settings))
    start, history = 0, Losses()
    if resume:
        if checkpoint is None or not Path(checkpoint).is_file():
            raise FileNotFoundError(f"no checkpoint to resume from at {checkpoint!r}")
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        if {**asdict(PretrainSettings()), **state["settings"]} != asdict(settings):  # older ones lack new fields
            raise ValueError("the checkpoint was made with other settings: " + str(state["settings"]))
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["schedule"])
        unknown = [float("nan")] * len(state["history"])  # checkpoints of older versions kept the totals only
        start = state["step"]
        history = Losses(state["history"], state.get("mlm", unknown), state.get("nsp", unknown))
    model.train()
    steps = range(start, settings.steps)
    variant = {"masking": settings.masking, "proportions": settings.proportions, "next_only": not settings.nsp}
    for step in (progress(steps, desc=desc, unit="step", initial=start, total=settings.steps) if rank == 0 else steps):
        batch = batch_for_step(data, step, settings.batch_size, settings.seed, **variant)
        loss, mlm, nsp = _losses(net, batch, rank, world, device, settings.nsp)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        history.append(float(loss.detach()) / world)
        history.mlm.append(mlm)
        history.nsp.append(nsp)
        if stop_after is not None and step + 1 == stop_after:
            break
    if checkpoint is not None and rank == 0:
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "schedule": sched.state_dict(),
                    "step": len(history), "history": list(history), "mlm": history.mlm, "nsp": history.nsp,
                    "settings": asdict(settings)}, checkpoint)
    return history


def main(argv: list[str] | None = None) -> None:
    """The torchrun entry point: same data and initial weights on every rank, one slice of each batch."""
    import torch.distributed as dist

    from ..data.corpus import sentence_pairs, stdlib_corpus

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--pairs", type=int, default=512)
    ap.add_argument("--vocab", type=int, default=800)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    world, rank = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))
    torch.set_num_threads(1)
    device = torchrun_device()  # a GPU per process, or the CPU for all
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    corpus = stdlib_corpus()
    tok = WordPiece.train(corpus.sentences, args.vocab)
    pairs, labels = sentence_pairs(corpus, args.pairs, seed=args.seed)
    data = encode_pairs(pairs, labels, tok, max_length=32)
    torch.manual_seed(args.seed)
    model = Bert(BertSettings(vocab_size=len(tok), hidden=args.hidden, layers=1, heads=2,
                              intermediate=2 * args.hidden, max_length=32)).to(device)
    wrapped = None
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        wrapped = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    settings = PretrainSettings(steps=args.steps, batch_size=args.batch_size, warmup=2, seed=args.seed)
    pretrain(model, data, settings, rank=rank, world=world, wrapped=wrapped)
    if rank == 0:
        torch.save(model.state_dict(), args.out)
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
