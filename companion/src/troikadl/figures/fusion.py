"""Diagrams of multimodal fusion (chapter 11): the four kinds of fusion, and CLIP's similarity matrix.

:func:`fusion_kinds` draws early, feature-level, late and cross-attention fusion side by side, with the
sizes read from the chapter's models (:mod:`troikadl.fusion.models`), built with their default settings.
:func:`clip_similarity` draws a batch's image-caption similarity matrix (the chapter passes its trained
model's), the matching pairs on the diagonal, and how the symmetric InfoNCE loss reads it: rows for
image → text, columns for text → image.
"""

from __future__ import annotations

import textwrap
from typing import Any, Sequence

import numpy as np

from ..validate import as_float_array, check_int, check_str_list
from .style import EDGES, FONT, arrow, box, canvas, cells, note

__all__ = ["fusion_kinds", "model_sizes", "clip_similarity"]


def model_sizes(vocab_size: int | None = None) -> dict[str, int]:
    """The sizes :func:`fusion_kinds` writes, read from the chapter's models built with ``vocab_size``
    (default: the mini-VQA vocabulary's size) and their default settings."""
    from ..data import vqa
    from ..fusion import models as m

    v = len(vqa.VOCAB) if vocab_size is None else check_int(vocab_size, "vocab_size", min=2)
    early, concat = m.EarlyFusion(vocab_size=v), m.ConcatFusion(vocab_size=v)
    late, cross = m.LateFusion(vocab_size=v), m.CrossAttentionFusion(vocab_size=v)
    return {"pixels": m.IMAGE_DIM, "tokens": m.QUESTION_LENGTH, "vocab": v,
            "early_in": early.net[0][0].in_features, "f": concat.image[0].out_features,
            "h": concat.text.embed.embedding_dim, "concat": concat.head[0].in_features,
            "late_image": late.image.net[-1].out_features, "late_text": late.text.head[-1].out_features,
            "patches": cross.patch_pos.shape[0], "attn_dim": cross.attend.embed_dim, "heads": cross.attend.num_heads}


