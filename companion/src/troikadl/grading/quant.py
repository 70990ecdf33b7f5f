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

# --- quant.predicted_mse: the error of int4 groups, predicted from their steps ------------------------------


def _steps(W, bits, group_size, variant=""):
    """Each group's step ``max|w| / (2^(b-1) - 1)`` (0 for an all-zero group), one per weight's group."""
    W = np.asarray(W, dtype=float)
    rows, cols = W.shape
    amax = np.abs(W).reshape(rows, cols // group_size, group_size).max(axis=2)
    if variant == "per tensor":
        amax = np.full_like(amax, np.abs(W).max())
    levels = 2 ** bits - 1 if variant == "2^b - 1 levels" else 2 ** (bits - 1) - 1
    return amax / levels


def _predicted_package(W, bits, group_size):
    """The expected answer: the package's tested group scales (0 for an all-zero group), ``mean(s^2) / 12``."""
    from ..compress.groupwise import group_quantize

    gq = group_quantize(np.asarray(W, dtype=float), bits, group_size, symmetric=True)
    amax = np.abs(np.asarray(W, dtype=float)).reshape(gq.scales.shape + (group_size,)).max(axis=2)
    return float(np.mean(np.where(amax > 0, gq.scales, 0.0) ** 2) / 12)


def _predicted_wrong(W, bits, group_size, variant):
    s = _steps(W, bits, group_size, "" if variant in ("s^2 / 4", "mean of s") else variant)
    if variant == "mean of s":
        return float(np.mean(s) ** 2 / 12)
    return float(np.mean(s ** 2) / (4 if variant == "s^2 / 4" else 12))


_W_HAND = np.array([[1.0, -0.5, 0.25, 0.1], [0.7, 0.7, -0.35, 0.0]])
_W_ZERO = np.array([[0.0, 0.0, 0.3, -0.6], [0.0, 0.0, 1.2, 0.6]])

register(Exercise(
    id="quant.predicted_mse", chapter=CHAPTER, function="predicted_mse",
    title="Predict the error of int4 groups",
    hint="Cut each row of W into groups of group_size consecutive columns; each group's step is "
         "s = max|w| / (2**(bits - 1) - 1); rounding to nearest errs by about uniform [-s/2, s/2], mean square "
         "s**2 / 12; return the mean over all weights of their group's s**2 / 12 (a float).",
    cases=[
        Case("four groups of two, by hand", (_W_HAND, 4, 2), expected=(1 + 0.0625 + 0.49 + 0.1225) / 49 / 12 / 4,
             hint="The group maxima are 1, 0.25, 0.7, 0.35; int4 symmetric has 2**3 - 1 = 7 steps each side."),
        Case("one group per row", (_W_HAND, 4, 4), expected=(1 + 0.49) / 49 / 12 / 2,
             hint="group_size = the row length: one step per row, set by the row's largest |w|."),
        Case("3 bits", (_W_HAND, 3, 2), expected=(1 + 0.0625 + 0.49 + 0.1225) / 9 / 12 / 4,
             hint="3 bits: 2**2 - 1 = 3 steps each side of 0."),
        Case("an all-zero group errs by nothing", (_W_ZERO, 4, 2), expected=lambda: _predicted_package(_W_ZERO, 4, 2),
             hint="A group of zeros has max|w| = 0, so s = 0: it contributes 0 to the mean."),
    ],
    wrong_answers={
        "s^2 / 4 instead of s^2 / 12": lambda W, b, g: _predicted_wrong(W, b, g, "s^2 / 4"),
        "step from 2^b - 1 levels": lambda W, b, g: _predicted_wrong(W, b, g, "2^b - 1 levels"),
        "per-tensor max instead of per group": lambda W, b, g: _predicted_wrong(W, b, g, "per tensor"),
        "mean of s, squared": lambda W, b, g: _predicted_wrong(W, b, g, "mean of s"),
    },
))
