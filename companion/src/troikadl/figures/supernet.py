"""The one-shot supernet of chapter 8 (section 8.9): every architecture is a slice of one set of shared weights.

:func:`inherited_slices` finds which entries of the supernet's tensors an architecture inherits by asking the
package itself: it numbers every weight of a :class:`troikadl.nas.oneshot.OneShotSupernet`, builds the
sub-network with :meth:`~troikadl.nas.oneshot.OneShotSupernet.extract` and reads back which numbers it holds.
:func:`supernet` draws those slices for two sampled paths under the full supernet, so a wrong slice in the
package (a corner of the kernel instead of its centre, the last channels instead of the first) would show.

Taught in chapter 8.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .style import EDGES, FONT, MAX_WIDTH, arrow, box, canvas, cells, note

__all__ = ["DEFAULT_PATHS", "inherited_slices", "supernet"]

#: The two sampled paths :func:`supernet` draws by default (members of :data:`troikadl.nas.oneshot.ARCHS`).
DEFAULT_PATHS = ({"depth": 3, "width": 16, "kernel": 3, "activation": "relu", "skip": False},
                 {"depth": 2, "width": 8, "kernel": 5, "activation": "relu", "skip": True})

_GRID = (8, 4)  # the 32 channels drawn as 8 rows of 4 cells


def _check(arch: Any, name: str) -> dict[str, Any]:
    from ..nas.benchmark import SPACE
    from ..nas.oneshot import ARCHS

    if not isinstance(arch, Mapping):
        raise TypeError(f"{name} must be a dict of option values, got {type(arch).__name__}")
    a = SPACE.check({"activation": "relu", **arch}, name)
    if a not in ARCHS:
        raise ValueError(f"{name} must be one of the supernet's ReLU architectures (oneshot.ARCHS), got {a}")
    return a


def inherited_slices(arch: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Which entries of the supernet's shared tensors the sub-network ``arch`` inherits, read from the package.

    Every parameter of a fresh :class:`~troikadl.nas.oneshot.OneShotSupernet` is set to its own number, the
    sub-network is built by :meth:`~troikadl.nas.oneshot.OneShotSupernet.extract`, and the numbers it holds
    mark the entries used. Returns boolean arrays: ``"kernel"`` (blocks, 5, 5), the kernel positions each
    block's convolution uses; ``"channels"`` (blocks, 32), its output channels; ``"project"`` (32,), the
    channels of the shared 1x1 projection (the first block's skip); ``"head"`` (32,), the channels whose
    classifier columns are used; and ``"ids"``, the numbers of every shared weight used (for overlaps).
    """
    import torch

    from ..nas.oneshot import OneShotSupernet

    a = _check(arch, "arch")
    with torch.random.fork_rng():
        net = OneShotSupernet().double()
    params = dict(net.named_parameters())
    start = 0
    with torch.no_grad():
        for p in params.values():
            p.copy_(torch.arange(start, start + p.numel(), dtype=torch.float64).view_as(p))
            start += p.numel()
    sub = net.extract(a)
    ids = np.unique(np.concatenate([p.detach().numpy().ravel() for p in sub.parameters()]).astype(np.int64))

    def used(name: str) -> np.ndarray:
        p = params[name].detach().numpy()
        return np.isin(p.astype(np.int64), ids)

    conv = [used(f"convs.{i}.weight") for i in range(len(net.convs))]  # each (out, in, k, k)
    out: dict[str, np.ndarray] = {"kernel": np.stack([c.any(axis=(0, 1)) for c in conv]),
                                  "channels": np.stack([c.any(axis=(1, 2, 3)) for c in conv])}
    out["project"] = used("project.weight").reshape(len(out["channels"][0]), -1).any(axis=1)
    head = used("head.weight")
    out["head"] = head.reshape(head.shape[0], len(out["channels"][0]), -1).any(axis=(0, 2))
    out["ids"] = ids
    return out


def _grid(ax: Any, x: float, y: float, mask: np.ndarray, cell: float, gid: str) -> None:
    """A grid of cells, green where ``mask`` is True, grey elsewhere, each patch tagged ``gid i j``."""
    cols = mask.shape[1]
    cells(ax, x, y, np.zeros(mask.shape), cell=cell, role=np.where(mask, "param", "muted"), fmt=None, lw=0.5)
    for k, patch in enumerate(ax.patches[-mask.size:]):
        patch.set_gid(f"{gid} {k // cols} {k % cols}")