def fusion_kinds(vocab_size: int | None = None) -> Any:
    """Early, feature-level, late and cross-attention fusion side by side (chapter 11, section 11.2).

    Each panel starts from the image ``x`` (its pixels) and the question ``q`` (its token ids), and
    shows where the two meet (gold) and the head that gives the one answer logit. The four panels are
    the chapter's :class:`~troikadl.fusion.models.EarlyFusion`, :class:`~troikadl.fusion.models.ConcatFusion`
    (FiLM is the other feature-level model), :class:`~troikadl.fusion.models.LateFusion` and
    :class:`~troikadl.fusion.models.CrossAttentionFusion`; every size written is read from the models.
    """
    from matplotlib.patches import FancyBboxPatch

    z = model_sizes(vocab_size)
    W, H = 3.5, 2.75
    fig, ax = canvas(7.0, 2 * H)
    L, R, C = 0.9, 2.6, 1.75        # panel-local columns: image side, question side, centre
    Y = (0.35, 0.95, 1.55, 2.1)     # rows: inputs, encoders, where they meet, head
    bw, bh = 1.5, 0.38

    def panel(col: int, row: int, title: str) -> Any:
        ox, oy = col * W, (1 - row) * H
        ax.add_patch(FancyBboxPatch(
            (ox + 0.04, oy + 0.04), W - 0.08, H - 0.08, boxstyle="round,pad=0,rounding_size=0.06",
            facecolor="none", edgecolor="#cccccc", lw=0.8, zorder=0))
        note(ax, ox + 0.15, oy + H - 0.25, title, ha="left", size=FONT["label"], fontweight="bold")

        def b(x: float, r: int, text: str, role: str = "op", w: float = bw, size: float = 9.0) -> Any:
            return box(ax, ox + x, oy + Y[r], text, w=w, h=bh, role=role, size=size)

        x = b(L, 0, f"image $x$: {z['pixels']} px", "data", size=FONT["label"])
        q = b(R, 0, f"question $q$: {z['tokens']} ids", "data", size=FONT["label"])
        return b, x, q

    def up(a: Any, c: Any, dx: float = 0.0) -> None:
        arrow(ax, a.top, (c.x + dx, c.y - bh / 2))

    b, x, q = panel(0, 0, "Early (direct) fusion")
    bag = b(R, 1, f"bag of words: {z['vocab']}")
    cat = b(C, 2, f"concat: {z['pixels']} + {z['vocab']} = {z['early_in']}", "focus", w=2.3)
    head = b(C, 3, "MLP $g$ → logit", "out")
    up(q, bag), up(bag, cat, 0.5), up(cat, head)
    arrow(ax, x.top, (cat.x - 0.5, cat.y - bh / 2))

    b, x, q = panel(1, 0, "Feature fusion (concat)")
    f, h = b(L, 1, f"$f(x)$: {z['f']}"), b(R, 1, f"$h(q)$: {z['h']}")
    cat = b(C, 2, f"concat: {z['f']} + {z['h']} = {z['concat']}", "focus", w=2.3)
    head = b(C, 3, "MLP $g$ → logit", "out")
    up(x, f), up(q, h), up(f, cat, -0.5), up(h, cat, 0.5), up(cat, head)

    b, x, q = panel(0, 1, "Late (decision) fusion")
    gi, gt = b(L, 1, "image model"), b(R, 1, "text model")
    li = b(L, 2, "image logit" if z["late_image"] == 1 else f"image scores: {z['late_image']}", "out", w=1.3)
    lt = b(R, 2, "text logit" if z["late_text"] == 1 else f"text scores: {z['late_text']}", "out", w=1.3)
    avg = b(C, 3, "average of the two logits", "focus", w=2.3)
    up(x, gi), up(q, gt), up(gi, li), up(gt, lt), up(li, avg, -0.5), up(lt, avg, 0.5)

    b, x, q = panel(1, 1, "Cross-attention fusion")
    k = b(L, 1, f"{z['patches']} patches: $K$, $V$")
    qq = b(R, 1, f"{z['tokens']} tokens: $Q$")
    att = b(C, 2, f"$Q$ attends to $K$, $V$ ({z['heads']} heads)", "focus", w=2.6)
    head = b(C, 3, "pool, MLP $g$ → logit", "out", w=1.9)
    up(x, k), up(q, qq), up(k, att, -0.5), up(qq, att, 0.5), up(att, head)
    return fig


def _wrap(label: str, width: int = 8) -> str:
    return "\n".join(textwrap.wrap(label, width)) or label


