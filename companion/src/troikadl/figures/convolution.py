"""Convolution diagrams of chapter 4: a kernel sliding over a padded input, max pooling, a CNN's shape trace.

:func:`conv_sliding` draws which inputs (the dilated kernel's taps) make one output of a strided, padded
convolution; the output grid's size is :func:`troikadl.conv.conv_output_size`'s. :func:`max_pooling` draws the
windows of a max pooling and the pooled grid, whose values are :func:`troikadl.conv.max_pool2d`'s.
:func:`shape_trace` draws the activations of a small CNN as a strip of blocks labelled with their shapes, from
the shapes a real forward pass produced (for example :func:`troikadl.cnn.trace_shapes`).

Every cell, tap and label carries a ``gid`` ("input r,c", "tap r,c", "output i,j", "pooled i,j", "shape k") so
that the tests read the drawing back and compare it with the code it depicts.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..conv import conv_output_size, max_pool2d
from ..validate import as_float_array, check_int, check_int_list, check_str_list
from .style import COLORS, EDGES, FONT, MAX_WIDTH, arrow, box, canvas, cells, note

__all__ = ["conv_sliding", "max_pooling", "shape_trace", "POOL_EXAMPLE"]


def _tag(ax: Any, first: int, rows: int, cols: int, gid_of: Any) -> None:
    """Give the ``rows x cols`` patches that :func:`cells` added after index ``first`` their gids."""
    for k, patch in enumerate(ax.patches[first:first + rows * cols]):
        patch.set_gid(gid_of(k // cols, k % cols))


def _indices(ax: Any, x: float, y: float, cell: float, labels: Sequence[int], *, vertical: bool,
             right: float | None = None) -> None:
    """Index labels of a grid whose top-left corner is ``(x, y)``: above its columns, or beside its rows (left
    of the grid, or right of it when ``right``, the grid's right edge, is given)."""
    for t, v in enumerate(labels):
        if vertical:
            px, py = (x - 0.12 if right is None else right + 0.12), y - (t + 0.5) * cell
        else:
            px, py = x + (t + 0.5) * cell, y + 0.1
        note(ax, px, py, f"{v}".replace("-", "−"), size=8, color="#666666")


def conv_sliding(n: int = 7, kernel: int = 3, stride: int = 2, padding: int = 1, dilation: int = 2,
                 output: tuple[int, int] = (0, 1)) -> Any:
    """A ``kernel x kernel`` convolution sliding over an ``n x n`` input, padded, strided and dilated.

    Draws the padded input (the padding ring grey), the kernel, and the output grid, whose side is
    :func:`~troikadl.conv.conv_output_size`. The output cell ``output = (i, j)`` and the inputs it reads (the
    dilated kernel's taps, rows ``i s + a d - p`` and columns ``j s + b d - p``, a, b = 0..k-1, in the unpadded
    input's indices) are highlighted; the output-size formula is written out with the numbers. Chapter 4, §4.2.
    """
    from matplotlib.patches import Rectangle

    n, k = check_int(n, "n", min=1), check_int(kernel, "kernel", min=1)
    s, p, d = check_int(stride, "stride", min=1), check_int(padding, "padding", min=0), check_int(dilation,
                                                                                                "dilation", min=1)
    side = n + 2 * p
    if side > 12:
        raise ValueError(f"n + 2 padding must be at most 12 to be drawn legibly, got {side} (n={n}, padding={p})")
    m = conv_output_size(n, k, s, p, d)   # raises if the dilated kernel does not fit the padded input
    out = check_int_list(output, "output", min=0, length=2, example="(0, 1)")
    if max(out) >= m:
        raise ValueError(f"output must index the {m}x{m} output grid (0..{m - 1}), got {tuple(out)}")
    i, j = out
    taps_r = [i * s + a * d - p for a in range(k)]
    taps_c = [j * s + b * d - p for b in range(k)]
    span = d * (k - 1) + 1
    c, kc = min(0.3, 2.7 / side), min(0.26, 1.0 / k)
    oc = min(0.3, 1.8 / m)
    # layout, in inches below the grids' top edge: the kernel sits under the arrow from window to output
    start_y = -(taps_r[0] + p + span / 2) * c
    target_y = -(i + 0.5) * oc
    ktop = min(start_y, target_y) - 0.45
    depth = max(side * c, m * oc, -ktop + k * kc + 0.62)
    width, height = MAX_WIDTH, 0.45 + depth + 0.95
    top = height - 0.45
    fig, ax = canvas(width, height)
    x_in = 0.45
    note(ax, 0.15, height - 0.1, f"input {n}×{n}" + (f", padding {p} (grey: zeros)" if p else ", no padding"),
         size=FONT["label"], va="top", ha="left")
    roles = np.full((side, side), "data", dtype=object)
    roles[:p, :], roles[side - p:, :], roles[:, :p], roles[:, side - p:] = "muted", "muted", "muted", "muted"
    for r in taps_r:
        for q in taps_c:
            roles[r + p, q + p] = "focus"
    first = len(ax.patches)
    grid = cells(ax, x_in, top, np.full((side, side), None), cell=c, role=roles, fmt=None)

    def gid_in(r: int, q: int) -> str:
        kind = "tap" if roles[r, q] == "focus" else ("pad" if roles[r, q] == "muted" else "input")
        return f"{kind} {r - p},{q - p}"

    _tag(ax, first, side, side, gid_in)
    _indices(ax, x_in, top, c, range(-p, n + p), vertical=True)
    _indices(ax, x_in, top, c, range(-p, n + p), vertical=False)
    x0, y0 = x_in + (taps_c[0] + p) * c, top - (taps_r[0] + p + span) * c
    ax.add_patch(Rectangle((x0, y0), span * c, span * c, fill=False, ec=EDGES["focus"], lw=1.6, ls="--", zorder=4))
    if m > 1:   # the neighbouring window along the row, ``stride`` inputs further: dotted
        nx = x0 + (s if j + 1 < m else -s) * c
        ax.add_patch(Rectangle((nx + 0.045, y0 + 0.045), span * c - 0.09, span * c - 0.09, fill=False, ec="#333333",
                               lw=1.5, ls=":", zorder=4))
    # the output grid, its row indices on its right (the arrow arrives on its left)
    ox = width - 0.45 - m * oc
    note(ax, ox + m * oc / 2, height - 0.1, f"output {m}×{m}", size=FONT["label"], va="top")
    oroles = np.full((m, m), "out", dtype=object)
    oroles[i, j] = "focus"
    first = len(ax.patches)
    cells(ax, ox, top, np.full((m, m), None), cell=oc, role=oroles, fmt=None)
    _tag(ax, first, m, m, lambda a, b: f"output{'*' if (a, b) == (i, j) else ''} {a},{b}")
    _indices(ax, ox, top, oc, range(m), vertical=True, right=ox + m * oc)
    _indices(ax, ox, top, oc, range(m), vertical=False)
    start, target = (x0 + span * c, top + start_y), (ox - 0.02, top + target_y)
    arrow(ax, start, target, kind="forward", lw=1.3, bend=0.1 if start[1] > target[1] else -0.1)
    ax.patches[-1].set_zorder(5)   # from the window itself, over the cells right of it
    gap_mid = (grid.right[0] + ox) / 2
    kbox = cells(ax, gap_mid - k * kc / 2, top + ktop, np.full((k, k), None), cell=kc, role="param", fmt=None)
    note(ax, gap_mid, top + ktop + 0.05, f"kernel {k}×{k}", size=FONT["label"], va="bottom")
    note(ax, gap_mid, kbox.bottom[1] - 0.1, f"dilation {d}: taps {d} apart\n"
         f"stride {s}: windows {s} apart\n(dotted: the next window)", size=8.5, va="top")
    formula = (r"$n_{\mathrm{out}} = \lfloor (n + 2p - d(k-1) - 1)/s \rfloor + 1"
               rf" = \lfloor ({n} + 2\cdot{p} - {d}\cdot{k - 1} - 1)/{s} \rfloor + 1 = {m}$")
    note(ax, width / 2, 0.66, formula, size=FONT["label"])
    rows, cols = (", ".join(map(str, t)).replace("-", "−") for t in (taps_r, taps_c))
    note(ax, width / 2, 0.24, f"output ({i}, {j}) reads rows i·s + a·d − p = {rows} and columns j·s + b·d − p = "
         f"{cols}  (a, b = 0…{k - 1})", size=8.5)
    return fig


_TINTS = ("#d6e6f5", "#e4d7ee", "#dcefd3", "#f7ead0")   # four light tints, so that neighbouring windows differ
#: The grid :func:`max_pooling` draws by default: each 2 x 2 window's maximum sits at a different place.
POOL_EXAMPLE = ((1, 3, 2, 0), (4, 6, 1, 5), (7, 2, 3, 1), (0, 5, 8, 2))


def _fmt(v: float, integral: bool) -> str:
    return (f"{v:g}" if integral else f"{v:.2f}").replace("-", "−")


def max_pooling(x: Any = None, size: int = 2) -> Any:
    """Max pooling with a ``size x size`` window and stride ``size`` on a small grid of numbers.

    Each window is tinted, its largest value is highlighted (gold, bold), and the pooled grid beside it holds
    :func:`~troikadl.conv.max_pool2d`'s output, each cell in its window's tint. Rows and columns that fit in no
    window (the size is rounded down) are greyed. ``x`` is a 2-D array of at most 10 x 10 (default:
    :data:`POOL_EXAMPLE`, 4 x 4). Chapter 4, §4.4.
    """
    from matplotlib.patches import Rectangle

    x = as_float_array(POOL_EXAMPLE if x is None else x, "x", ndim=2, nonempty=True)
    size = check_int(size, "size", min=1)
    H, W = x.shape
    if max(H, W) > 10:
        raise ValueError(f"x must be at most 10 x 10 to be drawn legibly, got shape {x.shape}")
    if size > min(H, W):
        raise ValueError(f"size must be at most the smaller side of x ({min(H, W)}), got {size}")
    pooled = max_pool2d(x[None, None], size)[0, 0]
    m_h, m_w = pooled.shape
    integral = bool(np.all(x == np.round(x)))
    c = min(0.42, 2.6 / max(H, W))
    width, height = min(MAX_WIDTH, 0.9 + (W + m_w) * c + 2.8), H * c + 0.75
    digits = FONT["label"] if integral else 9.0
    fig, ax = canvas(width, height)
    top = height - 0.4
    x_in = 0.4
    note(ax, x_in + W * c / 2, height - 0.08, f"input {H}×{W}", size=FONT["label"], va="top")
    cells(ax, x_in, top, np.full((H, W), None), cell=c, role="muted", fmt=None)
    for a in range(m_h):
        for b in range(m_w):
            tint = _TINTS[2 * (a % 2) + (b % 2)]
            win = x[a * size:(a + 1) * size, b * size:(b + 1) * size]
            for u in range(size):
                for v in range(size):
                    r, q = a * size + u, b * size + v
                    is_max = win[u, v] == win.max()
                    ax.add_patch(Rectangle((x_in + q * c, top - (r + 1) * c), c, c, lw=0.8, zorder=2,
                                           fc=COLORS["focus"] if is_max else tint, ec="#8c8c8c",
                                           gid=f"{'max' if is_max else 'window'} {r},{q}"))
            ax.add_patch(Rectangle((x_in + b * size * c, top - (a + 1) * size * c), size * c, size * c, fill=False,
                                   ec="#333333", lw=1.8, zorder=4))
    for r in range(H):
        for q in range(W):
            inside = r < m_h * size and q < m_w * size
            is_max = inside and x[r, q] == pooled[r // size, q // size]
            note(ax, x_in + (q + 0.5) * c, top - (r + 0.5) * c, _fmt(x[r, q], integral), size=digits,
                 fontweight="bold" if is_max else "normal", color="#1a1a1a" if inside else "#8c8c8c")
    ox = width - 0.5 - m_w * c
    note(ax, ox + m_w * c / 2, height - 0.08, f"max-pooled {m_h}×{m_w}", size=FONT["label"], va="top")
    for a in range(m_h):
        for b in range(m_w):
            ax.add_patch(Rectangle((ox + b * c, top - (a + 1) * c), c, c, fc=_TINTS[2 * (a % 2) + (b % 2)],
                                   ec="#333333", lw=1.2, zorder=2, gid=f"cell {a},{b}"))
            note(ax, ox + (b + 0.5) * c, top - (a + 0.5) * c, _fmt(pooled[a, b], integral), size=digits,
                 fontweight="bold", gid=f"pooled {a},{b}")
    mid = top - m_h * c / 2
    arrow(ax, (x_in + W * c + 0.2, mid), (ox - 0.2, mid), kind="forward", lw=1.3,
          text=f"largest value of each\n{size}×{size} window (stride {size})", text_offset=(0, 0.3), size=8.5)
    note(ax, (x_in + W * c + ox) / 2, mid - 0.25, "no parameters", size=8.5)
    if m_h * size < H or m_w * size < W:
        note(ax, (x_in + W * c + ox) / 2, mid - 0.55, "grey: in no window\n(dropped)", size=8.5, va="top")
    return fig


_FACES = {"data": ("#eef4fa", "#b9d3ea"), "out": ("#fbecee", "#eab9bf")}   # a slab's top and side, by role
_ABBREV = {"Conv2d": "conv", "Conv1d": "conv", "MaxPool2d": "max\npool", "AvgPool2d": "avg\npool", "Linear": "linear",
           "Flatten": "flatten"}


def _trace_data(shapes: Any, names: Any) -> tuple[list[tuple[int, ...]], list[str]]:
    if hasattr(shapes, "rows") and hasattr(shapes, "input_shape"):   # a troikadl.cnn.ShapeTrace
        if shapes.error:
            raise ValueError(f"shapes is a trace that stopped with an error: {shapes.error}")
        if names is None:
            names = [r.layer.split("(")[0] for r in shapes.rows]
        shapes = [shapes.input_shape] + [r.shape for r in shapes.rows]
    if not isinstance(shapes, (list, tuple)) or len(shapes) < 2:
        raise TypeError(f"shapes must be a list of at least two shapes (or a ShapeTrace), got {shapes!r:.60}")
    shapes = [tuple(check_int_list(sh, f"shapes[{t}]", min=1, min_length=1, example="(16, 14, 14)"))
              for t, sh in enumerate(shapes)]
    for t, sh in enumerate(shapes):
        if len(sh) not in (1, 3):
            raise ValueError(f"shapes[{t}] must be (channels, height, width) or (features,), got {sh}")
    names = [""] * (len(shapes) - 1) if names is None else check_str_list(names, "names")
    if len(names) != len(shapes) - 1:
        raise ValueError(f"names must label the {len(shapes) - 1} steps between the shapes, got {len(names)}")
    folded_shapes, folded_names = [shapes[0]], []
    for sh, name in zip(shapes[1:], names):
        name = _ABBREV.get(name, name)
        if sh == folded_shapes[-1] and folded_names:        # an activation: same shape, same block
            folded_names[-1] += f"\n+ {name}" if name else ""
        else:
            folded_shapes.append(sh)
            folded_names.append(name)
    return folded_shapes, folded_names


def shape_trace(shapes: Any, names: Sequence[str] | None = None) -> Any:
    """The shape trace of a small network: each activation a block labelled with its shape, layers on the arrows.

    ``shapes`` lists the input's shape and each layer's output shape, without the batch dimension:
    (channels, height, width) for a feature map, drawn as a slab whose face grows with the height and whose
    depth grows with the channels, or (features,) for a vector, drawn as a bar. ``names`` labels the layers
    (one fewer than the shapes). ``shapes`` may also be a :class:`troikadl.cnn.ShapeTrace`, whose layer types
    name the steps. A layer that keeps the shape (an activation) is folded into the arrow before it.
    Chapter 4, §4.2.
    """
    from matplotlib.patches import Polygon

    shapes, names = _trace_data(shapes, names)
    if len(shapes) > 9:
        raise ValueError(f"shapes must give at most 9 distinct blocks to fit the width, got {len(shapes)}")
    spatial = max((max(sh[1:]) for sh in shapes if len(sh) == 3), default=1)
    vec = max((sh[0] for sh in shapes if len(sh) == 1), default=1)
    geo = []                                   # (front width, front height, oblique dx, dy) per block
    for sh in shapes:
        if len(sh) == 3:
            fw, fh = (0.12 + 0.33 * np.sqrt(v / spatial) for v in (sh[2], sh[1]))
            dd = 0.05 + 0.04 * np.log2(sh[0])
            geo.append((fw, fh, 0.6 * dd, 0.6 * dd))
        else:
            geo.append((0.14, 0.22 + 0.5 * np.sqrt(sh[0] / vec), 0.0, 0.0))
    widths = [fw + dx for fw, _, dx, _ in geo]
    gap = (MAX_WIDTH - 0.3 - sum(widths)) / (len(shapes) - 1)
    if gap < 0.5:
        raise ValueError("shapes gives blocks too wide to fit the width with their labels; pass fewer shapes")
    tall = max(fh for _, fh, _, _ in geo)
    mid = 0.55 + tall / 2 + 0.12
    height = mid + max(max(fh / 2 + dy for _, fh, _, dy in geo), 0.4) + 0.2
    fig, ax = canvas(MAX_WIDTH, height)
    x, prev_exit = 0.15, None
    for t, (sh, (fw, fh, dx, dy)) in enumerate(zip(shapes, geo)):
        role = "out" if t == len(shapes) - 1 else "data"
        lo, hi = mid - fh / 2, mid + fh / 2
        if dx:
            top_fc, side_fc = _FACES[role]
            ax.add_patch(Polygon([(x, hi), (x + dx, hi + dy), (x + fw + dx, hi + dy), (x + fw, hi)], closed=True,
                                 fc=top_fc, ec=EDGES[role], lw=1.0, zorder=2))
            ax.add_patch(Polygon([(x + fw, lo), (x + fw + dx, lo + dy), (x + fw + dx, hi + dy), (x + fw, hi)],
                                 closed=True, fc=side_fc, ec=EDGES[role], lw=1.0, zorder=2))
        box(ax, x + fw / 2, mid, w=fw, h=fh, role=role, shape="square")
        for patch in ax.patches[-3 if dx else -1:]:
            patch.set_gid(f"block {t}")
        note(ax, x + (fw + dx) / 2, 0.55, "×".join(map(str, sh)), size=9, va="top", gid=f"shape {t}")
        if prev_exit is not None:
            arrow(ax, (prev_exit + 0.04, mid), (x - 0.04, mid), kind="forward", lw=1.1)
            note(ax, (prev_exit + x) / 2, mid + 0.08, names[t - 1], size=8.5, va="bottom")
        prev_exit = x + fw + (dx * min(1.0, (fh / 2) / dy) if dy else 0.0)   # where the midline leaves the block
        x += fw + dx + gap
    note(ax, 0.15, 0.14, "shapes per example (batch dimension left out); face: height × width, depth: channels",
         size=8.5, ha="left", color="#555555")
    return fig
