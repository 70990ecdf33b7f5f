"""Fully connected networks drawn unit by unit: softmax regression and the XOR network (chapter 1), a network
under dropout (chapter 3).

:func:`dense_network` draws layers of units with every connection between neighbouring layers. With
``dropout`` > 0 it draws one training step's mask, taken from :func:`troikadl.regularization.dropout` itself:
the dropped hidden units are crossed out and their connections removed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..validate import check_choice, check_float, check_int
from .style import EDGES, FONT, MAX_WIDTH, box, canvas, note

__all__ = ["dense_network", "dropout_mask"]

_UNIT = 0.36       # a unit's diameter, inches
_ROW = 0.5         # vertical distance between units


def _sizes(sizes: Any) -> list[int]:
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
        raise TypeError(f"sizes must be a sequence of layer widths, got {type(sizes).__name__}")
    if not 2 <= len(sizes) <= 6:
        raise ValueError(f"sizes must list 2 to 6 layers, got {len(sizes)}")
    return [check_int(n, "sizes", min=1, max=8) for n in sizes]


def dropout_mask(sizes: Any, p: float, seed: int = 0) -> list[np.ndarray]:
    """Which units one training step keeps, per layer (True: kept): hidden layers drop with probability ``p``.

    The mask is the one :func:`troikadl.regularization.dropout` draws on ones with a generator seeded by ``seed``;
    input and output layers are always kept, as in the chapter's networks.
    """
    import torch

    from ..regularization import dropout

    sizes = _sizes(sizes)
    p = check_float(p, "p", min=0.0, max=1.0)
    seed = check_int(seed, "seed", min=0)
    gen = torch.Generator().manual_seed(seed)
    masks = [np.ones(sizes[0], bool)]
    for n in sizes[1:-1]:
        masks.append(dropout(torch.ones(n), p, training=True, generator=gen).numpy() != 0)
    masks.append(np.ones(sizes[-1], bool))
    return masks


def dense_network(sizes: Any, *, dropout: float = 0.0, seed: int = 0, output: str = "none") -> Any:
    """A fully connected network with ``sizes`` units per layer (inputs first); returns the figure.

    ``output`` adds the output's function: "softmax" (softmax regression, chapter 1), "step" or "sigmoid"
    (the XOR network, chapter 1), or "none". With ``dropout`` > 0 the hidden units that one training step of
    inverted dropout drops (:func:`dropout_mask`) are crossed out with their connections, and the kept ones
    are labelled with their scale 1/(1-p) (chapter 3).
    """
    sizes = _sizes(sizes)
    output = check_choice(output, "output", ("none", "softmax", "step", "sigmoid"))
    p = check_float(dropout, "dropout", min=0.0, max=0.95)
    masks = dropout_mask(sizes, p, seed) if p > 0 else [np.ones(n, bool) for n in sizes]
    extra = 1.3 if output != "none" else 0.0
    gap = min(1.6, (MAX_WIDTH - 1.2 - extra) / (len(sizes) - 1))
    width = min(MAX_WIDTH, 1.2 + gap * (len(sizes) - 1) + extra)
    height = 0.9 + _ROW * max(sizes)
    fig, ax = canvas(width, height)
    xs = 0.7 + gap * np.arange(len(sizes))
    ys = [height / 2 - 0.1 + _ROW * (np.arange(n)[::-1] - (n - 1) / 2) for n in sizes]
    for layer in range(len(sizes) - 1):             # connections first, so that the units sit on top
        for i, ya in enumerate(ys[layer]):
            for j, yb in enumerate(ys[layer + 1]):
                live = masks[layer][i] and masks[layer + 1][j]
                line, = ax.plot([xs[layer], xs[layer + 1]], [ya, yb], lw=0.8 if live else 0.5, zorder=1,
                                color="#555555" if live else "#d0d0d0", ls="-" if live else ":")
                line.set_gid("live" if live else "cut")
    names = ["input"] + ["hidden"] * (len(sizes) - 2) + ["output"]
    roles = ["data"] + ["op"] * (len(sizes) - 2) + ["out"]
    for layer, n in enumerate(sizes):
        for i, y in enumerate(ys[layer]):
            kept = masks[layer][i]
            box(ax, xs[layer], y, "", w=_UNIT, h=_UNIT, role=roles[layer] if kept else "muted", shape="circle")
            ax.patches[-1].set_gid(f"unit-{layer}-{i}-{'kept' if kept else 'dropped'}")
            if not kept:
                ax.plot([xs[layer] - 0.13, xs[layer] + 0.13], [y - 0.13, y + 0.13], color=EDGES["out"], lw=1.4, zorder=3)
                ax.plot([xs[layer] - 0.13, xs[layer] + 0.13], [y + 0.13, y - 0.13], color=EDGES["out"], lw=1.4, zorder=3)
            elif p > 0 and 0 < layer < len(sizes) - 1:
                note(ax, xs[layer] + 0.32, y + 0.16, f"×{1 / (1 - p):.3g}", size=FONT["note"], color=EDGES["op"])
        note(ax, xs[layer], height - 0.25, f"{names[layer]} ({n})", color="#555555")
    if output != "none":
        x = xs[-1] + 0.95
        out = box(ax, x, height / 2 - 0.1, output, w=0.95, h=0.42, role="op")
        for y in ys[-1]:
            ax.annotate("", xy=out.left, xytext=(xs[-1] + _UNIT / 2, y),
                        arrowprops=dict(arrowstyle="-|>", color="#333333", lw=0.9, shrinkA=0, shrinkB=2))
    return fig
