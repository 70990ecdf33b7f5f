"""Compression diagrams (chapters 9 and 10): pruning masks, a low-rank factorization, the quantization grid.

:func:`pruning_masks` draws one small weight matrix pruned two ways, with the masks of
:func:`troikadl.compress.prune.magnitude_masks` and the rows that :func:`troikadl.compress.prune.shrink_mlp`
keeps; :func:`low_rank` draws ``W ≈ A B`` to scale with the parameter counts and
:func:`troikadl.compress.lowrank.break_even_rank`; :func:`quantization_grid` draws the affine map from a
float range onto the integers, with the scale and zero point of
:func:`troikadl.compress.quantize.choose_qparams` and the ends of :func:`~troikadl.compress.quantize.int_range`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..validate import as_float_array, check_bool, check_choice, check_float, check_in_range, check_int
from .style import COLORS, EDGES, FONT, MAX_WIDTH, box, canvas, cells, note

__all__ = ["pruning_masks", "low_rank", "quantization_grid", "EXAMPLE_W"]

#: The default 6 x 8 weight matrix of :func:`pruning_masks` (normal draws rounded to one decimal; no two
#: entries tie at the half-way magnitude and no two rows have the same norm, so both masks are unambiguous).
EXAMPLE_W = np.array([[0.2, -0.5, -0.4, -2.4, 1.8, 1.1, -0.3, 0.8],
                      [0.3, -0.6, 1.0, -0.3, -0.3, -0.8, 0.5, -0.1],
                      [0.5, -0.6, 0.1, -0.9, 0.8, 0.2, 0.3, 0.4],
                      [-1.0, 0.8, 2.1, -1.6, -1.7, -1.5, 0.8, 0.1],
                      [1.1, 0.7, 0.2, 0.3, -0.2, 0.9, -1.1, -0.4],
                      [0.2, 1.8, -0.8, -1.1, -0.6, 1.0, -0.2, 1.3]])

_MUTED_TEXT = "#8c8c8c"


def _masks(W: np.ndarray, sparsity: float) -> tuple[np.ndarray, np.ndarray]:
    """(unstructured keep-mask, kept row indices), from the package's own pruning functions."""
    import torch
    from torch import nn

    from ..compress import prune

    t = torch.tensor(W, dtype=torch.float64)
    unstructured = prune.magnitude_masks([t], sparsity, scope="layer")[0].numpy()
    m, n = W.shape
    first = nn.Linear(n, m, dtype=torch.float64)
    with torch.no_grad():  # the bias numbers the rows, so the shrunk layer's bias names the rows it kept
        first.weight.copy_(t)
        first.bias.copy_(torch.arange(m, dtype=torch.float64))
    small = prune.shrink_mlp(nn.Sequential(first, nn.ReLU(), nn.Linear(m, 1, dtype=torch.float64)), sparsity)
    return unstructured, small[0].bias.detach().numpy().astype(int)


def _count(k: int, one: str, many: str) -> str:
    return f"{k} {one if k == 1 else many}"


def _tag_last(ax: Any, count: int, prefix: str, shape: tuple[int, int]) -> None:
    """Give the last ``count`` patches (one grid drawn by :func:`cells`, row by row) the gid "prefix i j"."""
    for k, patch in enumerate(ax.patches[-count:]):
        patch.set_gid(f"{prefix} {k // shape[1]} {k % shape[1]}")


