"""The decoder side of the Transformer (chapter 6): :func:`decoder_block` (a GPT-style decoder-only model,
pre-norm as GPT-2 or post-norm as the original Transformer), :func:`kv_cache` (one generation step with a
key-value cache) and :func:`encoder_decoder` (the encoder-decoder Transformer and its cross-attention).

Every causal-mask grid is :func:`troikadl.attention.causal_mask`'s output, its cells tagged ``"mask i j"``;
boxes and labels carry gids (``"block:k"``, k-th from the bottom) so that the tests read the drawing back.
"""

from __future__ import annotations

from typing import Any

from ..validate import check_bool, check_int
from .style import ARROWS, EDGES, FONT, MAX_WIDTH, Box, arrow, box, canvas, cells, note

__all__ = ["decoder_block", "kv_cache", "encoder_decoder"]

_LABEL, _NOTE = FONT["label"], FONT["note"]
_ATTN = "causal multi-head\nself-attention"


def _mask_grid(ax: Any, x: float, y: float, n: int, cell: float = 0.13) -> Box:
    """:func:`troikadl.attention.causal_mask` ``(n)`` as an n x n grid, top-left corner ``(x, y)``: allowed
    (query i may attend to key j) in the data colour, masked in grey. Each cell's patch has gid ``"mask i j"``."""
    from ..attention import causal_mask

    allowed = causal_mask(n)
    start = len(ax.patches)
    grid = cells(ax, x, y, allowed, cell=cell, role=[["data" if a else "muted" for a in row] for row in allowed],
                 fmt=None, lw=0.6)
    for k, patch in enumerate(ax.patches[start:]):
        patch.set_gid(f"mask {k // n} {k % n}")
    return grid


def _frame(ax: Any, x0: float, y0: float, x1: float, y1: float, label: str, label_x: float) -> None:
    """The grey frame of a repeated block, with its count (``"N×"``) at ``label_x``."""
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x0, y0), x1 - x0, y1 - y0, boxstyle="round,pad=0,rounding_size=0.12",
                                facecolor="#f6f6f6", edgecolor="#bbbbbb", lw=0.9, zorder=0))
    note(ax, label_x, (y0 + y1) / 2, label, size=FONT["title"], fontweight="bold")


def _residual(ax: Any, below: Box, first: Box, plus: Box, lane: float) -> None:
    """A residual connection: from the junction between ``below`` and ``first`` (the sublayer's input), out to
    the lane at x = ``lane`` and into ``plus`` (dotted, the skip style)."""
    yj = (below.top[1] + first.bottom[1]) / 2
    side = plus.left if lane < plus.x else plus.right
    style = dict(color=ARROWS["skip"]["color"], linestyle=ARROWS["skip"]["linestyle"], lw=1.3, zorder=1)
    ax.plot([first.x, lane, lane], [yj, yj, plus.y], **style)
    ax.plot([first.x], [yj], "o", color=EDGES["plain"], ms=3, zorder=3)
    arrow(ax, (lane, plus.y), side, kind="skip", lw=1.3)


def _stack(ax: Any, cx: float, y: float, items: list[tuple[str, str, float]], *, w: float, step: float,
           gid: str) -> list[Box]:
    """Boxes ``(text, role, height)`` up a column at x = ``cx`` from ``y``, ``step`` apart, joined by arrows;
    "+" is a small circle. Their texts get gid ``f"{gid}:k"``."""
    boxes = []
    for k, (text, role, h) in enumerate(items):
        plus = text == "+"
        b = box(ax, cx, y + k * step, text, w=0.3 if plus else w, h=h, role=role, shape="circle" if plus else "round",
                size=12 if plus else None)
        ax.texts[-1].set_gid(f"{gid}:{k}")
        if boxes:
            arrow(ax, boxes[-1].top, b.bottom)
        boxes.append(b)
    return boxes


def _embed(ax: Any, cx: float, y: float, w: float) -> tuple[Box, Box, Box]:
    """Token and position embeddings summed, at y = ``y``: their boxes and the sum's circle (0.6 above)."""
    tok = box(ax, cx - w / 4 - 0.04, y, "token emb. $E[x_i]$", w=w / 2 + 0.05, h=0.36, role="param", size=_NOTE + 0.5)
    pos = box(ax, cx + w / 4 + 0.04, y, "position emb. $P[i]$", w=w / 2 + 0.05, h=0.36, role="param",
              size=_NOTE + 0.5)
    plus = box(ax, cx, y + 0.6, "+", w=0.3, h=0.3, role="op", shape="circle", size=12)
    for b in (tok, pos):
        arrow(ax, b.top, plus.left if b is tok else plus.right, bend=-0.25 if b is tok else 0.25)
    return tok, pos, plus


