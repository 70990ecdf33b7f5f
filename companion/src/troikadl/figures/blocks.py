"""Building blocks of modern CNNs, drawn from the code that builds them; chapter 4 uses both diagrams
(§4.3 depthwise-separable convolutions, §4.12 residual connections).

:func:`residual_block` draws a residual block read from a real :class:`troikadl.resnet.ResidualBlock`: the
residual branch F(x) with the channels and stride of its convolutions, the batch normalizations it has, and
its shortcut (the identity, or the 1×1 convolution and normalization of a projection). :func:`depthwise_separable`
draws a standard convolution and a depthwise-separable one as stacks of channel slabs and kernels, each with
its parameter count from :func:`troikadl.architectures.conv_params` and
:func:`~troikadl.architectures.separable_params`.

Boxes, slabs and kernels carry a ``gid`` ("conv1", "bn1", "shortcut-conv", "std-kernel 2", "dw-kernel 0", ...)
so that the tests read the drawing back and compare it with the code it depicts.
"""

from __future__ import annotations

from typing import Any

from ..validate import check_instance, check_int
from .style import ARROWS, COLORS, EDGES, FONT, MAX_WIDTH, arrow, box, brace, canvas, note, text_width

__all__ = ["residual_block", "depthwise_separable", "CHANNEL_COLORS"]

#: Fills of channels 1..8 (light, told apart also by the channel's number written on it).
CHANNEL_COLORS = ("#a6cee3", "#fdbf6f", "#b2df8a", "#fb9a99", "#cab2d6", "#ffff99", "#8dd3c7", "#d9b38c")


def _fit(text: str) -> float:
    """The width of a box that holds ``text`` (its longest line at the label size, plus a margin)."""
    return max(text_width(line, FONT["label"]) for line in text.split("\n")) + 0.2


def _tagged_box(ax: Any, x: float, y: float, text: str, gid: str, **kw: Any) -> Any:
    """A :func:`box` whose patch and text carry ``gid`` (as wide as its text unless ``w`` is given)."""
    b = box(ax, x, y, text, **{"w": _fit(text), "h": 0.7 if "\n" in text else 0.42, **kw})
    ax.patches[-1].set_gid(gid)
    if text:
        ax.texts[-1].set_gid(gid)
    return b


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _conv_text(conv: Any) -> str:
    kh, kw = conv.kernel_size
    return f"{kh}×{kw} conv\n{conv.in_channels}→{conv.out_channels}\nstride {conv.stride[0]}"


def residual_block(block: Any = None) -> Any:
    """A residual block, ``relu(F(x) + shortcut(x))``, drawn from a :class:`~troikadl.resnet.ResidualBlock`.

    The main path runs left to right: conv, BN, ReLU, conv, BN (the residual branch F(x), under a bracket),
    the sum, ReLU. Each convolution is labelled with its kernel, channels and stride as the module holds them;
    the BN boxes are drawn only if the block normalizes. The shortcut (dotted) is the identity, or the
    projection's 1×1 convolution and BN. ``block`` defaults to ``ResidualBlock(16)``. Chapter 4, §4.12.
    """
    from torch import nn

    from ..normalization import BatchNorm2d
    from ..resnet import ResidualBlock

    block = ResidualBlock(16) if block is None else check_instance(block, "block", ResidualBlock)
    main = [("conv1", _conv_text(block.conv1), "param")]
    main += [("bn1", "BN", "op")] if isinstance(block.bn1, BatchNorm2d) else []
    main += [("relu1", "ReLU", "op"), ("conv2", _conv_text(block.conv2), "param")]
    main += [("bn2", "BN", "op")] if isinstance(block.bn2, BatchNorm2d) else []
    shortcut, kinds = [], []                     # the projection's layers (none for the identity)
    for m in [] if isinstance(block.shortcut, nn.Identity) else block.shortcut:
        if isinstance(m, nn.Conv2d):
            shortcut.append(("shortcut-conv", _conv_text(m), "param"))
            kinds.append(f"{m.kernel_size[0]}×{m.kernel_size[1]} conv, stride {m.stride[0]}")
        elif isinstance(m, BatchNorm2d):
            shortcut.append(("shortcut-bn", "BN", "op"))
            kinds.append("BN")
    width, height = MAX_WIDTH, 2.85 if shortcut else 2.45
    fig, ax = canvas(width, height)
    ym, ys = height - 1.05, (0.65 if shortcut else 0.5)      # the main lane and the shortcut lane
    widths = [_fit(t) for _, t, _ in main]
    fixed = 0.42 + sum(widths) + 0.34 + 0.62 + 0.42          # x, the branch, (+), ReLU, y
    gap = min(0.45, (width - 0.3 - fixed) / (len(main) + 4))
    xb = _tagged_box(ax, 0.36, ym, "x", "input", w=0.42, h=0.42, role="data", shape="circle")
    junction = (xb.right[0] + gap / 2, ym)
    ax.plot(*junction, "o", ms=4, color=EDGES["plain"], zorder=3)
    prev, x = xb, xb.right[0] + gap
    boxes = {}
    for (gid, text, role), w in zip(main, widths):
        b = _tagged_box(ax, x + w / 2, ym, text, gid, role=role)
        arrow(ax, prev.right, b.left)
        boxes[gid], prev, x = b, b, x + w + gap
    add = _tagged_box(ax, x + 0.17, ym, "+", "add", w=0.34, h=0.34, role="op", shape="circle")
    arrow(ax, prev.right, add.left)
    relu = _tagged_box(ax, add.right[0] + gap + 0.31, ym, "ReLU", "relu2", w=0.62, role="op")
    arrow(ax, add.right, relu.left)
    yb = _tagged_box(ax, relu.right[0] + gap + 0.21, ym, "y", "output", w=0.42, h=0.42, role="out", shape="circle")
    arrow(ax, relu.right, yb.left)
    first, last = boxes["conv1"], prev
    top = ym + 0.35 + 0.1
    brace(ax, (last.right[0], top), (first.left[0], top), side=0.1)
    note(ax, (first.left[0] + last.right[0]) / 2, top + 0.25, "residual branch $F(x)$", size=FONT["label"])
    note(ax, (add.x + yb.x) / 2, top + 0.25, r"$y = \mathrm{ReLU}(F(x) + \mathrm{shortcut}(x))$" if shortcut
         else r"$y = \mathrm{ReLU}(F(x) + x)$", size=FONT["label"])
    # the shortcut: down from the junction, along the lower lane, up into the sum (dotted, "skip")
    ax.plot([junction[0], junction[0], add.x], [ym, ys, ys], lw=1.2, zorder=1, color=ARROWS["skip"]["color"],
            ls=ARROWS["skip"]["linestyle"])[0].set_gid("shortcut")
    arrow(ax, (add.x, ys), add.bottom, kind="skip")
    mid = (junction[0] + add.x) / 2
    if not shortcut:
        note(ax, mid, ys - 0.2, "shortcut: identity $x$").set_gid("shortcut-label")
        return fig
    x = mid - (sum(_fit(t) for _, t, _ in shortcut) + 0.35 * (len(shortcut) - 1)) / 2
    for gid, text, role in shortcut:             # the projection's boxes, on the shortcut's lane
        x += _tagged_box(ax, x + _fit(text) / 2, ys, text, gid, role=role).w + 0.35
    note(ax, mid, 0.12, f"shortcut: projection ({', '.join(kinds)})").set_gid("shortcut-label")
    return fig


