"""The float-format diagram (troikadl.figures.formats): its boxes are the bit fields torch.finfo implies."""

from __future__ import annotations

import math

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from troikadl.figures import formats  # noqa: E402
from figure_checks import assert_fits  # noqa: E402

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def fields(fig, name):
    counts = {"sign": 0, "exponent": 0, "mantissa": 0}
    for p in fig.axes[0].patches:
        gid = p.get_gid() or ""
        if gid.startswith(name + ":"):
            counts[gid.split(":")[1]] += 1
    return counts


@pytest.mark.parametrize("names", [("float32", "float16", "bfloat16"), ("bfloat16",), ["float16", "float32"]])
def test_each_row_has_the_bits_torch_finfo_implies(names):
    fig = formats.float_formats(names)
    assert_fits(fig)
    for name in names:
        fi = torch.finfo(DTYPES[name])
        mantissa = round(-math.log2(fi.eps))                    # eps = 2^-m
        exponent = round(math.log2(math.log2(fi.max) + 1)) + 1  # max ~ 2^(2^(e-1)), so e = log2(log2 max + 1) + 1
        assert fields(fig, name) == {"sign": 1, "exponent": exponent, "mantissa": mantissa}, name
        texts = {t.get_gid(): t.get_text() for t in fig.axes[0].texts if t.get_gid()}
        assert texts[f"{name}:counts"] == f"1 + {exponent} + {mantissa}" and texts[f"{name}:name"] == name
    matplotlib.pyplot.close(fig)


def test_bits_are_drawn_left_to_right_sign_exponent_mantissa():
    fig = formats.float_formats(("float16",))
    boxes = sorted((p for p in fig.axes[0].patches if (p.get_gid() or "").startswith("float16:")), key=lambda p: p.get_x())
    order = [p.get_gid().split(":")[1] for p in boxes]
    assert order == ["sign"] + ["exponent"] * 5 + ["mantissa"] * 10
    matplotlib.pyplot.close(fig)


@pytest.mark.parametrize("bad", ["float32", [], None, ("float32", "int8"), ("nonsense",)])
def test_bad_names_are_refused(bad):
    with pytest.raises((ValueError, TypeError)):
        formats.float_formats(bad)
