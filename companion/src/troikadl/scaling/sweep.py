"""A scaling study of chapter 6's decoder on the docstring corpus: every size at every token budget, trained.

Taught in chapter 12. Every size of :data:`SETTINGS` ``["sizes"]`` ([d_model, layers, heads], 16 x 1 to 128 x 4:
3.3 thousand to 0.8 million non-embedding parameters) is trained for every budget of ``["steps"]`` (of
``batch_size x context`` tokens, a factor 2 apart, up to one pass over the training text) with each seed of
:data:`SEEDS`, on chapter 6's data and model: the docstring corpus split by
:func:`~troikadl.language_model.train_val_split`, :func:`~troikadl.language_model.train_lm` (Adam, clip norm 1,
zero-state windows), scored on the first 20,000 held-out characters. The schedule is matched to the budget: linear
warmup over the first tenth of the steps, then a cosine decay to a tenth of the peak (Hoffmann et al. 2022); one
peak rate for every size.

Columns: the size, ``params`` (all), ``non_embedding_params`` (``N``, without the token and position tables, as
Kaplan et al. count), ``tokens`` (``D``), ``steps``, ``batch``, ``seed``, ``lr`` (peak), ``val_loss`` (held-out
nats per character, the log of the perplexity), ``train_loss`` (mean of the last tenth of the steps), ``flops``
(``6 N D``, non-embedding ``N``), ``seconds`` (CPU seconds to train and score the row, one thread). A row is a
pure function of its settings (seed set per row, one torch thread): a rebuild on the same machine (same
libraries and corpus, ``Table.corpus_sha256``) gives the same losses bit for bit; only ``seconds`` differs.
Rebuild the shipped table (21 CPU-minutes, the sum of ``seconds``: 12 minutes as two shards on two cores)::

    python -m troikadl.scaling.sweep --out docstring_gpt.csv --workers 2
    python -m troikadl.scaling.sweep --out part0.csv --shard 0/2
    python -m troikadl.scaling.sweep --out part1.csv --shard 1/2
    python -m troikadl.scaling.sweep --merge part0.csv part1.csv --out docstring_gpt.csv
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import math
import re
import time
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from ..validate import check_callable, check_int, check_int_list

__all__ = ["SETTINGS", "SEEDS", "TABLE_FILE", "FIELDS", "train_row", "build_table", "merge_tables", "Table"]

#: How every row is trained and scored. Changing any of these means rebuilding the table.
SETTINGS: dict[str, Any] = {
    "sizes": [[16, 1, 2], [32, 1, 4], [48, 2, 4], [64, 3, 4], [96, 3, 6], [128, 4, 8]],  # d_model, layers, heads
    "steps": [113, 226, 452, 904, 1808],  # token budgets: x 256 tokens; 1,808 steps read the training text once
    "batch_size": 4, "context": 64, "lr": 3e-3, "warmup_fraction": 0.1, "min_lr_fraction": 0.1, "clip_norm": 1.0,
    "val_fraction": 0.1, "split_seed": 0, "val_chars": 20_000, "eval_batch": 20,
}  # lr at one pass: 128 x 4 scored 2.086 nats with 3e-3, 2.164 with 6e-3; 16 x 1 2.589 and 2.526

#: The training seeds of the shipped table, and the default of :func:`build_table` and of the command.
SEEDS: tuple[int, ...] = (0, 1, 2)

TABLE_FILE = "docstring_gpt.csv"
FIELDS = ["d_model", "layers", "heads", "params", "non_embedding_params", "tokens", "steps", "batch", "seed", "lr",
          "val_loss", "train_loss", "flops", "seconds"]
_INT_FIELDS = set(FIELDS) - {"lr", "val_loss", "train_loss", "seconds"}


def _settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    if settings is not None and not isinstance(settings, Mapping):
        raise TypeError(f"settings must be a dict of sweep settings, got {type(settings).__name__}")
    unknown = sorted(set(settings or {}) - set(SETTINGS))
    if unknown:
        raise ValueError(f"settings may only change {sorted(SETTINGS)}, got unknown {unknown}")
    s = {**SETTINGS, **(settings or {})}
    if not isinstance(s["sizes"], (list, tuple)) or not s["sizes"]:
        raise TypeError(f"settings['sizes'] must be a non-empty list of [d_model, layers, heads], got {s['sizes']!r}")
    s["sizes"] = [check_int_list(v, "settings['sizes'][i]", min=1, length=3) for v in s["sizes"]]
    s["steps"] = check_int_list(s["steps"], "settings['steps']", min=1, min_length=1, example="[28, 56]")
    return s


@functools.lru_cache(maxsize=4)
def _data(val_fraction: float, split_seed: int, val_chars: int) -> tuple[torch.Tensor, torch.Tensor, int, str]:
    """Chapter 6's data: (training ids, the held-out slice, vocabulary size, the corpus's sha256)."""
    from ..data.corpus import stdlib_corpus
    from ..language_model import CharVocab, train_val_split

    corpus = stdlib_corpus()
    train_text, val_text = train_val_split(corpus, val_fraction=val_fraction, seed=split_seed)
    vocab = CharVocab.from_text(train_text)
    return vocab.encode(train_text), vocab.encode(val_text)[:val_chars], len(vocab), corpus.sha256


def train_row(d_model: int, layers: int, heads: int, *, steps: int, seed: int,
              settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Train one decoder of the sweep and score it: one row of the table, as numbers (chapter 12).

    ``GPT(GPTConfig(vocab_size, context, d_model, heads, layers))`` initialised with ``seed``, trained for
    ``steps`` windows of ``batch_size x context`` characters on one CPU thread (the caller's thread count is
    restored afterwards) inside ``torch.random.fork_rng()``: the caller's random stream is left as it was.
    The losses equal the shipped table's row bit for bit on the machine that built it (see the module docstring).
    """
    from ..language_model import perplexity, train_lm
    from ..schedules import warmup_lr
    from ..transformer import GPT, GPTConfig

    s = _settings(settings)
    config = dict(d_model=d_model, heads=heads, layers=layers, n_positions=s["context"])  # GPTConfig checks them
    check_int(steps, "steps", min=1), check_int(seed, "seed", min=0), GPTConfig(vocab_size=2, **config)
    train_ids, val_ids, vocab_size, _ = _data(s["val_fraction"], s["split_seed"], s["val_chars"])
    lr, context, batch = s["lr"], s["context"], s["batch_size"]
    schedule = functools.partial(warmup_lr, lr=lr, warmup_steps=int(s["warmup_fraction"] * steps), total_steps=steps,
                                 min_lr=s["min_lr_fraction"] * lr)
    threads, start = torch.get_num_threads(), time.process_time()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = GPT(GPTConfig(vocab_size=vocab_size, **config))
            history = train_lm(model, train_ids, steps=steps, batch_size=batch, bptt=context, lr=lr,
                               clip_norm=s["clip_norm"], carry_state=False, schedule=schedule, desc="sweep row")
        val_loss = math.log(perplexity(model, val_ids, batch_size=s["eval_batch"], bptt=context, carry_state=False))
    finally:
        torch.set_num_threads(threads)
    params = sum(p.numel() for p in model.parameters())
    n = params - model.tokens.weight.numel() - model.positions.weight.numel()  # non-embedding
    tokens = steps * batch * context
    return {"d_model": d_model, "layers": layers, "heads": heads, "params": params, "non_embedding_params": n,
            "tokens": tokens, "steps": steps, "batch": batch, "seed": seed, "lr": lr, "val_loss": val_loss,
            "train_loss": float(np.mean(history["loss"][-max(1, steps // 10):])), "flops": 6 * n * tokens,
            "seconds": time.process_time() - start}


def _format(row: Mapping[str, Any]) -> dict[str, str]:
    """A row as the strings the CSV holds (losses to 6 decimals, seconds to 2)."""
    out = {k: str(int(row[k])) for k in _INT_FIELDS}
    out.update(lr=repr(float(row["lr"])), val_loss=f"{row['val_loss']:.6f}", train_loss=f"{row['train_loss']:.6f}",
               seconds=f"{row['seconds']:.2f}")
    return {k: out[k] for k in FIELDS}


_WARM: list[bool] = []


def _job(job: tuple[int, int, int], settings: Mapping[str, Any]) -> dict[str, str]:
    """One row, formatted. The first call in a process warms up (untimed): data, imports, torch's first steps."""
    if not _WARM:
        train_row(16, 1, 2, steps=2, seed=0, settings=settings)
        _WARM.append(True)
    i, steps, seed = job
    d, layers, heads = settings["sizes"][i]
    return _format(train_row(d, layers, heads, steps=steps, seed=seed, settings=settings))


def _shard(shard: Any) -> tuple[int, int]:
    if isinstance(shard, str):
        if not re.fullmatch(r"\d+/\d+", shard.strip()):
            raise ValueError(f"shard must be 'i/n' such as '0/2', got {shard!r}")
        shard = tuple(int(p) for p in shard.split("/"))
    if not isinstance(shard, (tuple, list)) or len(shard) != 2:
        raise TypeError(f"shard must be a pair (i, n) or the string 'i/n', got {shard!r}")
    n = check_int(shard[1], "shard's n", min=1)
    return check_int(shard[0], "shard's i", min=0, max=n - 1), n


def _key(row: Mapping[str, str], settings: Mapping[str, Any]) -> tuple[int, int, int]:
    size = [int(row["d_model"]), int(row["layers"]), int(row["heads"])]
    return settings["sizes"].index(size), int(row["steps"]), int(row["seed"])


def _write(out: str | Path, rows: list[dict[str, str]], settings: Mapping[str, Any], sha: str) -> Path:
    """Write ``rows`` (strings) sorted in canonical order, under a header holding the settings."""
    rows = sorted(rows, key=lambda r: _key(r, settings))
    if len({_key(r, settings) for r in rows}) != len(rows):
        raise ValueError("the parts hold the same row (size, steps, seed) more than once; merge disjoint shards")
    with Path(out).open("w", newline="") as f:
        f.write("# " + json.dumps({"settings": settings, "corpus_sha256": sha}) + "\n")
        w = csv.DictWriter(f, fieldnames=FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return Path(out)


def build_table(out: str | Path, *, seeds: Sequence[int] = SEEDS, shard: Any = (0, 1), workers: int = 1,
                settings: Mapping[str, Any] | None = None, log: Callable[[str], None] = print) -> Path:
    """Train every row of the sweep (or shard ``i/n`` of them) and write the CSV table to ``out`` (chapter 12).

    Shard ``i`` of ``n`` takes every ``n``-th row from the ``i``-th in order of falling cost, so shards take about
    the same time; :func:`merge_tables` joins them. ``workers`` processes train rows in parallel, each with one
    torch thread. ``settings`` changes :data:`SETTINGS` (quick trials; the shipped table uses the defaults).
    """
    if not isinstance(out, (str, Path)):
        raise TypeError(f"out must be a file path (str or pathlib.Path), got {type(out).__name__}")
    s = _settings(settings)
    i, n = _shard(shard)
    check_int(workers, "workers", min=1)
    check_callable(log, "log", "a function of one string (print, say)")
    seeds = check_int_list(seeds, "seeds", min=0, min_length=1, example="[0, 1]")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must not repeat a value, got {seeds}")
    todo = [(k, steps, seed) for k in range(len(s["sizes"])) for steps in s["steps"] for seed in seeds]
    cost = {j: np.prod(s["sizes"][j[0]][:2]) * s["sizes"][j[0]][0] * j[1] for j in todo}  # ~ d^2 layers steps
    todo = sorted(todo, key=lambda j: (-cost[j], j))[i::n]
    start, rows = time.perf_counter(), []

    def collect(results: Any) -> None:
        for r in results:
            rows.append(r)
            log(f"{len(rows)}/{len(todo)} rows, {time.perf_counter() - start:.0f} s: {r['d_model']}x{r['layers']} "
                f"{r['tokens']} tokens seed {r['seed']} val_loss {r['val_loss']}")

    if workers == 1:
        collect(_job(j, s) for j in todo)
    else:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            collect(pool.imap_unordered(functools.partial(_job, settings=s), todo))
    return _write(out, rows, s, _data(s["val_fraction"], s["split_seed"], s["val_chars"])[3])


def _read(path: str | Path | None, name: str = "path") -> tuple[list[dict[str, str]], dict[str, Any]]:
    if path is not None and not isinstance(path, (str, Path)):
        raise TypeError(f"{name} must be a file path (str or pathlib.Path) or None, got {type(path).__name__}")
    text = (resources.files("troikadl.scaling").joinpath(TABLE_FILE).read_text() if path is None
            else Path(path).read_text())
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        raise ValueError(f"{name}: {path or TABLE_FILE} is not a table of troikadl.scaling.sweep (no settings header)")
    return list(csv.DictReader(lines[1:])), json.loads(lines[0][2:])


def merge_tables(parts: Sequence[str | Path], out: str | Path) -> Path:
    """Join the disjoint shards of one sweep (``build_table(shard=...)``) into the file one unsharded run writes,
    rows in canonical order (chapter 12)."""
    if (isinstance(parts, (str, Path)) or not isinstance(parts, Sequence) or not parts
            or not all(isinstance(p, (str, Path)) for p in parts)):
        raise TypeError(f"parts must be a non-empty list of file paths, got {parts!r:.80}")
    if not isinstance(out, (str, Path)):
        raise TypeError(f"out must be a file path (str or pathlib.Path), got {type(out).__name__}")
    read = [_read(p, f"parts[{i}]") for i, p in enumerate(parts)]
    rows, metas = [r for rows, _ in read for r in rows], [meta for _, meta in read]
    if any(m != metas[0] for m in metas):
        raise ValueError("parts were built with different settings or corpora; rebuild them with one command")
    return _write(out, rows, metas[0]["settings"], metas[0]["corpus_sha256"])


class Table:
    """A sweep's table as arrays, one entry per row (chapter 12): ``Table.load()`` reads the shipped one.

    Attributes named as the columns (NumPy arrays), with the short names ``N`` (``non_embedding_params``), ``D``
    (``tokens``) and ``loss`` (``val_loss``); ``settings``, ``seeds`` and ``corpus_sha256`` (of its corpus).
    """

    def __init__(self, rows: list[dict[str, str]], meta: Mapping[str, Any]):
        if not isinstance(rows, list) or not rows or not all(isinstance(r, Mapping) for r in rows):
            raise TypeError("rows must be a non-empty list of dicts (CSV rows of the sweep)")
        missing = sorted(set(FIELDS) - set(rows[0]))
        if missing:
            raise ValueError(f"rows must have the columns {FIELDS}, the first misses {missing}")
        self.settings, self.corpus_sha256 = dict(meta.get("settings", {})), meta.get("corpus_sha256")
        for k in FIELDS:
            setattr(self, k, np.array([int(r[k]) if k in _INT_FIELDS else float(r[k]) for r in rows]))
        self.N, self.D, self.loss = self.non_embedding_params, self.tokens, self.val_loss
        self.seeds = sorted({int(s) for s in self.seed})

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Table":
        """Read a table written by :func:`build_table` (by default the one shipped with the package)."""
        return cls(*_read(path))

    def __len__(self) -> int:
        return len(self.loss)

    def __repr__(self) -> str:
        return (f"Table({len(self)} rows: N {self.N.min():,}..{self.N.max():,}, D {self.D.min():,}..{self.D.max():,}, "
                f"seeds {self.seeds}; {self.seconds.sum() / 60:.1f} CPU-minutes)")

    def row(self, i: int) -> dict[str, Any]:
        """Row ``i`` as a dict of Python numbers (what :func:`train_row` returns for its settings)."""
        i = check_int(i, "i", min=0, max=len(self) - 1)
        return {k: (int if k in _INT_FIELDS else float)(getattr(self, k)[i]) for k in FIELDS}


def _parser() -> argparse.ArgumentParser:
    """The command line of ``python -m troikadl.scaling.sweep``; its defaults rebuild the shipped table."""
    p = argparse.ArgumentParser(prog="python -m troikadl.scaling.sweep", description=__doc__.split("\n")[0])
    p.add_argument("--out", default=TABLE_FILE, help="where to write the CSV table")
    p.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help="training seeds (default: %(default)s)")
    p.add_argument("--shard", default="0/1", help="train only shard i of n, as 'i/n' (default: all rows)")
    p.add_argument("--workers", type=int, default=1, help="processes, each with one torch thread")
    p.add_argument("--settings", type=json.loads, default=None, help="JSON changing SETTINGS (quick trials only)")
    p.add_argument("--merge", nargs="+", metavar="PART", help="merge these shards into --out instead of training")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    """Build, or merge, a table from the command line (see the module's docstring)."""
    a = _parser().parse_args(argv)
    out = (merge_tables(a.merge, a.out) if a.merge else
           build_table(a.out, seeds=a.seeds, shard=a.shard, workers=a.workers, settings=a.settings))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
