"""BERT's pretraining choices ablated on the chapter's recipe, as RoBERTa did: a table of trained runs.

Taught in chapter 7. Each variant of :data:`VARIANTS` changes one choice of BERT's pretraining (Devlin et al.
2019, "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding", arXiv:1810.04805;
Liu et al. 2019, "RoBERTa: A Robustly Optimized BERT Pretraining Approach", arXiv:1907.11692):

``bert``, the chapter's run (dynamic masking, 80/10/10, MLM + NSP); ``static``, each pair masked once for the
whole run (RoBERTa section 4.1); ``no_nsp``, MLM alone on pairs whose B follows A (RoBERTa section 4.2);
``all_mask``, every selected token replaced by [MASK] (BERT's Table 8); ``scratch``, no pretraining at all.

A row is the chapter run with ``tk.setup(seed)`` (:data:`RECIPE`: every tenth docstring held out, WordPiece of
2,000 tokens and 20,000 pairs from the rest, BERT 2 x 128 initialized with ``seed``, 600 steps of 32 pairs),
changed by its variant, then scored: ``mlm_acc`` (:func:`~troikadl.bert.evaluation.masked_accuracy` on 1,000
held-out pairs) and ``mlm_acc_all_mask`` (the same tokens, all hidden), ``nsp_acc`` (held-out pairs; empty where
NSP is not trained), and the chapter's fine-tuning (:func:`~troikadl.bert.finetune.compare_inits`, one arm):
``order_*`` and ``topic_*`` are the best-of-arm test accuracy, its validation accuracy and learning rate.
``loss50`` (and ``mlm_loss50``, ``nsp_loss50``) is the loss of step 50, which a notebook can re-run live
(:func:`pretrain_variant` with ``stop_after=50``); ``final_mlm``/``final_nsp`` are means over the last 50 steps.
``seconds``: CPU seconds of the row on one thread. Rows are pure functions of variant and seed (seeded, one
torch thread, on the CPU). Rebuild the table (about 28 CPU-minutes, the sum of the ``seconds`` column, so
about 16 minutes with ``--workers 2`` on two cores; or shards: ``--shard 0/2`` ..., then ``--merge PART ... --out``)::

    python -m troikadl.bert.ablation --out roberta_ablation.csv --workers 2
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from ..runtime import current, setup
from ..validate import check_callable, check_choice, check_instance, check_int, check_int_list
from .evaluation import masked_accuracy, nsp_accuracy
from .finetune import compare_inits, topic_task, word_order_task
from .model import Bert, BertSettings
from .pairs import PairData, encode_pairs
from .pretrain import Losses, PretrainSettings, pretrain
from .wordpiece import WordPiece

__all__ = ["VARIANTS", "RECIPE", "SEEDS", "FIELDS", "RecipeData", "recipe_data", "pretrain_variant", "train_row",
           "build_table", "merge_tables", "read_table", "main"]

#: Each variant's changes to :class:`~troikadl.bert.pretrain.PretrainSettings` (None: no pretraining).
VARIANTS: dict[str, dict[str, Any] | None] = {
    "bert": {}, "static": {"masking": "static"}, "no_nsp": {"nsp": False}, "all_mask": {"proportions": [1.0, 0.0, 0.0]},
    "scratch": None}

#: The chapter's recipe. Changing any of these means rebuilding the table.
RECIPE: dict[str, Any] = {
    "vocab_size": 2000, "pairs": 20_000, "held_pairs": 1000, "max_length": 48, "hidden": 128, "layers": 2,
    "heads": 4, "intermediate": 512, "steps": 600, "batch_size": 32, "lr": 1e-3, "warmup": 60,
    "finetune_lrs": [1e-4, 3e-4, 1e-3], "finetune_epochs": 8, "finetune_batch": 32, "early_step": 50}

SEEDS: tuple[int, ...] = (0, 1, 2)
TABLE_FILE = "roberta_ablation.csv"
FIELDS = ["variant", "seed", "loss50", "mlm_loss50", "nsp_loss50", "final_mlm", "final_nsp", "mlm_acc",
          "mlm_acc_all_mask", "nsp_acc", "order_val", "order_test", "order_lr", "topic_val", "topic_test", "topic_lr",
          "seconds"]


def _recipe(recipe: Mapping[str, Any] | None) -> dict[str, Any]:
    check_instance(recipe, "recipe", (Mapping, type(None)), "a dict of RECIPE's keys, or None")
    unknown = sorted(set(recipe or {}) - set(RECIPE))
    if unknown:
        raise ValueError(f"recipe may only change {sorted(RECIPE)}, got unknown {unknown}")
    return {**RECIPE, **(recipe or {})}


@dataclass
class RecipeData:
    """The chapter's data for one seed: tokenizer, pairs (pretraining, held out), tasks as (train, val, test)."""

    tok: WordPiece
    pre: PairData
    held: PairData
    order: tuple[PairData, PairData, PairData]
    topic: tuple[PairData, PairData, PairData]
    corpus_sha256: str


