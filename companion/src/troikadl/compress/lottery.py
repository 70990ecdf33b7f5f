"""Iterative magnitude pruning and the lottery ticket: pruning rounds, rewinding, and a small experiment.

Taught in chapter 9. **Iterative magnitude pruning** (IMP) trains a network, removes the fraction ``rate`` of
the still-kept weights with the smallest ``|w|`` (globally), **rewinds** the survivors to their values at
initialization ``theta_0``, retrains, and repeats (Frankle & Carbin 2019, arXiv 1803.03635). The lottery ticket
hypothesis: such a sparse sub-network, trained from ``theta_0``, matches the dense network, while the same mask
freshly initialized does not. Rewinding to the weights after a little training ("late rewinding", Frankle et
al. 2020, arXiv 1912.05671) is the variant that works on larger networks.

:func:`run_seed` runs chapter 9's digits MLP, for one seed, in the arms :data:`ARMS`: ``dense``; ``imp_rewind``
(IMP, rewound to ``theta_0``); ``imp_reinit`` (its masks, survivors freshly initialized: the paper's control);
``oneshot_rewind`` (the trained dense net pruned once to each round's sparsity, rewound to ``theta_0``);
``imp_late_rewind`` (IMP rewound to the dense run's weights after ``late_epochs`` epochs). Every net trains with
one recipe (Adam with a fresh state, mini-batches, ``epochs`` epochs, the seed's shuffling) on chapter 9's
training images less a validation set; accuracy on that validation set and on chapter 9's test set.
Rebuild the shipped table (about 3 CPU-minutes; one torch thread per process)::

    python -m troikadl.compress.lottery --workers 2
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import functools
import json
import math
import time
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..validate import check_callable, check_in_range, check_instance, check_int, check_int_list
from .prune import _weights, apply_masks, prunable, remove_masks

__all__ = ["prune_round", "rate_for", "sparsity_after", "rewind", "SETTINGS", "SEEDS", "ARMS", "FIELDS",
           "TABLE_FILE", "run_seed", "build_table", "load_table"]

#: How every row of the table is trained. Changing any of these means rebuilding the table.
SETTINGS: dict[str, Any] = {"sizes": [64, 256, 256, 10], "epochs": 30, "lr": 1e-3, "batch_size": 64, "rate": 0.5,
                            "rounds": 7, "split_seed": 0, "val_size": 270, "late_epochs": 1}
#: The training seeds of the shipped table.
SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)
#: The arms of the experiment (see the module docstring), in table order.
ARMS: tuple[str, ...] = ("dense", "imp_rewind", "imp_reinit", "oneshot_rewind", "imp_late_rewind")
TABLE_FILE = "lottery.csv"
FIELDS = ["seed", "arm", "round", "sparsity", "remaining", "val_acc", "test_acc", "train_steps", "total_steps",
          "seconds"]
_INT = {"seed", "round", "remaining", "train_steps", "total_steps"}
_REINIT = 1_000_003  # the fresh initializations of imp_reinit: torch seed _REINIT + 1000 * seed + round


def _masks(masks: Any, ws: list[Any]) -> list[Any]:
    """``masks``, checked to be one boolean tensor per weight, of its shape; moved to its weight's device."""
    import torch

    if not isinstance(masks, (list, tuple)) or len(masks) != len(ws):
        raise ValueError(f"masks must be a list of one boolean mask per weight tensor ({len(ws)}), got {masks!r:.60}")
    for i, (m, w) in enumerate(zip(masks, ws)):
        if not isinstance(m, torch.Tensor) or m.dtype != torch.bool:
            raise TypeError(f"masks[{i}] must be a boolean torch tensor (True = kept), got "
                            f"{getattr(m, 'dtype', type(m).__name__)}")
        if tuple(m.shape) != tuple(w.shape):
            raise ValueError(f"masks[{i}] must have the shape of weights[{i}] {tuple(w.shape)}, got {tuple(m.shape)}")
    return [m.to(w.device) for m, w in zip(masks, ws)]


def _remove(ws: list[Any], ms: list[Any], k: int) -> list[Any]:
    """New masks: ``ms`` less the ``k`` kept weights of smallest ``|w|`` over all layers (ties: earlier first)."""
    import torch

    if len({w.device for w in ws}) > 1:
        raise ValueError("weights must all be on one device for a global mask")
    scores = torch.cat([w.abs().flatten() for w in ws])
    keep = torch.cat([m.flatten() for m in ms])
    alive = torch.nonzero(keep).flatten()  # the survivors' positions, in order
    if k > 0:
        keep[alive[torch.argsort(scores[alive], stable=True)[:k]]] = False
    return [m.view_as(w) for m, w in zip(torch.split(keep, [w.numel() for w in ws]), ws)]