def pruning_masks(W: Any = None, sparsity: float = 0.5) -> Any:
    """One weight matrix pruned two ways, side by side (chapter 9, section 9.2).

    Left, unstructured magnitude pruning: the ``sparsity`` fraction of entries with the smallest ``|w|``
    become zero (grey), the shape stays. Right, structured pruning: the rows (output units) with the smallest
    norm ``||w_i||`` go whole, leaving a smaller dense matrix. The masks are those of
    :func:`~troikadl.compress.prune.magnitude_masks` (per layer) and :func:`~troikadl.compress.prune.shrink_mlp`.
    ``W`` is a small matrix (at most 8 x 10; default :data:`EXAMPLE_W`), written into the cells.
    """
    W = EXAMPLE_W if W is None else as_float_array(W, "W", ndim=2)
    if not (2 <= W.shape[0] <= 8 and 2 <= W.shape[1] <= 10):
        raise ValueError(f"W must be between 2x2 and 8x10 for the drawing to be readable, got shape {W.shape}")
    s = check_in_range(sparsity, "sparsity", 0.0, 1.0, closed="left")
    keep, rows_kept = _masks(W, s)
    m, n = W.shape
    norms = np.linalg.norm(W, axis=1)
    row_keep = np.isin(np.arange(m), rows_kept)
    c = min(0.34, 2.75 / n)
    centres = (1.85, 5.0)  # each panel's centre; the norms go right of the second
    height = m * c + 1.68
    fig, ax = canvas(MAX_WIDTH, height)
    top = height - 0.7
    n_zero, n_rows = int((~keep).sum()), int((~row_keep).sum())
    panels = [(centres[0] - n * c / 2, keep, "unstructured", "Unstructured (magnitude)",
               f"the {_count(n_zero, 'entry', 'entries')} with the smallest |w| set to zero"),
              (centres[1] - n * c / 2, np.repeat(row_keep[:, None], n, axis=1), "structured",
               "Structured (whole units)", f"the {_count(n_rows, 'row', 'rows')} with the smallest norm "
               + r"$\|w_i\|$ removed")]
    for x0, mask, name, title, sub in panels:
        note(ax, x0 + n * c / 2, height - 0.15, title, size=FONT["label"], fontweight="bold")
        note(ax, x0 + n * c / 2, height - 0.38, sub)
        roles = np.where(mask, "param", "muted")
        cells(ax, x0, top, W, cell=c, role=roles, fmt=None)
        _tag_last(ax, m * n, name, (m, n))
        for i in range(m):
            for j in range(n):
                note(ax, x0 + (j + 0.5) * c, top - (i + 0.5) * c, f"{W[i, j]:.1f}", size=FONT["note"],
                     color="#1a1a1a" if mask[i, j] else _MUTED_TEXT)
    xr = centres[1] + n * c / 2
    note(ax, xr + 0.08, top + 0.1, r"$\|w_i\|$", ha="left")
    for i in range(m):
        note(ax, xr + 0.08, top - (i + 0.5) * c, f"{norms[i]:.2f}", ha="left",
             color="#1a1a1a" if row_keep[i] else _MUTED_TEXT, gid=f"norm {i}")
    ax.text(panels[0][0] - 0.12, top - m * c / 2, "output units (rows)" if m * c > 1.3 else "units",
            rotation=90, ha="center", va="center", fontsize=FONT["note"], family=FONT["family"], color="#333333")
    below = top - m * c - 0.22
    note(ax, centres[0], below, f"same {m}×{n} shape, {_count(n_zero, 'zero', 'zeros')} stored")
    note(ax, centres[1], below, f"a dense {int(row_keep.sum())}×{n} matrix remains")
    y = below - 0.38
    for k, (role, text) in enumerate((("param", "kept weight"), ("muted", "pruned (zero or removed)"))):
        x = MAX_WIDTH / 2 - 1.7 + k * 1.6
        box(ax, x, y, w=0.2, h=0.2, role=role, shape="square")
        note(ax, x + 0.16, y, text, ha="left")
    return fig


