"""Structured-sparsity diagrams (chapter 9): filter (channel) pruning of a CNN and the N:M (2:4) pattern.

:func:`channel_pruning` draws which filters :func:`troikadl.compress.channels.channel_masks` removes from
conv layer ``k`` and what goes with them (their feature maps, and the matching input slice of every filter
of layer ``k + 1``); :func:`nm_pattern` draws one small matrix with the mask of
:func:`troikadl.compress.nm.nm_masks` beside unstructured magnitude pruning
(:func:`troikadl.compress.prune.magnitude_masks`) at the same sparsity; :func:`imp_loop` draws iterative
magnitude pruning with rewinding (the lottery ticket), its masks computed round by round by
:func:`troikadl.compress.lottery.prune_round`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..validate import as_float_array, check_in_range, check_int
from .compression import EXAMPLE_W
from .style import FONT, MAX_WIDTH, arrow, box, canvas, cells, note

__all__ = ["channel_pruning", "nm_pattern", "imp_loop", "imp_rounds", "EXAMPLE_NORMS"]

#: The default L1 norms of layer k's six filters in :func:`channel_pruning` (no two equal).
EXAMPLE_NORMS = np.array([3.1, 0.8, 2.4, 0.5, 1.9, 1.2])

_MUTED_TEXT = "#8c8c8c"
_CROSS = "#a61e2a"


def _kept_filters(norms: np.ndarray, fraction: float) -> np.ndarray:
    """The keep-vector of :func:`~troikadl.compress.channels.channel_masks` for a conv whose filters have ``norms``."""
    import torch
    from torch import nn

    from ..compress.channels import channel_masks

    c = len(norms)
    conv = nn.Conv2d(1, c, 1, bias=False, dtype=torch.float64)
    with torch.no_grad():  # a 1 x 1 x 1 filter's L1 norm is |w|
        conv.weight.copy_(torch.tensor(norms, dtype=torch.float64).view(c, 1, 1, 1))
    model = nn.Sequential(conv, nn.Flatten(), nn.Linear(c, 1, dtype=torch.float64))
    return channel_masks(model, fraction)[0].numpy()


def _cross(ax: Any, x: float, y: float, w: float, h: float, gid: str) -> None:
    ax.plot([x - w / 2, x + w / 2], [y - h / 2, y + h / 2], color=_CROSS, lw=1.2, zorder=4, gid=gid)
    ax.plot([x - w / 2, x + w / 2], [y + h / 2, y - h / 2], color=_CROSS, lw=1.2, zorder=4, gid=gid)


def channel_pruning(norms: Any = None, fraction: float = 0.5, next_filters: int = 3) -> Any:
    """Filter pruning of conv layer ``k`` and what it takes with it (chapter 9), drawn from the package's masks.

    Left, layer ``k``'s filters with their L1 norms; the ``fraction`` with the smallest norm (as
    :func:`~troikadl.compress.channels.channel_masks` chooses them) are greyed and crossed out. Middle, the
    feature maps they would produce, removed too. Right, ``next_filters`` filters of layer ``k + 1``, each a
    stack of one slice per input channel: the slices of the removed channels go, so every filter of
    layer ``k + 1`` becomes thinner. ``norms`` (2 to 8 positive numbers; default :data:`EXAMPLE_NORMS`).
    """
    norms = EXAMPLE_NORMS if norms is None else as_float_array(norms, "norms", ndim=1)
    if not 2 <= len(norms) <= 8 or (norms <= 0).any():
        raise ValueError(f"norms must hold 2 to 8 positive filter norms, got {norms!r:.80}")
    f = check_in_range(fraction, "fraction", 0.0, 1.0, closed="left")
    nf = check_int(next_filters, "next_filters", min=1, max=4)
    keep = _kept_filters(norms, f)
    c, removed = len(norms), int((~keep).sum())
    row, height = 0.36, len(norms) * 0.36 + 1.45
    fig, ax = canvas(MAX_WIDTH, height)
    top = height - 0.62
    ys = [top - (j + 0.5) * row for j in range(c)]
    xf, xm, xn = 0.95, 3.0, 4.55
    note(ax, xf + 0.2, height - 0.18, "layer k: filters", size=FONT["label"], fontweight="bold")
    note(ax, xm, height - 0.18, "its feature maps", size=FONT["label"], fontweight="bold")
    note(ax, xn + (nf - 1) * 0.55 / 2, height - 0.18, "layer k+1: filters", size=FONT["label"], fontweight="bold")
    note(ax, xf + 0.62, top + 0.12, "L1 norm", ha="left")
    for j, y in enumerate(ys):
        role = "param" if keep[j] else "muted"
        box(ax, xf, y, f"filter {j}", w=0.95, h=row * 0.78, role=role, shape="square", size=FONT["note"])
        ax.patches[-1].set_gid(f"filter {j}")
        note(ax, xf + 0.62, y, f"{norms[j]:.2f}", ha="left", color="#1a1a1a" if keep[j] else _MUTED_TEXT,
             gid=f"norm {j}")
        box(ax, xm, y, w=row * 0.78, h=row * 0.78, role="data" if keep[j] else "muted", shape="square")
        ax.patches[-1].set_gid(f"map {j}")
        if not keep[j]:
            _cross(ax, xf, y, 0.95, row * 0.78, f"cross filter {j}")
            _cross(ax, xm, y, row * 0.78, row * 0.78, f"cross map {j}")
        arrow(ax, (xf + 1.05, y), (xm - row * 0.39 - 0.05, y), kind="forward" if keep[j] else "muted", lw=0.8)
    for q in range(nf):  # each filter of layer k+1: one slice per input channel, in the maps' rows
        x = xn + q * 0.55
        for j, y in enumerate(ys):
            box(ax, x, y, w=0.32, h=row * 0.9, role="param" if keep[j] else "muted", shape="square", lw=0.6)
            ax.patches[-1].set_gid(f"slice {q} {j}")
        note(ax, x, ys[-1] - 0.36, f"{q}")
    note(ax, xn + (nf - 1) * 0.55 / 2, top + 0.12, "one slice per input channel")
    low = ys[-1] - 0.7
    note(ax, MAX_WIDTH / 2, low, f"removing {removed} of {c} filters removes {removed} feature maps and "
         f"{removed} input slices from each filter of layer k+1: {c} → {c - removed} channels", gid="summary")
    return fig


def nm_pattern(W: Any = None, n: int = 2, m: int = 4) -> Any:
    """One matrix pruned to the N:M pattern beside unstructured magnitude pruning at the same sparsity (chapter 9).

    Left, :func:`~troikadl.compress.nm.nm_masks`: every group of ``m`` consecutive weights in a row (outlined)
    keeps its ``n`` largest ``|w|``. Right, :func:`~troikadl.compress.prune.magnitude_masks` (per layer) removing
    the same fraction ``1 - n/m`` anywhere: the groups it leaves with more than ``n`` weights are outlined in
    red, as the N:M hardware cannot run them. ``W`` is at most 8 x 12 with a column count divisible by ``m``
    (default: :data:`troikadl.figures.compression.EXAMPLE_W`, 6 x 8).
    """
    import torch

    from ..compress.nm import nm_masks
    from ..compress.prune import magnitude_masks

    W = EXAMPLE_W if W is None else as_float_array(W, "W", ndim=2)
    m = check_int(m, "m", min=2, max=8)
    n = check_int(n, "n", min=1, max=m - 1)
    if not (1 <= W.shape[0] <= 8 and m <= W.shape[1] <= 12) or W.shape[1] % m:
        raise ValueError(f"W must have 1 to 8 rows and at most 12 columns, a multiple of m = {m}, got shape {W.shape}")
    t = torch.tensor(W, dtype=torch.float64)
    nm = nm_masks([t], n=n, m=m)[0].numpy()
    un = magnitude_masks([t], 1 - n / m, scope="layer")[0].numpy()
    rows, cols = W.shape
    groups = un.reshape(rows, cols // m, m).sum(-1)
    bad = groups > n
    c = min(0.3, 2.9 / cols)
    height = rows * c + 1.55
    fig, ax = canvas(MAX_WIDTH, height)
    top = height - 0.62
    centres = (MAX_WIDTH / 4 + 0.05, 3 * MAX_WIDTH / 4 - 0.05)
    titles = (f"{n}:{m} (N:M) sparsity", f"unstructured, {1 - n / m:.0%} by magnitude")
    subs = (f"the {n} largest |w| of every {m} consecutive weights kept",
            f"{int(bad.sum())} of {bad.size} groups keep more than {n}: not {n}:{m}")
    from matplotlib.patches import Rectangle

    for (name, mask, title, sub, xc) in (("nm", nm, titles[0], subs[0], centres[0]),
                                         ("unstructured", un, titles[1], subs[1], centres[1])):
        x0 = xc - cols * c / 2
        note(ax, xc, height - 0.15, title, size=FONT["label"], fontweight="bold")
        note(ax, xc, height - 0.38, sub, gid=f"sub {name}")
        cells(ax, x0, top, W, cell=c, role=np.where(mask, "param", "muted"), fmt=None)
        for k, patch in enumerate(ax.patches[-rows * cols:]):
            patch.set_gid(f"{name} {k // cols} {k % cols}")
        for i in range(rows):
            for j in range(cols):
                note(ax, x0 + (j + 0.5) * c, top - (i + 0.5) * c, f"{W[i, j]:.1f}", size=FONT["note"] - 1.5,
                     color="#1a1a1a" if mask[i, j] else _MUTED_TEXT)
            for g in range(cols // m):
                red = name == "unstructured" and bad[i, g]
                ax.add_patch(Rectangle((x0 + g * m * c, top - (i + 1) * c), m * c, c, fill=False, zorder=3,
                                       lw=2.0 if red else 1.4, edgecolor=_CROSS if red else "#1a1a1a",
                                       gid=f"group {name} {i} {g}" + (" bad" if red else "")))
    low = top - rows * c - 0.25
    note(ax, centres[0], low, f"{int(nm.sum())} of {nm.size} kept; a dense kernel still multiplies the zeros")
    note(ax, centres[1], low, f"{int(un.sum())} of {un.size} kept, anywhere")
    for k, (role, text) in enumerate((("param", "kept"), ("muted", "pruned"))):
        x = MAX_WIDTH / 2 - 1.0 + k * 1.2
        box(ax, x, low - 0.36, w=0.18, h=0.18, role=role, shape="square")
        note(ax, x + 0.15, low - 0.36, text, ha="left")
    note(ax, MAX_WIDTH / 2 + 1.5, low - 0.36, f"outline: a group of {m}", ha="left")
    return fig


def imp_rounds(rate: float = 0.5, rounds: int = 3, shape: Any = (4, 6), seed: int = 0) -> tuple[list, list]:
    """The weights and masks :func:`imp_loop` draws: ``(weights, masks)``, NumPy arrays, one per round 0..rounds.

    Round 0 is the dense mask. Round ``k`` is ``prune_round([W_k], [mask_{k-1}], rate)``, where ``W_k``, a
    stand-in for the weights after round ``k - 1``'s training, is the ``k``-th matrix of standard normal draws
    of ``np.random.default_rng(seed)`` (``weights[0]`` is the zero matrix, never ranked).
    """
    import torch

    from ..compress.lottery import prune_round

    r = check_in_range(rate, "rate", 0.0, 1.0, closed="neither")
    k = check_int(rounds, "rounds", min=1, max=3)
    if not (isinstance(shape, (tuple, list)) and len(shape) == 2):
        raise TypeError(f"shape must be a pair (rows, cols), got {shape!r:.60}")
    rows, cols = check_int(shape[0], "shape[0]", min=2, max=6), check_int(shape[1], "shape[1]", min=2, max=8)
    rng = np.random.default_rng(check_int(seed, "seed", min=0))
    weights, masks = [np.zeros((rows, cols))], [np.ones((rows, cols), dtype=bool)]
    for _ in range(k):
        w = rng.standard_normal((rows, cols))
        new = prune_round([torch.tensor(w)], [torch.tensor(masks[-1])], r)[0].numpy()
        weights.append(w)
        masks.append(new)
    return weights, masks


def imp_loop(rate: float = 0.5, rounds: int = 3, shape: Any = (4, 6), seed: int = 0) -> Any:
    """Iterative magnitude pruning with rewinding, the lottery ticket's procedure (chapter 9), with its masks.

    Top, the loop: train from the saved initialization θ₀, prune the fraction ``rate`` of the surviving weights
    with the smallest ``|w|`` (globally), rewind the survivors to θ₀ (late rewinding: to θₖ, the weights after
    a little training), train again; the control arm (dotted) trains the same mask from a fresh random
    initialization. Bottom, one small weight matrix's mask after each round, as
    :func:`troikadl.compress.lottery.prune_round` computes it on seeded random weights (:func:`imp_rounds`):
    kept, pruned in this round, pruned earlier, with the count kept and the planned fraction ``(1 - p)^k``.
    """
    masks = imp_rounds(rate, rounds, shape, seed)[1]
    r, (rows, cols), n = float(rate), masks[0].shape, len(masks)
    height = 4.75
    fig, ax = canvas(MAX_WIDTH, height)
    y = height - 0.95
    th0 = box(ax, 0.68, y, "θ₀\n(saved init)", w=1.05, h=0.62, role="param")
    tr = box(ax, 2.12, y, "train", w=0.95, h=0.62, role="op")
    pr = box(ax, 3.72, y, f"prune {r:.0%} of the\nsurvivors with\nsmallest |w| (global)", w=1.55, h=0.78,
             role="op", size=FONT["note"])
    rw = box(ax, 5.8, y, "rewind survivors\nto θ₀ (late\nrewinding: to θₖ)", w=1.6, h=0.78, role="param",
             size=FONT["note"])
    for a, b in ((th0, tr), (tr, pr), (pr, rw)):
        arrow(ax, a.right, b.left)
    arrow(ax, rw.top, tr.top, bend=0.2, text="train again with the mask: next round", text_offset=(0, 0.36))
    ctl = box(ax, 5.8, y - 0.98, "control: same mask,\nfresh random init", w=1.6, h=0.5, role="muted",
              size=FONT["note"])
    arrow(ax, (pr.x, pr.y - pr.h / 2), ctl.left, kind="skip", bend=-0.3, text="control arm",
          text_offset=(0.0, -0.24))
    note(ax, 0.1, y - 0.98, "the mask after each round (seeded random weights):", ha="left")
    c = min(0.22, 1.25 / cols)
    top = y - 1.4
    xs = [MAX_WIDTH * (k + 0.5) / n for k in range(n)]
    for k, (x, mask) in enumerate(zip(xs, masks)):
        new = ~mask & masks[k - 1] if k else np.zeros_like(mask)
        roles = np.where(mask, "param", np.where(new, "focus", "muted"))
        cells(ax, x - cols * c / 2, top, np.zeros(mask.shape), cell=c, role=roles, fmt=None)
        for q, patch in enumerate(ax.patches[-rows * cols:]):
            patch.set_gid(f"round {k} {q // cols} {q % cols}")
        low = top - rows * c
        note(ax, x, low - 0.16, "round 0: dense" if k == 0 else f"round {k}", size=FONT["label"])
        note(ax, x, low - 0.38, f"{int(mask.sum())} of {mask.size} kept", gid=f"kept {k}")
        note(ax, x, low - 0.58, rf"$(1-p)^{k}$ = {(1 - r) ** k:.1%}", gid=f"planned {k}")
        if k:
            arrow(ax, (xs[k - 1] + cols * c / 2 + 0.05, top - rows * c / 2), (x - cols * c / 2 - 0.05,
                  top - rows * c / 2), text="prune", text_offset=(0, 0.13))
    y0 = top - rows * c - 1.0
    for j, (role, text) in enumerate((("param", "kept"), ("focus", "pruned this round"),
                                      ("muted", "pruned earlier (stays pruned)"))):
        x = 0.6 + j * 1.75
        box(ax, x, y0, w=0.18, h=0.18, role=role, shape="square")
        note(ax, x + 0.15, y0, text, ha="left")
    return fig