@functools.lru_cache(maxsize=2)
def _split(vocab_size: int) -> tuple[Any, Any, WordPiece, str]:
    from ..data.corpus import stdlib_corpus

    corpus = stdlib_corpus()
    held = np.arange(len(corpus.documents)) % 10 == 0
    pre_corpus, held_corpus = corpus.subset(~held), corpus.subset(held)
    return pre_corpus, held_corpus, WordPiece.train(pre_corpus.sentences, vocab_size), corpus.sha256


@functools.lru_cache(maxsize=3)
def _data(seed: int, vocab_size: int, pairs: int, held_pairs: int, max_length: int) -> RecipeData:
    from ..data.corpus import sentence_pairs

    pre_corpus, held_corpus, tok, sha = _split(vocab_size)
    pre = encode_pairs(*sentence_pairs(pre_corpus, pairs, seed=seed), tok, max_length)
    held = encode_pairs(*sentence_pairs(held_corpus, held_pairs, seed=seed + 1), tok, max_length)
    held_sentences = list(np.random.default_rng(1).choice(held_corpus.sentences, 500, replace=False))
    picked = list(np.random.default_rng(100 + seed).choice(pre_corpus.sentences, 400, replace=False))
    order = tuple(word_order_task(s, tok, seed=k, max_length=max_length)
                  for s, k in ((picked[:250], 2 + seed), (picked[250:], 50 + seed), (held_sentences, 3)))
    pool = topic_task(pre_corpus.documents, pre_corpus.modules, tok, max_length=max_length)
    rows = np.random.default_rng(seed).permutation(len(pool.nsp))
    topic = (pool.subset(rows[:500]), pool.subset(rows[500:800]),
             topic_task(held_corpus.documents, held_corpus.modules, tok, max_length=max_length))
    return RecipeData(tok, pre, held, order, topic, sha)  # type: ignore[arg-type]


def recipe_data(seed: int, recipe: Mapping[str, Any] | None = None) -> RecipeData:
    """The data of the chapter's run with ``tk.setup(seed)`` (cached per process; the tokenizer does not depend
    on ``seed``, the pairs and fine-tuning splits do, exactly as in the chapter)."""
    r = _recipe(recipe)
    return _data(check_int(seed, "seed", min=0), *(check_int(r[k], f"recipe['{k}']", min=1) for k in
                                                   ("vocab_size", "pairs", "held_pairs", "max_length")))


def _fresh(seed: int, r: Mapping[str, Any], vocab_size: int) -> Bert:
    torch.manual_seed(seed)
    return Bert(BertSettings(vocab_size=vocab_size, hidden=r["hidden"], layers=r["layers"], heads=r["heads"],
                             intermediate=r["intermediate"], max_length=r["max_length"]))


def pretrain_variant(variant: str, seed: int, *, recipe: Mapping[str, Any] | None = None,
                     stop_after: int | None = None, desc: str = "pretraining") -> tuple[Bert, Losses]:
    """A fresh BERT (initialized with ``seed``) pretrained as ``variant`` of :data:`VARIANTS` prescribes, on
    :func:`recipe_data`'s pairs; with ``stop_after=k`` only the first ``k`` steps of that run."""
    check_choice(variant, "variant", [v for v, s in VARIANTS.items() if s is not None])
    r, data = _recipe(recipe), recipe_data(seed, recipe)
    changes = {k: tuple(v) if isinstance(v, list) else v for k, v in (VARIANTS[variant] or {}).items()}
    settings = PretrainSettings(steps=r["steps"], batch_size=r["batch_size"], lr=r["lr"], warmup=r["warmup"],
                                seed=seed, **changes)
    model = _fresh(seed, r, len(data.tok))
    return model, pretrain(model, data.pre, settings, stop_after=stop_after, desc=desc)