def prune_round(weights: Sequence[Any], masks: Sequence[Any], rate: float) -> list[Any]:
    """One round of global iterative magnitude pruning: new boolean masks (True = kept).

    Among the weights still kept by ``masks``, exactly ``round(rate * surviving)`` with the smallest ``|w|``
    over all layers together are removed (ties broken by position, as :func:`~.prune.magnitude_masks` does);
    pruned weights stay pruned, whatever their value in ``weights``. ``rate`` is in [0, 1): ``k`` rounds keep
    about ``(1 - rate)**k`` of the weights, as repeated ``torch.nn.utils.prune.global_unstructured(...,
    amount=rate)`` does (each call prunes a fraction of the *remaining* weights).
    """
    r, ws = check_in_range(rate, "rate", 0.0, 1.0, closed="left"), _weights(weights)
    ms = _masks(masks, ws)
    return _remove(ws, ms, int(round(r * sum(int(m.sum()) for m in ms))))


def rate_for(final_sparsity: float, rounds: int) -> float:
    """The per-round rate that reaches ``final_sparsity`` in ``rounds`` rounds: ``1 - (1 - s)**(1 / rounds)``."""
    s = check_in_range(final_sparsity, "final_sparsity", 0.0, 1.0, closed="left")
    return 1.0 - (1.0 - s) ** (1.0 / check_int(rounds, "rounds", min=1))


def sparsity_after(rate: float, rounds: int) -> float:
    """The sparsity after ``rounds`` rounds at ``rate`` (before rounding to whole weights): ``1 - (1-rate)**rounds``."""
    r = check_in_range(rate, "rate", 0.0, 1.0, closed="left")
    return 1.0 - (1.0 - r) ** check_int(rounds, "rounds", min=0)


def rewind(model: Any, state: Mapping[str, Any], masks: Sequence[Any]) -> Any:
    """Reset ``model`` to ``state`` (a ``state_dict``, e.g. the initialization ``theta_0``) and prune it with ``masks``.

    Every parameter takes its value in ``state`` (biases too); each ``nn.Linear`` weight is then multiplied by
    its mask and kept masked with :func:`~.prune.apply_masks`: survivors hold exactly their ``state`` value,
    pruned weights are zero. Any earlier mask is removed first. Returns the model (changed in place).
    """
    import torch

    remove_masks(model)  # checks model
    ms = _masks(masks, [w.detach() for w in prunable(model)])
    try:
        model.load_state_dict(state)
    except (TypeError, RuntimeError) as exc:  # not a mapping (TypeError); missing or unexpected keys, other shapes
        raise (TypeError if isinstance(exc, TypeError) else ValueError)(
            f"state must be a state_dict of this model (its names and shapes): {str(exc)[:300]}") from exc
    with torch.no_grad():
        for w, m in zip(prunable(model), ms):
            w.mul_(m.to(w.device, w.dtype))
    return apply_masks(model, [m.to(w.device) for m, w in zip(ms, prunable(model))])


def _settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    check_instance(settings, "settings", (Mapping, type(None)), "a dict of experiment settings or None")
    if set(settings or {}) - set(SETTINGS):
        raise ValueError(f"settings may only change {sorted(SETTINGS)}, got {sorted(set(settings or {}))}")
    s = {**SETTINGS, **(settings or {})}
    s["sizes"] = check_int_list(s["sizes"], "settings['sizes']", min=1, min_length=2, example="[64, 32, 10]")
    for k in ("epochs", "batch_size", "rounds", "split_seed", "val_size", "late_epochs"):
        s[k] = check_int(s[k], f"settings['{k}']", min=0 if k == "split_seed" else 1)
    s["rate"] = check_in_range(s["rate"], "settings['rate']", 0.0, 1.0, closed="neither")
    s["lr"] = check_in_range(s["lr"], "settings['lr']", 0.0, 1.0, closed="right")
    return s


@functools.lru_cache(maxsize=2)
def _data(split_seed: int, val_size: int) -> Any:
    from ..data import digits

    return digits(seed=split_seed, val_size=val_size)


