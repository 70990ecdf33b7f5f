"""Pretraining BERT (MLM + NSP): deterministic batches, resumable checkpoints, and DistributedDataParallel.

Taught in chapter 7. Every step's batch is a pure function of ``(seed, step)``: which sentence pairs,
and which tokens are masked. So a run that is stopped and resumed from a checkpoint (model, optimizer,
schedule and step) continues exactly as if it had never stopped, and under ``torchrun`` every rank can
build the same global batch and train on its own disjoint slice of it.

With ``world`` ranks, each rank's loss is its share of the *global* batch's loss: sums over its masked
tokens and pairs, divided by the global counts, times ``world`` (DDP averages gradients over ranks). The
gradient is then exactly that of the 1-process run on the whole batch, which a test checks.

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

from ..train import IGNORE
from ..validate import as_int_array, as_labels, check_instance, check_int, check_positive
from .masking import mask_tokens
from .model import Bert, BertSettings
from .wordpiece import WordPiece

__all__ = ["PretrainSettings", "PairData", "encode_pairs", "batch_for_step", "pretrain", "masked_accuracy", "main"]


@dataclass(frozen=True)
class PretrainSettings:
    steps: int = 600
    batch_size: int = 32
    lr: float = 1e-3
    warmup: int = 60
    weight_decay: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        check_positive(self.steps, "steps", integer=True)
        check_positive(self.batch_size, "batch_size", integer=True)
        check_positive(self.lr, "lr")
        check_positive(self.warmup, "warmup", integer=True, allow_zero=True)
        check_positive(self.weight_decay, "weight_decay", allow_zero=True)
        check_positive(self.seed, "seed", integer=True, allow_zero=True)


@dataclass
class PairData:
    """Encoded sentence pairs: ids, segments, attention mask, special-token mask (n, L) and NSP labels (n,)."""

    ids: np.ndarray
    segments: np.ndarray
    attention: np.ndarray
    special: np.ndarray
    nsp: np.ndarray
    vocab_size: int
    mask_id: int

    def __post_init__(self) -> None:
        for name in ("ids", "segments", "attention", "special"):
            if getattr(self, name).ndim != 2 or getattr(self, name).shape != self.ids.shape:
                raise ValueError(f"{name} must be 2-D with the shape of ids {self.ids.shape}, "
                                 f"got {getattr(self, name).shape}")
        if self.nsp.shape != self.ids.shape[:1]:
            raise ValueError(f"nsp must hold one label per row ({self.ids.shape[0]}), got shape {self.nsp.shape}")

    def subset(self, rows: Any) -> "PairData":
        """The pairs at ``rows``: 1-D integer indices in ``[-n, n)``, or a boolean mask of length n."""
        n = len(self.ids)
        try:
            mask = np.asarray(rows.detach().cpu() if isinstance(rows, torch.Tensor) else rows)
        except (ValueError, TypeError):  # ragged lists: as_int_array names the argument
            mask = None
        if mask is not None and mask.dtype == bool:
            if mask.shape != (n,):
                raise ValueError(f"rows, as a boolean mask, must have one entry per pair ({n},), got shape {mask.shape}")
            rows = np.flatnonzero(mask)
        else:
            rows = as_int_array(rows, "rows", ndim=1, min=-n, max=n - 1)
        return PairData(self.ids[rows], self.segments[rows], self.attention[rows], self.special[rows],
                        self.nsp[rows], self.vocab_size, self.mask_id)


def encode_pairs(pairs: list[tuple[str, str]], nsp: Any, tok: WordPiece, max_length: int = 48, *,
                 n_classes: int = 2) -> PairData:
    """[CLS] A [SEP] B [SEP], trimmed to ``max_length`` (longer sentence first) and padded.

    ``nsp`` holds one label per pair in ``[0, n_classes)``: for next-sentence prediction 1 (B follows A)
    or 0 (``n_classes=2``, the default); for a classification task, the pair's class.
    """
    if not isinstance(pairs, (list, tuple)):
        raise TypeError(f"pairs must be a list of (sentence A, sentence B) tuples, got {type(pairs).__name__}")
    if not pairs:
        raise ValueError("pairs must not be empty")
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise TypeError(f"pairs[{i}] must be a pair of strings (A, B), got {pair!r}")
    if not isinstance(tok, WordPiece):
        raise TypeError(f"tok must be a WordPiece, got {type(tok).__name__}")
    check_positive(max_length, "max_length", integer=True)
    if max_length < 3:
        raise ValueError(f"max_length must be at least 3 ([CLS] and two [SEP]), got {max_length}")
    n_classes = check_int(n_classes, "n_classes", min=2)
    labels = as_labels(nsp, "nsp", n=len(pairs), allowed=tuple(range(n_classes)))
    ids = np.full((len(pairs), max_length), tok.pad_id)
    seg, att = np.zeros_like(ids), np.zeros_like(ids)
    for r, (a, b) in enumerate(pairs):
        ta, tb = tok.encode(a), tok.encode(b)
        while len(ta) + len(tb) > max_length - 3:
            (ta if len(ta) > len(tb) else tb).pop()
        row = [tok.cls_id] + ta + [tok.sep_id] + tb + [tok.sep_id]
        ids[r, :len(row)], att[r, :len(row)] = row, 1
        seg[r, len(ta) + 2:len(row)] = 1
    special = np.isin(ids, [tok.pad_id, tok.cls_id, tok.sep_id])
    return PairData(ids, seg, att, special, labels, len(tok), tok.mask_id)


def batch_for_step(data: PairData, step: int, batch_size: int, seed: int) -> dict[str, np.ndarray]:
    """The global batch of ``step``: a seeded choice of pairs, masked with a seeded generator."""
    if not isinstance(data, PairData):
        raise TypeError(f"data must be a PairData, got {type(data).__name__}")
    check_positive(step, "step", integer=True, allow_zero=True)
    check_positive(seed, "seed", integer=True, allow_zero=True)
    check_positive(batch_size, "batch_size", integer=True)
    if batch_size > len(data.ids):
        raise ValueError(f"batch_size must be at most the number of pairs ({len(data.ids)}), got {batch_size}")
    rng = np.random.default_rng([seed, step])
    batch = data.subset(rng.choice(len(data.ids), size=batch_size, replace=False))
    inputs, labels = mask_tokens(batch.ids, batch.special, vocab_size=data.vocab_size, mask_id=data.mask_id, rng=rng)
    return {"ids": inputs, "segments": batch.segments, "attention": batch.attention, "labels": labels,
            "nsp": batch.nsp}


def _loss(model: Any, batch: dict[str, np.ndarray], rank: int, world: int, device: Any) -> torch.Tensor:
    n_masked = max(int((batch["labels"] != IGNORE).sum()), 1)
    n_pairs = len(batch["nsp"])
    local = {k: torch.as_tensor(v[rank::world], device=device) for k, v in batch.items()}
    mlm, nsp = model(local["ids"], local["segments"], local["attention"])
    mlm_sum = F.cross_entropy(mlm.reshape(-1, mlm.shape[-1]), local["labels"].reshape(-1), ignore_index=IGNORE,
                              reduction="sum")
    nsp_sum = F.cross_entropy(nsp, local["nsp"], reduction="sum")
    return (mlm_sum / n_masked + nsp_sum / n_pairs) * world


def _schedule(settings: PretrainSettings) -> Any:
    def factor(step: int) -> float:  # linear warm-up, then linear decay to zero
        if step < settings.warmup:
            return (step + 1) / settings.warmup
        return max(0.0, (settings.steps - step) / max(1, settings.steps - settings.warmup))
    return factor


def pretrain(model: Bert, data: PairData, settings: PretrainSettings, *, checkpoint: str | os.PathLike[str] | None = None,
             resume: bool = False, stop_after: int | None = None, rank: int = 0, world: int = 1,
             wrapped: Any = None, desc: str = "pretraining") -> list[float]:
    """Train for ``settings.steps`` steps (AdamW, warm-up and linear decay); return the loss of every step.

    ``checkpoint`` is a file: with ``resume=True`` training continues from it (it must exist), and with
    ``stop_after=k`` the run saves it after step k and returns, as an interrupted Colab session would.
    ``wrapped`` is the DDP wrapper of ``model`` when running under torchrun.
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
    start, history = 0, []
    if resume:
        if checkpoint is None or not Path(checkpoint).is_file():
            raise FileNotFoundError(f"no checkpoint to resume from at {checkpoint!r}")
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        if state["settings"] != asdict(settings):
            raise ValueError("the checkpoint was made with other settings: " + str(state["settings"]))
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["schedule"])
        start, history = state["step"], state["history"]
    model.train()
    steps = range(start, settings.steps)
    for step in (progress(steps, desc=desc, unit="step", initial=start, total=settings.steps) if rank == 0 else steps):
        loss = _loss(net, batch_for_step(data, step, settings.batch_size, settings.seed), rank, world, device)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        history.append(float(loss.detach()) / world)
        if stop_after is not None and step + 1 == stop_after:
            break
    if checkpoint is not None and rank == 0:
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "schedule": sched.state_dict(),
                    "step": len(history), "history": history, "settings": asdict(settings)}, checkpoint)
    return history


@torch.no_grad()
def masked_accuracy(model: Bert, data: PairData, *, batches: int = 10, batch_size: int = 64,
                    seed: int = 12345) -> float:
    """Share of masked tokens the model predicts exactly, over ``batches`` seeded held-out batches."""
    if not isinstance(model, Bert):
        raise TypeError(f"model must be a troikadl Bert, got {type(model).__name__}")
    check_instance(data, "data", PairData, "a PairData (from encode_pairs or a task)")
    check_positive(batches, "batches", integer=True)
    check_positive(batch_size, "batch_size", integer=True)
    model.eval()
    device = next(model.parameters()).device
    correct = total = 0
    for b in range(batches):
        batch = batch_for_step(data, b, min(batch_size, len(data.ids)), seed)
        logits, _ = model(*(torch.as_tensor(batch[k], device=device) for k in ("ids", "segments", "attention")))
        labels = torch.as_tensor(batch["labels"], device=device)
        sel = labels != IGNORE
        correct += int((logits.argmax(-1)[sel] == labels[sel]).sum())
        total += int(sel.sum())
    return correct / max(total, 1)


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
    if world > 1:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
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
