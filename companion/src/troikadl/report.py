"""Headline results and runtimes of a chapter run, for the book's status page.

A chapter ends with ``tk.report("01_neuron", perceptron_test_acc=0.95, ...)``. It always shows the
numbers and the runtime (seconds since :func:`troikadl.setup`); when ``TROIKA_RESULTS_DIR`` is set (as
``make test`` and ``make book`` do), it also writes them to ``<dir>/<chapter>.json``. The status page
reads those files with :func:`load_results` and renders :func:`status_markdown`.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import time
from pathlib import Path
from typing import Any, Mapping

from .runtime import current
from .validate import check_float

__all__ = ["report", "load_results", "status_markdown", "DEFAULT_BUDGET_S", "PREREQUISITES", "SHORT_TITLES"]

DEFAULT_BUDGET_S = 120.0

#: What each chapter builds on (the chapters a reader should have read first). The book's learning-path
#: table and its course map (:func:`troikadl.figures.graph.course_map`) are both drawn from it.
PREREQUISITES = {
    "01_neuron": [], "02_backprop": ["01_neuron"], "03_optimizers": ["02_backprop"],
    "04_cnn": ["02_backprop", "03_optimizers"], "05_rnn": ["02_backprop", "03_optimizers"],
    "06_attention": ["05_rnn"], "07_bert": ["06_attention"],
    "08_nas": ["03_optimizers", "04_cnn"], "09_compression": ["03_optimizers", "04_cnn"],
    "10_quantization": ["09_compression"], "11_fusion": ["03_optimizers", "06_attention"],
    "12_scale": ["03_optimizers", "06_attention"],
}
#: Each chapter's label in the course map.
SHORT_TITLES = {
    "01_neuron": "1 Neuron", "02_backprop": "2 Backprop", "03_optimizers": "3 Optimizers", "04_cnn": "4 CNNs",
    "05_rnn": "5 RNNs", "06_attention": "6 Attention", "07_bert": "7 BERT", "08_nas": "8 NAS",
    "09_compression": "9 Pruning,\nlow rank", "10_quantization": "10 Quantization", "11_fusion": "11 Fusion",
    "12_scale": "12 Scale",
}
_CHAPTER = re.compile(r"^\d\d_[a-z0-9_]+$")


def _plain(name: str, value: Any) -> Any:
    """A headline value as a plain bool, int, finite float or string (JSON cannot hold NaN)."""
    if hasattr(value, "item") and hasattr(value, "shape") and math.prod(value.shape) == 1:
        value = value.item()  # NumPy and torch scalars (or one-element arrays)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value} (a headline number that is NaN or infinite "
                         f"means the run failed)")
    if isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"{name} must be a number, a boolean or a string (one headline value), got "
                    f"{type(value).__name__} {value!r:.40}")


def report(chapter: str, *, budget_s: float = DEFAULT_BUDGET_S, **numbers: Any) -> None:
    """Print a chapter's headline numbers and runtime, and record them for the status page.

    Taught in chapter 1. The record is written only when ``TROIKA_RESULTS_DIR`` is set.
    """
    if not isinstance(chapter, str) or not _CHAPTER.match(chapter):
        raise ValueError(f"chapter must look like '01_neuron' (the notebook's file name), got {chapter!r}")
    if not numbers:
        raise ValueError("report needs at least one headline number, e.g. test_acc=0.97")
    budget_s = check_float(budget_s, "budget_s", min=0, min_open=True)
    values = {k: _plain(k, v) for k, v in numbers.items()}
    rt = current()
    record = {
        "chapter": chapter,
        "runtime_s": round(rt.elapsed(), 1),
        "budget_s": float(budget_s),
        "seed": rt.seed,
        "device": str(rt.device),
        "threads": rt.threads,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "numbers": values,
    }
    out = os.environ.get("TROIKA_RESULTS_DIR")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / f"{chapter}.json").write_text(json.dumps(record, indent=2) + "\n")
    width = max(len(k) for k in record["numbers"])
    lines = [f"{chapter}: {record['runtime_s']:.1f} s (budget {budget_s:.0f} s), seed {rt.seed}"]
    lines += [f"  {k:<{width}}  {_fmt(v)}" for k, v in record["numbers"].items()]
    print("\n".join(lines))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def load_results(results_dir: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """All records in ``results_dir``, keyed by chapter (an empty dict if there are none)."""
    if not isinstance(results_dir, (str, os.PathLike)):
        raise TypeError(f"results_dir must be a path (str or pathlib.Path), got {type(results_dir).__name__}")
    out: dict[str, dict[str, Any]] = {}
    d = Path(results_dir)
    if d.is_dir():
        for f in sorted(d.glob("*.json")):
            rec = json.loads(f.read_text())
            out[rec["chapter"]] = rec
    return out


def status_markdown(results: dict[str, dict[str, Any]], chapters: list[tuple[str, str]]) -> str:
    """A Markdown table: one row per ``(chapter id, title)``, runtime against budget, headline numbers."""
    if not isinstance(results, Mapping):
        raise TypeError(f"results must be a dict {{chapter: record}} (from load_results), got {type(results).__name__}")
    if isinstance(chapters, (str, bytes)) or not isinstance(chapters, (list, tuple)):
        raise TypeError(f"chapters must be a list of (chapter id, title) pairs, got {type(chapters).__name__}")
    for i, pair in enumerate(chapters):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(t, str) for t in pair)):
            raise TypeError(f"chapters[{i}] must be a (chapter id, title) pair of strings, got {pair!r}")
    rows = ["| Chapter | Runtime | Budget | Status | Headline numbers | Run |",
            "|---|---:|---:|---|---|---|"]
    for chap, title in chapters:
        rec = results.get(chap)
        if rec is None:
            rows.append(f"| {title} | – | – | not run in this build | – | – |")
            continue
        over = rec["runtime_s"] > rec["budget_s"]
        status = "**over budget**" if over else "within budget"
        nums = "; ".join(f"`{k}` = {_fmt(v)}" for k, v in rec["numbers"].items())
        rows.append(f"| {title} | {rec['runtime_s']:.1f} s | {rec['budget_s']:.0f} s | {status} | "
                    f"{nums} | {rec['finished']}, seed {rec['seed']}, {rec['device']}, "
                    f"{rec['threads']} thread(s) |")
    return "\n".join(rows) + "\n"
