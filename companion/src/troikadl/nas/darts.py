"""A DARTS-style differentiable supernet (Liu, Simonyan and Yang, 2019), small enough to train live.

Taught in chapter 8. Every edge of the network computes a *mixture* of candidate operations weighted by
``softmax(alpha[edge])``. The weights ``w`` and the architecture ``alpha`` solve the bilevel problem

    alpha* = argmin_alpha  L_val(w*(alpha), alpha)   where   w*(alpha) = argmin_w  L_train(w, alpha),

where both losses are cross-entropies: unlike the black-box strategies of :mod:`troikadl.nas.search`,
which maximize validation *accuracy*, DARTS minimizes the validation *loss*, which it can differentiate.
The problem is approximated here to first order: alternate one gradient step on ``alpha`` using a
validation batch with one step on ``w`` using a training batch. The derived architecture keeps each
edge's strongest operation other than ``zero``; :func:`retrain_derived` trains it from scratch as a plain
network with the benchmark's recipe, so that it can be placed among the table's architectures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.tabular import Split
from ..validate import as_float_array, as_labels, check_int, check_positive

__all__ = ["OPS", "Supernet", "DartsResult", "darts_search", "derived_network", "retrain_derived"]

#: The candidate operations on every edge.
OPS: tuple[str, ...] = ("conv 3x3", "conv 5x5", "max pool 3x3", "skip", "zero")


class _Zero(nn.Module):
    """The ``zero`` operation: no connection (its output is zero, with the input's shape)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.0


def _make_op(name: str, channels: int) -> nn.Module:
    if name == "conv 3x3":
        return nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU())
    if name == "conv 5x5":
        return nn.Sequential(nn.Conv2d(channels, channels, 5, padding=2), nn.ReLU())
    if name == "max pool 3x3":
        return nn.MaxPool2d(3, stride=1, padding=1)
    if name == "skip":
        return nn.Identity()
    if name == "zero":
        return _Zero()
    raise ValueError(f"ops must be names from {list(OPS)}, got {name!r}")


