"""Exercises on quantization (chapter 10): public cases and plausible wrong answers."""

from __future__ import annotations

import numpy as np

from ..compress.quantize import QParams, dequantize
from .core import Case, Exercise, register

CHAPTER = "10_quantization"

# --- quant.quantize_tensor: asymmetric per-tensor affine quantization ------------------------------------


def _qt(x, bits, variant=""):
    x = np.asarray(x, dtype=float)
    qmax = 2 ** bits - 1
    lo, hi = (x.min(), x.max()) if variant == "range without 0" else (min(x.min(), 0.0), max(x.max(), 0.0))
    scale = (hi - lo) / (2 ** bits if variant == "2^b levels" else qmax)
    scale = scale if scale > 0 else 1.0
    rnd = np.floor if variant == "floor" else np.round
    zero = int(np.clip(rnd(-lo / scale), 0, qmax))
    q = np.clip(rnd(x / scale) + zero, 0, qmax).astype(np.int64)
    return q, float(scale), zero


register(Exercise(
    id="quant.quantize_tensor", chapter=CHAPTER, function="quantize_tensor",
    title="Asymmetric affine quantization",
    hint="lo = min(x.min(), 0), hi = max(x.max(), 0); scale = (hi - lo) / (2**bits - 1) (1.0 if that is 0); "
         "zero_point = round(-lo / scale); q = clip(round(x / scale) + zero_point, 0, 2**bits - 1).",
    cases=[
        Case("8 bits", (np.array([-1.0, 0.0, 0.5, 2.0]), 8),
             expected=(np.array([0, 85, 127, 255]), 3.0 / 255, 85),
             hint="0.5 / scale = 42.5 rounds to 42: np.round rounds halves to even."),
        Case("all positive: the range still includes 0", (np.array([1.0, 2.0, 3.0]), 4),
             expected=(np.array([5, 10, 15]), 0.2, 0), hint="Include 0 in the range, so that 0.0 is exact."),
        Case("round, do not truncate", (np.array([-0.3, 0.26, 0.7]), 3),
             expected=(np.array([0, 4, 7]), 1.0 / 7, 2), hint="Use np.round, not floor or int()."),
        Case("a matrix", (np.array([[0.0, -2.0], [6.0, 1.0]]), 2),
             expected=(np.array([[1, 0], [3, 1]]), 8.0 / 3, 1)),
    ],
    wrong_answers={
        "range without 0": lambda x, b: _qt(x, b, "range without 0"),
        "2^b levels instead of 2^b - 1 steps": lambda x, b: _qt(x, b, "2^b levels"),
        "floor instead of round": lambda x, b: _qt(x, b, "floor"),
    },
))

# --- quant.int_linear: a linear layer computed in integers -----------------------------------------------


def _float_layer(qx, sx, zx, qw, sw, bias):
    """The expected answer: the float layer on the package's dequantized inputs and (symmetric) weights."""
    x = dequantize(qx, QParams(np.array(sx), np.array(zx), bits=8, symmetric=False))
    w = dequantize(qw, QParams(np.array(sw), np.array(0), bits=8, symmetric=True))
    return x @ w.T + bias


def _il(qx, sx, zx, qw, sw, bias, variant):  # the wrong answers
    qx, qw = np.asarray(qx, np.int64), np.asarray(qw, np.int64)
    if variant == "zero point ignored":
        acc = qx @ qw.T
    elif variant == "zero point subtracted once":
        acc = qx @ qw.T - zx
    else:
        acc = (qx - zx) @ qw.T
    scale = sx / sw if variant == "scales divided" else sx * sw
    return scale * acc + np.asarray(bias, float)


_QX = np.array([[130, 128, 100], [255, 0, 128]])
_QW = np.array([[10, -20, 5], [0, 127, -127]])

register(Exercise(
    id="quant.int_linear", chapter=CHAPTER, function="int_linear",
    title="A linear layer in integer arithmetic",
    hint="Accumulate in integers: acc = (qx - zx) @ qw.T (the weights are symmetric: zero point 0); then "
         "y = sx * sw * acc + bias.",
    cases=[
        Case("two inputs, two units", (_QX, 0.02, 128, _QW, 0.01, np.array([0.5, -0.5])),
             expected=lambda: _float_layer(_QX, 0.02, 128, _QW, 0.01, np.array([0.5, -0.5]))),
        Case("the input's zero point matters", (np.array([[128, 128, 128]]), 0.1, 128, _QW, 0.5, np.zeros(2)),
             expected=np.zeros((1, 2)), hint="q = zero_point stands for the real number 0.0."),
        Case("one unit, no bias", (np.array([[1, 2]]), 0.5, 0, np.array([[3, 4]]), 0.25, np.zeros(1)),
             expected=np.array([[1.375]])),
    ],
    wrong_answers={
        "zero point ignored": lambda *a: _il(*a, variant="zero point ignored"),
        "zero point subtracted after the sum": lambda *a: _il(*a, variant="zero point subtracted once"),
        "scales divided": lambda *a: _il(*a, variant="scales divided"),
    },
))