def run_seed(seed: int, *, arms: Sequence[str] = ARMS, settings: Mapping[str, Any] | None = None,
             trace: dict[Any, Any] | None = None) -> list[dict[str, Any]]:
    """The experiment's rows for one training ``seed``: a list of dicts with the columns :data:`FIELDS`.

    ``seed`` sets ``theta_0`` (``torch.manual_seed(seed)``) and the shuffling of every run. ``arms`` is a
    subset of :data:`ARMS` (``imp_reinit`` needs ``imp_rewind``, whose masks it takes). Runs on one torch thread
    (restored afterwards) inside ``torch.random.fork_rng()``. ``trace``, a dict, receives for each row
    ``(arm, round) -> {"masks", "start", "end"}``: its masks, its weights before and after training (CPU copies).
    """
    import torch

    from ..cnn import mlp
    from ..runtime import current
    from ..train import accuracy, fit, predict

    check_int(seed, "seed", min=0)
    if isinstance(arms, str) or not isinstance(arms, (list, tuple)) or not arms:
        raise TypeError(f"arms must be a non-empty list of names from {list(ARMS)}, got {arms!r}")
    if any(a not in ARMS for a in arms):
        raise ValueError(f"arms must be names from {list(ARMS)}, got unknown {[a for a in arms if a not in ARMS]}")
    if "imp_reinit" in arms and "imp_rewind" not in arms:
        raise ValueError("arms: 'imp_reinit' takes the masks of 'imp_rewind'; list both")
    check_instance(trace, "trace", (dict, type(None)), "a dict or None")
    s = _settings(settings)
    d = _data(s["split_seed"], s["val_size"])
    steps, rows = s["epochs"] * math.ceil(len(d.y_train) / s["batch_size"]), []

    def net(init_seed: int) -> Any:
        torch.manual_seed(init_seed)
        return mlp(s["sizes"])

    def train(model: Any, epochs: int) -> Any:
        fit(model, (d.X_train, d.y_train), epochs=epochs, loss="cross_entropy", lr=s["lr"], batch_size=s["batch_size"],
            desc="lottery", seed=seed, show_progress=False)
        return model

    def ticket(state: Mapping[str, Any], masks: list[Any]) -> Any:  # a masked net, about to train: starts the clock
        nonlocal starts, clock
        model, clock = rewind(mlp(s["sizes"]), state, masks), time.process_time()
        starts = [w.detach().cpu().clone() for w in prunable(model)]
        return model

    def row(arm: str, rnd: int, model: Any, masks: list[Any], total_steps: int) -> None:
        train(model, s["epochs"])
        if trace is not None:
            trace[arm, rnd] = {"masks": [m.cpu().clone() for m in masks], "start": starts,
                               "end": [w.detach().cpu().clone() for w in prunable(model)]}
        kept, n = sum(int(m.sum()) for m in masks), sum(m.numel() for m in masks)
        rows.append({"seed": seed, "arm": arm, "round": rnd, "sparsity": 1 - kept / n, "remaining": kept,
                     "val_acc": accuracy(d.y_val, predict(model, d.X_val)),
                     "test_acc": accuracy(d.y_test, predict(model, d.X_test)), "train_steps": steps,
                     "total_steps": total_steps, "seconds": time.process_time() - clock})

    threads = torch.get_num_threads()
    try:
        with torch.random.fork_rng():
            current()  # a first tk.setup() (it seeds, and sets the thread count) now, rather than inside fit
            torch.set_num_threads(1)
            clock, dense = time.process_time(), net(seed)
            theta0 = copy.deepcopy(dense.state_dict())
            starts = [w.detach().cpu().clone() for w in prunable(dense)]
            # the dense run's weights after `late_epochs` epochs: the same shuffling, a fresh Adam
            late = train(copy.deepcopy(dense), s["late_epochs"]).state_dict() if "imp_late_rewind" in arms else {}
            ones = [torch.ones_like(w, dtype=torch.bool) for w in prunable(dense)]
            row("dense", 0, dense, ones, steps)
            trained = [w.detach().clone() for w in prunable(dense)]
            for arm, state in [(a, st) for a, st in (("imp_rewind", theta0), ("imp_late_rewind", late)) if a in arms]:
                masks, weights = ones, trained
                for r in range(1, s["rounds"] + 1):
                    masks = prune_round(weights, masks, s["rate"])
                    model = ticket(state, masks)
                    row(arm, r, model, masks, (r + 1) * steps + (steps // s["epochs"] * s["late_epochs"]
                                                                 if arm == "imp_late_rewind" else 0))
                    weights = [w.detach().clone() for w in prunable(model)]
                    if arm == "imp_rewind" and "imp_reinit" in arms:
                        row("imp_reinit", r, ticket(net(_REINIT + 1000 * seed + r).state_dict(), masks), masks,
                            (r + 1) * steps)
            remaining = sum(m.numel() for m in ones)
            for r in range(1, s["rounds"] + 1) if "oneshot_rewind" in arms else ():
                remaining -= int(round(s["rate"] * remaining))
                masks = _remove(trained, ones, sum(m.numel() for m in ones) - remaining)
                row("oneshot_rewind", r, ticket(theta0, masks), masks, 2 * steps)
    finally:
        torch.set_num_threads(threads)
    return sorted([r for r in rows if r["arm"] in arms], key=lambda r: (ARMS.index(r["arm"]), r["round"]))