class Supernet(nn.Module):
    """A stem convolution, a chain of ``edges`` mixed edges, then 2x2 max pooling and a linear classifier.

    The parameter ``alpha`` of shape (edges, len(ops)) holds the architecture; ``weight_parameters()``
    returns every other parameter.
    """

    def __init__(self, *, channels: int = 8, edges: int = 2, ops: Sequence[str] = OPS, n_classes: int = 10,
                 side: int = 8) -> None:
        check_positive(channels, "channels", integer=True)
        check_positive(edges, "edges", integer=True)
        check_int(n_classes, "n_classes", min=2)
        check_int(side, "side", min=2)
        if (isinstance(ops, (str, bytes)) or not isinstance(ops, Sequence)
                or not all(isinstance(o, str) for o in ops)):
            raise TypeError(f"ops must be a list of operation names from {list(OPS)}, got {ops!r}")
        ops = tuple(ops)
        if len(ops) < 2 or len(set(ops)) != len(ops):
            raise ValueError(f"ops must name at least two distinct operations from {list(OPS)}, got {list(ops)}")
        super().__init__()
        self.ops = ops
        self.stem = nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.ReLU())
        self.edges = nn.ModuleList(nn.ModuleList(_make_op(o, channels) for o in ops) for _ in range(edges))
        self.head = nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(channels * (side // 2) ** 2, n_classes))
        self.alpha = nn.Parameter(1e-3 * torch.randn(edges, len(ops)))

    def mixture(self) -> torch.Tensor:
        """``softmax(alpha)`` over each edge's operations, shape (edges, ops)."""
        return torch.softmax(self.alpha, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.stem(x), self.mixture()
        for e, candidates in enumerate(self.edges):
            h = sum(w[e, i] * op(h) for i, op in enumerate(candidates))
        return self.head(h)

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every parameter except ``alpha``: what the training batches update."""
        return [p for n, p in self.named_parameters() if n != "alpha"]

    def derive(self) -> list[str]:
        """The strongest operation of each edge, ``zero`` excluded."""
        w = self.mixture().detach().cpu().numpy().copy()
        if "zero" in self.ops:
            w[:, self.ops.index("zero")] = -np.inf
        return [self.ops[int(i)] for i in w.argmax(1)]


@dataclass
class DartsResult:
    """The supernet after the search, ``softmax(alpha)`` after every step (steps + 1, edges, ops), the
    derived operation per edge, and the supernet's validation accuracy."""

    model: Supernet
    ops: tuple[str, ...]
    mixture: np.ndarray
    derived: list[str]
    val_acc: float


def _check_image_split(data: Any) -> Split:
    """``data``, checked to be a :class:`troikadl.data.Split` with training and validation images
    (n, 1, side, side) and one label in 0..9 per image (the NAS modules' training data); private to ``nas``."""
    for name in ("X_train", "y_train", "X_val", "y_val"):
        if getattr(data, name, None) is None:
            raise TypeError(f"data must have {name}: a troikadl.data.Split with a validation split "
                            f"(troikadl.data.digits(images=True, val_size=...)), got {type(data).__name__}")
    for split in ("train", "val"):
        X = as_float_array(getattr(data, f"X_{split}"), f"data.X_{split}", ndim=4)
        if X.shape[1] != 1 or X.shape[2] != X.shape[3] or len(X) == 0:
            raise ValueError(f"data.X_{split} must hold square one-channel images (n, 1, side, side), got {X.shape}")
        as_labels(getattr(data, f"y_{split}"), f"data.y_{split}", n=len(X), allowed=tuple(range(10)))
    return data


def darts_search(data: Split, *, steps: int = 300, batch_size: int = 64, w_lr: float = 3e-3,
                 alpha_lr: float = 3e-3, channels: int = 8, edges: int = 2, ops: Sequence[str] = OPS,
                 seed: int = 0) -> DartsResult:
    """First-order DARTS on ``data`` (a :class:`troikadl.data.Split` of images with a validation split, such
    as ``troikadl.data.digits(images=True, val_size=360)``): alternate alpha and w steps.

    ``alpha`` takes Adam steps that lower the cross-entropy of validation batches (DARTS optimizes the
    validation *loss*, not the validation accuracy, which has no useful gradient) and ``w`` takes Adam
    steps that lower the cross-entropy of training batches. The test split is not touched. ``seed`` sets the
    supernet's initial weights and the batches; torch's global generator is left as it was.
    """
    from ..runtime import current
    from ..train import predict

    check_positive(steps, "steps", integer=True)
    check_positive(batch_size, "batch_size", integer=True)
    check_positive(w_lr, "w_lr")
    check_positive(alpha_lr, "alpha_lr")
    check_int(seed, "seed", min=0)
    _check_image_split(data)
    device = current().device
    gen = np.random.default_rng(seed)
    with torch.random.fork_rng():  # seeded inside, and the caller's torch stream is restored after
        torch.manual_seed(seed)
        net = Supernet(channels=channels, edges=edges, ops=ops, side=data.X_train.shape[-1]).to(device)
        Xtr = torch.as_tensor(data.X_train, dtype=torch.float32, device=device)
        ytr = torch.as_tensor(data.y_train, dtype=torch.long, device=device)
        Xva = torch.as_tensor(data.X_val, dtype=torch.float32, device=device)
        yva = torch.as_tensor(data.y_val, dtype=torch.long, device=device)
        opt_w = torch.optim.Adam(net.weight_parameters(), lr=w_lr)
        opt_a = torch.optim.Adam([net.alpha], lr=alpha_lr, betas=(0.5, 0.999))
        history = [net.mixture().detach().cpu().numpy()]
        for _ in range(steps):
            iv = torch.as_tensor(gen.integers(len(Xva), size=batch_size), device=device)
            opt_a.zero_grad()
            F.cross_entropy(net(Xva[iv]), yva[iv]).backward()
            opt_a.step()
            it = torch.as_tensor(gen.integers(len(Xtr), size=batch_size), device=device)
            opt_w.zero_grad()
            F.cross_entropy(net(Xtr[it]), ytr[it]).backward()
            opt_w.step()
            history.append(net.mixture().detach().cpu().numpy())
    val_acc = float((predict(net, data.X_val).argmax(1) == data.y_val).mean())
    return DartsResult(net, tuple(ops), np.array(history), net.derive(), val_acc)


def derived_network(derived: Sequence[str], *, channels: int = 8, n_classes: int = 10,
                    side: int = 8) -> nn.Sequential:
    """The derived architecture as a plain network: the supernet's stem, then each edge's operation alone
    (``derived``, as :meth:`Supernet.derive` returns it), then its head (2x2 max pooling, linear classifier).

    Taught in chapter 8. ``channels`` must be the supernet's. With ``["conv 3x3", "conv 3x3"]`` and 8
    channels this is ``benchmark.build_cnn`` of depth 3, width 8, kernel 3, ReLU, no skip, layer for layer.
    """
    check_positive(channels, "channels", integer=True)
    check_int(n_classes, "n_classes", min=2)
    check_int(side, "side", min=2)
    derived = _check_derived(derived)
    stem = nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.ReLU())  # created in order: same random draws
    edges = [_make_op(o, channels) for o in derived]                       # as build_cnn's layers
    head = nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(channels * (side // 2) ** 2, n_classes))
    return nn.Sequential(stem, *edges, head)


def _check_derived(derived: Any) -> list[str]:
    if (isinstance(derived, (str, bytes)) or not isinstance(derived, Sequence)
            or not all(isinstance(o, str) for o in derived)):
        raise TypeError(f"derived must be a list of operation names (Supernet.derive()), got {derived!r}")
    if not derived:
        raise ValueError("derived must name at least one operation, got an empty list")
    unknown = [o for o in derived if o not in OPS]
    if unknown:
        raise ValueError(f"derived must hold operation names from {list(OPS)}, got {unknown}")
    if "zero" in derived:
        raise ValueError(f"derived must not hold 'zero' (an edge that cuts the network), got {list(derived)}")
    return list(derived)


def retrain_derived(derived: Sequence[str], *, seed: int, channels: int = 8, data: Split | None = None,
                    settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Train :func:`derived_network` from scratch with the benchmark's recipe and score it like a table row.

    Taught in chapter 8. Exactly what :func:`benchmark.train_architecture` does for an architecture of the
    space: initialization with ``torch.manual_seed(seed)`` inside ``fork_rng`` (torch's global generator is
    left as it was), :func:`troikadl.train.fit` with the epochs, batch size, Adam learning rate and data split
    of ``settings`` (default :data:`benchmark.SETTINGS`) and the shuffling seed ``seed``. ``data`` defaults to
    the benchmark's split. Returns ``params``, ``val_acc``, ``test_acc`` and the training ``seconds``.
    """
    from ..train import fit, predict
    from .benchmark import _data, _settings

    derived = _check_derived(derived)
    check_positive(channels, "channels", integer=True)
    check_int(seed, "seed", min=0)
    s = _settings(settings)
    data = _check_image_split(data) if data is not None else _data(settings)
    if getattr(data, "X_test", None) is None or getattr(data, "y_test", None) is None:
        raise TypeError("data must have X_test and y_test: the derived network is scored on the test split "
                        "like the table's rows")
    X_test = as_float_array(data.X_test, "data.X_test", ndim=4)
    as_labels(data.y_test, "data.y_test", n=len(X_test), allowed=tuple(range(10)))
    side = data.X_train.shape[-1]
    start = time.perf_counter()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = derived_network(derived, channels=channels, side=side)
        fit(model, (data.X_train, data.y_train), epochs=s["epochs"], loss="cross_entropy", lr=s["lr"],
            batch_size=s["batch_size"], metric=None, seed=seed, show_progress=False)
    seconds = time.perf_counter() - start
    return {"derived": list(derived), "params": sum(p.numel() for p in model.parameters()),
            "val_acc": float((predict(model, data.X_val).argmax(1) == data.y_val).mean()),
            "test_acc": float((predict(model, data.X_test).argmax(1) == data.y_test).mean()),
            "seconds": seconds}
