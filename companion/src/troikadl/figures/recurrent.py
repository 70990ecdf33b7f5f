"""Recurrent networks beyond the LSTM cell (chapter 5): the GRU cell, and a stacked bidirectional network
unrolled over time.

:func:`gru_cell` draws the GRU cell with its two gates and the order in which its weights are stacked, read
from :func:`troikadl.rnn.gru_cell` itself (and, for Keras, from the weight map of
:mod:`troikadl.rnn.frameworks`); :func:`stacked_bidirectional` draws a stack of bidirectional layers
unrolled over a few steps: each layer's forward and backward cells, and what the next layer reads.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..validate import check_int
from .style import FONT, arrow, box, canvas, cells, note

__all__ = ["gru_cell", "gru_gate_order", "stacked_bidirectional"]

_GATES = {"r": ("reset", r"$\sigma$", "$r_t$"), "z": ("update", r"$\sigma$", "$z_t$"),
          "n": ("candidate", "tanh", "$n_t$")}
_GREY = "#555555"


def gru_gate_order() -> list[str]:
    """The order in which :func:`troikadl.rnn.gru_cell` stacks its gates' weights, read from the cell.

    Probes the cell with one hidden unit, zero input, state 2, ``b_hn = 1`` and one bias block at a time set
    high: the update gate open keeps the state (2); the candidate saturated gives 1.5; the reset gate open
    lets the whole ``b_hn`` into the candidate (``1 + tanh(1) / 2``). Returns e.g. ``["r", "z", "n"]``.
    """
    from ..rnn import Weights, gru_cell as cell

    order = []
    for k in range(3):
        bias = np.where(np.arange(3) == k, 30.0, 0.0)
        h = float(cell(np.zeros((1, 1)), np.full((1, 1), 2.0),
                       Weights(np.zeros((3, 1)), np.zeros((3, 1)), bias, b_hn=np.ones(1)))[0, 0])
        order.append("z" if np.isclose(h, 2.0) else "n" if np.isclose(h, 1.5) else
                     "r" if np.isclose(h, 1 + np.tanh(1.0) / 2) else "?")
    return order


def gru_cell() -> Any:
    """The GRU cell (chapter 5): two gates and no separate memory; the reset gate's two placements.

    ``h_{t-1}`` and ``x_t`` feed the update gate ``z_t``, the reset gate ``r_t`` (sigmoids) and the
    candidate ``n_t`` (tanh), into which ``r_t`` lets the past. The state runs along the top:
    ``h_t = z_t * h_{t-1} + (1 - z_t) * n_t``. Below, the candidate in both conventions (PyTorch and Keras's
    default ``reset_after=True``; Keras's ``reset_after=False``) and the rows of the stacked weights in the
    order :func:`gru_gate_order` reads from :func:`troikadl.rnn.gru_cell`, and in Keras's kernels. Returns
    the figure.
    """
    from ..rnn.frameworks import _swap_rz

    fig, ax = canvas(7.0, 4.75)
    cy, gy, by = 4.15, 2.45, 1.75             # state line, gate boxes, input bus
    gx = {"z": 1.75, "r": 3.3, "n": 4.75}
    mul_z = box(ax, gx["z"], cy, r"$\times$", w=0.34, h=0.34, role="plain", shape="circle", size=11)
    add = box(ax, gx["n"], cy, "+", w=0.34, h=0.34, role="plain", shape="circle", size=12)
    one_minus = box(ax, 3.05, 3.35, "1 −", w=0.5, h=0.32, role="plain", size=9)
    mul_n = box(ax, gx["n"], 3.35, r"$\times$", w=0.34, h=0.34, role="plain", shape="circle", size=11)
    line = dict(kind="forward", lw=2.2)
    note(ax, 0.08, cy, "$h_{t-1}$", ha="left", size=FONT["label"])
    arrow(ax, (0.6, cy), mul_z.left, **line)
    arrow(ax, mul_z.right, add.left, **line)
    arrow(ax, add.right, (6.45, cy), **line)
    note(ax, 6.5, cy, "$h_t$", ha="left", size=FONT["label"])
    note(ax, 0.6, cy + 0.42, r"state:  $h_t = z_t \odot h_{t-1} + (1 - z_t) \odot n_t$", ha="left",
         size=FONT["label"])
    note(ax, 6.9, cy - 0.4, "one state, no separate memory:\nthe state is the output", ha="right", color=_GREY)
    gates = {}
    for k, x in gx.items():
        name, symbol, _ = _GATES[k]
        gates[k] = box(ax, x, gy, symbol, w=0.62, h=0.42, role="op", size=10)
        arrow(ax, (x, by), gates[k].bottom)
        note(ax, x, by - 0.22, name, color=_GREY)
    arrow(ax, gates["z"].top, mul_z.bottom, text="$z_t$", size=FONT["label"], text_offset=(-0.2, 0.3))
    ax.plot([gx["z"], one_minus.left[0]], [one_minus.y, one_minus.y], color="#333333", lw=1.2, zorder=1)
    ax.plot(gx["z"], one_minus.y, "o", color="#333333", ms=3.5)
    arrow(ax, one_minus.right, mul_n.left, text="$1 - z_t$", size=FONT["label"], text_offset=(0, 0.17))
    arrow(ax, gates["r"].right, gates["n"].left, text="$r_t$", size=FONT["label"], text_offset=(0, 0.17))
    arrow(ax, gates["n"].top, mul_n.bottom, text="$n_t$", size=FONT["label"], text_offset=(0.2, 0))
    arrow(ax, mul_n.top, add.bottom)
    ax.plot([0.95, gx["n"]], [by, by], color="#333333", lw=1.2, zorder=1)
    note(ax, 0.08, by, "$h_{t-1}$", ha="left", size=FONT["label"])
    ax.plot([0.6, 0.95], [by, by], color="#333333", lw=1.2, zorder=1)
    note(ax, 0.95, 1.12, "$x_t$", size=FONT["label"])
    ax.plot([0.95, 0.95], [1.26, by], color="#333333", lw=1.2, zorder=1)
    ax.plot(0.95, by, "o", color="#333333", ms=3.5)
    note(ax, 6.9, 2.2, "boxes: layers with weights\ncircles and 1 −: elementwise", ha="right", color=_GREY)
    note(ax, 1.45, 1.12, r"$n_t = \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn}))$", ha="left")
    note(ax, 6.9, 1.12, "PyTorch; Keras reset_after=True", ha="right", color=_GREY)
    note(ax, 1.45, 0.8, r"$n_t = \tanh(W_{in} x_t + b_{in} + W_{hn} (r_t \odot h_{t-1}) + b_{hn})$", ha="left")
    note(ax, 6.9, 0.8, "Keras reset_after=False", ha="right", color=_GREY)
    order = gru_gate_order()
    keras = [order[int(i)] for i in _swap_rz(np.arange(3), 1)]
    note(ax, 1.55, 0.3, r"rows of $W_{ih}$, $W_{hh}$, $b$:", ha="right")
    rows = cells(ax, 1.7, 0.45, [[_GATES[k][2] for k in order]], cell=0.3, fmt="{}", role="param",
                 size=FONT["label"])
    note(ax, rows.right[0] + 0.15, 0.3, f"in the order {', '.join(order)};  Keras's kernels: {', '.join(keras)}",
         ha="left")
    return fig


def stacked_bidirectional(layers: int = 2, steps: int = 4) -> Any:
    """A stack of ``layers`` bidirectional recurrent layers unrolled over ``steps`` steps (chapter 5).

    In each layer a forward cell (→) reads the steps left to right and a backward cell (←) right to left,
    each from a zero state; at each step their two states are concatenated (2H features), and that is what
    the layer above reads at that step. The top layer's concatenated states are the outputs, as
    :func:`troikadl.rnn.stacked_forward` computes them. Returns the figure.
    """
    layers = check_int(layers, "layers", min=1, max=3)
    steps = check_int(steps, "steps", min=2, max=5)
    dx, left, level, off = 1.0, 2.0, 1.55, 0.24
    height = 0.95 + layers * level + 0.45
    fig, ax = canvas(7.0, height)
    xs = [left + t * dx for t in range(steps)]
    thin = dict(color="#333333", lw=1.0, zorder=1)
    for t, x in enumerate(xs):
        box(ax, x, 0.4, f"$x_{t + 1}$", w=0.5, h=0.34, role="data")
    below = [0.4 + 0.17] * steps
    for i in range(layers):
        base = 0.95 + i * level
        yj, yf, yb, yc = base + 0.05, base + 0.38, base + 0.88, base + 1.3
        note(ax, 0.08, yf, "forward", ha="left")
        note(ax, 0.08, yb, "backward", ha="left")
        note(ax, 0.08, yc, f"layer {i + 1}: [→ ; ←]", ha="left", size=FONT["label"])
        fwd = [box(ax, x - off, yf, "→", w=0.4, h=0.3, role="param", shape="square", size=10) for x in xs]
        bwd = [box(ax, x + off, yb, "←", w=0.4, h=0.3, role="focus", shape="square", size=10) for x in xs]
        for t, x in enumerate(xs):
            ax.plot([x, x], [below[t], yj], **thin)
            ax.plot([x - off, x + off], [yj, yj], **thin)
            ax.plot(x, yj, "o", color="#333333", ms=3)
            arrow(ax, (x - off, yj), fwd[t].bottom, lw=1.0)
            arrow(ax, (x + off, yj), bwd[t].bottom, lw=1.0)
            cells(ax, x - 0.3, yc + 0.15, [["→", "←"]], cell=0.3, fmt="{}", role=[["param", "focus"]], lw=0.8)
            arrow(ax, fwd[t].top, (x - off + 0.09, yc - 0.15), lw=1.0)
            arrow(ax, bwd[t].top, (x + off - 0.09, yc - 0.15), lw=1.0)
            if t:
                arrow(ax, fwd[t - 1].right, fwd[t].left)
                arrow(ax, bwd[t].left, bwd[t - 1].right)
        arrow(ax, (xs[0] - off - 0.55, yf), fwd[0].left)
        note(ax, xs[0] - off - 0.6, yf, "0", ha="right")
        arrow(ax, (xs[-1] + off + 0.5, yb), bwd[-1].right)
        note(ax, xs[-1] + off + 0.55, yb, "0", ha="left")
        below = [yc + 0.15] * steps
    note(ax, 0.08, height - 0.22, "each step: [→ ; ←], 2H features, read by the layer above;"
         " the top layer's are the outputs", ha="left")
    return fig