def decoder_block(norm_first: bool = True, *, mask_size: int = 5) -> Any:
    """A decoder-only (GPT-style) language model, bottom to top: token and position embeddings summed; N
    decoder blocks, each a causal multi-head self-attention and an MLP with residual connections; a linear head
    whose matrix is the token embedding's (tied), giving next-token logits (chapter 6). Returns the figure.

    ``norm_first=True`` draws pre-norm (GPT-2: LayerNorm before each sublayer, then the residual sum, and a final
    LayerNorm after the last block); ``False`` draws post-norm (the original Transformer and GPT-1: LayerNorm
    after each residual sum, so no final one). Beside the attention, :func:`troikadl.attention.causal_mask`
    ``(mask_size)`` as a grid (2 to 8 positions).
    """
    norm_first = check_bool(norm_first, "norm_first")
    n = check_int(mask_size, "mask_size", min=2, max=8)
    ln, attn, plus, mlp = ("LayerNorm", "op", 0.36), (_ATTN, "op", 0.5), ("+", "op", 0.3), ("MLP", "op", 0.36)
    block = [ln, attn, plus, ln, mlp, plus] if norm_first else [attn, plus, ln, mlp, plus, ln]
    cx, w, step, y0 = 2.35, 2.0, 0.6, 2.2                # y0: the first box of the block
    top = y0 + 5 * step + 0.35                           # the frame's top
    above = [("final LayerNorm", "op", 0.36)] if norm_first else []
    above += [("linear head $h\\,E^{\\top}$", "param", 0.36), ("next-token logits $(L, V)$", "out", 0.38)]
    height = top + 0.35 + step * (len(above) - 1) + 0.55
    fig, ax = canvas(MAX_WIDTH, height)
    _frame(ax, cx - w / 2 - 0.5, y0 - 0.45, cx + w / 2 + 0.2, top, "N×", 0.48)
    tokens = box(ax, cx, 0.3, "tokens $x_1, \\dots, x_L$", w=w, h=0.36, role="data")
    tok, pos, add = _embed(ax, cx, 0.95, w + 0.5)
    arrow(ax, tokens.top, tok.bottom)
    note(ax, cx + w / 2 + 0.45, 0.3, "positions $i = 1, \\dots, L$", ha="left")
    arrow(ax, (cx + w / 2 + 0.8, 0.42), pos.bottom)
    boxes = _stack(ax, cx, y0, block, w=w, step=step, gid="block")
    arrow(ax, add.top, boxes[0].bottom)
    lane = cx - w / 2 - 0.28
    for f, s in zip((0, 3), [i for i, it in enumerate(block) if it is plus]):   # each sublayer's first box, its +
        _residual(ax, add if f == 0 else boxes[f - 1], boxes[f], boxes[s], lane)
    out = _stack(ax, cx, top + 0.35, above, w=w, step=step, gid="head")
    arrow(ax, boxes[-1].top, out[0].bottom)
    head = out[-2]
    ax.plot([tok.left[0], 0.14, 0.14, head.left[0]], [tok.y, tok.y, head.y, head.y], color=EDGES["param"],
            linestyle=(0, (5, 3)), lw=1.1, zorder=1)
    note(ax, cx + w / 2 + 0.2, head.y, "tied: the head reuses the token embedding $E$\n(dashed), no new matrix",
         ha="left")
    a = boxes[block.index(attn)]
    gx = cx + w / 2 + 0.45
    cell = min(0.16, 0.9 / n)
    grid = _mask_grid(ax, gx, a.y + n * cell / 2, n, cell)
    ax.plot([a.right[0], gx], [a.y, a.y], color=EDGES["muted"], lw=1.0, zorder=1)
    note(ax, grid.x + grid.w / 2 + 0.12, grid.y, f"causal mask, $L$ = {n}:\nquery $i$ (row) sees\nkeys $j \\leq i$ "
         "(blue);\nlater ones masked (grey)", ha="left")
    steps = (("$h \\leftarrow h + \\mathrm{MHA}(\\mathrm{LN}(h))$",
              "$h \\leftarrow h + \\mathrm{MLP}(\\mathrm{LN}(h))$")
             if norm_first else ("$h \\leftarrow \\mathrm{LN}(h + \\mathrm{MHA}(h))$",
                                 "$h \\leftarrow \\mathrm{LN}(h + \\mathrm{MLP}(h))$"))
    for k, text in enumerate(steps):
        note(ax, cx + w / 2 + 0.45, boxes[2 + 3 * k].y, text, ha="left", size=_LABEL)
    note(ax, 0.3, height - 0.12, ("pre-norm (GPT-2): LayerNorm before each sublayer" if norm_first else
                                  "post-norm (original Transformer, GPT-1): LayerNorm after each residual sum"),
         ha="left", va="top", size=_LABEL, fontweight="bold")
    if not norm_first:
        note(ax, cx + w / 2 + 0.45, (boxes[-1].y + out[0].y) / 2, "no final LayerNorm: each block ends in one",
             ha="left")
    return fig