def train_row(variant: str, seed: int, *, recipe: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Pretrain and score one variant for one seed: one row of the table, as numbers (NaN: not applicable).

    Runs with one torch thread (the caller's count is restored) inside ``torch.random.fork_rng()``, on the
    runtime's device (:func:`troikadl.setup`; the table is built on the CPU).
    """
    check_choice(variant, "variant", list(VARIANTS))
    r, data = _recipe(recipe), recipe_data(seed, recipe)
    changes, nan = VARIANTS[variant], float("nan")
    row: dict[str, Any] = {"variant": variant, "seed": seed}
    current()  # the runtime that fine-tuning uses: set up before the thread count is chosen
    threads, start = torch.get_num_threads(), time.process_time()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng():
            if changes is None:
                model = _fresh(seed, r, len(data.tok))
                row.update(loss50=nan, mlm_loss50=nan, nsp_loss50=nan, final_mlm=nan, final_nsp=nan)
            else:
                model, losses = pretrain_variant(variant, seed, recipe=recipe, desc=f"{variant}, seed {seed}")
                k, last = min(r["early_step"], len(losses)) - 1, slice(-r["early_step"], None)
                row.update(loss50=losses[k], mlm_loss50=losses.mlm[k], nsp_loss50=losses.nsp[k],
                           final_mlm=float(np.mean(losses.mlm[last])), final_nsp=float(np.mean(losses.nsp[last])))
            trains_nsp = changes is not None and changes.get("nsp", True)
            row.update(mlm_acc=masked_accuracy(model, data.held),
                       mlm_acc_all_mask=masked_accuracy(model, data.held, proportions=(1.0, 0.0, 0.0)),
                       nsp_acc=nsp_accuracy(model, data.held) if trains_nsp else nan)
            for task, (train, val, test), n_classes in (("order", data.order, 2), ("topic", data.topic, 5)):
                c = compare_inits({variant: model}, train, val, test, n_classes, lrs=r["finetune_lrs"],
                                  epochs=r["finetune_epochs"], batch_size=r["finetune_batch"], seed=seed, log=None,
                                  show_progress=False)
                lr = c.best_lr[variant]
                row.update({f"{task}_val": c.acc[variant, lr]["val"], f"{task}_test": c.acc[variant, lr]["test"],
                            f"{task}_lr": lr})
    finally:
        torch.set_num_threads(threads)
    row["seconds"] = time.process_time() - start
    return row


def _format(row: Mapping[str, Any]) -> dict[str, str]:
    """A row as the CSV's strings: losses and accuracies to 6 decimals, NaN as an empty cell, seconds to 1."""
    out = {"variant": str(row["variant"]), "seed": str(int(row["seed"])), "seconds": f"{row['seconds']:.1f}"}
    for k in FIELDS[2:-1]:
        v = float(row[k])
        out[k] = "" if math.isnan(v) else repr(v) if k.endswith("_lr") else f"{v:.6f}"
    return out


def _job(job: tuple[str, int], recipe: Mapping[str, Any]) -> dict[str, str]:
    return _format(train_row(*job, recipe=recipe))


def _write(out: str | Path, rows: list[dict[str, str]], meta: Mapping[str, Any]) -> Path:
    order = {v: i for i, v in enumerate(VARIANTS)}
    key = [(order.get(r["variant"], len(order)), int(r["seed"])) for r in rows]
    if len(set(key)) != len(key):
        raise ValueError("the parts hold the same row (variant, seed) more than once; merge disjoint shards")
    with Path(out).open("w", newline="") as f:
        f.write("# " + json.dumps(dict(meta)) + "\n")
        w = csv.DictWriter(f, fieldnames=FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows(r for _, r in sorted(zip(key, rows), key=lambda kr: kr[0]))
    return Path(out)


def build_table(out: str | Path, *, seeds: Sequence[int] = SEEDS, variants: Sequence[str] | None = None,
                shard: Any = (0, 1), workers: int = 1, recipe: Mapping[str, Any] | None = None,
                log: Callable[[str], None] = print) -> Path:
    """Train every (variant, seed) row, or shard ``i/n`` of them, and write the CSV table to ``out``.

    ``workers`` processes train rows in parallel, each on one torch thread; :func:`merge_tables` joins shards.
    ``recipe`` changes :data:`RECIPE` (quick trials only: the shipped table uses the defaults).
    """
    from ..scaling.sweep import _shard

    check_instance(out, "out", (str, Path), "a file path (str or pathlib.Path)")
    r = _recipe(recipe)
    i, n = _shard(shard)
    check_int(workers, "workers", min=1)
    check_callable(log, "log", "a function of one string (print, say)")
    seeds = check_int_list(seeds, "seeds", min=0, min_length=1, example="[0, 1]")
    variants = list(VARIANTS) if variants is None else [check_choice(v, "variants[i]", list(VARIANTS))
                                                        for v in variants]
    if not variants or len(set(seeds)) != len(seeds) or len(set(variants)) != len(variants):
        raise ValueError(f"seeds and variants must be non-empty and not repeat a value, got {seeds} and {variants}")
    todo = sorted(((v, s) for v in variants for s in seeds), key=lambda j: (VARIANTS[j[0]] is None, j))[i::n]
    start, rows = time.perf_counter(), []

    def collect(results: Any) -> None:
        for row in results:
            rows.append(row)
            log(f"{len(rows)}/{len(todo)} rows, {time.perf_counter() - start:.0f} s: {list(row.values())}")

    if workers == 1:
        collect(_job(j, r) for j in todo)
    else:
        import multiprocessing as mp

        cpu = functools.partial(setup, 0, device="cpu", threads=1)  # each worker: CPU, one thread
        with mp.get_context("spawn").Pool(workers, initializer=cpu) as pool:
            collect(pool.imap_unordered(functools.partial(_job, recipe=r), todo))
    return _write(out, rows, {"recipe": r, "variants": VARIANTS, "corpus_sha256": _split(r["vocab_size"])[3],
                              "torch": torch.__version__})


def read_table(path: str | Path | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The rows of a table written by :func:`build_table` (numbers as floats, empty cells as NaN) and its header
    (``recipe``, ``variants``, ``corpus_sha256``, ``torch``). ``None``: the table shipped with the package."""
    from importlib import resources

    check_instance(path, "path", (str, Path, type(None)), "a file path (str or pathlib.Path) or None")
    text = (resources.files("troikadl.bert").joinpath(TABLE_FILE).read_text() if path is None
            else Path(path).read_text())
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        raise ValueError(f"path: {path or TABLE_FILE} is not a table of troikadl.bert.ablation (no header line)")
    rows = [{k: v if k == "variant" else int(v) if k == "seed" else float(v or "nan") for k, v in row.items()}
            for row in csv.DictReader(lines[1:])]
    return rows, json.loads(lines[0][2:])


def merge_tables(parts: Sequence[str | Path], out: str | Path) -> Path:
    """Join disjoint shards of one build (:func:`build_table` with ``shard``) into the file one run writes."""
    if (isinstance(parts, (str, Path)) or not isinstance(parts, Sequence) or not parts
            or not all(isinstance(p, (str, Path)) for p in parts)):
        raise TypeError(f"parts must be a non-empty list of file paths, got {parts!r:.80}")
    check_instance(out, "out", (str, Path), "a file path (str or pathlib.Path)")
    texts = [Path(p).read_text().splitlines() for p in parts]
    if any(not t or not t[0].startswith("# ") or t[0] != texts[0][0] for t in texts):
        raise ValueError("parts must be tables of troikadl.bert.ablation built with the same recipe and corpus")
    rows = [row for t in texts for row in csv.DictReader(t[1:])]
    return _write(out, rows, json.loads(texts[0][0][2:]))


def main(argv: Sequence[str] | None = None) -> None:
    """Build, or merge, the table from the command line (see the module's docstring)."""
    p = argparse.ArgumentParser(prog="python -m troikadl.bert.ablation", description=__doc__.split("\n")[0])
    p.add_argument("--out", default=TABLE_FILE, help="where to write the CSV table")
    p.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help="seeds (default: %(default)s)")
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), help="variants (default: all)")
    p.add_argument("--shard", default="0/1", help="train only shard i of n, as 'i/n' (default: all rows)")
    p.add_argument("--workers", type=int, default=1, help="processes, each with one torch thread")
    p.add_argument("--recipe", type=json.loads, default=None, help="JSON changing RECIPE (quick trials only)")
    p.add_argument("--merge", nargs="+", metavar="PART", help="merge these shards into --out instead of training")
    a = p.parse_args(argv)
    setup(0, device="cpu", threads=1)  # the rows run on the CPU, one thread each (every row seeds itself)
    out = (merge_tables(a.merge, a.out) if a.merge else build_table(
        a.out, seeds=a.seeds, variants=a.variants, shard=a.shard, workers=a.workers, recipe=a.recipe))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
