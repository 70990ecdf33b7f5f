"""Weight sharing: one supernet holds every ReLU CNN of the benchmark, trained by uniform single-path sampling.

Taught in chapter 8. Training each candidate from scratch is what makes NAS expensive. A **one-shot**
supernet trains once, with weights that every candidate shares, and then scores each candidate with the
weights it *inherits*, without training it. Single Path One-Shot (Guo et al., 2020, "Single Path One-Shot
Neural Architecture Search with Uniform Sampling", arXiv:1904.00420) trains the shared weights by
sampling one architecture uniformly at every step and updating only the weights on its path.

The supernet here is the largest network of the benchmark's space (:data:`benchmark.SPACE`): three
blocks of 32 channels with 5x5 kernels, the first block's 1x1 projection for skips, and the classifier.
An architecture ``{"depth": d, "width": w, "kernel": k, "skip": s}`` uses

* the first ``d`` blocks, then 2x2 max pooling and the shared linear classifier;
* the first ``w`` output channels of every convolution (and the first ``w`` inputs after the first
  block), and the classifier's columns of those channels;
* the centre ``k`` x ``k`` of each 5x5 kernel, with 'same' padding ``k // 2``;
* with ``skip``, the block adds its input, through the first ``w`` channels of the shared 1x1
  projection where the channels change (the first block), exactly as :func:`benchmark.build_cnn`.

So every sub-network *is* a :func:`benchmark.build_cnn` network with sliced weights
(:meth:`OneShotSupernet.extract` builds it). The sub-space is the 72 ReLU architectures (:data:`ARCHS`):
all depths, widths, kernels and both skip settings. Tanh is left out because one set of filters would
have to serve two different nonlinearities; a supernet that offered both would give each its own weights.

How far inherited accuracies rank the architectures as stand-alone training does is the question of
Yu et al. (2020, "Evaluating the Search Phase of Neural Architecture Search", arXiv:1902.08142), who
found weight sharing's ranking poorly correlated with stand-alone training; chapter 8 measures it against
the table. As in SPOS's own training, the optimizer's momentum keeps moving weights that a step's path did
not use (their gradient is zero, their Adam moments are not).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.tabular import Split
from ..validate import as_float_array, as_labels, check_int, check_positive
from .benchmark import SPACE, _data, build_cnn
from .darts import _check_image_split

__all__ = ["ARCHS", "INDICES", "OneShotSupernet", "OneShotResult", "train_supernet", "inherited_accuracy"]

#: The architectures the supernet holds: the benchmark's ReLU networks, in ``SPACE`` order (72).
ARCHS: tuple[dict[str, Any], ...] = tuple(a for a in SPACE if a["activation"] == "relu")
#: Their positions in :data:`benchmark.SPACE` (rows of :class:`benchmark.Table`'s arrays).
INDICES: np.ndarray = np.array([SPACE.index(a) for a in ARCHS], dtype=np.int64)

_DEPTH, _WIDTH, _KERNEL = (max(SPACE.options[k]) for k in ("depth", "width", "kernel"))


def _check_arch(arch: Any) -> dict[str, Any]:
    arch = SPACE.check(arch)
    if arch["activation"] != "relu":
        raise ValueError(f"arch['activation'] must be 'relu': the supernet holds the ReLU architectures only "
                         f"(oneshot.ARCHS), got {arch['activation']!r}")
    return arch


class OneShotSupernet(nn.Module):
    """Shared weights for every architecture of :data:`ARCHS`; ``model(x, arch)`` runs one of them.

    Taught in chapter 8. Holds ``convs`` (three ``Conv2d`` of the widest, largest-kernel blocks),
    ``project`` (the first block's 1x1 projection for skips) and ``head`` (the widest classifier). Each
    architecture uses a slice of them (see the module's docstring). ``in_channels``, ``n_classes`` and
    ``side`` are those of :func:`benchmark.build_cnn`.
    """

    def __init__(self, *, in_channels: int = 1, n_classes: int = 10, side: int = 8) -> None:
        check_int(in_channels, "in_channels", min=1)
        check_int(n_classes, "n_classes", min=2)
        check_int(side, "side", min=2)
        super().__init__()
        self.in_channels, self.side = in_channels, side
        self.convs = nn.ModuleList(nn.Conv2d(in_channels if i == 0 else _WIDTH, _WIDTH, _KERNEL,
                                             padding=_KERNEL // 2) for i in range(_DEPTH))
        self.project = nn.Conv2d(in_channels, _WIDTH, 1)
        self.head = nn.Linear(_WIDTH * (side // 2) ** 2, n_classes)

    def _kernel(self, i: int, width: int, kernel: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Block ``i``'s weight and bias for ``width`` channels and the centre ``kernel`` x ``kernel``."""
        lo = _KERNEL // 2 - kernel // 2
        cin = self.in_channels if i == 0 else width
        conv = self.convs[i]
        return conv.weight[:width, :cin, lo:lo + kernel, lo:lo + kernel], conv.bias[:width]

    def forward(self, x: torch.Tensor, arch: Mapping[str, Any]) -> torch.Tensor:
        """The logits of the sub-network ``arch`` (a member of :data:`ARCHS`) for images ``x`` (n, c, side, side)."""
        a = _check_arch(arch)
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch tensor of images, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"x must be a floating-point tensor of images, got dtype {x.dtype}")
        if x.ndim != 4 or tuple(x.shape[1:]) != (self.in_channels, self.side, self.side):
            raise ValueError(f"x must be a tensor of images (n, {self.in_channels}, {self.side}, {self.side}), "
                             f"got shape {tuple(x.shape)}")
        w, k = a["width"], a["kernel"]
        h = x
        for i in range(a["depth"]):
            weight, bias = self._kernel(i, w, k)
            y = F.relu(F.conv2d(h, weight, bias, padding=k // 2))
            if a["skip"]:
                project = i == 0 and self.in_channels != w
                y = y + (F.conv2d(h, self.project.weight[:w], self.project.bias[:w]) if project else h)
            h = y
        h = F.max_pool2d(h, 2).flatten(1)  # channel-major, as nn.Flatten: channel c is columns c*s*s ...
        return F.linear(h, self.head.weight[:, :h.shape[1]], self.head.bias)

    def extract(self, arch: Mapping[str, Any]) -> nn.Sequential:
        """``benchmark.build_cnn(arch)`` holding a copy of the weights ``arch`` inherits (same dtype and device).

        The copy is a stand-alone network: training it leaves the supernet alone. Built inside
        ``torch.random.fork_rng()`` (its random initialization is overwritten), so the caller's stream is kept.
        """
        a = _check_arch(arch)
        w, k = a["width"], a["kernel"]
        ref = self.head.weight
        with torch.random.fork_rng():
            model = build_cnn(a, in_channels=self.in_channels, n_classes=self.head.out_features, side=self.side)
        model.to(device=ref.device, dtype=ref.dtype)
        with torch.no_grad():
            for i in range(a["depth"]):
                block = model[i]
                weight, bias = self._kernel(i, w, k)
                block.conv.weight.copy_(weight)
                block.conv.bias.copy_(bias)
                if isinstance(block.shortcut, nn.Conv2d):
                    block.shortcut.weight.copy_(self.project.weight[:w])
                    block.shortcut.bias.copy_(self.project.bias[:w])
            model[-1].weight.copy_(self.head.weight[:, :model[-1].in_features])
            model[-1].bias.copy_(self.head.bias)
        return model


@dataclass
class OneShotResult:
    """What :func:`train_supernet` returns (chapter 8): the trained supernet, the index in :data:`ARCHS` of
    the architecture sampled at every step, each architecture's validation accuracy with inherited weights
    (``val_acc[j]`` for ``ARCHS[j]``, whose table row is ``INDICES[j]``), and the training time in seconds."""

    model: OneShotSupernet
    sampled: np.ndarray
    val_acc: np.ndarray
    seconds: float


def inherited_accuracy(model: OneShotSupernet, X: Any, y: Any, *, batch_size: int = 4096) -> np.ndarray:
    """The accuracy on ``(X, y)`` of every architecture of :data:`ARCHS` with the weights it inherits from
    ``model``, in the order of :data:`ARCHS` (no training; evaluation mode, no gradients)."""
    if not isinstance(model, OneShotSupernet):
        raise TypeError(f"model must be a OneShotSupernet, got {type(model).__name__}")
    X = as_float_array(X, "X", ndim=4)
    if X.shape[1] != model.in_channels or X.shape[2:] != (model.side, model.side) or len(X) == 0:
        raise ValueError(f"X must hold images (n, {model.in_channels}, {model.side}, {model.side}), got {X.shape}")
    y = as_labels(y, "y", n=len(X), allowed=tuple(range(model.head.out_features)))
    check_int(batch_size, "batch_size", min=1)
    ref = model.head.weight
    Xt = torch.as_tensor(X, dtype=ref.dtype, device=ref.device)
    yt = torch.as_tensor(y, device=ref.device)
    was_training = model.training
    model.eval()
    out = np.empty(len(ARCHS))
    with torch.no_grad():
        for j, arch in enumerate(ARCHS):
            pred = torch.cat([model(Xt[i:i + batch_size], arch).argmax(1) for i in range(0, len(Xt), batch_size)])
            out[j] = float((pred == yt).double().mean())
    model.train(was_training)
    return out


def train_supernet(data: Split | None = None, *, epochs: int = 20, batch_size: int = 64, lr: float = 3e-3,
                   seed: int = 0) -> OneShotResult:
    """Train a :class:`OneShotSupernet` by uniform single-path sampling; score every architecture inherited.

    Taught in chapter 8. Each epoch shuffles the training images into batches of ``batch_size``; every
    batch trains one architecture drawn uniformly from :data:`ARCHS` (one Adam step with learning rate
    ``lr`` on the cross-entropy, as the benchmark's recipe, :data:`benchmark.SETTINGS`). Then every
    architecture's validation accuracy is measured with the inherited weights. ``data`` defaults to the
    benchmark's split (the same training and validation images as the table); its test split is not
    touched. ``seed`` sets the initial weights, the shuffling and the sampled paths; torch's global
    generator is left as it was.
    """
    from ..runtime import current

    check_positive(epochs, "epochs", integer=True)
    check_positive(batch_size, "batch_size", integer=True)
    check_positive(lr, "lr")
    check_int(seed, "seed", min=0)
    data = _check_image_split(data if data is not None else _data())
    device = current().device
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    with torch.random.fork_rng():  # seeded inside; the caller's torch stream is restored after
        torch.manual_seed(seed)
        model = OneShotSupernet(side=data.X_train.shape[-1]).to(device)
        X = torch.as_tensor(data.X_train, dtype=torch.float32, device=device)
        y = torch.as_tensor(data.y_train, dtype=torch.long, device=device)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sampled = []
        for _ in range(epochs):
            order = torch.as_tensor(rng.permutation(len(X)), device=device)
            for i in range(0, len(X), batch_size):
                j = int(rng.integers(len(ARCHS)))
                idx = order[i:i + batch_size]
                loss = F.cross_entropy(model(X[idx], ARCHS[j]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sampled.append(j)
    seconds = time.perf_counter() - start
    return OneShotResult(model, np.array(sampled, dtype=np.int64),
                         inherited_accuracy(model, data.X_val, data.y_val), seconds)