def kv_cache(step: int = 4, *, layers: int | None = None, d_model: int | None = None) -> Any:
    """Generating token ``step`` (= t) with a key-value cache, in one attention layer (chapter 6).

    The keys ``k_j`` and values ``v_j`` of the earlier positions j < t are stored columns (cached); only the
    new token's ``q_t``, ``k_t``, ``v_t`` are computed now. The new query's weights over the keys are row t of
    :func:`troikadl.attention.causal_mask` (every earlier position, none later), and its output is their
    weighted sum of the values. Below, what a step recomputes without a cache and with it, and the memory the
    cache holds: 2 x layers x length x d_model numbers, counted by
    :func:`troikadl.transformer.kv_cache_bytes` when both ``layers`` and ``d_model`` are given.
    ``step`` is 2 to 8. Returns the figure.
    """
    from ..attention import causal_mask

    t = check_int(step, "step", min=2, max=8)
    layers = None if layers is None else check_int(layers, "layers", min=1, max=1_000)
    d_model = None if d_model is None else check_int(d_model, "d_model", min=1, max=1_000_000)
    row = causal_mask(t)[t - 1]                          # which keys the new query may attend to
    fig, ax = canvas(MAX_WIDTH, 4.9)
    dx = min(0.7, 3.3 / t)
    xs = [1.45 + j * dx for j in range(t)]
    yt, yk, ya, yv, yo = 4.15, 3.55, 2.95, 2.35, 1.45
    bw = min(0.5, dx - 0.08)
    note(ax, 0.1, 4.75, f"Generating token $t$ = {t} with a key-value cache (one attention layer)", ha="left",
         va="top", size=_LABEL, fontweight="bold")
    for y, text in ((yt, "tokens"), (yk, "keys $k_j$"), (ya, "weights $\\alpha_{t,j}$"), (yv, "values $v_j$")):
        note(ax, 0.1, y, text, ha="left")
    for j, x in enumerate(xs):
        new = j == t - 1
        role = "focus" if new else "data"
        box(ax, x, yt, f"$x_{j + 1}$", w=bw, h=0.34, role=role)
        k = box(ax, x, yk, f"$k_{j + 1}$", w=bw, h=0.34, role=role, shape="square")
        ax.texts[-1].set_gid(f"key:{j}")
        ax.patches[-1].set_gid(f"key {j}")
        v = box(ax, x, yv, f"$v_{j + 1}$", w=bw, h=0.34, role=role, shape="square")
        ax.texts[-1].set_gid(f"value:{j}")
        box(ax, x, ya, w=bw, h=0.3, role="focus" if row[j] else "muted", shape="square")
        ax.patches[-1].set_gid(f"weight {j}")
        arrow(ax, k.bottom, (x, ya + 0.15), lw=0.8)
        arrow(ax, v.bottom, (x + (xs[len(xs) // 2] - x) * 0.9 / (1 + abs(j - t / 2)), yo + 0.2), lw=0.8)
        if new:
            arrow(ax, (x, yt - 0.17), k.top, lw=1.4)
    qx = xs[-1] + dx / 2 + 0.45
    q = box(ax, qx, ya, "$q_t$", w=0.45, h=0.34, role="focus")
    arrow(ax, (xs[-1] + bw / 2, yt), q.top, bend=-0.3, lw=1.4)
    arrow(ax, q.left, (xs[-1] + bw / 2, ya), lw=1.4)
    note(ax, xs[-1] + bw / 2 + 0.08, yv, f"$k_{t}$, $v_{t}$ computed now\nfrom $x_{t}$ (also $q_{t}$)", ha="left")
    brace_y = yv - 0.3
    ax.plot([xs[0] - bw / 2, xs[0] - bw / 2, xs[-2] + bw / 2, xs[-2] + bw / 2],
            [brace_y + 0.08, brace_y, brace_y, brace_y + 0.08], color=EDGES["data"], lw=1.0)
    note(ax, (xs[0] + xs[-2]) / 2, brace_y - 0.14, "cached: stored at earlier steps", color=EDGES["data"],
         bbox=dict(facecolor="white", edgecolor="none", pad=0.5))
    note(ax, qx + 0.4, ya, "$\\alpha_{t,j} = \\mathrm{softmax}_j(q_t \\cdot k_j / \\sqrt{d_k})$\n"
         f"over all {int(row.sum())} positions $j \\leq t$", ha="left")
    mid = (xs[0] + xs[-1]) / 2
    o = box(ax, mid, yo, "$o_t = \\sum_j \\alpha_{t,j}\\, v_j$", w=1.7, h=0.4, role="out")
    note(ax, o.right[0] + 0.15, yo, f"→ the next layer, and at the top\nthe logits of token {t + 1}", ha="left")
    done = t * (t + 1) // 2
    lines = [f"without a cache: step {t} recomputes $k_j, v_j$ for all {t} positions in every layer "
             f"({' + '.join(map(str, range(1, t + 1))) if t <= 4 else f'1 + 2 + … + {t}'} = {done} so far)",
             f"with the cache: step {t} computes only $k_{t}, v_{t}$ and reads the {t - 1} stored "
             f"({t} so far, one per step)"]
    lines.append("the cache holds 2 × layers × length × $d_{\\mathrm{model}}$ numbers (keys and values, every layer)")
    if layers is not None and d_model is not None:
        from ..transformer import kv_cache_bytes     # with one head of size d_model: the same count

        numbers = kv_cache_bytes(layers, 1, d_model, t, bytes_per_value=1)
        lines[-1] += (f":\n2 × {layers} layers × {t} positions × {d_model} = {numbers:,} numbers "
                      f"({kv_cache_bytes(layers, 1, d_model, t):,} bytes in float32)")
    for i, text in enumerate(lines):
        note(ax, 0.1, 0.95 - 0.27 * i, text, ha="left", va="top", gid=f"cost:{i}")
    return fig


def _sublayer_stack(ax: Any, cx: float, y: float, sublayers: list[str], w: float, lane: float, gid: str,
                    norm_first: bool) -> list[Box]:
    """Sublayers up a column with their residuals in the lane: post-norm, each followed by "add & norm";
    pre-norm, each preceded by its LayerNorm (in the same box) and followed by the residual sum "+", and a
    final LayerNorm."""
    pre = {"cross-attention": "LayerNorm (queries) →\n"}
    items = [it for text in sublayers for it in
             (((pre.get(text, "LayerNorm →\n") + text, "op", 0.5), ("+", "op", 0.3)) if norm_first else
              ((text, "op", 0.34), ("add & norm", "op", 0.34)))]
    boxes = _stack(ax, cx, y, items, w=w, step=0.62, gid=gid)
    for k in range(0, len(boxes), 2):
        below = Box(cx, y - 0.62, w, 0.0) if k == 0 else boxes[k - 1]
        _residual(ax, below, boxes[k], boxes[k + 1], lane)
    if norm_first:                                       # pre-norm: one more LayerNorm after the stack
        boxes.append(box(ax, cx, boxes[-1].y + 0.72, "LayerNorm", w=w, h=0.34, role="op"))
        arrow(ax, boxes[-2].top, boxes[-1].bottom)
    return boxes


def encoder_decoder(length: int = 4, *, norm_first: bool = False) -> Any:
    """The encoder-decoder Transformer (chapter 6). Left, the encoder: N blocks of (bidirectional)
    self-attention and MLP over the source tokens, whose output H is read by every decoder block. Right, the
    decoder: the target shifted right (starting with <bos>), N blocks of causal self-attention, cross-attention
    (queries from the decoder, keys and values from H) and MLP; a linear layer and softmax give, at each
    position, the probabilities of the next target token. ``norm_first=False`` draws post-norm ("add & norm",
    the 2017 original); ``True`` pre-norm (a LayerNorm before each sublayer, and one after each stack, as
    :class:`troikadl.transformer.Seq2SeqTransformer`). ``length`` (2 to 6) is the number of target positions
    drawn; the decoder's causal mask beside it is :func:`troikadl.attention.causal_mask` ``(length)``.
    Returns the figure.
    """
    n = check_int(length, "length", min=2, max=6)
    norm_first = check_bool(norm_first, "norm_first")
    extra = 0.62 if norm_first else 0.0                  # the final LayerNorm of each stack
    fig, ax = canvas(MAX_WIDTH, 6.75 + extra)
    ce, cd, we, wd = 1.65, 5.05, 1.7, 2.0
    y0 = 1.75                                            # the first sublayer of both stacks
    for x, title in ((ce, "encoder"), (cd, "decoder")):
        note(ax, x, 6.55 + extra, title, size=FONT["title"], fontweight="bold")
    # encoder
    src = box(ax, ce, 0.45, "source tokens $s_1, \\dots, s_S$", w=we + 0.3, h=0.36, role="data")
    emb_e = box(ax, ce, 1.05, "embedding + position", w=we, h=0.36, role="param")
    arrow(ax, src.top, emb_e.bottom)
    _frame(ax, ce - we / 2 - 0.45, y0 - 0.4, ce + we / 2 + 0.15, y0 + 3 * 0.62 + 0.3, "N×", 0.17)
    enc = _sublayer_stack(ax, ce, y0, ["self-attention\n(all positions)" if not norm_first else "self-attention",
                                       "MLP"], we, ce - we / 2 - 0.25, "encoder", norm_first)
    arrow(ax, emb_e.top, enc[0].bottom)
    h = box(ax, ce, 4.7 + extra, "encoder output $H$\n$(S, d_{\\mathrm{model}})$", w=we, h=0.55, role="data")
    arrow(ax, enc[-1].top, h.bottom)
    # decoder: shifted-right input tokens and next-token outputs
    tw = min(0.5, (wd + 0.7) / n - 0.05)
    txs = [cd + (i - (n - 1) / 2) * (tw + 0.05) for i in range(n)]
    inputs = ["<bos>"] + [f"$y_{i}$" for i in range(1, n)]
    outputs = [f"$y_{i}$" for i in range(1, n)] + ["<eos>"]
    for i, x in enumerate(txs):
        box(ax, x, 0.45, inputs[i], w=tw, h=0.34, role="data", size=_NOTE)
        ax.texts[-1].set_gid(f"input:{i}")
        box(ax, x, 6.05 + extra, outputs[i], w=tw, h=0.34, role="out", size=_NOTE)
        ax.texts[-1].set_gid(f"output:{i}")
    note(ax, txs[0] - tw / 2 - 0.08, 0.45, "target,\nshifted right", ha="right")
    note(ax, txs[0] - tw / 2 - 0.08, 6.05 + extra, "output probabilities:\nthe next token\nat each position",
         ha="right")
    emb_d = box(ax, cd, 1.05, "embedding + position", w=wd, h=0.36, role="param")
    arrow(ax, (cd, 0.62), emb_d.bottom)
    ytop = y0 + 5 * 0.62 + 0.3
    _frame(ax, cd - wd / 2 - 0.15, y0 - 0.4, cd + wd / 2 + 0.45, ytop, "N×", 6.83)
    dec = _sublayer_stack(ax, cd, y0, ["causal self-attention", "cross-attention", "MLP"], wd, cd + wd / 2 + 0.25,
                          "decoder", norm_first)
    arrow(ax, emb_d.top, dec[0].bottom)
    lin = box(ax, cd, ytop + 0.4 + extra, "linear + softmax", w=wd, h=0.34, role="param")
    arrow(ax, dec[-1].top, lin.bottom)
    arrow(ax, lin.top, (cd, 6.05 + extra - 0.17))
    # the causal mask beside the decoder's self-attention, and the cross-attention's keys and values
    grid = _mask_grid(ax, 3.15, dec[0].y + n * 0.06, n, 0.12)
    ax.plot([grid.right[0], cd - wd / 2], [dec[0].y, dec[0].y], color=EDGES["muted"], lw=1.0, zorder=1)
    note(ax, grid.x, grid.y - grid.h / 2 - 0.1, "causal mask", va="top")
    cross, xk = dec[2], 3.45
    ax.plot([h.right[0], xk, xk], [h.y, h.y, cross.y], color=EDGES["data"], lw=2.0, zorder=1)
    arrow(ax, (xk, cross.y), cross.left, lw=2.0)
    note(ax, (h.right[0] + xk) / 2 + 0.1, h.y + 0.32, "keys and values: $H$,\nthe same for every\ndecoder block",
         va="bottom", color=EDGES["data"])
    note(ax, (xk + cross.left[0]) / 2, cross.y + 0.14, "K, V", color=EDGES["data"], size=_LABEL)
    note(ax, cd + 0.12, (dec[1].top[1] + cross.bottom[1]) / 2, "queries $Q$", ha="left", size=_NOTE,
         bbox=dict(facecolor="white", edgecolor="none", pad=0.5))
    return fig
