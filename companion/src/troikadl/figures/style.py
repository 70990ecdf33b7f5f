"""The figure style and the drawing primitives every diagram uses (see :mod:`troikadl.figures`).

A diagram starts with :func:`canvas`, whose drawing units are inches, and draws with :func:`box`,
:func:`arrow`, :func:`note` and :func:`cells`. Each primitive returns what the next one needs (a
:class:`Box` knows its edges, so arrows join boxes at their borders).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..validate import check_float, check_str

__all__ = ["MAX_WIDTH", "COLORS", "EDGES", "ARROWS", "FONT", "Box", "canvas", "box", "arrow", "note", "cells",
           "brace", "text_width"]

#: The widest diagram, in inches (at 100 dpi: 700 px, inside the book's text column).
MAX_WIDTH = 7.0
#: Fill colours by role.
COLORS = {"data": "#d6e6f5", "param": "#dcefd3", "op": "#f7ead0", "out": "#f6d6da", "focus": "#ffd966",
          "muted": "#eeeeee", "plain": "#ffffff"}
#: Border (and text) colours by role.
EDGES = {"data": "#2f6da3", "param": "#3b7d23", "op": "#9a7419", "out": "#a61e2a", "focus": "#9a7419",
         "muted": "#8c8c8c", "plain": "#333333"}
#: Arrow styles by kind: forward computation, backward gradients, skip connections and side paths.
ARROWS = {"forward": dict(color="#333333", linestyle="-"), "backward": dict(color="#c0392b", linestyle="--"),
          "skip": dict(color="#555555", linestyle=":"), "muted": dict(color="#9a9a9a", linestyle="-")}
#: Font sizes in points.
FONT = {"family": "DejaVu Sans", "label": 10.0, "note": 8.5, "title": 11.0}


def _role(role: str) -> str:
    if role not in COLORS:
        raise ValueError(f"role must be one of {sorted(COLORS)}, got {role!r}")
    return role


@dataclass(frozen=True)
class Box:
    """A drawn box: centre ``(x, y)``, width ``w`` and height ``h``, in inches."""

    x: float
    y: float
    w: float
    h: float

    @property
    def left(self) -> tuple[float, float]:
        return (self.x - self.w / 2, self.y)

    @property
    def right(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y)

    @property
    def top(self) -> tuple[float, float]:
        return (self.x, self.y + self.h / 2)

    @property
    def bottom(self) -> tuple[float, float]:
        return (self.x, self.y - self.h / 2)

    @property
    def center(self) -> tuple[float, float]:
        return (self.x, self.y)


def canvas(width: float, height: float, *, title: str | None = None) -> tuple[Any, Any]:
    """A blank diagram ``width`` by ``height`` inches whose drawing units are inches: ``(fig, ax)``.

    The origin is the lower-left corner. ``width`` may not exceed :data:`MAX_WIDTH`.
    """
    import matplotlib.pyplot as plt

    width = check_float(width, "width", min=0.5, max=MAX_WIDTH)
    height = check_float(height, "height", min=0.3, max=12.0)
    fig = plt.figure(figsize=(width, height), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    if title is not None:
        ax.text(width / 2, height - 0.08, check_str(title, "title"), ha="center", va="top",
                fontsize=FONT["title"], fontweight="bold", family=FONT["family"])
    return fig, ax


def box(ax: Any, x: float, y: float, text: str = "", *, w: float = 0.9, h: float = 0.42, role: str = "op",
        shape: str = "round", size: float | None = None, bold: bool = False, lw: float = 1.0) -> Box:
    """Draw a box (``shape`` "round", "square" or "circle") centred at ``(x, y)`` with ``text`` inside."""
    from matplotlib.patches import Ellipse, FancyBboxPatch

    role = _role(role)
    if shape == "circle":
        patch = Ellipse((x, y), w, h, facecolor=COLORS[role], edgecolor=EDGES[role], lw=lw, zorder=2)
    elif shape in ("round", "square"):
        style = "round,pad=0,rounding_size=0.08" if shape == "round" else "square,pad=0"
        patch = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle=style, facecolor=COLORS[role],
                               edgecolor=EDGES[role], lw=lw, zorder=2)
    else:
        raise ValueError(f"shape must be 'round', 'square' or 'circle', got {shape!r}")
    ax.add_patch(patch)
    if text:
        ax.text(x, y, text, ha="center", va="center", fontsize=size or FONT["label"], family=FONT["family"],
                fontweight="bold" if bold else "normal", color="#1a1a1a", zorder=3)
    return Box(float(x), float(y), float(w), float(h))


def arrow(ax: Any, start: Sequence[float], end: Sequence[float], *, kind: str = "forward", text: str | None = None,
          bend: float = 0.0, lw: float = 1.2, text_offset: tuple[float, float] = (0.0, 0.12),
          size: float | None = None, head: bool = True) -> None:
    """An arrow from ``start`` to ``end`` (points in inches); ``kind`` picks the style (:data:`ARROWS`).

    ``bend`` curves it (matplotlib's arc3 radius); ``text`` is written at the midpoint, moved by ``text_offset``.
    """
    from matplotlib.patches import FancyArrowPatch

    if kind not in ARROWS:
        raise ValueError(f"kind must be one of {sorted(ARROWS)}, got {kind!r}")
    style = ARROWS[kind]
    patch = FancyArrowPatch(tuple(start), tuple(end), arrowstyle="-|>" if head else "-", mutation_scale=11,
                            connectionstyle=f"arc3,rad={bend}", lw=lw, color=style["color"],
                            linestyle=style["linestyle"], shrinkA=1, shrinkB=1, zorder=1)
    ax.add_patch(patch)
    if text:
        mx, my = (start[0] + end[0]) / 2 + text_offset[0], (start[1] + end[1]) / 2 + text_offset[1]
        ax.text(mx, my, text, ha="center", va="center", fontsize=size or FONT["note"], family=FONT["family"],
                color=style["color"], zorder=3, bbox=dict(facecolor="white", edgecolor="none", pad=0.5, alpha=0.85))


def note(ax: Any, x: float, y: float, text: str, *, size: float | None = None, color: str = "#333333",
         ha: str = "center", va: str = "center", **kw: Any) -> Any:
    """Text at ``(x, y)`` in the note size (or ``size`` points)."""
    return ax.text(x, y, text, ha=ha, va=va, fontsize=size or FONT["note"], family=FONT["family"], color=color,
                   zorder=3, **kw)


def cells(ax: Any, x: float, y: float, values: Any, *, cell: float = 0.3, role: Any = "data",
          fmt: str | None = "{:g}", size: float | None = None, lw: float = 0.8) -> Box:
    """A grid of square cells (a matrix) whose top-left corner is ``(x, y)``; returns its bounding :class:`Box`.

    ``values`` is a 2-D array (a 1-D one is a row) whose entries are written in the cells with ``fmt``
    (``None`` writes nothing; NaN cells stay empty). ``role`` is one role for all cells or a 2-D array of roles.
    """
    from matplotlib.patches import Rectangle

    values = np.asarray(values, dtype=object)
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2:
        raise ValueError(f"values must be a 1-D or 2-D array, got shape {values.shape}")
    cell = check_float(cell, "cell", min=0.05, max=2.0)
    roles = np.broadcast_to(np.asarray(role, dtype=object), values.shape)
    rows, cols = values.shape
    for i in range(rows):
        for j in range(cols):
            r = _role(str(roles[i, j]))
            cx, cy = x + j * cell, y - (i + 1) * cell
            ax.add_patch(Rectangle((cx, cy), cell, cell, facecolor=COLORS[r], edgecolor=EDGES[r], lw=lw, zorder=2))
            v = values[i, j]
            if fmt is not None and v is not None and not (isinstance(v, float) and np.isnan(v)):
                ax.text(cx + cell / 2, cy + cell / 2, fmt.format(v), ha="center", va="center",
                        fontsize=size or FONT["note"], family=FONT["family"], zorder=3)
    return Box(x + cols * cell / 2, y - rows * cell / 2, cols * cell, rows * cell)


def brace(ax: Any, start: Sequence[float], end: Sequence[float], text: str = "", *, side: float = 0.12,
          color: str = "#333333") -> None:
    """A bracket from ``start`` to ``end`` with ``text`` beside it (``side`` > 0: to the left of the direction)."""
    (x0, y0), (x1, y1) = start, end
    d = np.array([x1 - x0, y1 - y0], dtype=float)
    n = np.array([-d[1], d[0]]) / (np.hypot(*d) or 1.0) * side
    pts = np.array([[x0, y0], [x0 + n[0], y0 + n[1]], [x1 + n[0], y1 + n[1]], [x1, y1]])
    ax.plot(pts[:, 0], pts[:, 1], color=color, lw=0.9, zorder=2)
    if text:
        mx, my = (x0 + x1) / 2 + 2.2 * n[0], (y0 + y1) / 2 + 2.2 * n[1]
        note(ax, mx, my, text, color=color)


def text_width(text: str, size: float) -> float:
    """The width of ``text`` at ``size`` points, in inches (DejaVu Sans, as drawn)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    text, size = check_str(text, "text"), check_float(size, "size", min=0.0, min_open=True)
    if not text:
        return 0.0
    return TextPath((0, 0), text, size=size, prop=FontProperties(family=FONT["family"])).get_extents().width / 72
