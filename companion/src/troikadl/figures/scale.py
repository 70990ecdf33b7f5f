"""Diagrams of training at scale (chapter 12): :func:`sharding` (what each data-parallel rank holds in memory
under DDP, ZeRO-1 and FSDP / ZeRO-3) and :func:`training_flops` (why training costs about 6 FLOPs per weight
per token: one matmul forward, two backward).

Both are computed from their arguments, not written by hand: the shard sizes and the bytes per parameter
follow ``ranks``; the shapes and FLOP counts follow the layer's sizes. Boxes and labels carry gids so that
the tests read the drawing back: in :func:`sharding` each memory bar is a dashed grey slot (patch gid
``"slot <strategy> <rank> <kind>"``, the whole tensor) with the part the rank holds drawn over it
(``"held <strategy> <rank> <kind>"``), and the texts ``"bytes:<strategy>"`` and ``"comm:<strategy>"``; in
:func:`training_flops` the texts ``"matmul:<name>"``, ``"flops:<name>"`` and ``"total"``.
"""

from __future__ import annotations

from typing import Any

from ..validate import check_int
from .style import COLORS, EDGES, FONT, MAX_WIDTH, arrow, box, canvas, note

__all__ = ["STRATEGIES", "BYTES", "sharding", "training_flops"]

_LABEL, _NOTE = FONT["label"], FONT["note"]

#: Bytes per parameter of each kind of state in float32 training with Adam: the weight, its gradient and Adam's
#: two moments (m and v).
BYTES = {"parameters": 4, "gradients": 4, "optimizer": 8}
#: The strategies drawn by :func:`sharding`: key -> (title, which kinds of state are split across the ranks,
#: the collective communication of one training step).
STRATEGIES = {
    "ddp": ("DDP", (), "gradients all-reduced;\nevery rank runs the same\nfull optimizer step"),
    "zero1": ("ZeRO-1", ("optimizer",), "gradients all-reduced;\neach rank updates {share}\nof the "
              "parameters, then\nparameters all-gathered"),
    "fsdp": ("FSDP / ZeRO-3", ("parameters", "gradients", "optimizer"),
             "parameters all-gathered\nlayer by layer (forward\nand backward); gradients\n"
             "reduce-scattered; each\nrank updates {share}"),
}
_ROWS = (("parameters", "param", "parameters\n4 B (float32)"), ("gradients", "out", "gradients\n4 B (float32)"),
         ("optimizer", "op", "optimizer state\n8 B (Adam $m$, $v$)"))


def _fraction(kind: str, split: tuple[str, ...], ranks: int) -> float:
    """The fraction of one kind of state that one rank holds: 1, or 1/ranks where the strategy splits it."""
    return 1.0 / ranks if kind in split else 1.0


def _num(v: float) -> str:
    return f"{v:.4g}"


def _bytes_label(split: tuple[str, ...], ranks: int) -> str:
    """The bytes per parameter that one rank holds, as a sum written out: ``"4 + 4 + 8/2 = 12 B"``."""
    total = sum(BYTES[k] * _fraction(k, split, ranks) for k in BYTES)
    if ranks > 1 and set(split) == set(BYTES):
        sum_text = f"({' + '.join(str(b) for b in BYTES.values())})/{ranks}"
    else:
        sum_text = " + ".join(f"{b}/{ranks}" if (k in split and ranks > 1) else str(b) for k, b in BYTES.items())
    return f"{sum_text} = {_num(total)} B"


def _rect(ax: Any, x: float, y: float, w: float, h: float, role: str, gid: str, *, dashed: bool = False) -> None:
    """A rectangle with lower-left corner ``(x, y)`` in ``role``'s colours (or a dashed grey slot)."""
    from matplotlib.patches import Rectangle

    if dashed:
        patch = Rectangle((x, y), w, h, facecolor="white", edgecolor=EDGES["muted"], lw=0.9, linestyle=(0, (3, 2)),
                          zorder=1)
    else:
        patch = Rectangle((x, y), w, h, facecolor=COLORS[role], edgecolor=EDGES[role], lw=1.0, zorder=2)
    patch.set_gid(gid)
    ax.add_patch(patch)


