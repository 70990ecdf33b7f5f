"""The benchmark's networks: the space of small CNNs, the CNN each architecture describes, and what it costs.

Taught in chapter 8. :data:`SPACE` holds 144 small CNNs for 8x8 digit images; :func:`build_cnn` builds one
in PyTorch. Three costs describe it: parameters (:func:`arch_parameters`) measure memory, FLOPs
(:func:`arch_flops`) arithmetic, and latency (:func:`latency_ms`) what a user waits for, the only one of the
three that depends on the machine. The benchmark table (:mod:`troikadl.nas.benchmark`) records all three.

**FLOPs** are counted as ``2 x`` the multiply-accumulates (MACs) of the convolutions and the linear
classifier in one forward pass of **one** 8x8 image: a MAC is one multiply and one add. That is how
``torch.utils.flop_counter.FlopCounterMode`` counts, and the tests check that the two agree on every
architecture. Bias additions, activations, max pooling and the residual additions are not counted (as in
FlopCounterMode and most papers); for the smallest networks they are not negligible (a 1x1 convolution
from one channel does one MAC per output value, and its bias, activation and pooling as much again).

**Latency** is the median time of a batch-1 forward pass, in milliseconds, on one CPU thread. Protocol:
evaluation mode, ``torch.inference_mode()``, one real digit as input; ``warmup`` untimed passes, then
``repeats`` timings of ``number`` consecutive passes each (``time.perf_counter``); each timing is divided
by ``number``, and the median of the ``repeats`` is reported (the median ignores a timing that another
process interrupted). :func:`measure_latencies` measures a whole table this way, one network after
another in one process, after all training has finished, so that the training workers do not disturb it;
it goes seed-major (every architecture once, then all again for the next seed), so that a slow phase of the
machine spreads over many architectures instead of landing on one architecture's runs. The weights are
freshly initialized with the run's seed: a forward pass does the same operations whatever their values.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..validate import check_int
from .space import SearchSpace

__all__ = ["SPACE", "build_cnn", "arch_parameters", "arch_flops", "latency_ms", "measure_latencies"]

#: The benchmark's search space: 3 x 4 x 3 x 2 x 2 = 144 CNNs.
SPACE = SearchSpace({
    "depth": [1, 2, 3],              # convolutional blocks
    "width": [4, 8, 16, 32],         # channels in every block
    "kernel": [1, 3, 5],             # kernel size ('same' padding)
    "activation": ["relu", "tanh"],
    "skip": [False, True],           # residual connection around each block (1x1 projection if needed)
})


class Block(nn.Module):
    """One block of :func:`build_cnn`: conv ('same' padding) and activation, plus the input if ``skip``
    (through a 1x1 convolution when the channels differ)."""

    def __init__(self, cin: int, cout: int, *, kernel: int, activation: str, skip: bool):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2)
        self.act = {"relu": nn.ReLU, "tanh": nn.Tanh}[activation]()
        self.shortcut = (nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)) if skip else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.conv(x))
        return y + self.shortcut(x) if self.shortcut is not None else y


def build_cnn(arch: Mapping[str, Any], *, in_channels: int = 1, n_classes: int = 10, side: int = 8) -> nn.Sequential:
    """The CNN an architecture of :data:`SPACE` describes, in PyTorch.

    ``depth`` blocks of conv (``kernel`` x ``kernel``, 'same' padding, ``width`` channels) and activation;
    with ``skip`` each block adds its input (through a 1x1 convolution when the channels differ). Then
    2x2 max pooling, flattening and a linear classifier.
    """
    arch = SPACE.check(arch)
    check_int(in_channels, "in_channels", min=1)
    check_int(n_classes, "n_classes", min=2)
    check_int(side, "side", min=2)
    w = arch["width"]
    blocks = [Block(in_channels if i == 0 else w, w, kernel=arch["kernel"], activation=arch["activation"],
                    skip=arch["skip"]) for i in range(arch["depth"])]
    return nn.Sequential(*blocks, nn.MaxPool2d(2), nn.Flatten(), nn.Linear(w * (side // 2) ** 2, n_classes))


def arch_parameters(arch: Mapping[str, Any]) -> int:
    """The number of trainable parameters of ``build_cnn(arch)``, the CNN an architecture describes.

    (For a torch model, ``troikadl.cnn.count_parameters(model)``.) Builds the model inside
    ``torch.random.fork_rng()``: the caller's random stream is left as it was.
    """
    with torch.random.fork_rng():
        return sum(p.numel() for p in build_cnn(arch).parameters() if p.requires_grad)


def arch_flops(arch: Mapping[str, Any]) -> int:
    """FLOPs (2 x multiply-accumulates) of one forward pass of ``build_cnn(arch)`` on one 8x8 image.

    Per block, a ``kernel`` x ``kernel`` convolution computes ``width`` channels at each of the 64 pixels
    ('same' padding) from ``cin`` input channels: ``64 * cin * width * kernel**2`` MACs, plus
    ``64 * cin * width`` for the 1x1 projection of a skip that changes the channels. The classifier maps
    ``width * 4 * 4`` pooled values to 10 classes. Biases, activations, pooling and additions are not counted.
    """
    arch = SPACE.check(arch)
    w, k, pixels = arch["width"], arch["kernel"], 8 * 8
    macs = 0
    for i in range(arch["depth"]):
        cin = 1 if i == 0 else w
        macs += pixels * cin * w * k * k + (pixels * cin * w if arch["skip"] and cin != w else 0)
    macs += w * 4 * 4 * 10
    return 2 * macs


def latency_ms(model: nn.Module, x: Any, *, number: int = 100, repeats: int = 11, warmup: int = 5) -> float:
    """The median time of one forward pass ``model(x)``, in milliseconds, on one CPU thread.

    ``x`` is the input tensor (one image for the benchmark's batch-1 latency); the protocol is in the
    module's docstring. Torch's thread count is set to 1 for the measurement and restored afterwards; the
    model is put in evaluation mode (and left so).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not torch.is_tensor(x):
        raise TypeError(f"x must be a torch.Tensor (the input of one forward pass), got {type(x).__name__}")
    number = check_int(number, "number", min=1)
    repeats = check_int(repeats, "repeats", min=1)
    warmup = check_int(warmup, "warmup", min=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model.eval()
        times = []
        with torch.inference_mode():
            for _ in range(warmup):
                model(x)
            for _ in range(repeats):
                start = time.perf_counter()
                for _ in range(number):
                    model(x)
                times.append((time.perf_counter() - start) / number)
    finally:
        torch.set_num_threads(threads)
    return float(np.median(times)) * 1e3


def measure_latencies(jobs: Sequence[tuple[int, int]], x: Any, *, number: int = 100, repeats: int = 11,
                      log: Callable[[str], None] | None = None) -> dict[tuple[int, int], float]:
    """:func:`latency_ms` of every ``(architecture index, seed)`` in ``jobs``, measured in this process, one
    network after another, seed-major (see the module's docstring). Returns ``{(index, seed): milliseconds}``.

    Each network is built inside ``torch.random.fork_rng()`` after ``torch.manual_seed(seed)``: torch's
    global generator is left as it was.
    """
    if isinstance(jobs, (str, bytes)) or not isinstance(jobs, Sequence):
        raise TypeError(f"jobs must be a list of (architecture index, seed) pairs, got {type(jobs).__name__}")
    pairs = []
    for j, job in enumerate(jobs):
        if not isinstance(job, (tuple, list)) or len(job) != 2:
            raise TypeError(f"jobs[{j}] must be an (architecture index, seed) pair, got {job!r}")
        pairs.append((check_int(job[0], f"jobs[{j}][0]", min=0, max=SPACE.size - 1),
                      check_int(job[1], f"jobs[{j}][1]", min=0)))
    if not pairs:
        raise ValueError("jobs must hold at least one (architecture index, seed) pair")
    if log is not None and not callable(log):
        raise TypeError(f"log must be callable (print, say) or None, got {type(log).__name__}")
    out: dict[tuple[int, int], float] = {}
    start = time.perf_counter()
    for i, seed in sorted(pairs, key=lambda p: (p[1], p[0])):
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = build_cnn(SPACE[i])
        out[(i, seed)] = latency_ms(model, x, number=number, repeats=repeats)
        if log is not None and (len(out) % 48 == 0 or len(out) == len(pairs)):
            log(f"{len(out)}/{len(pairs)} latencies measured, {time.perf_counter() - start:.0f} s")
    return out
