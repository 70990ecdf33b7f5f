"""Floating-point formats drawn bit by bit (chapter 10): sign, exponent and mantissa fields.

:func:`float_formats` draws one row of boxes per format, one box per bit, from the bit counts of
:func:`troikadl.compress.precision.format_info`, so the picture is the package's description of the format
(which the tests check against ``torch.finfo``): float32 (1 + 8 + 23), float16 (1 + 5 + 10) and bfloat16
(1 + 8 + 7), where bfloat16 keeps float32's exponent and so its range, and float16 keeps more mantissa.
"""

from __future__ import annotations

from typing import Any, Sequence

from .style import COLORS, EDGES, MAX_WIDTH, canvas, note

__all__ = ["float_formats", "FIELD_ROLES"]

#: The diagram role (colour) of each field: the sign muted, the exponent a parameter-green, the mantissa data-blue.
FIELD_ROLES = {"sign": "muted", "exponent": "param", "mantissa": "data"}


def float_formats(names: Sequence[str] = ("float32", "float16", "bfloat16")) -> Any:
    """One row per format in ``names``, one box per bit (gid ``"<name>:<field>:<i>"``); returns the Figure."""
    from matplotlib.patches import Rectangle

    from ..compress.precision import format_info

    if isinstance(names, str) or not isinstance(names, (list, tuple)) or not names:
        raise ValueError(f"names must be a non-empty list of format names, got {str(names):.60}")
    if not all(isinstance(n, str) for n in names):
        raise TypeError(f"names must be format names (strings), got {list(names)!r:.60}")
    formats = []
    for n in names:
        try:
            formats.append(format_info(n))
        except (TypeError, ValueError) as e:
            raise ValueError(f"names: {e}") from None
    widest = max(f.bits for f in formats)
    label_w, tail_w = 0.85, 0.95
    bit = (MAX_WIDTH - label_w - tail_w - 0.1) / widest
    row_h = 0.32
    height = 0.55 + row_h * 1.5 * len(formats)
    fig, ax = canvas(MAX_WIDTH, height)
    for row, f in enumerate(formats):
        y = height - 0.45 - row * row_h * 1.5 - row_h
        fields = ["sign"] + ["exponent"] * f.exponent_bits + ["mantissa"] * f.mantissa_bits
        for i, field in enumerate(fields):
            role = FIELD_ROLES[field]
            ax.add_patch(Rectangle((label_w + i * bit, y), bit * 0.9, row_h, facecolor=COLORS[role],
                                   edgecolor=EDGES.get(role, "#555555"), linewidth=0.5,
                                   gid=f"{f.name}:{field}:{i}"))
        note(ax, label_w - 0.08, y + row_h / 2, f.name, ha="right", gid=f"{f.name}:name")
        note(ax, label_w + len(fields) * bit + 0.06, y + row_h / 2, f"1 + {f.exponent_bits} + {f.mantissa_bits}",
             ha="left", gid=f"{f.name}:counts")
    for k, (field, role) in enumerate(FIELD_ROLES.items()):
        x = label_w + k * 1.6
        ax.add_patch(Rectangle((x, height - 0.3), 0.18, 0.16, facecolor=COLORS[role],
                               edgecolor=EDGES.get(role, "#555555"), linewidth=0.5))
        note(ax, x + 0.25, height - 0.22, field, ha="left")
    return fig
