"""Attention and the Transformer encoder block (chapter 6).

:func:`scaled_dot_product_attention` (the operations, with their shapes), :func:`multi_head_attention`
(h heads in parallel, concatenated and projected) and :func:`encoder_block` (post-norm, the chapter's, or
pre-norm). Shapes come from the package's own functions where numbers are given, so the drawing cannot drift
from them. BERT's inputs and masking are in :mod:`troikadl.figures.bert`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..validate import check_bool, check_choice, check_int, check_int_list
from .style import FONT, MAX_WIDTH, arrow, box, canvas, note

__all__ = ["scaled_dot_product_attention", "multi_head_attention", "encoder_block"]

_LABEL, _NOTE = FONT["label"], FONT["note"]


def scaled_dot_product_attention(shapes: Sequence[int] | None = None, *, mask: bool = True) -> Any:
    """Scaled dot-product attention as a pipeline: Q and K multiplied, scaled by 1/√d_k, masked,
    softmaxed over the keys, then multiplied with V (chapter 6, section 6.1). Returns the figure.

    Shapes are written symbolically, or, with ``shapes = (L_q, L_k, d_k, d_v)``, as the numbers that
    :func:`troikadl.attention.scaled_dot_product_attention` returns for inputs of those sizes. ``mask``
    draws the optional mask step.
    """
    mask = check_bool(mask, "mask")
    if shapes is None:
        lq, lk, dk, dv = "L_q", "L_k", "d_k", "d_v"
        s = {"q": (lq, dk), "k": (lk, dk), "v": (lk, dv), "w": (lq, lk), "o": (lq, dv)}
    else:
        from ..attention import scaled_dot_product_attention as sdpa

        lq, lk, dk, dv = check_int_list(shapes, "shapes", min=1, max=10_000, length=4, example="(L_q, L_k, d_k, d_v)")
        out, w = sdpa(np.zeros((lq, dk)), np.zeros((lk, dk)), np.zeros((lk, dv)))
        s = {"q": (lq, dk), "k": (lk, dk), "v": (lk, dv), "w": w.shape, "o": out.shape}
    fmt = (lambda t: "(" + ", ".join(f"${x}$" if isinstance(x, str) else str(x) for x in t) + ")")
    steps = [("$QK^{\\top}$", "op", f"scores\n{fmt(s['w'])}"), ("$\\times\\,1/\\sqrt{d_k}$", "op", "scale"),
             ("mask", "op", "$-\\infty$ where\nnot allowed"),
             ("softmax", "op", f"over keys $j$\n$\\alpha$ {fmt(s['w'])}"),
             ("$\\alpha V$", "op", "weighted sum\nof values"), ("output", "out", fmt(s["o"]))]
    if not mask:
        del steps[2]
    fig, ax = canvas(MAX_WIDTH, 2.55)
    y, w, h = 1.0, 0.86, 0.5
    xs = np.linspace(1.55, MAX_WIDTH - 0.5, len(steps))
    q = box(ax, 0.5, y + 0.42, w=0.8, h=0.62, role="data")
    k = box(ax, 0.5, y - 0.42, w=0.8, h=0.62, role="data")
    boxes = []
    for x, (text, role, below) in zip(xs, steps):
        boxes.append(box(ax, x, y, text, w=w, h=h, role=role))
        note(ax, x, y - h / 2 - 0.08, below, va="top")
        if text == "mask":
            ax.patches[-1].set_linestyle((0, (4, 2)))
            note(ax, x, y + h / 2 + 0.13, "(optional)")
    for b in (q, k):
        arrow(ax, b.right, boxes[0].left)
    for a, b in zip(boxes, boxes[1:]):
        arrow(ax, a.right, b.left)
    mv = boxes[-2]
    v = box(ax, mv.x, 2.15, w=0.8, h=0.62, role="data")
    for b, name, shape in ((q, "Q", s["q"]), (k, "K", s["k"]), (v, "V", s["v"])):
        note(ax, b.x, b.y + 0.12, name, size=_LABEL, fontweight="bold")
        note(ax, b.x, b.y - 0.13, fmt(shape), gid=f"shape:{name}")
    arrow(ax, v.bottom, mv.top)
    return fig


def multi_head_attention(heads: int = 4, d_model: int | None = None) -> Any:
    """Multi-head attention: the queries' and keys'/values' sequences projected by each head's own
    W_{Q,m}, W_{K,m}, W_{V,m}, h attentions in parallel, concatenated and projected by W_O (chapter 6,
    section 6.3). Returns the figure.

    ``heads`` is h (more than 4 are drawn as heads 1, 2, ..., h). With ``d_model``, a note gives the sizes,
    read from the output and weights of :func:`troikadl.attention.multi_head_attention` run at that size.
    """
    from matplotlib.patches import FancyBboxPatch

    heads = check_int(heads, "heads", min=1, max=64)
    sizes = None
    if d_model is not None:
        from ..attention import MHAWeights, multi_head_attention as mha

        d_model = check_int(d_model, "d_model", min=1, max=100_000)
        if d_model % heads:
            raise ValueError(f"d_model must be divisible by heads = {heads}, got d_model = {d_model}")
        Z = np.zeros((d_model, d_model))
        out, w = mha(np.zeros((1, 2, d_model)), np.zeros((1, 3, d_model)),
                     MHAWeights(Z, Z, Z, Z, *(np.zeros(d_model) for _ in range(4)), heads=heads), heads)
        sizes = (out.shape[-1], w.shape[1])
    shown = list(range(1, heads + 1)) if heads <= 4 else [1, 2, None, heads]
    fig, ax = canvas(MAX_WIDTH, 4.55)
    xs = np.linspace(1.17, 4.82, 4)[:len(shown)] + (4 - len(shown)) * 0.61
    yq, ykv, yw, ya, yc, yo, yout = 0.78, 0.5, 1.3, 2.05, 2.85, 3.5, 4.15
    note(ax, 0.1, yq, "$X_q$", size=_LABEL, ha="left")
    note(ax, 0.1, ykv, "$X_{kv}$", size=_LABEL, ha="left")
    risers = []
    for x, m in zip(xs, shown):
        if m is None:
            note(ax, x, ya, "…", size=14)
            continue
        ax.add_patch(FancyBboxPatch((x - 0.57, yw - 0.26), 1.14, ya - yw + 0.58, facecolor="#f6f6f6", lw=0.8,
                                    boxstyle="round,pad=0,rounding_size=0.1", edgecolor="#bbbbbb", zorder=0))
        a = box(ax, x, ya, f"head {m}\nattention", w=1.0, h=0.5, role="op", size=_NOTE + 0.5)
        for dx, c in ((-0.36, "Q"), (0.0, "K"), (0.36, "V")):
            b = box(ax, x + dx, yw, f"$W_{{{c},{m}}}$", w=0.34, h=0.32, role="param", size=_NOTE + 0.5)
            arrow(ax, b.top, (a.x + dx * 0.85, a.y - a.h / 2))
            risers.append((b.x, yq if c == "Q" else ykv))
            ax.plot([b.x] * 2, [risers[-1][1], b.y - b.h / 2], color="#333333", lw=1.0, zorder=1)
        arrow(ax, a.top, (x, yc - 0.2))
    for yy in (yq, ykv):  # the two inputs' buses; the queries' bus hops over the keys' and values' risers
        end = max(bx for bx, by in risers if by == yy)
        gaps = sorted(bx for bx, by in risers if yy == yq and by == ykv and bx < end)
        pts = [0.55] + [g for bx in gaps for g in (bx - 0.05, bx + 0.05)] + [end]
        for p0, p1 in zip(pts[::2], pts[1::2]):
            ax.plot([p0, p1], [yy, yy], color="#333333", lw=1.0, zorder=1)
    for bx, by in risers:
        ax.plot([bx], [by], "o", color="#333333", ms=2.5, zorder=2)
    mid = (xs[0] + xs[-1]) / 2
    c = box(ax, mid, yc, "concatenate  $[\\mathrm{head}_1; \\dots; \\mathrm{head}_h]$",
            w=max(xs[-1] - xs[0] + 1.1, 3.4), h=0.4)
    o = box(ax, mid, yo, "$\\cdot\\,W_O^{\\top}$", w=0.9, h=0.4, role="param")
    out = box(ax, mid, yout, "$\\mathrm{MHA}(X_q, X_{kv})$", w=1.7, h=0.42, role="out")
    arrow(ax, c.top, o.bottom)
    arrow(ax, o.top, out.bottom)
    dm = "d_{\\mathrm{model}}"
    for y, text in ((yout, f"$(L_q, {dm})$"), (yo, f"$W_O$: $({dm}, {dm})$"),
                    (yc, f"$(L_q,\\ h\\,d_k) = (L_q, {dm})$"), (ya, f"each head: $(L_q, d_k)$,\n$d_k = {dm}/h$"),
                    (yw, f"each $W$: $(d_k, {dm})$"),
                    ((yq + ykv) / 2, f"$X_q$: $(L_q, {dm})$\n$X_{{kv}}$: $(L_k, {dm})$")):
        note(ax, 5.5, y, text, ha="left")
    text = "self-attention: $X_q = X_{kv}$;  cross-attention: two sequences"
    if sizes is not None:
        text = (f"here ${dm}$ = {sizes[0]}, $h$ = {sizes[1]}, $d_k$ = {sizes[0]}/{sizes[1]} = "
                f"{sizes[0] // sizes[1]};  " + text)
    note(ax, 0.1, 0.15, text, ha="left")
    return fig


def encoder_block(norm_first: bool = False, *, activation: str = "relu") -> Any:
    """One Transformer encoder block as :func:`troikadl.attention.encoder_block` computes it: post-norm
    (``norm_first=False``, chapter 6's and BERT's: add, then layer norm) or pre-norm (layer norm first),
    with the residual connections as dotted skip arrows (chapter 6, section 6.5). Returns the figure.

    ``activation`` ("relu" or "gelu") is the MLP's. The block has no dropout: the package computes the
    evaluation-mode output.
    """
    norm_first = check_bool(norm_first, "norm_first")
    activation = check_choice(activation, "activation", ("relu", "gelu"))
    mlp = f"$\\mathrm{{{activation}}}(XW_1^{{\\top}}{{+}}b_1)W_2^{{\\top}}{{+}}b_2$"
    parts = [("$X$", "data", 0.5), ("multi-head\nattention", "op", 0.98), ("+", "plus", 0.3),
             ("layer\nnorm", "op", 0.62), ("MLP", "op", 0.75), ("+", "plus", 0.3), ("layer\nnorm", "op", 0.62),
             ("output", "out", 0.68)]
    if norm_first:  # X, LN, MHA, +, LN, MLP, +, output
        parts = [parts[0], parts[3], parts[1], parts[2], parts[6], parts[4], parts[5], parts[7]]
    fig, ax = canvas(MAX_WIDTH, 2.05)
    y, h = 0.75, 0.56
    gap = (MAX_WIDTH - 0.2 - sum(w for *_, w in parts)) / (len(parts) - 1)
    x, boxes = 0.1, []
    for text, role, w in parts:
        if role == "plus":
            boxes.append(box(ax, x + w / 2, y, "+", w=w, h=w, role="op", shape="circle", size=12))
        else:
            boxes.append(box(ax, x + w / 2, y, text, w=w, h=h, role=role))
        x += w + gap
    for a, b in zip(boxes, boxes[1:]):
        arrow(ax, a.right, b.left)
    plus = [i for i, (_, role, _) in enumerate(parts) if role == "plus"]
    for k, i in enumerate(plus):  # the residual: from the arrow entering the sublayer to its sum
        start = plus[0] + 1 if k else 0
        bx = (boxes[start].right[0] + boxes[start + 1].left[0]) / 2
        top = y + h / 2 + 0.3
        ax.plot([bx, bx, boxes[i].x], [y, top, top], color="#555555", linestyle=":", lw=1.3, zorder=1)
        ax.plot([bx], [y], "o", color="#333333", ms=3, zorder=3)
        arrow(ax, (boxes[i].x, top), boxes[i].top, kind="skip", lw=1.3)
        note(ax, (bx + boxes[i].x) / 2, top + 0.12, "residual")
    mlp_box = boxes[[t for t, *_ in parts].index("MLP")]
    note(ax, mlp_box.x, y - h / 2 - 0.1, mlp + "\n$(L, d_{\\mathrm{ff}})$ inside", va="top")
    for b in (boxes[0], boxes[-1]):
        note(ax, b.x, y - h / 2 - 0.1, "$(L, d_{\\mathrm{model}})$", va="top")
    steps = (("$X \\leftarrow X + \\mathrm{MHA}(\\mathrm{LN}(X))$",
              "$X \\leftarrow X + \\mathrm{MLP}(\\mathrm{LN}(X))$")
             if norm_first else ("$X \\leftarrow \\mathrm{LN}(X + \\mathrm{MHA}(X, X))$",
                                 "$X \\leftarrow \\mathrm{LN}(X + \\mathrm{MLP}(X))$"))
    note(ax, 0.1, 1.95, f"{'pre' if norm_first else 'post'}-norm:  {steps[0]},  then  {steps[1]}", ha="left",
         va="top", size=_LABEL)
    return fig
