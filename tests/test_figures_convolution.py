"""The convolution diagrams (chapter 4) draw what the code computes: sizes, taps, pooled values, shapes."""

from __future__ import annotations

import itertools

import matplotlib
import matplotlib.colors

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from troikadl.cnn import lenet, trace_shapes  # noqa: E402
from troikadl.conv import conv_output_size  # noqa: E402
from troikadl.figures import convolution as C  # noqa: E402
from troikadl.figures.style import COLORS  # noqa: E402
from figure_checks import assert_fits  # noqa: E402


def _gids(fig, prefix):
    """{(a, b): artist} for the patches and texts whose gid is "<prefix> a,b"."""
    ax = fig.axes[0]
    out = {}
    for artist in [*ax.patches, *ax.texts]:
        gid = artist.get_gid() or ""
        if gid.split(" ")[0] == prefix:
            out[tuple(int(v) for v in gid.split(" ")[1].split(","))] = artist
    return out


CONFIGS = [  # n, k, stride, padding, dilation, output
    (7, 3, 2, 1, 2, (0, 1)),
    (5, 3, 1, 1, 1, (2, 3)),
    (8, 3, 3, 0, 1, (1, 1)),
    (6, 2, 2, 2, 3, (1, 0)),
    (9, 3, 1, 1, 2, (4, 6)),
    (4, 1, 1, 0, 1, (3, 3)),
    (10, 3, 2, 1, 1, (4, 0)),
]


@pytest.mark.parametrize("n, k, s, p, d, out", CONFIGS)
def test_conv_sliding_draws_the_real_geometry(n, k, s, p, d, out):
    fig = C.conv_sliding(n=n, kernel=k, stride=s, padding=p, dilation=d, output=out)
    try:
        assert_fits(fig)
        m = conv_output_size(n, k, s, p, d)
        y = F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s, padding=p, dilation=d)
        assert y.shape[-2:] == (m, m)                    # the package's formula is PyTorch's
        outputs = {**_gids(fig, "output"), **_gids(fig, "output*")}
        assert sorted(outputs) == [(a, b) for a in range(m) for b in range(m)]
        assert list(_gids(fig, "output*")) == [tuple(out)]
        grid = {**_gids(fig, "input"), **_gids(fig, "pad"), **_gids(fig, "tap")}
        assert sorted(grid) == [(a, b) for a in range(-p, n + p) for b in range(-p, n + p)]
        i, j = out
        rows = [i * s + a * d - p for a in range(k)]
        cols = [j * s + b * d - p for b in range(k)]
        assert set(_gids(fig, "tap")) == set(itertools.product(rows, cols))
        # the taps inside the input are exactly the inputs that output (i, j) depends on, by autograd
        x = torch.zeros(1, 1, n, n, requires_grad=True)
        F.conv2d(x, torch.ones(1, 1, k, k), stride=s, padding=p, dilation=d)[0, 0, i, j].backward()
        used = {tuple(map(int, t)) for t in torch.nonzero(x.grad[0, 0])}
        assert {t for t in _gids(fig, "tap") if 0 <= min(t) and max(t) < n} == used
        for t, patch in grid.items():                     # the padding ring is grey, the taps gold
            kind = patch.get_gid().split()[0]
            inside = 0 <= min(t) and max(t) < n
            assert kind == "tap" or kind == ("input" if inside else "pad"), (t, kind)
            role = {"tap": "focus", "input": "data", "pad": "muted"}[kind]
            assert matplotlib.colors.same_color(patch.get_facecolor(), COLORS[role])
        texts = " ".join(t.get_text() for t in fig.axes[0].texts)
        assert f"= {m}$" in texts and f"{n} + 2\\cdot{p}" in texts
    finally:
        plt.close(fig)


def _pooled_values(fig):
    return {ij: float(t.get_text().replace("−", "-")) for ij, t in _gids(fig, "pooled").items()}


