"""Neurons and recurrent cells: the neuron and the perceptron update (chapter 1), the unrolled RNN with its
backward path and the LSTM cell (chapter 5).

:func:`neuron` draws one neuron in the chapter's notation; :func:`perceptron_update` draws one step of the
perceptron rule in two dimensions, with the vectors and boundaries that
:func:`troikadl.neuron.perceptron_update` computes; :func:`rnn_unrolled` draws an Elman RNN unrolled over
``steps`` steps and the path backpropagation through time takes, one Jacobian per step; :func:`lstm_cell`
draws the LSTM cell with its gates, and the order in which its weights are stacked, read from
:func:`troikadl.rnn.lstm_cell` itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..validate import as_float_array, check_choice, check_float, check_int
from .style import COLORS, EDGES, FONT, arrow, box, canvas, cells, note

__all__ = ["neuron", "perceptron_update", "rnn_unrolled", "lstm_cell", "lstm_gate_order"]

_PARAM, _GRAD = EDGES["param"], "#c0392b"


def _tag(ax: Any, gid: str) -> None:
    """Name the patch drawn last (tests find the arrows by name)."""
    ax.patches[-1].set_gid(gid)


def neuron(n: int = 3, *, activation: str = "f") -> Any:
    """One neuron (chapter 1, section 1.1): inputs, weights, weighted sum plus bias, activation, output.

    ``n`` inputs are drawn (with more than 3, the first two, a gap and the last); ``activation`` is the
    activation's name written in its box ("f", "sigmoid", "tanh" or "relu"). Returns the figure.
    """
    n = check_int(n, "n", min=1, max=99)
    activation = check_choice(activation, "activation", ("f", "sigmoid", "tanh", "relu"))
    fig, ax = canvas(7.0, 2.9)
    shown = list(range(1, n + 1)) if n <= 3 else [1, 2, None, n]
    ys = np.linspace(2.25, 0.55, len(shown)) if len(shown) > 1 else np.array([1.4])
    s = box(ax, 3.2, 1.4, r"$\Sigma$", w=0.62, h=0.62, role="op", shape="circle", size=13)
    for i, y in zip(shown, ys):
        if i is None:
            note(ax, 0.7, y, r"$\vdots$", size=FONT["label"])
            continue
        xi = box(ax, 0.7, y, f"$x_{{{i}}}$", w=0.48, h=0.42, role="data", shape="circle")
        d = np.subtract(s.center, xi.right)
        end = np.subtract(s.center, 0.31 * d / np.hypot(*d))
        arrow(ax, xi.right, end)
        t = 0.42
        note(ax, xi.right[0] + t * d[0], xi.right[1] + t * d[1] + 0.13, f"$w_{{{i}}}$", size=FONT["label"],
             color=_PARAM, bbox=dict(facecolor="white", edgecolor="none", pad=0.3))
    b = box(ax, 3.2, 2.3, "$b$", w=0.42, h=0.36, role="param", shape="square")
    arrow(ax, b.bottom, s.top)
    note(ax, 3.2, 0.72, r"$z = \mathbf{w}^\top\mathbf{x} + b$", size=FONT["label"])
    note(ax, 3.2, 0.42, r"$= \sum_i w_i x_i + b$", size=FONT["label"])
    symbol = {"f": "$f$", "sigmoid": r"$\sigma$", "tanh": "tanh", "relu": "relu"}[activation]
    f = box(ax, 4.75, 1.4, symbol, w=0.7, h=0.5, role="op", size=12)
    arrow(ax, s.right, f.left, text="$z$", size=FONT["label"], text_offset=(0, 0.16))
    a = box(ax, 6.3, 1.4, "$a$", w=0.48, h=0.42, role="out", shape="circle")
    arrow(ax, f.right, a.left)
    note(ax, 6.3, 0.9, "$a = f(z)$", size=FONT["label"])
    for x, text in ((0.7, "inputs"), (1.95, "weights"), (3.2, "weighted sum + bias"), (4.75, "activation"),
                    (6.3, "output")):
        note(ax, x, 2.75, text, color="#555555")
    return fig


def perceptron_update(w: Any = (2.0, 0.5), x: Any = (-0.5, 1.5), *, y: int = 1, b: float = 0.0,
                      lr: float = 1.0) -> Any:
    """One step of the perceptron rule in 2-D (chapter 1, section 1.2), drawn from the real update.

    Left, before: the weight vector ``w``, the example ``x`` with label ``y`` (+1 or -1), the decision
    boundary ``w . p + b = 0`` (perpendicular to ``w``) and the side it calls +1 (shaded). Right, after
    :func:`troikadl.neuron.perceptron_update`: ``w' = w + lr y x`` (drawn as ``w`` plus the step),
    ``b' = b + lr y`` and the new boundary; the old ones dotted. The defaults show a misclassified
    ``x``; a correctly classified one leaves everything unchanged, as the rule does. Returns the figure.
    """
    from ..neuron import perceptron_update as update

    w, x = as_float_array(w, "w", ndim=1), as_float_array(x, "x", ndim=1)
    for name, v in (("w", w), ("x", x)):
        if v.shape != (2,):
            raise ValueError(f"{name} must be a vector of 2 numbers (the figure is in the plane), got shape {v.shape}")
    if not np.any(w):
        raise ValueError("w must not be the zero vector (it would have no decision boundary to draw)")
    y = int(check_choice(y, "y", (-1, 1)))
    b, lr = check_float(b, "b"), check_float(lr, "lr", min=0, min_open=True)
    w_new, b_new = update(w, b, x, y, lr)
    mistake = bool(y * (w @ x + b) <= 0)
    fig, ax0 = canvas(7.0, 3.8)
    r = 1.3 * max(np.abs(np.concatenate([w, x, w_new])).max(), 1.0)
    panels = [fig.add_axes((0.06, 0.13, 0.42, 0.72)), fig.add_axes((0.56, 0.13, 0.42, 0.72))]
    titles = [f"before: $y\\,(\\mathbf{{w}}^\\top\\mathbf{{x}}+b) = {y * (w @ x + b):.3g}$",
              f"after: $y\\,(\\mathbf{{w}}'^\\top\\mathbf{{x}}+b') = {y * (w_new @ x + b_new):.3g}$"]
    g = np.linspace(-r, r, 200)
    gx, gy = np.meshgrid(g, g)
    for k, ax in enumerate(panels):
        ax.set(xlim=(-r, r), ylim=(-r, r), aspect="equal")
        ax.grid(False)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=8)
        ax.axhline(0, color="#bbbbbb", lw=0.6, zorder=0)
        ax.axvline(0, color="#bbbbbb", lw=0.6, zorder=0)
        ax.set_title(titles[k], fontsize=FONT["label"])
        ww, bb = (w, b) if k == 0 else (w_new, b_new)
        ax.contourf(gx, gy, gx * ww[0] + gy * ww[1] + bb, levels=[0, np.inf], colors=[COLORS["data"]], alpha=0.7)
        if k == 1 and mistake:
            _boundary(ax, w, b, r, color=EDGES["muted"], ls=":", gid="boundary_old")
        _boundary(ax, ww, bb, r, color="#333333", ls="-", gid="boundary" if k == 0 else "boundary_new")
        ax.annotate("", xy=tuple(x), xytext=(0, 0), gid="x",
                    arrowprops=dict(arrowstyle="-|>", color=EDGES["data"], lw=1.4, shrinkA=0, shrinkB=0))
        ax.plot(*x, "o" if y > 0 else "s", color=EDGES["data"], ms=6)
        _label(ax, x, r"$\mathbf{x}$", x, EDGES["data"])
        if k == 0 or not mistake:
            _vector(ax, w, r"$\mathbf{w}$", _PARAM, "w" if k == 0 else "w_new")
            continue
        _vector(ax, w, r"$\mathbf{w}$", EDGES["muted"], "w_old", ls=":")
        ax.annotate("", xy=tuple(w_new), xytext=tuple(w), gid="step",
                    arrowprops=dict(arrowstyle="-|>", color=EDGES["focus"], lw=1.4, ls="--", shrinkA=0, shrinkB=0))
        mid, n = (w + w_new) / 2, np.array([w[1] - w_new[1], w_new[0] - w[0]])
        _label(ax, mid, r"$\eta\,y\,\mathbf{x}$", n if n @ mid >= 0 else -n, EDGES["focus"])
        _vector(ax, w_new, r"$\mathbf{w}'$", _PARAM, "w_new")
    what = (f"label $y = {y:+d}$:   $\\mathbf{{w}}' = \\mathbf{{w}} + \\eta\\,y\\,\\mathbf{{x}}$,   "
            f"$b' = b + \\eta\\,y = {b_new:.3g}$   ($\\eta = {lr:g}$, $b = {b:.3g}$)" if mistake
            else f"label $y = {y:+d}$:  $\\mathbf{{x}}$ is classified correctly, the rule changes nothing")
    note(ax0, 3.5, 3.72, what, va="top", size=FONT["label"])
    note(ax0, 3.5, 0.05, "shaded: the side the neuron calls +1;  dotted: before the update", va="bottom",
         color="#555555")
    return fig


def _vector(ax: Any, v: np.ndarray, label: str, color: str, gid: str, ls: str = "-") -> None:
    """An arrow from the origin to ``v`` (an annotation named ``gid``), labelled beyond its tip."""
    ax.annotate("", xy=tuple(v), xytext=(0, 0), gid=gid,
                arrowprops=dict(arrowstyle="-|>", color=color, lw=1.8, ls=ls, shrinkA=0, shrinkB=0))
    _label(ax, v, label, v, color)


def _label(ax: Any, at: np.ndarray, text: str, toward: np.ndarray, color: str) -> None:
    """``text`` next to the point ``at``, moved 8 points in the direction ``toward``, aligned away from it."""
    u = np.asarray(toward, dtype=float) / (np.hypot(*toward) or 1.0)
    ha = "center" if abs(u[0]) < 0.35 else ("left" if u[0] > 0 else "right")
    va = "center" if abs(u[1]) < 0.35 else ("bottom" if u[1] > 0 else "top")
    ax.annotate(text, xy=tuple(at), xytext=tuple(8 * u), textcoords="offset points", fontsize=FONT["label"],
                color=color, ha=ha, va=va)


def _boundary(ax: Any, w: np.ndarray, b: float, r: float, *, color: str, ls: str, gid: str) -> None:
    """The line w . p + b = 0 inside the square [-r, r]^2."""
    foot = -b * w / (w @ w)                     # the point of the line nearest the origin
    d = np.array([-w[1], w[0]]) / np.hypot(*w)  # its direction
    t = np.array([-3 * r, 3 * r])
    ax.plot(foot[0] + t * d[0], foot[1] + t * d[1], color=color, ls=ls, lw=1.3, gid=gid)


def rnn_unrolled(steps: int = 4) -> Any:
    """An Elman RNN unrolled over ``steps`` steps, with the backward path of BPTT (chapter 5, section 5.3).

    Each input ``x_t`` enters through ``W_ih``, each state ``h_t`` passes to the next through ``W_hh``
    (the same matrices at every step), the last state is read out into the loss ``L``. Dashed red arrows
    carry the gradient back from ``L`` to ``h_T`` and on to ``h_1``, through one Jacobian
    ``dh_k/dh_{k-1} = diag(1 - h_k^2) W_hh`` per step. ``steps`` is 2 to 5. Returns the figure.
    """
    T = check_int(steps, "steps", min=2, max=5)
    width, hy, xy, ty = 7.0, 1.75, 0.45, 3.05
    fig, ax = canvas(width, 3.95)
    gap = (width - 1.95) / T
    xs = [1.32 + gap * k for k in range(T)]
    h0 = box(ax, 0.42, hy, "$h_{0}$", w=0.5, h=0.42, role="muted")
    note(ax, 0.42, hy - 0.4, "$= 0$")
    prev = h0
    hs = []
    for k, x in enumerate(xs, start=1):
        h = box(ax, x, hy, f"$h_{{{k}}}$", w=0.56, h=0.42, role="data")
        xin = box(ax, x, xy, f"$x_{{{k}}}$", w=0.5, h=0.38, role="data", shape="square")
        arrow(ax, xin.top, h.bottom)
        note(ax, x + 0.07, (xin.top[1] + h.bottom[1]) / 2, "$W_{ih}$", ha="left", color=_PARAM)
        arrow(ax, (prev.right[0], hy + 0.07), (h.left[0], hy + 0.07))
        _tag(ax, f"forward h{k - 1}->h{k}")
        note(ax, (prev.right[0] + h.left[0]) / 2, hy + 0.24, "$W_{hh}$", color=_PARAM)
        if k > 1:
            arrow(ax, (h.left[0], hy - 0.07), (prev.right[0], hy - 0.07), kind="backward")
            _tag(ax, f"backward h{k}->h{k - 1}")
            note(ax, (prev.right[0] + h.left[0]) / 2, hy - 0.3, f"$\\partial h_{{{k}}}/\\partial h_{{{k - 1}}}$",
                 color=_GRAD)
        prev = h
        hs.append(h)
    out = box(ax, xs[-1], ty, "readout", w=0.9, h=0.42, role="op")
    loss = box(ax, xs[-1] + 1.05, ty, "$L$", w=0.42, h=0.42, role="out")
    arrow(ax, (hs[-1].top[0] - 0.07, hs[-1].top[1]), (out.bottom[0] - 0.07, out.bottom[1]))
    arrow(ax, (out.bottom[0] + 0.07, out.bottom[1]), (hs[-1].top[0] + 0.07, hs[-1].top[1]), kind="backward")
    _tag(ax, "backward readout->h")
    note(ax, hs[-1].x + 0.12, (out.bottom[1] + hs[-1].top[1]) / 2, f"$\\partial L/\\partial h_{{{T}}}$", ha="left",
         color=_GRAD)
    arrow(ax, (out.right[0], ty + 0.07), (loss.left[0], ty + 0.07))
    arrow(ax, (loss.left[0], ty - 0.07), (out.right[0], ty - 0.07), kind="backward")
    _tag(ax, "backward L->readout")
    note(ax, 0.1, 3.8, r"$h_t = \tanh(W_{ih}\,x_t + W_{hh}\,h_{t-1} + b)$", ha="left", va="top",
         size=FONT["label"])
    note(ax, 0.1, 3.45, f"the same $W_{{ih}}$, $W_{{hh}}$, $b$ at every step;  $T = {T}$", ha="left", va="top")
    note(ax, 0.1, 2.75, "forward: states →", ha="left")
    note(ax, 0.1, 2.5, "← backward: gradients,", ha="left", color=_GRAD)
    note(ax, 0.1, 2.27, r"one Jacobian $\mathrm{diag}(1-h_k^2)\,W_{hh}$ per step", ha="left", color=_GRAD)
    return fig


def lstm_gate_order() -> list[str]:
    """The order in which :func:`troikadl.rnn.lstm_cell` stacks its gates' weights, read from the cell.

    Probes the cell with one hidden unit, zero input and state, and one bias block at a time set high;
    the reaction of ``(h, c)`` identifies the gate (input "i", forget "f", candidate "g", output "o").
    """
    from ..rnn import Weights, lstm_cell as cell

    def run(bias: np.ndarray) -> tuple[float, float]:
        h, c = cell(np.zeros((1, 1)), np.zeros((1, 1)), np.full((1, 1), 2.0), Weights(np.zeros((4, 1)),
                                                                                     np.zeros((4, 1)), bias))
        return float(h[0, 0]), float(c[0, 0])

    order = []
    for k in range(4):
        open_k = np.where(np.arange(4) == k, 30.0, 0.0)     # block k saturated high, the others at 0
        h, c = run(open_k)
        if np.isclose(c, 2.0):            # f = 1 keeps all of c = 2; i = 0.5 writes g = 0
            order.append("f")
        elif np.isclose(c, 1.5):          # g = 1: c = 0.5 * 2 + 0.5 * 1
            order.append("g")
        elif np.isclose(h, np.tanh(1.0)):  # o = 1 shows all of tanh(c = 1)
            order.append("o")
        else:                             # i = 1 writes g = 0: nothing visible, the one left
            order.append("i")
    return order


_GATES = {"f": ("forget", r"$\sigma$", "$f_t$"), "i": ("input", r"$\sigma$", "$i_t$"),
          "g": ("candidate", "tanh", "$g_t$"), "o": ("output", r"$\sigma$", "$o_t$")}


def lstm_cell() -> Any:
    """The LSTM cell (chapter 5, section 5.2): gates, the memory line, and how the weights are stacked.

    ``h_{t-1}`` and ``x_t`` feed four layers: the forget, input and output gates (sigmoid) and the
    candidate ``g_t`` (tanh). The memory ``c_{t-1}`` runs along the top: multiplied by ``f_t``, plus
    ``i_t * g_t``, it becomes ``c_t``; ``h_t = o_t * tanh(c_t)``. Below, the rows of ``W_ih``, ``W_hh``
    and ``b`` in the order :func:`lstm_gate_order` reads from :func:`troikadl.rnn.lstm_cell`. Returns the figure.
    """
    fig, ax = canvas(7.0, 4.35)
    cy, gy, by = 3.75, 2.05, 1.35             # memory line, gate boxes, input bus
    gx = {"f": 1.75, "i": 2.75, "g": 3.65, "o": 4.75}
    mul_f = box(ax, gx["f"], cy, r"$\times$", w=0.34, h=0.34, role="plain", shape="circle", size=11)
    add = box(ax, 3.2, cy, "+", w=0.34, h=0.34, role="plain", shape="circle", size=12)
    mul_ig = box(ax, 3.2, 2.95, r"$\times$", w=0.34, h=0.34, role="plain", shape="circle", size=11)
    tanh_c = box(ax, 5.75, 2.95, "tanh", w=0.62, h=0.36, role="plain", size=9)
    mul_o = box(ax, 5.75, gy, r"$\times$", w=0.34, h=0.34, role="plain", shape="circle", size=11)
    line = dict(kind="forward", lw=2.2)
    note(ax, 0.08, cy, "$c_{t-1}$", ha="left", size=FONT["label"])
    arrow(ax, (0.6, cy), mul_f.left, **line)
    arrow(ax, mul_f.right, add.left, **line)
    arrow(ax, add.right, (6.45, cy), **line)
    note(ax, 6.5, cy, "$c_t$", ha="left", size=FONT["label"])
    note(ax, 0.6, cy + 0.42, r"memory:  $c_t = f_t \odot c_{t-1} + i_t \odot g_t$", ha="left",
         size=FONT["label"])
    arrow(ax, (tanh_c.x, cy), tanh_c.top)
    arrow(ax, tanh_c.bottom, mul_o.top)
    arrow(ax, mul_o.right, (6.45, gy))
    note(ax, 6.5, gy, "$h_t$", ha="left", size=FONT["label"])
    note(ax, 6.9, gy - 0.42, r"$h_t = o_t \odot \tanh(c_t)$", ha="right", size=FONT["label"])
    arrow(ax, mul_ig.top, add.bottom)
    gates = {}
    for k, (x) in gx.items():
        name, symbol, out = _GATES[k]
        gates[k] = box(ax, x, gy, symbol, w=0.62, h=0.42, role="op", size=10)
        arrow(ax, (x, by), gates[k].bottom)
        note(ax, x, by - 0.22, name, color="#555555")
    arrow(ax, gates["f"].top, mul_f.bottom, text="$f_t$", size=FONT["label"], text_offset=(0.2, 0))
    arrow(ax, gates["i"].top, (mul_ig.x - 0.15, mul_ig.y - 0.09), text="$i_t$", size=FONT["label"],
          text_offset=(-0.2, 0))
    arrow(ax, gates["g"].top, (mul_ig.x + 0.15, mul_ig.y - 0.09), text="$g_t$", size=FONT["label"],
          text_offset=(0.2, 0))
    arrow(ax, gates["o"].right, mul_o.left, text="$o_t$", size=FONT["label"], text_offset=(0, 0.15))
    ax.plot([0.95, gx["o"]], [by, by], color="#333333", lw=1.2, zorder=1)
    note(ax, 0.08, by, "$h_{t-1}$", ha="left", size=FONT["label"])
    ax.plot([0.6, 0.95], [by, by], color="#333333", lw=1.2, zorder=1)
    note(ax, 0.95, 0.72, "$x_t$", size=FONT["label"])
    ax.plot([0.95, 0.95], [0.86, by], color="#333333", lw=1.2, zorder=1)
    ax.plot(0.95, by, "o", color="#333333", ms=3.5)
    order = lstm_gate_order()
    note(ax, 1.55, 0.42, r"rows of $W_{ih}$, $W_{hh}$, $b$:", ha="right")
    rows = cells(ax, 1.7, 0.57, [[_GATES[k][2] for k in order]], cell=0.3, fmt="{}", role="param",
                 size=FONT["label"])
    note(ax, rows.right[0] + 0.15, 0.42, f"$H$ rows each, in the order {', '.join(order)}", ha="left")
    note(ax, 6.9, 0.95, "boxes: layers with weights\ncircles, tanh(c): elementwise", ha="right", color="#555555")
    return fig
