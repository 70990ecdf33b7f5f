"""A small tabular NAS benchmark in the spirit of NAS-Bench-201: every CNN of a small space, trained for real.

Taught in chapter 8. :data:`SPACE` holds 144 small CNNs for scikit-learn's 8x8 digits (it, :func:`build_cnn` and
:func:`arch_parameters` live in :mod:`troikadl.nas.networks` and are re-exported here); each was trained
with the seeds :data:`SEEDS` (0, 1 and 2) under :data:`SETTINGS`, and the results ship with the package as
``digits_cnn.csv``. A search strategy then "trains" an architecture by looking it up, so that a hundred
searches cost seconds instead of hours, and strategies can be compared over many repeats.

The data are split three ways (train / validation / test): training fits the weights, the search
compares architectures on **validation** accuracy, and test accuracy is reported once, for the chosen
architecture. The table also holds the test accuracy on each half of the test set (``test_a``,
``test_b``), which chapter 8 uses to measure what choosing on the test set does to the test score.
Each run also records its validation accuracy after every epoch (``val_acc_1`` ... ``val_acc_12``, the
last equal to ``val_acc``), which multi-fidelity searches read (:mod:`troikadl.nas.multifidelity`), and
each architecture its cost: FLOPs of one forward pass and a measured batch-1 latency on one thread
(:mod:`troikadl.nas.networks`; latency is measured after all training, one network at a time).

Rebuild the shipped table (the command's defaults are the shipped table's seeds and settings; about
11 CPU-minutes of training, the sum of the ``seconds`` column, so about 6 minutes with ``--workers 2``
on two cores, then about a minute and a half of latency measurements)::

    python -m troikadl.nas.benchmark --out digits_cnn.csv --seeds 0 1 2 --workers 2
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from ..data.tabular import Split, digits
from ..validate import check_int
from ._checks import check_int_list, check_rng
from .networks import SPACE, Block, arch_flops, arch_parameters, build_cnn, measure_latencies  # noqa: F401

__all__ = ["SPACE", "SETTINGS", "SEEDS", "build_cnn", "arch_parameters", "train_architecture",
           "build_table", "Table", "TABLE_FILE"]

#: How every architecture is trained and scored. Changing any of these means rebuilding the table.
SETTINGS: dict[str, Any] = {"data_seed": 0, "epochs": 12, "batch_size": 64, "lr": 3e-3, "optimizer": "Adam",
                            "val_size": 360, "test_size": 360}

#: The training seeds of the shipped table, and the default of :func:`build_table` and of the command.
SEEDS: tuple[int, ...] = (0, 1, 2)

TABLE_FILE = "digits_cnn.csv"
_BASE = ["index", *SPACE.names, "seed", "params", "val_acc", "test_acc", "test_a", "test_b", "seconds"]
_CURVE = [f"val_acc_{e}" for e in range(1, SETTINGS["epochs"] + 1)]
_FIELDS = [*_BASE, "flops", "latency_ms", *_CURVE]


def _data(settings: Mapping[str, Any] | None = None) -> Split:
    """The benchmark's split: ``troikadl.data.digits`` as images, with the data seed, validation and test sizes
    of ``settings`` (by default :data:`SETTINGS`: 1,077 / 360 / 360 images)."""
    s = _settings(settings)
    return digits(seed=s["data_seed"], test_size=s["test_size"], val_size=s["val_size"], images=True)


def _settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    if settings is not None and not isinstance(settings, Mapping):
        raise TypeError(f"settings must be a dict of training settings, got {type(settings).__name__}")
    unknown = sorted(set(settings or {}) - set(SETTINGS))
    if unknown:
        raise ValueError(f"settings may only change {sorted(SETTINGS)}, got unknown {unknown}")
    return {**SETTINGS, **(settings or {})}


def train_architecture(arch: Mapping[str, Any], *, seed: int, data: Split | None = None,
                       settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Train ``arch`` with ``seed`` (initialization and shuffling) and score it; one row of the table.

    ``data`` defaults to the split of :data:`SETTINGS`. The model is initialized and trained inside
    ``torch.random.fork_rng()``: torch's global generator is left as it was. The validation accuracy is
    also recorded after every epoch (``val_acc_1`` ...; evaluating does not change the training), and the
    row holds the architecture's FLOPs; its latency is measured apart (:func:`build_table`). ``seconds`` is the
    training's CPU time (``time.process_time``, all of the process's threads), which other programs barely move.
    """
    from ..train import fit

    check_int(seed, "seed", min=0)
    s = _settings(settings)
    if data is not None and not (isinstance(data, Split) and data.X_val is not None):
        raise TypeError(f"data must be a troikadl.data.Split with a validation split "
                        f"(troikadl.data.digits(images=True, val_size=...)), "
                        f"got {type(data).__name__}")
    data = data if data is not None else _data(settings)
    arch = SPACE.check(arch)
    start = time.process_time()  # CPU time: other programs running alongside do not inflate it
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_cnn(arch)
        history = fit(model, (data.X_train, data.y_train), epochs=s["epochs"], loss="cross_entropy", lr=s["lr"],
                      batch_size=s["batch_size"], val=(data.X_val, data.y_val), metric="accuracy", seed=seed,
                      show_progress=False)
    seconds = time.process_time() - start
    half = len(data.y_test) // 2
    pred = _predictions(model, data.X_test)
    return {"index": SPACE.index(arch), **arch, "seed": int(seed),
            "params": sum(p.numel() for p in model.parameters()),
            "val_acc": float((_predictions(model, data.X_val) == data.y_val).mean()),
            "test_acc": float((pred == data.y_test).mean()),
            "test_a": float((pred[:half] == data.y_test[:half]).mean()),
            "test_b": float((pred[half:] == data.y_test[half:]).mean()),
            "seconds": seconds, "flops": arch_flops(arch),
            **{f"val_acc_{e}": acc for e, acc in enumerate(history["val_acc"], 1)}}