def sharding(ranks: int = 2) -> Any:
    """What each of ``ranks`` data-parallel GPUs holds in memory under three strategies, side by side
    (chapter 12): DDP (every rank holds the full parameters, gradients and optimizer state; the gradients are
    all-reduced), ZeRO-1 (the optimizer state is split: each rank updates its 1/ranks of the parameters,
    which are then all-gathered) and FSDP / ZeRO-3 (parameters, gradients and optimizer state all split; the
    parameters are all-gathered layer by layer for the forward and backward passes, the gradients
    reduce-scattered). Each rank's memory is three bars, their heights the bytes per parameter of float32
    training with Adam (:data:`BYTES`: 4 + 4 + 8); a split bar shows the rank's own 1/ranks, the rest dashed
    (held by the other ranks). Under each strategy, the bytes per parameter one rank holds. ``ranks`` is 1
    to 4. Returns the figure.
    """
    r = check_int(ranks, "ranks", min=1, max=4)
    left, gap, col_gap = 1.3, 0.25, 0.06                 # the row labels' column, the gap between strategies
    panel = (MAX_WIDTH - left - 0.05 - gap * (len(STRATEGIES) - 1)) / len(STRATEGIES)
    col = (panel - col_gap * (r - 1)) / r                # one rank's column
    scale = 0.095                                        # inches per byte of a bar's height
    heights = {k: BYTES[k] * scale for k in BYTES}
    bar_gap, y_top = 0.12, 3.45                          # y_top: the top of the parameters' bar
    tops, y = {}, y_top
    for kind, _, _ in _ROWS:
        tops[kind] = y
        y -= heights[kind] + bar_gap
    y_bottom = y + bar_gap
    height = y_top + 0.95
    fig, ax = canvas(MAX_WIDTH, height)
    who = f"each of {r} data-parallel GPUs holds" if r > 1 else "one data-parallel GPU holds"
    note(ax, 0.1, height - 0.1, f"What {who}, per parameter (float32, Adam)", ha="left", va="top", size=_LABEL,
         fontweight="bold")
    for kind, _, label in _ROWS:
        note(ax, 0.08, tops[kind] - heights[kind] / 2, label, ha="left", gid=f"row:{kind}")
    for s, (key, (title, split, comm)) in enumerate(STRATEGIES.items()):
        x0 = left + s * (panel + gap)
        note(ax, x0 + panel / 2, y_top + 0.5, title, size=_LABEL, fontweight="bold", gid=f"strategy:{key}")
        for k in range(r):
            cx = x0 + k * (col + col_gap)
            note(ax, cx + col / 2, y_top + 0.2, f"GPU {k}", gid=f"rank:{key}:{k}")
            for kind, role, _ in _ROWS:
                f = _fraction(kind, split, r)
                y0 = tops[kind] - heights[kind]
                _rect(ax, cx, y0, col, heights[kind], role, f"slot {key} {k} {kind}", dashed=True)
                offset = k * col * f if f < 1 else 0.0   # rank k holds the k-th of the r pieces
                _rect(ax, cx + offset, y0, col * f, heights[kind], role, f"held {key} {k} {kind}")
        note(ax, x0 + panel / 2, y_bottom - 0.2, _bytes_label(split, r), size=_LABEL, gid=f"bytes:{key}")
        share = f"its 1/{r}" if r > 1 else "all"
        note(ax, x0 + panel / 2, y_bottom - 0.38, comm.format(share=share), va="top", gid=f"comm:{key}")
    _rect(ax, 0.1, 0.12, 0.3, 0.16, "muted", "legend held")
    note(ax, 0.47, 0.2, "held by this rank", ha="left")
    if r > 1:
        _rect(ax, 1.75, 0.12, 0.3, 0.16, "muted", "legend other", dashed=True)
        note(ax, 2.12, 0.2, "held by the other rank" + ("s" if r > 2 else "") + " (sharded)", ha="left")
    else:
        note(ax, 1.75, 0.2, "one rank: nothing to split, the three strategies coincide", ha="left")
    return fig


def _flops(v: int) -> str:
    """A FLOP count in engineering units: ``"4.83 GFLOP"``."""
    for unit, scale in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= scale:
            return f"{v / scale:.3g} {unit}FLOP"
    return f"{v} FLOP"