def _slab(ax: Any, x: float, y: float, side: float, fill: str, gid: str, *, edge: str = "#444444",
          grid: int = 0) -> None:
    """A square card (a channel's map, or a kernel's layer) with lower-left corner ``(x, y)``."""
    from matplotlib.patches import Rectangle

    patch = Rectangle((x, y), side, side, facecolor=fill, edgecolor=edge, lw=0.8, zorder=2)
    patch.set_gid(gid)
    ax.add_patch(patch)
    for t in range(1, grid):                        # a k x k kernel's grid on its front layer
        ax.plot([x + t * side / grid] * 2, [y, y + side], color=edge, lw=0.4, zorder=2)
        ax.plot([x, x + side], [y + t * side / grid] * 2, color=edge, lw=0.4, zorder=2)


def _stack(ax: Any, cx: float, cy: float, fills: list[str], gid: str, *, side: float, step: float) -> float:
    """Cards centred on ``(cx, cy)``, drawn back to front, each ``step`` up and right of the one before (the
    first, in front, lowest); card ``i`` is tagged ``f"{gid} {i}"``. Returns the stack's half width."""
    half = (side + (len(fills) - 1) * step) / 2
    for i in reversed(range(len(fills))):
        _slab(ax, cx - half + i * step, cy - half + i * step, side, fills[i], f"{gid} {i}")
    return half