def _predictions(model: Any, X: np.ndarray) -> np.ndarray:
    from ..train import predict

    return predict(model, X).argmax(1)


_WORKER: dict[str, Any] = {}


def _train_job(job: tuple[int, int]) -> dict[str, Any]:
    """One row, in a worker with one torch thread. The first call warms up (untimed) so that the
    recorded seconds do not include the process's one-time start-up costs."""
    from ..runtime import setup

    if not _WORKER:
        setup(0, threads=1)  # one thread per worker process (also what fit's device and seed come from)
        _WORKER["data"] = _data()
        train_architecture(SPACE[0], seed=0, data=_WORKER["data"], settings={"epochs": 1})
    index, seed = job
    return train_architecture(SPACE[index], seed=seed, data=_WORKER["data"])


def build_table(out: str | Path, *, seeds: Sequence[int] = SEEDS, indices: Sequence[int] | None = None,
                workers: int = 1, log: Callable[[str], None] = print) -> Path:
    """Train every architecture (or ``indices``) once per seed and write the CSV table to ``out``.

    When all training is done, the latency of every run's network is measured in this process, one
    network at a time on one thread (:func:`troikadl.nas.networks.measure_latencies`).
    """
    if not isinstance(out, (str, Path)):
        raise TypeError(f"out must be a file path (str or pathlib.Path), got {type(out).__name__}")
    check_int(workers, "workers", min=1)
    seeds = check_int_list(seeds, "seeds", low=0)
    indices = (list(range(SPACE.size)) if indices is None
               else check_int_list(indices, "indices", low=0, high=SPACE.size - 1))
    if not callable(log):
        raise TypeError(f"log must be callable (print, say), got {type(log).__name__}")
    jobs = [(i, s) for i in indices for s in seeds]
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []

    def collect(results: Any) -> None:
        for row in results:
            rows.append(row)
            if len(rows) % 24 == 0 or len(rows) == len(jobs):
                log(f"{len(rows)}/{len(jobs)} trained, {time.perf_counter() - start:.0f} s")

    data = _data()
    if workers == 1:  # in this process, with its threads
        collect(train_architecture(SPACE[i], seed=s, data=data) for i, s in jobs)
    else:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            collect(pool.imap(_train_job, jobs))
    latency = measure_latencies(jobs, torch.as_tensor(data.X_val[:1], dtype=torch.get_default_dtype()), log=log)
    out = Path(out)
    with out.open("w", newline="") as f:
        f.write("# " + json.dumps({"settings": SETTINGS, "space": SPACE.options}) + "\n")
        w = csv.DictWriter(f, fieldnames=_FIELDS, lineterminator="\n")
        w.writeheader()
        for r in sorted(rows, key=lambda r: (r["index"], r["seed"])):
            r = {**r, "latency_ms": latency[(r["index"], r["seed"])]}
            w.writerow({k: (f"{v:.4f}" if k in ("seconds", "latency_ms") else f"{v:.6f}" if isinstance(v, float)
                            else v) for k, v in r.items()})
    return out


