"""The one-shot supernet diagram (troikadl.figures.supernet, chapter 8): the drawn slices are those the package's
supernet hands each sub-network (OneShotSupernet.extract), checked against the rule the chapter states."""

from __future__ import annotations

import re

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from troikadl.figures import style, supernet as fsn  # noqa: E402
from troikadl.nas import oneshot  # noqa: E402
from figure_checks import assert_fits  # noqa: E402


def by_gid(fig, gid):
    return [a for ax in fig.axes for a in list(ax.texts) + list(ax.patches) if a.get_gid() == gid]


def green(fig, gid) -> bool:
    (p,) = by_gid(fig, gid)
    colour = matplotlib.colors.to_hex(p.get_facecolor())
    assert colour in (style.COLORS["param"], style.COLORS["muted"]), colour
    return colour == style.COLORS["param"]


def drawn(fig, row):
    kernel = np.array([[[green(fig, f"{row} kernel {i} {r} {c}") for c in range(5)] for r in range(5)]
                       for i in range(3)])
    channels = np.array([[green(fig, f"{row} channels {i} {q // 4} {q % 4}") for q in range(32)] for i in range(3)])
    head = np.array([green(fig, f"{row} head {q // 4} {q % 4}") for q in range(32)])
    return kernel, channels, head


def expected(a):
    """The chapter's rule: the first `depth` blocks, the centre k x k of each 5 x 5 kernel, the first w channels."""
    d, w, k = a["depth"], a["width"], a["kernel"]
    kernel, channels = np.zeros((3, 5, 5), bool), np.zeros((3, 32), bool)
    lo = 2 - k // 2
    kernel[:d, lo:lo + k, lo:lo + k] = True
    channels[:d, :w] = True
    return kernel, channels, np.arange(32) < w


def shared(a, b):
    """Weights both sub-networks inherit, by formula: blocks, biases, the 1x1 projection (both skip), the head."""
    w, k = min(a["width"], b["width"]), min(a["kernel"], b["kernel"])
    n = sum(w * (1 if i == 0 else w) * k * k + w for i in range(min(a["depth"], b["depth"])))
    n += 2 * w if a["skip"] and b["skip"] else 0
    return n + 10 * w * 16 + 10


OTHER = ({"depth": 1, "width": 32, "kernel": 1, "activation": "relu", "skip": True},
         {"depth": 3, "width": 4, "kernel": 5, "skip": True})


@pytest.mark.parametrize("paths", [None, OTHER, fsn.DEFAULT_PATHS[::-1]])
def test_supernet_draws_the_slices_the_package_hands_each_path(paths):
    fig = fsn.supernet(paths)
    assert_fits(fig)
    archs = [{"activation": "relu", **a} for a in (fsn.DEFAULT_PATHS if paths is None else paths)]
    top = drawn(fig, "supernet")
    assert all(x.all() for x in top)  # the supernet row: every shared weight
    for name, a in zip(("path A", "path B"), archs):
        got, want = drawn(fig, name), expected(a)
        for g, e in zip(got, want):
            assert (g == e).all(), name
        s = fsn.inherited_slices(a)
        assert (got[0] == s["kernel"]).all() and (got[1] == s["channels"]).all() and (got[2] == s["head"]).all()
        model = oneshot.OneShotSupernet().extract(a)
        assert len(s["ids"]) == sum(p.numel() for p in model.parameters())
        assert bool(s["project"].any()) == a["skip"] and s["project"].sum() == (a["width"] if a["skip"] else 0)
        for i in range(3):
            (t,) = by_gid(fig, f"{name} slice {i}")
            k = a["kernel"]
            assert t.get_text() == (f"{k}×{k} kernel, {a['width']} ch" if i < a["depth"] else "not used")
    (t,) = by_gid(fig, "shared")
    n = [int(x.replace(",", "")) for x in re.findall(r"[\d,]+(?= weights| of them)|(?<=path B )[\d,]+", t.get_text())]
    ids = [fsn.inherited_slices(a)["ids"] for a in archs]
    assert n == [len(ids[0]), len(ids[1]), shared(*archs)]


def test_supernet_names_the_packages_options():
    fig = fsn.supernet()
    (t,) = by_gid(fig, "options")
    text = t.get_text()
    assert "kernel 1 | 3 | 5, width 4 | 8 | 16 | 32" in text and f"{len(oneshot.ARCHS)} architectures" in text


def test_a_wrong_slice_in_the_package_would_show(monkeypatch):
    """The figure draws what the supernet computes: slicing a corner of the kernel instead of its centre shows."""
    def corner(self, i, width, kernel):
        cin = self.in_channels if i == 0 else width
        return self.convs[i].weight[:width, :cin, :kernel, :kernel], self.convs[i].bias[:width]

    monkeypatch.setattr(oneshot.OneShotSupernet, "_kernel", corner)
    fig = fsn.supernet()
    kernel = drawn(fig, "path A")[0]
    assert kernel[0, 0, 0] and not kernel[0, 3, 3]


@pytest.mark.parametrize("paths, err, pattern", [
    ("ab", TypeError, "paths"), ({"depth": 1}, TypeError, "paths"), ([fsn.DEFAULT_PATHS[0]], ValueError, "paths"),
    ([fsn.DEFAULT_PATHS[0]] * 2, ValueError, "paths"), ([1, fsn.DEFAULT_PATHS[0]], TypeError, r"paths\[0\]"),
    ([fsn.DEFAULT_PATHS[0], {**fsn.DEFAULT_PATHS[0], "activation": "tanh"}], ValueError, r"paths\[1\]"),
    ([fsn.DEFAULT_PATHS[0], {**fsn.DEFAULT_PATHS[0], "width": 12}], ValueError, r"paths\[1\]"),
    ([fsn.DEFAULT_PATHS[0], {"depth": 2}], ValueError, r"paths\[1\]")])
def test_supernet_bad_input(paths, err, pattern):
    with pytest.raises(err, match=pattern):
        fsn.supernet(paths)


def test_inherited_slices_bad_input():
    with pytest.raises(ValueError, match="arch"):
        fsn.inherited_slices({**fsn.DEFAULT_PATHS[0], "depth": 4})
    with pytest.raises(TypeError, match="arch"):
        fsn.inherited_slices([3, 16])