def _job(seed: int, settings: Mapping[str, Any]) -> list[dict[str, str]]:
    """One seed's rows as the strings the CSV holds (accuracies to 6 decimals, seconds to 2)."""
    return [{k: str(r[k]) if k in _INT or k == "arm" else f"{r[k]:.{2 if k == 'seconds' else 6}f}" for k in FIELDS}
            for r in run_seed(seed, settings=settings)]


def build_table(out: str | Path, *, seeds: Sequence[int] = SEEDS, workers: int = 1,
                settings: Mapping[str, Any] | None = None, log: Callable[[str], None] = print) -> Path:
    """Run :func:`run_seed` for every seed (``workers`` processes, one seed each) and write the CSV to ``out``.

    The file starts with a ``# {"settings": ...}`` line; then one row per (seed, arm, round).
    """
    if not isinstance(out, (str, Path)):
        raise TypeError(f"out must be a file path (str or pathlib.Path), got {type(out).__name__}")
    s = _settings(settings)
    seeds = check_int_list(seeds, "seeds", min=0, min_length=1, example="[0, 1]")
    check_int(workers, "workers", min=1)
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must not repeat a value, got {seeds}")
    check_callable(log, "log", "a function of one string (print, say)")
    import multiprocessing as mp

    job, start, rows = functools.partial(_job, settings=s), time.perf_counter(), []
    with mp.get_context("spawn").Pool(workers) if workers > 1 else contextlib.nullcontext() as pool:
        for part in (pool.imap(job, seeds) if pool is not None else map(job, seeds)):
            rows += part
            log(f"seed {part[0]['seed']}: {len(part)} rows, {time.perf_counter() - start:.0f} s")
    Path(out).write_text("# " + json.dumps({"settings": s}) + "\n" + ",".join(FIELDS) + "\n"
                         + "".join(",".join(r[k] for k in FIELDS) + "\n" for r in rows))
    return Path(out)


def load_table(path: str | Path | None = None, *, with_settings: bool = False) -> Any:
    """The table's rows as a list of dicts of Python values (by default the one shipped with the package).

    With ``with_settings=True``, the pair ``(rows, settings)``: the settings the table was built with.
    """
    if path is not None and not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a file path (str or pathlib.Path) or None, got {type(path).__name__}")
    text = (resources.files("troikadl.compress").joinpath(TABLE_FILE).read_text() if path is None
            else Path(path).read_text())
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        raise ValueError(f"path: {path or TABLE_FILE} is not a table of troikadl.compress.lottery (no settings line)")
    rows = [{k: v if k == "arm" else (int(v) if k in _INT else float(v)) for k, v in r.items()}
            for r in csv.DictReader(lines[1:])]
    return (rows, json.loads(lines[0][2:])["settings"]) if with_settings else rows


def main(argv: Sequence[str] | None = None) -> None:
    """Build the table from the command line: ``python -m troikadl.compress.lottery [--out F] [--workers N]``."""
    p = argparse.ArgumentParser(prog="python -m troikadl.compress.lottery", description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(Path(__file__).with_name(TABLE_FILE)), help="where to write the CSV")
    p.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help="training seeds (default: %(default)s)")
    p.add_argument("--workers", type=int, default=1, help="processes, each with one torch thread")
    p.add_argument("--settings", type=json.loads, default=None, help="JSON changing SETTINGS (quick trials only)")
    a = p.parse_args(argv)
    print(f"wrote {build_table(a.out, seeds=a.seeds, workers=a.workers, settings=a.settings)}")


if __name__ == "__main__":
    main()
