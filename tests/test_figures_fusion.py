"""The diagrams of chapter 11 (troikadl.figures.fusion): drawn headless, within the width, true to the models."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from troikadl.figures import fusion as ff  # noqa: E402
from troikadl.figures.style import COLORS  # noqa: E402
from figure_checks import assert_fits  # noqa: E402


def test_fusion_kinds_sizes_are_the_models():
    from troikadl.data import vqa
    from troikadl.fusion import models as m

    fig = ff.fusion_kinds()
    assert_fits(fig)
    words = [t.get_text() for t in fig.axes[0].texts]
    V = len(vqa.VOCAB)
    early = m.EarlyFusion(vocab_size=V).net[0][0].in_features
    concat = m.ConcatFusion(vocab_size=V).head[0].in_features
    cross = m.CrossAttentionFusion(vocab_size=V)
    assert f"concat: {m.IMAGE_DIM} + {V} = {early}" in words
    assert early == m.IMAGE_DIM + V
    assert any(f"= {concat}" in w for w in words)
    assert f"{cross.patch_pos.shape[0]} patches: $K$, $V$" in words
    assert any(f"({cross.attend.num_heads} heads)" in w for w in words)
    for title in ("Early (direct) fusion", "Feature fusion (concat)", "Late (decision) fusion", "Cross-attention fusion"):
        assert title in words
    assert sum(w.startswith("image $x$") for w in words) == 4
    words = [t.get_text() for t in ff.fusion_kinds(vocab_size=30).axes[0].texts]
    assert f"concat: {m.IMAGE_DIM} + 30 = {m.IMAGE_DIM + 30}" in words


def drawn_matrix(fig, B):
    """The numbers written in the cells, by position, and the (row, col) of the gold cells."""
    ax = fig.axes[0]
    rects = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_fill()]
    x0 = min(p.get_x() for p in rects)
    y_top = max(p.get_y() + p.get_height() for p in rects)
    cell = rects[0].get_width()
    values = np.full((B, B), np.nan)
    for t in ax.texts:
        try:
            v = float(t.get_text())
        except ValueError:
            continue
        x, y = t.get_position()
        if not (x0 < x < x0 + B * cell and y_top - B * cell < y < y_top):
            continue  # a label outside the grid (the default labels are numbers)
        i, j = int((y_top - y) // cell), int((x - x0) // cell)
        assert np.isnan(values[i, j]), "two numbers in one cell"
        values[i, j] = v
    gold = {(int(round((y_top - p.get_y()) / cell)) - 1, int(round((p.get_x() - x0) / cell)))
            for p in rects if p.get_facecolor() == to_rgba(COLORS["focus"])}
    return values, gold


@pytest.mark.parametrize("B", [2, 6, 8])
def test_clip_similarity_draws_S_and_highlights_the_diagonal(B):
    S = np.random.default_rng(B).uniform(-1, 1, (B, B))
    S[0, 1] = -0.001  # drawn as 0.00, not -0.00
    fig = ff.clip_similarity(S)
    assert_fits(fig)
    values, gold = drawn_matrix(fig, B)
    np.testing.assert_allclose(values, np.round(S, 2) + 0.0, atol=1e-9)
    assert gold == {(i, i) for i in range(B)}
    assert "-0.00" not in [t.get_text() for t in fig.axes[0].texts]


def test_clip_similarity_labels_and_thumbnails():
    S = np.eye(3)
    fig = ff.clip_similarity(S, ["dog", "cat", "cow"], ["a red circle", "a blue square", "a green cross"])
    assert_fits(fig)
    words = [t.get_text() for t in fig.axes[0].texts]
    assert {"dog", "cat", "cow"} <= set(words) and "a red\ncircle" in words
    images = np.random.default_rng(0).random((3, 3, 16, 16))
    fig = ff.clip_similarity(S, images)
    assert len(fig.axes[0].images) == 3
    np.testing.assert_allclose(fig.axes[0].images[1].get_array(), images[1].transpose(1, 2, 0))


@pytest.mark.parametrize("args, error, word", [
    (([[1.0, 2.0, 3.0]],), ValueError, "S"),
    ((np.eye(9),), ValueError, "S"),
    ((np.ones(3),), ValueError, "S"),
    ((np.full((2, 2), np.nan),), ValueError, "S"),
    (([["a", "b"], ["c", "d"]],), TypeError, "S"),
    ((np.eye(2), ["one"]), ValueError, "image_labels"),
    ((np.eye(2), np.zeros((3, 3, 4, 4))), ValueError, "image_labels"),
    ((np.eye(2), None, "ab"), TypeError, "text_labels"),
    ((np.eye(2), None, ["a", "b", "c"]), ValueError, "text_labels"),
])
def test_clip_similarity_bad_input(args, error, word):
    with pytest.raises(error, match=word):
        ff.clip_similarity(*args)


def test_fusion_kinds_bad_input():
    with pytest.raises(ValueError, match="vocab_size"):
        ff.fusion_kinds(vocab_size=1)
    with pytest.raises(TypeError, match="vocab_size"):
        ff.fusion_kinds(vocab_size=2.5)