def training_flops(n_in: int = 768, n_out: int = 3072, tokens: int = 1024) -> Any:
    """Why training costs about 6 FLOPs per weight per token (chapter 12), on one linear layer
    ``Y = X W`` (``X``: tokens x n_in, ``W``: n_in x n_out, no bias).

    Forward: one matmul, 2 n_in n_out FLOPs per token (a multiply and an add per weight). Backward: two
    matmuls of the same size, ``dX = dY W^T`` (the gradient passed to the layer below) and ``dW = X^T dY``
    (the weights' gradient, for the optimizer): 4 n_in n_out per token. In all 6 per weight per token, so a
    model of N weights trained on D tokens costs C ≈ 6 N D. Each matmul is drawn with its operands' shapes and
    its FLOP count for ``tokens`` tokens (every size 1 to 10^6; the defaults are GPT-2 small's MLP input
    layer on 1024 tokens). Returns the figure.
    """
    n_in = check_int(n_in, "n_in", min=1, max=1_000_000)
    n_out = check_int(n_out, "n_out", min=1, max=1_000_000)
    t = check_int(tokens, "tokens", min=1, max=1_000_000)
    T, I, O = "T", "n_{\\mathrm{in}}", "n_{\\mathrm{out}}"   # noqa: E741
    rows = [  # name, header, kind, (operand, shape, role) x 2, product (text, shape, role), where it goes
        ("forward", "forward: the layer's output", "forward",
         (("X", (T, I), "data"), ("W", (I, O), "param")), ("Y = X\\,W", ("Y", (T, O), "data")), "to the next layer"),
        ("grad_input", "backward 1: the gradient passed to the layer below", "backward",
         (("dY", (T, O), "out"), ("W^{\\top}", (O, I), "param")), ("dX = dY\\,W^{\\top}", ("dX", (T, I), "out")),
         "to the layer below"),
        ("grad_weight", "backward 2: the weights' gradient ($X$ saved from the forward pass)", "backward",
         (("X^{\\top}", (I, T), "data"), ("dY", (T, O), "out")), ("dW = X^{\\top} dY", ("dW", (I, O), "out")),
         "to the optimizer"),
    ]
    size, counts, per = {T: t, I: n_in, O: n_out}, [], t * n_in * n_out   # per: weights x tokens
    fig, ax = canvas(MAX_WIDTH, 4.6)
    note(ax, 0.1, 4.52, "One linear layer $Y = X\\,W$ in training: three matmuls of the same size", ha="left",
         va="top", size=_LABEL, fontweight="bold")
    xa, xm, xr, xf = 0.68, 2.2, 3.62, 4.3
    for i, (name, header, kind, operands, (formula, (res, res_shape, res_role)), goes) in enumerate(rows):
        y = 3.5 - 1.1 * i
        note(ax, 0.05, y + 0.5, header, ha="left", color=EDGES["plain"] if kind == "forward" else "#c0392b",
             fontweight="bold", gid=f"header:{name}")
        m = box(ax, xm, y, f"${formula}$", w=1.25, h=0.42, role="op", size=_LABEL)
        ax.texts[-1].set_gid(f"matmul:{name}")
        for j, (sym, (a, b), role) in enumerate(operands):
            o = box(ax, xa, y + (0.2 if j == 0 else -0.2), f"${sym}$  $({a} \\times {b})$", w=1.22, h=0.34,
                    role=role, size=_NOTE)
            ax.texts[-1].set_gid(f"operand:{name}:{j}")
            arrow(ax, o.right, (m.left[0], m.y + (0.08 if j == 0 else -0.08)), kind=kind)
        out = box(ax, xr, y, f"${res}$  $({res_shape[0]} \\times {res_shape[1]})$", w=1.12, h=0.34,
                  role=res_role, size=_NOTE)
        ax.texts[-1].set_gid(f"result:{name}")
        arrow(ax, m.right, out.left, kind=kind)
        note(ax, xr, y - 0.3, goes, size=_NOTE - 0.5)
        (a, b), (_, c) = operands[0][1], operands[1][1]   # (a x b)(b x c): b multiplies and adds per output
        count = 2 * size[a] * size[b] * size[c]
        counts.append(count)
        note(ax, xf, y, f"$2\\,{a}\\,{b}\\,{c}$ FLOPs\n= 2 × {size[a]:,} × {size[b]:,} × {size[c]:,}\n"
             f"= {_flops(count)}  ({count // per} per weight per token)", ha="left", gid=f"flops:{name}")
    total = sum(counts)
    note(ax, 0.05, 0.55, f"in all: {counts[0] // per} forward + {sum(counts[1:]) // per} backward = "
         f"{total // per} FLOPs per weight per token;\nhere {total // per} × {n_in * n_out:,} weights × {t:,} tokens "
         f"= {_flops(total)}", ha="left", gid="total")
    note(ax, 0.05, 0.15, "a model of $N$ weights trained on $D$ tokens: $C \\approx 6\\,N\\,D$ "
         "(attention's own matmuls and the rest add a little)", ha="left", gid="rule")
    return fig