@pytest.mark.parametrize("x, size", [
    (None, 2),
    (np.random.default_rng(0).normal(size=(5, 5)), 2),
    (np.random.default_rng(1).integers(0, 20, size=(6, 7)), 3),
    (np.arange(12.0).reshape(3, 4), 1),
])
def test_max_pooling_shows_the_real_max_pool(x, size):
    fig = C.max_pooling(x, size)
    try:
        assert_fits(fig)
        grid = np.asarray(C.POOL_EXAMPLE if x is None else x, dtype=float)
        ref = F.max_pool2d(torch.as_tensor(grid)[None, None], size)[0, 0].numpy()
        got = _pooled_values(fig)
        assert sorted(got) == [(a, b) for a in range(ref.shape[0]) for b in range(ref.shape[1])]
        tol = 0 if np.all(grid == np.round(grid)) else 0.005
        for (a, b), v in got.items():
            assert abs(v - ref[a, b]) <= tol, ((a, b), v, ref[a, b])
        for (r, q) in _gids(fig, "max"):                 # every highlighted cell is its window's maximum
            assert grid[r, q] == ref[r // size, q // size]
        assert len(_gids(fig, "max")) >= ref.size
    finally:
        plt.close(fig)


def _real_trace(model, input_shape):
    """Shapes by iterating the model's layers on a batch; shape-keeping layers folded, as the figure does."""
    x = torch.zeros(2, *input_shape)
    shapes = [tuple(input_shape)]
    for layer in model:
        x = layer(x)
        if tuple(x.shape[1:]) != shapes[-1]:
            shapes.append(tuple(x.shape[1:]))
    return shapes


def _labels(fig):
    found = {int(t.get_gid().split()[1]): t.get_text() for t in fig.axes[0].texts
             if (t.get_gid() or "").startswith("shape ")}
    return [found[k] for k in sorted(found)]


@pytest.mark.parametrize("model, input_shape", [
    (lenet(channels=(32, 64), hidden=128), (1, 8, 8)),
    (lenet(image_size=12, channels=(4, 8), hidden=16, n_classes=3), (1, 12, 12)),
    (nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                   nn.Linear(16 * 7 * 7, 10)), (3, 28, 28)),
])
def test_shape_trace_labels_are_the_models_shapes(model, input_shape):
    expected = ["×".join(map(str, sh)) for sh in _real_trace(model, input_shape)]
    fig = C.shape_trace(trace_shapes(model, input_shape))
    try:
        assert_fits(fig)
        assert _labels(fig) == expected
    finally:
        plt.close(fig)
    x, shapes, names = torch.zeros(1, *input_shape), [input_shape], []
    for layer in model:
        x = layer(x)
        shapes.append(tuple(x.shape[1:]))
        names.append(type(layer).__name__)
    fig = C.shape_trace(shapes, names)
    try:
        assert_fits(fig)
        assert _labels(fig) == expected
        renderer = fig.canvas.get_renderer()
        blocks = [p.get_window_extent(renderer) for p in fig.axes[0].patches if (p.get_gid() or "").startswith("block")]
        assert len({p.get_gid() for p in fig.axes[0].patches if (p.get_gid() or "").startswith("block")}) == len(expected)
        for t in fig.axes[0].texts:                    # no layer name runs into a block
            assert not any(t.get_window_extent(renderer).overlaps(b) for b in blocks), t.get_text()
        arrow_labels = [t.get_text() for t in fig.axes[0].texts if "conv" in t.get_text()]
        assert len(arrow_labels) == sum(isinstance(m, nn.Conv2d) for m in model)
    finally:
        plt.close(fig)


@pytest.mark.parametrize("call, exc, name", [
    (lambda: C.conv_sliding(n=2.5), TypeError, "n"),
    (lambda: C.conv_sliding(n=3, kernel=3, padding=0, dilation=2), ValueError, "kernel"),
    (lambda: C.conv_sliding(stride=0), ValueError, "stride"),
    (lambda: C.conv_sliding(padding=-1), ValueError, "padding"),
    (lambda: C.conv_sliding(output=(3, 0)), ValueError, "output"),
    (lambda: C.conv_sliding(output=1), TypeError, "output"),
    (lambda: C.conv_sliding(n=20), ValueError, "n + 2 padding"),
    (lambda: C.max_pooling(np.zeros(4)), ValueError, "x"),
    (lambda: C.max_pooling([["a", "b"]]), TypeError, "x"),
    (lambda: C.max_pooling(size=0), ValueError, "size"),
    (lambda: C.max_pooling(size=5), ValueError, "size"),
    (lambda: C.max_pooling(np.zeros((12, 12))), ValueError, "x"),
    (lambda: C.shape_trace([(1, 8, 8)]), TypeError, "shapes"),
    (lambda: C.shape_trace([(1, 8, 8), (4, 8)]), ValueError, "shapes[1]"),
    (lambda: C.shape_trace([(1, 8, 8), (4, 0, 8)]), ValueError, "shapes[1][1]"),
    (lambda: C.shape_trace([(1, 8, 8), (4, 8, 8)], names=["a", "b"]), ValueError, "names"),
    (lambda: C.shape_trace([(1, 8, 8), (4, 8, 8)], names="conv"), TypeError, "names"),
    (lambda: C.shape_trace(trace_shapes(nn.Sequential(nn.Linear(3, 2)), (5,))), ValueError, "shapes"),
])
def test_bad_input_names_the_argument(call, exc, name):
    with pytest.raises(exc, match=name.replace("[", r"\[").replace("]", r"\]").replace("+", r"\+")):
        call()
    plt.close("all")