def low_rank(m: int = 256, n: int = 256, r: int = 16) -> Any:
    """``W`` (m x n) ≈ ``A`` (m x r) times ``B`` (r x n), drawn to scale, with both weight counts (chapter 9, 9.3).

    The defaults are the 256 x 256 hidden layer of chapter 9's MLP at rank 16. Writes ``mn`` and ``r(m + n)``
    and the break-even rank of :func:`troikadl.compress.lowrank.break_even_rank`. A side thinner than
    0.04 in is drawn 0.04 in thick so that it stays visible.
    """
    from ..compress.lowrank import break_even_rank

    m, n = check_int(m, "m", min=1), check_int(n, "n", min=1)
    r = check_int(r, "r", min=1, max=min(m, n))
    full, factored, even = m * n, r * (m + n), break_even_rank(m, n)
    k = min(2.3 / max(m, n), 4.4 / (2 * n + r))  # inches per row or column
    side = lambda v: max(v * k, 0.04)  # noqa: E731
    height = max(side(m), 0.6) + 1.75
    fig, ax = canvas(MAX_WIDTH, height)
    y = height - 0.7 - max(side(m), 0.6) / 2  # the rectangles' common centre line
    shapes = {"W": (m, n, "param", "m × n"), "A": (m, r, "focus", "m × r"), "B": (r, n, "focus", "r × n")}
    widths = {name: side(cols) for name, (_, cols, _, _) in shapes.items()}
    gap = 0.75
    slot_w = max(widths["W"], 2.2)  # the left slot holds W, the right one A and B, each wide enough for its count
    slot_f = max(widths["A"] + gap + widths["B"], 2.6)
    x_w = (MAX_WIDTH - slot_w - gap - slot_f) / 2 + slot_w / 2
    x_f = x_w + slot_w / 2 + gap + slot_f / 2
    xs = {"W": x_w, "A": x_f - (widths["A"] + gap + widths["B"]) / 2 + widths["A"] / 2}
    xs["B"] = xs["A"] + widths["A"] / 2 + gap + widths["B"] / 2
    for name, (rows, cols, role, dims) in shapes.items():
        w, h = widths[name], side(rows)
        box(ax, xs[name], y, w=w, h=h, role=role, shape="square")
        ax.patches[-1].set_gid(f"{name} {rows} {cols}")
        note(ax, xs[name], y + h / 2 + 0.38, f"${name}$", size=FONT["label"] + 2)
        note(ax, xs[name], y + h / 2 + 0.15, f"{dims} = {rows} × {cols}")
    note(ax, (x_w + widths["W"] / 2 + xs["A"] - widths["A"] / 2) / 2, y, "≈", size=FONT["label"] + 6)
    note(ax, (xs["A"] + widths["A"] / 2 + xs["B"] - widths["B"] / 2) / 2, y, "·", size=FONT["label"] + 6)
    low = y - max(side(m), 0.6) / 2 - 0.3
    note(ax, x_w, low, f"$mn$ = {full:,} weights", size=FONT["label"], gid="count-full")
    note(ax, x_f, low, f"$r(m+n)$ = {factored:,} weights", size=FONT["label"], gid="count-factored")
    note(ax, MAX_WIDTH / 2, low - 0.4, f"at rank {r} the factors hold {factored / full:.1%} of W's weights; "
         f"they save weights up to rank {even} (the break-even rank)", gid="break-even")
    return fig