def supernet(paths: Sequence[Mapping[str, Any]] | None = None) -> Any:
    """A one-shot supernet and two sampled sub-networks reading slices of its shared weights (chapter 8).

    Top row: the supernet's tensors, all of them trained (green): each block's 5x5 kernel (one cell per kernel
    position) and its 32 output channels (8 x 4 cells), and the classifier's columns, one cell per channel.
    The options each block offers are :data:`troikadl.nas.benchmark.SPACE`'s. Below, each of ``paths``
    (two architectures of :data:`troikadl.nas.oneshot.ARCHS`; default :data:`DEFAULT_PATHS`), highlighted in
    gold: the same cells, green where it inherits the weight (as :func:`inherited_slices` reads it from the
    package) and grey where not; a block beyond its depth is grey, a skip is a dotted arc. The note counts the
    weights both paths share, and says that a sub-network is scored with inherited weights, not trained.
    """
    from ..nas.benchmark import SPACE
    from ..nas.oneshot import ARCHS

    if paths is None:
        paths = DEFAULT_PATHS
    if isinstance(paths, (str, bytes, Mapping)) or not isinstance(paths, Sequence):
        raise TypeError(f"paths must be a list of two architecture dicts, got {type(paths).__name__}")
    if len(paths) != 2:
        raise ValueError(f"paths must hold two architectures, got {len(paths)}")
    archs = [_check(a, f"paths[{i}]") for i, a in enumerate(paths)]
    if archs[0] == archs[1]:
        raise ValueError(f"paths must hold two different architectures, got {archs[0]} twice")
    slices = [inherited_slices(a) for a in archs]
    full = {"kernel": np.ones((3, 5, 5), bool), "channels": np.ones((3, 32), bool), "head": np.ones(32, bool)}
    c_k, c_c, row_h = 0.13, 0.085, 1.3
    height = 1.05 + 3 * row_h + 0.9
    fig, ax = canvas(MAX_WIDTH, height)
    xs = [1.75, 3.15, 4.55]  # left edge of each block's kernel grid
    xh = 6.1
    opts = SPACE.options
    note(ax, MAX_WIDTH / 2, height - 0.3, f"each block offers kernel {' | '.join(map(str, opts['kernel']))}, "
         f"width {' | '.join(map(str, opts['width']))}, skip or not; depth {' | '.join(map(str, opts['depth']))}:\n"
         f"{len(ARCHS)} architectures, one set of shared weights", size=9.0, gid="options")
    for i, x in enumerate(xs):
        note(ax, x + 0.52, height - 0.72, f"block {i + 1}", size=FONT["label"], fontweight="bold")
    note(ax, xh + c_c * 2, height - 0.72, "classifier", size=FONT["label"], fontweight="bold")
    rows = [("supernet", "shared weights\n(trained once)", full, None)]
    rows += [(f"path {'AB'[r]}", _describe(a), s, a) for r, (a, s) in enumerate(zip(archs, slices))]
    for r, (name, label, s, a) in enumerate(rows):
        top = height - 0.95 - r * row_h
        yc = top - 5 * c_k / 2
        box(ax, 0.68, yc + 0.2, name, w=1.1, h=0.32, role="param" if a is None else "focus", bold=True)
        note(ax, 0.68, yc - 0.22, label, size=8.5, gid=f"label {name}")
        depth = 3 if a is None else a["depth"]
        for i, x in enumerate(xs):
            if a is not None and i < depth:  # the path's blocks, highlighted
                box(ax, x + 0.52, yc - 0.12, w=1.22, h=1.14, role="focus", shape="round", lw=0.8)
                ax.patches[-1].set_zorder(1)
            _grid(ax, x, top, s["kernel"][i], c_k, f"{name} kernel {i}")
            _grid(ax, x + 5 * c_k + 0.08, top + 0.02, s["channels"][i].reshape(_GRID), c_c, f"{name} channels {i}")
            k, w = int(np.sqrt(s["kernel"][i].sum())), int(s["channels"][i].sum())
            text = f"{k}×{k} kernel, {w} ch" if w else "not used"
            note(ax, x + 0.52, top - 8 * c_c - 0.14, text, size=8.5, gid=f"{name} slice {i}",
                 color="#1a1a1a" if w else EDGES["muted"])
            if a is not None and a["skip"] and i < depth:
                arrow(ax, (x - 0.02, top + 0.04), (x + 1.06, top + 0.04), kind="skip", bend=-0.25, lw=1.0)
        _grid(ax, xh, top + 0.02, s["head"].reshape(_GRID), c_c, f"{name} head")
        note(ax, xh + c_c * 2, top - 8 * c_c - 0.14, f"{int(s['head'].sum())} ch", size=8.5, gid=f"{name} head ch")
        for i in range(depth - 1):
            arrow(ax, (xs[i] + 1.1, yc), (xs[i + 1] - 0.04, yc), lw=1.0)
        span = xh - xs[depth - 1] - 1.1  # a path that stops early arcs over the blocks it leaves out
        arrow(ax, (xs[depth - 1] + 1.1, yc), (xh - 0.04, yc), lw=1.0, bend=-min(0.5, 0.9 / span) if depth < 3 else 0.0)
    a_ids, b_ids = slices[0]["ids"], slices[1]["ids"]
    both = len(np.intersect1d(a_ids, b_ids))
    y = 0.42
    for k, (role, text) in enumerate((("param", "a shared weight the row uses"), ("muted", "not used"),
                                      ("focus", "the sampled path"))):
        x = (0.9, 3.55, 5.05)[k]
        box(ax, x, y + 0.45, w=0.2, h=0.18, role=role, shape="square")
        note(ax, x + 0.16, y + 0.45, text, ha="left")
    note(ax, MAX_WIDTH / 2, y + 0.1, f"path A inherits {len(a_ids):,} weights, path B {len(b_ids):,}; "
         f"{both:,} of them are the same weights (green in both rows)", size=9.0, gid="shared")
    note(ax, MAX_WIDTH / 2, y - 0.16, "to score a path: slice out its weights, run it on validation data "
         "(inherited, not trained from scratch)", size=9.0)
    return fig


def _describe(a: Mapping[str, Any]) -> str:
    return f"depth {a['depth']}, width {a['width']},\n{a['kernel']}×{a['kernel']}, " + \
        ("skip" if a["skip"] else "no skip")