def clip_similarity(S: Any, image_labels: Any = None, text_labels: Sequence[str] | None = None) -> Any:
    """A batch's image-caption similarity matrix, as CLIP's loss reads it (chapter 11, section 11.4).

    ``S[i, j]`` is the similarity of image ``i`` and caption ``j`` (the chapter passes its trained model's
    cosine similarities for a small batch of matching pairs); the cells show ``S`` to 2 decimals and the
    diagonal, the matching pairs, is highlighted. One row is outlined (image → text: a softmax over the
    captions, whose target is the diagonal cell) and one column (text → image: a softmax over the images).
    ``image_labels`` are strings or the images themselves, an array (B, 3, h, w) or (B, h, w, 3) with
    values in [0, 1], drawn as thumbnails; ``text_labels`` are strings (both default to the numbers 1 to B).
    """
    from matplotlib.patches import Rectangle

    S = as_float_array(S, "S", ndim=2)
    B = S.shape[0]
    if S.shape != (B, B) or not 2 <= B <= 8:
        raise ValueError(f"S must be a square (B, B) matrix of a batch of B matching pairs, 2 <= B <= 8, "
                         f"got shape {S.shape}")
    thumbs = None
    if image_labels is None:
        image_labels = [str(i + 1) for i in range(B)]
    elif isinstance(image_labels, (list, tuple)) and all(isinstance(s, str) for s in image_labels):
        image_labels = list(image_labels)
    else:
        thumbs = as_float_array(image_labels, "image_labels", ndim=4)
        if thumbs.shape[1] == 3:
            thumbs = thumbs.transpose(0, 2, 3, 1)
        if thumbs.shape[0] != B or thumbs.shape[-1] != 3:
            raise ValueError(f"image_labels must be {B} strings or {B} RGB images (B, 3, h, w) or (B, h, w, 3), "
                             f"got an array of shape {thumbs.shape}")
    if thumbs is None and len(image_labels) != B:
        raise ValueError(f"image_labels must hold {B} labels, one per row of S, got {len(image_labels)}")
    text_labels = ([str(j + 1) for j in range(B)] if text_labels is None
                   else check_str_list(text_labels, "text_labels"))
    if len(text_labels) != B:
        raise ValueError(f"text_labels must hold {B} labels, one per column of S, got {len(text_labels)}")

    cell = min(0.6, 3.6 / B)
    x0, ytop = 1.2, 1.05 + B * cell
    fig, ax = canvas(7.0, ytop + 0.9)
    roles = np.where(np.eye(B, dtype=bool), "focus", "data").astype(object)
    grid = cells(ax, x0, ytop, np.round(S, 2) + 0.0, cell=cell,  # + 0.0: no "-0.00"
                 role=roles, fmt="{:.2f}", size=9.0)
    for j, label in enumerate(text_labels):
        note(ax, x0 + (j + 0.5) * cell, ytop + 0.06, _wrap(label), va="bottom", size=8.5)
    for i in range(B):
        yc = ytop - (i + 0.5) * cell
        if thumbs is None:
            note(ax, x0 - 0.1, yc, image_labels[i], ha="right", size=8.5)
        else:
            s = cell * 0.86
            ax.imshow(np.clip(thumbs[i], 0, 1), extent=(x0 - 0.1 - s, x0 - 0.1, yc - s / 2, yc + s / 2),
                      interpolation="nearest", zorder=2)
    note(ax, x0 - 0.1, ytop + 0.06, "images ↓", ha="right", va="bottom", size=FONT["label"], fontweight="bold")
    note(ax, x0, ytop + 0.58, "captions →", ha="left", va="bottom", size=FONT["label"], fontweight="bold")
    note(ax, 6.95, ytop + 0.58, r"cell $(i, j)$: $s_{ij}$, the similarity of image $i$ and caption $j$", ha="right",
         va="bottom", size=8.5)
    r, c = min(1, B - 1), max(B - 2, 0)
    red = EDGES["out"]
    ax.add_patch(Rectangle((x0 - 0.03, ytop - (r + 1) * cell - 0.03), B * cell + 0.06, cell + 0.06,
                           fill=False, edgecolor=red, lw=2.0, zorder=4, gid="row-outline"))
    ax.add_patch(Rectangle((x0 + c * cell - 0.03, ytop - B * cell - 0.03), cell + 0.06, B * cell + 0.06,
                           fill=False, edgecolor=red, lw=2.0, linestyle="--", zorder=4, gid="column-outline"))
    xr = grid.x + grid.w / 2
    yr = ytop - (r + 0.5) * cell
    arrow(ax, (xr + 0.05, yr), (xr + 0.35, yr))
    note(ax, xr + 0.4, yr, f"row {r + 1}, image → text:\na softmax of $s_{{{r + 1}j}}/\\tau$ over\nthe {B} captions $j$;\n"
         f"target: the diagonal\ncell ({r + 1}, {r + 1})", ha="left", size=8.5)
    xc = x0 + (c + 0.5) * cell
    yb = ytop - B * cell
    arrow(ax, (xc, yb - 0.05), (xc, yb - 0.3))
    note(ax, min(max(grid.x, 2.3), 4.7), yb - 0.35, f"column {c + 1}, text → image: a softmax of $s_{{i{c + 1}}}/\\tau$ "
         f"over the {B} images $i$;\ntarget: the diagonal cell ({c + 1}, {c + 1})", va="top", size=8.5)
    note(ax, 3.5, 0.12, "gold: the matching pairs (the diagonal).  The loss: the mean cross-entropy over all "
         "rows and all columns", size=8.5, color="#1a1a1a")
    return fig
