"""The check every diagram's tests share: it fits the book's column and its lettering is legible."""

from __future__ import annotations

import itertools

from troikadl.figures.style import MAX_WIDTH


def assert_fits(fig) -> None:
    """At most MAX_WIDTH wide; every text inside the figure; no two texts overlap (by more than 1 px both ways)."""
    assert fig.get_size_inches()[0] <= MAX_WIDTH + 1e-9, f"{fig.get_size_inches()[0]} in is wider than {MAX_WIDTH}"
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = fig.bbox
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for ax in fig.axes for t in ax.texts
             if t.get_text().strip() and t.get_visible()]
    for text, bb in boxes:
        assert bb.x0 >= frame.x0 - 1 and bb.x1 <= frame.x1 + 1 and bb.y0 >= frame.y0 - 1 and bb.y1 <= frame.y1 + 1, \
            f"{text!r} is cut off: {bb} outside {frame}"
    for (ta, a), (tb, b) in itertools.combinations(boxes, 2):
        overlap_w = min(a.x1, b.x1) - max(a.x0, b.x0)
        overlap_h = min(a.y1, b.y1) - max(a.y0, b.y0)
        assert overlap_w <= 1 or overlap_h <= 1, f"texts {ta!r} and {tb!r} overlap"


def texts(fig) -> list[str]:
    """Every string written on the figure's axes, in drawing order."""
    return [t.get_text() for ax in fig.axes for t in ax.texts]
