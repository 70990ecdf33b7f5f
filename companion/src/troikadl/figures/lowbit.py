"""Low-bit diagrams (chapter 10, section 10.6): group-wise int4 scales and the LLM.int8() decomposition.

:func:`groupwise` draws one small weight matrix quantized with one scale per row beside one scale per group
of consecutive columns, codes and scales as :func:`troikadl.compress.groupwise.group_quantize` computes them;
:func:`llm_int8` draws the mixed-precision decomposition of LLM.int8() (Dettmers et al. 2022): the outlier
dimensions multiplied in floating point, the rest in vector-wise int8, from
:func:`troikadl.compress.llm_int8.llm_int8_parts` and :func:`~troikadl.compress.llm_int8.absmax_int8`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..validate import as_float_array, check_float, check_int
from .style import FONT, MAX_WIDTH, arrow, box, canvas, cells, note

__all__ = ["groupwise", "llm_int8", "EXAMPLE_GW", "EXAMPLE_X", "EXAMPLE_XW"]

#: The default 4 x 8 weight matrix of :func:`groupwise`: row 0 holds one large weight (-1.90), which sets the
#: step of its whole row under a per-row scale.
EXAMPLE_GW = np.array([[0.12, -0.31, 0.22, 0.05, -0.18, 0.27, -1.90, 0.09],
                       [0.41, -0.08, 0.15, -0.36, 0.52, -0.47, 0.11, 0.29],
                       [-0.05, 0.14, -0.09, 0.03, 1.25, -0.62, 0.88, -0.40],
                       [0.33, 0.71, -0.26, 0.19, -0.11, 0.06, -0.15, 0.08]])
#: The default activations (3 tokens x 4 hidden dimensions) of :func:`llm_int8`: dimension 1 is an outlier.
EXAMPLE_X = np.array([[0.4, -7.5, 0.9, -0.3],
                      [-1.1, 8.2, 0.5, 0.7],
                      [0.6, -6.9, -1.3, 0.2]])
#: The default weights (4 hidden dimensions x 2 outputs) of :func:`llm_int8`.
EXAMPLE_XW = np.array([[0.3, -0.5], [0.2, 0.4], [-0.6, 0.1], [0.5, 0.7]])


def _grid(ax: Any, x: float, y: float, values: Any, prefix: str, *, cell: float, role: Any, fmt: str) -> Any:
    """:func:`cells` with its squares and texts given the gids "prefix i j" (top-left corner at x, y)."""
    v = np.asarray(values)
    b = cells(ax, x, y, v, cell=cell, role=role, fmt=fmt)
    rows, cols = v.shape
    for k, artist in enumerate(ax.patches[-rows * cols:]):
        artist.set_gid(f"{prefix} {k // cols} {k % cols}")
    for k, artist in enumerate(ax.texts[-rows * cols:]):
        artist.set_gid(f"{prefix} text {k // cols} {k % cols}")
    return b


def groupwise(W: Any = None, group: int = 4, bits: int = 4) -> Any:
    """One weight matrix quantized to ``bits`` with one scale per row and one per group of ``group`` (chapter 10).

    Top, ``W`` with its groups of ``group`` consecutive input columns outlined. Below, side by side, the codes
    and scales of :func:`~troikadl.compress.groupwise.group_quantize` (symmetric) with ``group_size=None``
    (one scale per row) and ``group_size=group``, each with its bits per weight (fp16 scales) and the mean
    squared error of the dequantized matrix. A code 0 (a weight rounded away) is greyed. ``W`` has 1 to 5 rows
    and 2 to 8 columns, a multiple of ``group`` with at most 4 groups a row (default :data:`EXAMPLE_GW`).
    """
    from matplotlib.patches import Rectangle

    from ..compress.groupwise import bits_per_weight, group_dequantize, group_quantize
    from ..compress.quantize import int_range

    W = EXAMPLE_GW if W is None else as_float_array(W, "W", ndim=2)
    if not (1 <= W.shape[0] <= 5 and 2 <= W.shape[1] <= 8):
        raise ValueError(f"W must have 1 to 5 rows and 2 to 8 columns to be readable, got shape {W.shape}")
    rows, cols = W.shape
    g = check_int(group, "group", min=1, max=cols)
    if cols % g:
        raise ValueError(f"group must divide the number of columns of W ({cols}), got {g}")
    if cols // g > 4:
        raise ValueError(f"group must leave at most 4 groups per row to be readable: W has {cols} columns, got {g}")
    b = check_int(bits, "bits", min=2, max=6)
    qmax = int_range(b, True)[1]
    parts = [("row", group_quantize(W, b, None)), ("group", group_quantize(W, b, g))]
    sw = 0.46  # the width of a scale; cells of W, cells of the codes (both panels and their scales fit the width)
    cw, cc = 0.42, min(0.3, (MAX_WIDTH - 0.61 - (1 + cols // g) * sw) / (2 * cols))
    height = rows * (cw + cc) + 2.1
    fig, ax = canvas(MAX_WIDTH, height)
    top = height - 0.42
    x0 = (MAX_WIDTH - cols * cw) / 2
    note(ax, MAX_WIDTH / 2, height - 0.16, f"W ({rows} × {cols}) in float; groups of {g} consecutive columns "
         "(outlined)", size=FONT["label"])
    _grid(ax, x0, top, W, "W", cell=cw, role="param", fmt="{:.2f}")
    for i in range(rows):
        for q in range(cols // g):
            ax.add_patch(Rectangle((x0 + q * g * cw, top - (i + 1) * cw), g * cw, cw, fill=False, lw=1.8,
                                   edgecolor="#1a1a1a", zorder=3, gid=f"W group {i} {q}"))
    ptop = top - rows * cw - 0.62
    widths = [cols * cc + 0.08 + (cols // gq.group_size) * sw for _, gq in parts]
    gap = (MAX_WIDTH - sum(widths)) / 3
    x = gap
    for (name, gq), w in zip(parts, widths):
        per = cols // gq.group_size
        title = "one scale per row" if name == "row" else f"one scale per group of {g}"
        note(ax, x + w / 2, ptop + 0.2, f"{title} (group_size={None if name == 'row' else g})", gid=f"title {name}")
        arrow(ax, (MAX_WIDTH / 2 + (-0.4 if name == "row" else 0.4), top - rows * cw - 0.04), (x + w / 2, ptop + 0.34))
        _grid(ax, x, ptop, gq.codes, f"{name} code", cell=cc, role=np.where(gq.codes == 0, "muted", "param"),
              fmt="{:d}")
        for i in range(rows):
            for q in range(per):
                ax.add_patch(Rectangle((x + q * gq.group_size * cc, ptop - (i + 1) * cc), gq.group_size * cc, cc,
                                       fill=False, lw=1.4, edgecolor="#1a1a1a", zorder=3))
                box(ax, x + cols * cc + 0.08 + (q + 0.5) * sw, ptop - (i + 0.5) * cc, f"{gq.scales[i, q]:.3f}",
                    w=sw, h=cc, role="focus", shape="square", size=FONT["note"])
                ax.texts[-1].set_gid(f"{name} scale {i} {q}")
        mse = float(np.mean((group_dequantize(gq) - W) ** 2))
        note(ax, x + w / 2, ptop - rows * cc - 0.2, f"{bits_per_weight(b, gq.group_size):g} bits per weight, "
             f"MSE {mse:.2e}", gid=f"cost {name}")
        x += w + gap
    y = ptop - rows * cc - 0.58
    for j, (role, text) in enumerate((("param", f"int{b} code"), ("muted", "code 0: weight rounded away"),
                                      ("focus", f"fp16 scale = max|w| / {qmax}"))):
        xl = 0.35 + j * 2.25
        box(ax, xl, y, w=0.18, h=0.18, role=role, shape="square")
        note(ax, xl + 0.15, y, text, ha="left")
    return fig


def llm_int8(X: Any = None, W: Any = None, threshold: float = 6.0) -> Any:
    """The LLM.int8() decomposition of ``X @ W`` (chapter 10), drawn from the package's own computation.

    Left, ``X`` (tokens x hidden) and ``W`` (hidden x out); the outlier dimensions ``O`` (columns of ``X`` with
    some ``|x| >= threshold``) and the matching rows of ``W`` are gold. Middle, the two products of
    :func:`~troikadl.compress.llm_int8.llm_int8_parts`: ``X[:, O] @ W[O, :]`` in floating point (float16 in the
    paper), and the other dimensions in vector-wise int8 (:func:`~troikadl.compress.llm_int8.absmax_int8`:
    the codes, with each row's ``max|x|`` and each column's ``max|w|``; the scale is that over 127). Right,
    the two parts and their sum ``Y``, with its largest difference from ``X @ W``. ``X`` is at most 4 x 4 and
    ``W`` at most 4 x 2, as float64 (defaults :data:`EXAMPLE_X`, :data:`EXAMPLE_XW`).
    """
    import torch

    from ..compress.llm_int8 import absmax_int8, llm_int8_parts

    X = EXAMPLE_X if X is None else as_float_array(X, "X", ndim=2)
    W = EXAMPLE_XW if W is None else as_float_array(W, "W", ndim=2)
    if not (1 <= X.shape[0] <= 4 and 2 <= X.shape[1] <= 4):
        raise ValueError(f"X must have 1 to 4 rows and 2 to 4 columns to be readable, got shape {X.shape}")
    if W.shape[0] != X.shape[1] or not 1 <= W.shape[1] <= 2:
        raise ValueError(f"W must have X's {X.shape[1]} columns as rows and 1 or 2 columns, got shape {W.shape}")
    t = check_float(threshold, "threshold", min=0.0, finite=False)
    xt, wt = torch.tensor(X), torch.tensor(W)
    F, I, O = (v.numpy() for v in llm_int8_parts(xt, wt, t))
    keep = ~O
    n, d, m, k = X.shape[0], X.shape[1], W.shape[1], int(keep.sum())
    c, rc = 0.36, 0.42  # cells of the inputs and codes; cells of the results
    height = max(n * c, n * rc) + max(d, k + 1) * c + 1.95
    fig, ax = canvas(MAX_WIDTH, height)
    top = height - 0.42
    gold_x = np.broadcast_to(np.where(O, "focus", "data"), X.shape)
    gold_w = np.broadcast_to(np.where(O, "focus", "param")[:, None], W.shape)
    note(ax, 0.12, top + 0.2, f"X ({n} tokens × {d})", ha="left")
    bx = _grid(ax, 0.12, top, X, "X", cell=c, role=gold_x, fmt="{:.1f}")
    wy = top - max(n * c, n * rc) - 0.5
    note(ax, 0.12, wy + 0.2, f"W ({d} × {m} outputs)", ha="left")
    bw = _grid(ax, 0.12, wy, W, "W", cell=c, role=gold_w, fmt="{:.1f}")
    xb = 0.12 + d * c + 0.42  # the branches
    note(ax, xb, top + 0.2, "dims O in float (float16 in the paper)", ha="left", gid="float title")
    ends = {"F": xb + 2.0, "I": xb + 2.0}  # where each branch's drawing ends, for the arrows to its part
    if O.any():
        fx = _grid(ax, xb, top, X[:, O], "Xo", cell=c, role="focus", fmt="{:.1f}")
        note(ax, fx.x + fx.w / 2 + 0.14, top - n * c / 2, "×", size=FONT["label"])
        ends["F"] = _grid(ax, fx.x + fx.w / 2 + 0.28, top, W[O, :], "Wo", cell=c, role="focus", fmt="{:.1f}").right[0]
    else:
        note(ax, xb, top - 0.25, "no outlier dimension: all in int8", ha="left")
    arrow(ax, (bx.x + bx.w / 2 + 0.02, top - n * c / 2), (xb - 0.04, top - n * c / 2))
    note(ax, xb, wy + 0.2, "the other dims in int8, vector-wise", ha="left", gid="int8 title")
    if k:
        cx, sx = absmax_int8(xt[:, keep], dim=1)
        cwt, swt = absmax_int8(wt[keep, :], dim=0)
        for i in range(n):
            box(ax, xb + 0.21, wy - (i + 0.5) * c, f"{float(sx[i, 0]) * 127:.1f}", w=0.42, h=c, role="op",
                shape="square", size=FONT["note"])
            ax.texts[-1].set_gid(f"sx {i}")
        bcx = _grid(ax, xb + 0.46, wy, cx.numpy().astype(int), "Cx", cell=c, role="data", fmt="{:d}")
        note(ax, bcx.x + bcx.w / 2 + 0.14, wy - n * c / 2, "×", size=FONT["label"])
        xw = bcx.x + bcx.w / 2 + 0.28
        bcw = _grid(ax, xw, wy, cwt.numpy().astype(int), "Cw", cell=c, role="param", fmt="{:d}")
        for j in range(m):
            box(ax, xw + (j + 0.5) * c, wy - bcw.h - c / 2 - 0.04, f"{float(swt[0, j]) * 127:.1f}", w=c, h=c,
                role="op", shape="square", size=FONT["note"])
            ax.texts[-1].set_gid(f"sw {j}")
        ends["I"] = bcw.right[0]
    arrow(ax, (bw.x + bw.w / 2 + 0.02, wy - n * c / 2), (xb - 0.04, wy - n * c / 2))
    xy = MAX_WIDTH - 0.12 - m * rc  # the sum Y, right of the two parts
    xr = xy - 0.45 - m * rc
    for name, vals, y, role in (("F", F, top, "focus"), ("I", I, wy, "data")):
        note(ax, xr + m * rc / 2, y + 0.2, "float part" if name == "F" else "int8 part")
        _grid(ax, xr, y, vals, name, cell=rc, role=role, fmt="{:.2f}")
        arrow(ax, (ends[name] + 0.04, y - n * c / 2), (xr - 0.04, y - n * c / 2))
    yy = (top + wy) / 2  # Y's top: Y centred between the two parts
    note(ax, xy + m * rc / 2, yy + 0.2, "Y = sum", gid="Y title")
    _grid(ax, xy, yy, F + I, "Y", cell=rc, role="out", fmt="{:.2f}")
    for y in (top, wy):
        arrow(ax, (xr + m * rc + 0.03, y - n * rc / 2), (xy - 0.03, yy - n * rc / 2))
    err = float(np.abs(F + I - X @ W).max())
    note(ax, MAX_WIDTH - 0.12, yy - n * rc - 0.2, f"max |Y − XW|\n= {err:.3f}", ha="right", gid="error")
    low = wy - max(d, k + 1) * c - 0.3
    note(ax, 0.12, low, f"gold: the outlier dims O = {{{', '.join(str(j) for j in np.flatnonzero(O))}}}, "
         f"columns of X with some |x| ≥ {t:g}, and W's matching rows", ha="left", gid="outliers")
    note(ax, 0.12, low - 0.26, "sand: max |x| of each row of X, max |w| of each column of W (int8 scale = "
         "max / 127)", ha="left")
    return fig