class Table:
    """The benchmark loaded as arrays indexed by architecture (``SPACE`` order) and seed.

    ``val``, ``test``, ``test_a``, ``test_b``, ``seconds`` and ``latency_ms`` have shape (architectures,
    seeds); ``params`` and ``flops`` have one entry per architecture; ``val_curve`` (architectures, seeds,
    epochs) holds the validation accuracy after every epoch (``val_curve[..., -1]`` equals ``val``).
    A table written before these columns existed loads with ``flops``, ``latency_ms`` and ``val_curve``
    set to None. Chapter 8's searches call :meth:`objective`.
    """

    def __init__(self, rows: list[dict[str, str]], settings: dict[str, Any] | None = None):
        if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
            raise TypeError(f"rows must be a list of dicts (CSV rows of the benchmark), got {type(rows).__name__}")
        if not rows:
            raise ValueError("rows must hold at least one row of the benchmark")
        missing_fields = sorted(set(_BASE) - set(rows[0]))
        if missing_fields:
            raise ValueError(f"rows must have the columns {_BASE}, the first misses {missing_fields}")
        self.settings = settings or {}
        self.space = SPACE
        self.seeds = sorted({int(r["seed"]) for r in rows})
        n, m = SPACE.size, len(self.seeds)
        curve = [f"val_acc_{e}" for e in range(1, int(self.settings.get("epochs", SETTINGS["epochs"])) + 1)]
        extra = {"flops", "latency_ms", *curve} <= set(rows[0])
        cols = {k: np.full((n, m), np.nan) for k in ("val_acc", "test_acc", "test_a", "test_b", "seconds",
                                                     *(("latency_ms", *curve) if extra else ()))}
        self.params, flops = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        for r in rows:
            i, j = int(r["index"]), self.seeds.index(int(r["seed"]))
            if not 0 <= i < n:
                raise ValueError(f"rows hold an architecture index {i} outside [0, {n})")
            for k, col in cols.items():
                col[i, j] = float(r[k])
            self.params[i] = int(r["params"])
            flops[i] = int(r["flops"]) if extra else 0
        if np.isnan(cols["val_acc"]).any():
            missing = int(np.isnan(cols["val_acc"]).any(1).sum())
            raise ValueError(f"the table misses runs for {missing} architectures; every architecture needs "
                             f"every seed {self.seeds}")
        self.val, self.test, self.test_a, self.test_b, self.seconds = (cols[k] for k in
                                                                       ("val_acc", "test_acc", "test_a", "test_b",
                                                                        "seconds"))
        self.flops = flops if extra else None
        self.latency_ms = cols["latency_ms"] if extra else None
        self.val_curve = np.stack([cols[k] for k in curve], axis=2) if extra else None

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Table":
        """Read a table written by :func:`build_table` (by default the one shipped with the package)."""
        if path is not None and not isinstance(path, (str, Path)):
            raise TypeError(f"path must be a file path (str or pathlib.Path) or None, got {type(path).__name__}")
        if path is None:
            text = resources.files("troikadl.nas").joinpath(TABLE_FILE).read_text()
        else:
            text = Path(path).read_text()
        lines = text.splitlines()
        meta = json.loads(lines[0][2:]) if lines and lines[0].startswith("# ") else {}
        rows = list(csv.DictReader(lines[1:] if meta else lines))
        return cls(rows, meta.get("settings"))

    def __len__(self) -> int:
        return SPACE.size

    def __repr__(self) -> str:
        return (f"Table({SPACE.size} architectures x {len(self.seeds)} seeds; best mean validation accuracy "
                f"{self.val.mean(1).max():.4f})")

    def row(self, arch: Mapping[str, Any]) -> dict[str, Any]:
        """Everything the table knows about one architecture, averaged over seeds where it varies."""
        i = SPACE.index(arch)
        return {**SPACE[i], "index": i, "params": int(self.params[i]), "val_acc": float(self.val[i].mean()),
                "test_acc": float(self.test[i].mean()), "val_per_seed": self.val[i].tolist(),
                "seconds": float(self.seconds[i].mean())}

    def objective(self, *, rng: np.random.Generator, epochs: int | None = None) -> Callable[[Mapping[str, Any]], float]:
        """A simulated training run: the validation accuracy of ``arch`` under one seed drawn at random,
        after ``epochs`` epochs of training (None: the full budget, ``SETTINGS["epochs"]``).

        Drawing the seed reproduces the noise a real search sees: training the same architecture twice
        gives two different scores.
        """
        check_rng(rng)
        scores = self.val
        if epochs is not None:
            if self.val_curve is None:
                raise ValueError("epochs needs a table with per-epoch validation accuracy (val_acc_1 ...): "
                                 "rebuild it with python -m troikadl.nas.benchmark")
            scores = self.val_curve[:, :, check_int(epochs, "epochs", min=1, max=self.val_curve.shape[2]) - 1]

        def evaluate(arch: Mapping[str, Any]) -> float:
            return float(scores[SPACE.index(arch), int(rng.integers(len(self.seeds)))])

        return evaluate


def _parser() -> argparse.ArgumentParser:
    """The command line of ``python -m troikadl.nas.benchmark``; its defaults rebuild the shipped table."""
    parser = argparse.ArgumentParser(prog="python -m troikadl.nas.benchmark", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=TABLE_FILE, help="where to write the CSV table")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS),
                        help="training seeds (default: %(default)s)")
    parser.add_argument("--indices", type=int, nargs="*", help="only these architectures (SPACE order)")
    parser.add_argument("--workers", type=int, default=1, help="processes, each with one torch thread")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Build a table from the command line (see the module's docstring)."""
    args = _parser().parse_args(argv)
    print(f"wrote {build_table(args.out, seeds=args.seeds, indices=args.indices, workers=args.workers)}")


if __name__ == "__main__":
    main()