def _kernel_layout(n: int, k: int, depth: int, max_w: float) -> tuple[float, float, float, int, int]:
    """Where ``n`` kernels of ``depth`` layers go: (card side, layer step, grid cell, columns, rows), in a grid of
    at most 3 rows, shrunk to fit ``max_w`` inches."""
    cols = -(-n // 3)
    rows = -(-n // cols)
    side, step = 0.14 + 0.045 * k, 0.045
    scale = min(1.0, max_w / (cols * (side + (depth - 1) * step + 0.1)))
    side, step = side * scale, step * scale
    return side, step, side + (depth - 1) * step + 0.1 * scale, cols, rows


def _kernels(ax: Any, cx: float, cy: float, layers: list[list[str]], gid: str, k: int, max_w: float) -> float:
    """One kernel per entry of ``layers`` (a stack of those fills, the front one gridded k x k) centred on
    ``(cx, cy)`` (:func:`_kernel_layout`); kernel ``j`` is tagged ``f"{gid} {j}"``, its hidden layers
    ``f"{gid}-layer"``. Returns the grid's half width."""
    side, step, cell, cols, rows = _kernel_layout(len(layers), k, len(layers[0]), max_w)
    pad = (cell - side - (len(layers[0]) - 1) * step) / 2
    for j, fills in enumerate(layers):
        r, c = j // cols, j % cols
        x, y = cx - cols * cell / 2 + c * cell + pad, cy + rows * cell / 2 - (r + 1) * cell + pad
        for i in reversed(range(len(fills))):
            _slab(ax, x + i * step, y + i * step, side, fills[i], f"{gid} {j}" if i == 0 else f"{gid}-layer",
                  grid=k if i == 0 else 0)
    return cols * cell / 2


def depthwise_separable(c_in: int = 3, c_out: int = 4, k: int = 3) -> Any:
    """A standard ``k x k`` convolution from ``c_in`` to ``c_out`` channels above a depthwise-separable one.

    Standard: the ``c_in`` input slabs, ``c_out`` kernels of ``k x k x c_in``, ``c_out`` output slabs.
    Depthwise-separable: ``c_in`` depthwise kernels ``k x k x 1`` (each in its channel's colour), ``c_in``
    intermediate slabs, ``c_out`` pointwise kernels ``1 x 1 x c_in``, ``c_out`` output slabs. Under each, the
    parameter count of :func:`~troikadl.architectures.conv_params` or :func:`~troikadl.architectures.separable_params`
    (with biases, the layout of Keras's ``SeparableConv2D``). ``c_in`` and ``c_out`` are at most 8, ``k`` an odd
    number up to 7, so that the drawing stays legible. Chapter 4, §4.3.
    """
    from ..architectures import conv_params, separable_params

    c_in, c_out = check_int(c_in, "c_in", min=1, max=8), check_int(c_out, "c_out", min=1, max=8)
    k = check_int(k, "k", min=1, max=7)
    if k % 2 == 0:
        raise ValueError(f"k must be odd (1, 3, 5 or 7), got {k}")
    std, sep = conv_params(c_in, c_out, k), separable_params(c_in, c_out, k)
    chan, out = list(CHANNEL_COLORS[:c_in]), [COLORS["out"]] * c_out
    side, step = 0.55, 0.06                              # a channel slab's side, and the step between slabs
    max_w = 2 * ((MAX_WIDTH - 1.5) / 4 - (side + 7 * step) / 2 - 0.3)   # between two stacks, with room for arrows

    def col_h(n: int, kk: int, depth: int) -> float:
        _, _, cell, _, rows = _kernel_layout(n, kk, depth, max_w)
        return cell * rows

    content = max(side + (max(c_in, c_out) - 1) * step, col_h(c_out, k, c_in), col_h(c_in, k, 1), col_h(c_out, 1, c_in))
    row_h = 0.35 + content + 0.45 + 0.45                # title, drawing, labels (two lines), parameters
    width, height = MAX_WIDTH, 2 * row_h + 0.05
    fig, ax = canvas(width, height)
    xs = [0.75 + i * (width - 1.5) / 4 for i in range(5)]  # the centres of the five stages

    def row(top: float, title: str, params: str, gid: str, stages: list[tuple[str, Any, str]]) -> None:
        note(ax, 0.1, top, title, size=FONT["label"], ha="left", va="top", fontweight="bold")
        cy = top - 0.35 - content / 2
        centres, halves = (xs if len(stages) == 5 else xs[::2]), []
        for x, (kind, what, label) in zip(centres, stages):
            if kind == "slabs":
                halves.append(_stack(ax, x, cy, what[0], what[1], side=side, step=step))
            else:
                halves.append(_kernels(ax, x, cy, what[0], what[1], what[2], max_w))
            note(ax, x, cy - content / 2 - 0.04, label, va="top")
        ends = list(zip(centres, halves))
        for (x0, h0), (x1, h1) in zip(ends, ends[1:]):
            arrow(ax, (x0 + h0 + 0.06, cy), (x1 - h1 - 0.06, cy))
        note(ax, width / 2, top - row_h + 0.3, params, size=FONT["label"]).set_gid(gid)

    row(height - 0.08, "Standard convolution", f"{c_in}·{k}·{k}·{c_out} + {c_out} = {std} parameters", "std-params",
        [("slabs", (chan, "std-in"), f"input\n{_count(c_in, 'channel')}"),
         ("kernels", ([chan] * c_out, "std-kernel", k), f"{_count(c_out, 'kernel')}\n{k}×{k}×{c_in}"),
         ("slabs", (out, "std-out"), f"output\n{_count(c_out, 'channel')}")])
    row(height - 0.08 - row_h, "Depthwise-separable convolution",
        f"{c_in}·{k}·{k} + {c_in}·{c_out} + {c_out} = {sep} parameters", "sep-params",
        [("slabs", (chan, "sep-in"), f"input\n{_count(c_in, 'channel')}"),
         ("kernels", ([[c] for c in chan], "dw-kernel", k),
          f"{_count(c_in, 'depthwise kernel')}\n{k}×{k}×1, one per channel"),
         ("slabs", (chan, "sep-mid"), f"{_count(c_in, 'channel')}\nnot mixed"),
         ("kernels", ([chan] * c_out, "pw-kernel", 1), f"{_count(c_out, 'pointwise kernel')}\n1×1×{c_in}"),
         ("slabs", (out, "sep-out"), f"output\n{_count(c_out, 'channel')}")])
    return fig
