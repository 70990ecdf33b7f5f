"""Diagrams of the vision transformer: how an image becomes a sequence of tokens.

Taught in chapter 11. :func:`patch_embedding` draws an image cut into its patches, the patches laid out as a
sequence, the one linear map that turns every patch into a token, the [CLS] token and the position
embeddings, and the Transformer encoder they go into. The patches drawn are the rows of
:func:`troikadl.vit.patchify` applied to the image, so a wrong patch order would show.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..validate import as_float_array, check_int
from .style import EDGES, FONT, arrow, box, canvas, cells, note

__all__ = ["patch_embedding"]

MAX_PATCHES = 16


def _as_chw(image: Any) -> np.ndarray:
    img = as_float_array(image, "image", ndim=(2, 3), nonempty=True)
    if img.ndim == 2:
        img = img[None]
    if img.shape[0] not in (1, 3):
        raise ValueError(f"image must be (H, W), (1, H, W) or (3, H, W) (grey or RGB), got shape {img.shape}")
    return img


def _show(ax: Any, img: np.ndarray, extent: tuple[float, float, float, float], lim: tuple[float, float],
          gid: str) -> Any:
    """Draw a (C, h, w) image in inch coordinates; grey images on one shared scale ``lim``."""
    if img.shape[0] == 1:
        im = ax.imshow(img[0], cmap="gray_r", vmin=lim[0], vmax=lim[1], extent=extent, interpolation="nearest",
                       zorder=2)
    else:
        im = ax.imshow(np.clip(img.transpose(1, 2, 0), 0, 1), extent=extent, interpolation="nearest", zorder=2)
    im.set_gid(gid)
    return im


def patch_embedding(image: Any, patch: int, d_model: int = 16) -> Any:
    """An image cut into ``patch x patch`` patches and turned into ViT's token sequence.

    ``image`` is (H, W), (1, H, W) or (3, H, W) (an RGB image with values in [0, 1]); ``patch`` must divide
    H and W, and there may be at most 16 patches. The patches are :func:`troikadl.vit.patchify`'s rows, drawn
    left to right in its order (each drawn image has the gid ``"patch <n>"``, the whole image ``"image"``);
    ``d_model`` is the token width written on the linear map.
    """
    import torch

    from ..vit import patchify

    img = _as_chw(image)
    patch = check_int(patch, "patch", min=1)
    d_model = check_int(d_model, "d_model", min=1)
    C, H, W = img.shape
    if H % patch or W % patch:
        raise ValueError(f"patch must divide the image height and width, got patch {patch} for a {H}x{W} image")
    rows, cols = H // patch, W // patch
    N = rows * cols
    if N > MAX_PATCHES:
        raise ValueError(f"patch must cut the image into at most {MAX_PATCHES} patches to draw, got {N} "
                         f"({rows}x{cols} patches of {patch}x{patch})")
    seq = patchify(torch.as_tensor(img[None]), patch)[0].numpy().reshape(N, C, patch, patch)
    lim = (float(img.min()), float(img.max()) if img.max() > img.min() else float(img.min()) + 1.0)

    fig, ax = canvas(7.0, 4.1)
    # the image, with its patch grid and the patch numbers
    side = 1.5
    x0, ytop = 0.25, 3.75
    sw, sh = side * W / max(H, W), side * H / max(H, W)
    _show(ax, img, (x0, x0 + sw, ytop - sh, ytop), lim, "image")
    for r in range(rows + 1):
        ax.plot([x0, x0 + sw], [ytop - r * sh / rows] * 2, color=EDGES["focus"], lw=1.4, zorder=3)
    for c in range(cols + 1):
        ax.plot([x0 + c * sw / cols] * 2, [ytop, ytop - sh], color=EDGES["focus"], lw=1.4, zorder=3)
    note(ax, x0 + sw / 2, ytop - sh - 0.25, f"{H}x{W} image,\n{rows}x{cols} patches of {patch}x{patch}")
    # the sequence of patches, in patchify's order
    xs, xe = 2.35, 6.85
    pitch = min(0.45, (xe - xs) / (N + 1))
    cw = 0.85 * pitch
    left = (xs + xe - (N + 1) * pitch) / 2                   # the [CLS] column's left edge; patches to its right
    cx = [left + (n + 1.5) * pitch for n in range(N)]        # column centres
    mid = (xs + xe) / 2
    yp = 3.2
    for n in range(N):
        _show(ax, seq[n], (cx[n] - cw / 2, cx[n] + cw / 2, yp - cw / 2, yp + cw / 2), lim, f"patch {n + 1}")
        ax.add_patch(_frame(cx[n] - cw / 2, yp - cw / 2, cw))
        note(ax, cx[n], yp + cw / 2 + 0.1, str(n + 1), size=7.0)
    note(ax, mid, yp + cw / 2 + 0.35, "patchify: the patches in reading order, as a sequence",
         size=FONT["note"])
    arrow(ax, (x0 + sw + 0.08, ytop - sh / 2), (cx[0] - cw / 2 - 0.05, yp))
    # one linear map for every patch
    lin = box(ax, mid, 2.45, f"one linear map $E$: {C * patch * patch} values → {d_model} "
              f"(the same for every patch)", w=xe - xs, h=0.36, role="param", size=8.5)
    arrow(ax, (mid, yp - cw / 2 - 0.02), lin.top)
    # tokens, [CLS] first, plus position embeddings
    ycell = 1.9
    tok = np.array([["CLS"] + [""] * N], dtype=object)
    roles = np.array([["focus"] + ["data"] * N], dtype=object)
    cells(ax, left, ycell, tok, cell=pitch, role=roles, fmt="{}", size=6.0)
    note(ax, left - 0.08, ycell - pitch / 2, "tokens", ha="right")
    arrow(ax, lin.bottom, (lin.x, ycell + 0.02))
    ypos = ycell - pitch - 0.25
    cells(ax, left, ypos, np.array([[""] * (N + 1)], dtype=object), cell=pitch, role="param", fmt=None)
    note(ax, left - 0.08, ypos - pitch / 2, "+ positions", ha="right")
    note(ax, mid, ypos + 0.125, f"+ (a learned vector per position: {N + 1} of them)",
         size=7.0)
    enc = box(ax, mid, 0.3, f"Transformer encoder: {N + 1} tokens in, the classifier reads the [CLS] token",
              w=xe - xs, h=0.36, role="op", size=8.5)
    arrow(ax, (enc.x, ypos - pitch - 0.02), enc.top)
    return fig


def _frame(x: float, y: float, w: float) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, w, fill=False, edgecolor=EDGES["focus"], lw=1.0, zorder=3)