def quantization_grid(lo: float, hi: float, *, bits: int = 3, symmetric: bool = False) -> Any:
    """The affine map from a float range onto ``bits``-bit integers (chapter 10, section 10.1).

    Top, the float axis: the data range ``[lo, hi]`` (which must contain 0), the representable values
    ``s (q - z)`` and the interval that rounds to each; bottom, the integers ``q_min .. q_max``; lines join
    each representable value to its integer, and values beyond the ends are clamped to ``q_min`` or ``q_max``.
    The scale ``s`` and zero point ``z`` are :func:`~troikadl.compress.quantize.choose_qparams`'s on
    ``[lo, hi]``, the integer ends :func:`~troikadl.compress.quantize.int_range`'s. ``bits`` is 2, 3 or 4, so
    that every level can be drawn; codes the data range does not reach (symmetric on one-sided data) are grey.
    """
    from ..compress.quantize import choose_qparams, int_range, quantize

    lo, hi = check_float(lo, "lo", max=0.0), check_float(hi, "hi", min=0.0)
    if hi <= lo:
        raise ValueError(f"hi must be greater than lo, got lo = {lo:g} and hi = {hi:g}")
    bits = check_choice(check_int(bits, "bits"), "bits", (2, 3, 4))
    symmetric = check_bool(symmetric, "symmetric")
    qp = choose_qparams(np.array([lo, hi]), bits=bits, symmetric=symmetric)
    s, z = float(qp.scale), int(qp.zero_point)
    qmin, qmax = int_range(bits, symmetric)
    q_lo, q_hi = (int(v) for v in quantize(np.array([lo, hi]), qp))
    levels = np.arange(qmin, qmax + 1)
    values = s * (levels - z)
    height, fy, iy = 3.2, 1.75, 0.8  # float axis, integer axis
    left, right, margin = 1.05, 0.15, 0.7  # room for the axis names; the clamped zone beyond each end
    step = (MAX_WIDTH - left - right - 2 * margin) / len(levels)  # inches per float step
    mid = left + margin + len(levels) * step / 2
    x_of = lambda v: mid + (v - (values[0] + values[-1]) / 2) * step / s  # noqa: E731
    istep = min(0.42, step * 0.9)
    isize = FONT["label"] if len(levels) <= 8 else FONT["note"]
    xq_of = lambda q: mid + (q - (qmin + qmax) / 2) * istep  # noqa: E731
    fig, ax = canvas(MAX_WIDTH, height)
    x0, x1 = x_of(values[0] - s / 2), x_of(values[-1] + s / 2)
    # the float axis: one band per integer (the values that round to it); the end bands reach the clamped zones
    for k, (q, v) in enumerate(zip(levels, values)):
        used = q_lo <= q <= q_hi
        a = x0 - margin if k == 0 else x_of(v - s / 2)
        b = x1 + margin if k == len(levels) - 1 else x_of(v + s / 2)
        face = (COLORS["data"] if k % 2 == 0 else "#ebf3fa") if used else COLORS["muted"]
        ax.add_patch(_rect(a, fy - 0.09, b - a, 0.18, face))
        ax.plot([x_of(v)] * 2, [fy - 0.13, fy + 0.13], color=EDGES["data"] if used else EDGES["muted"], lw=1.2,
                zorder=3, gid=f"float tick {q}")
        zero = q == z
        ax.plot([x_of(v), xq_of(q)], [fy - 0.13, iy + 0.11], lw=2.0 if zero else 0.9, zorder=1,
                color=EDGES["focus"] if zero else ("#555555" if used else "#b0b0b0"), gid=f"map {q}")
        ax.plot([xq_of(q)] * 2, [iy - 0.09, iy + 0.09], color="#333333", lw=1.2, zorder=3)
        note(ax, xq_of(q), iy - 0.24, f"{q}", size=isize, gid="int tick",
             color=EDGES["focus"] if zero else ("#1a1a1a" if used else _MUTED_TEXT),
             fontweight="bold" if zero else "normal")
    ax.plot([xq_of(qmin) - 0.15, xq_of(qmax) + 0.15], [iy, iy], color="#333333", lw=1.0, zorder=2)
    for xe, q in ((x0 - margin / 2, qmin), (x1 + margin / 2, qmax)):
        ax.plot([xe, xq_of(q)], [fy - 0.13, iy + 0.11], color="#555555", lw=0.9, ls=":", zorder=1)
        note(ax, xe, fy + 0.3, f"clamped\nto {q}", gid=f"clamp {q}")
    # above the float axis: 0.0 and the grid's ends, one step, the data's range
    note(ax, x_of(0.0), fy + 0.24, "0.0", size=FONT["label"], fontweight="bold", color=EDGES["focus"])
    for v, q in ((values[0], qmin), (values[-1], qmax)):
        if q != z:
            note(ax, x_of(v), fy + 0.24, f"{v:.4g}", gid=f"float end {q}")
    k = int(np.argmax(values > 0)) if np.any(values > 0) else len(values) - 1  # the step just right of 0.0
    xa, xb = x_of(values[k - 1]), x_of(values[k])
    ax.annotate("", (xa, fy + 0.42), (xb, fy + 0.42), arrowprops=dict(arrowstyle="<->", lw=0.9, color="#333333",
                                                                       shrinkA=0, shrinkB=0))
    room = xb + 1.1 < x1  # the label right of the arrow, unless it would reach the clamped zone
    note(ax, xb + 0.06 if room else xa - 0.06, fy + 0.42, f"scale s = {s:.4g}", ha="left" if room else "right",
         gid="scale")
    ax.plot([x_of(lo), x_of(hi)], [fy + 0.72] * 2, color=EDGES["data"], lw=3, solid_capstyle="butt", zorder=3)
    note(ax, (x_of(lo) + x_of(hi)) / 2, fy + 0.88, f"the data's range [lo, hi] = [{lo:g}, {hi:g}]")
    kind = "symmetric, signed" if symmetric else "asymmetric, unsigned"
    note(ax, MAX_WIDTH / 2, height - 0.15, f"{bits} bits, {kind}: {len(levels)} integers from {qmin} to {qmax}",
         size=FONT["label"], fontweight="bold", gid="title")
    note(ax, xq_of(z), iy - 0.5, f"zero point z = {z}: 0.0 ↦ {z}", gid="zero point", color=EDGES["focus"])
    if q_lo > qmin or q_hi < qmax:
        note(ax, 0.1, iy - 0.5, "grey: codes the data's range never uses", ha="left", color=EDGES["muted"],
             gid="unused")
    note(ax, 0.1, fy, "float x", ha="left", size=FONT["label"], fontweight="bold")
    note(ax, 0.1, iy, "integer q", ha="left", size=FONT["label"], fontweight="bold")
    return fig


def _rect(x: float, y: float, w: float, h: float, face: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, facecolor=face, edgecolor="none", zorder=2)
