"""Exercises on regularization (chapter 3, "What training generalizes to"): public cases and plausible wrong answers."""

from __future__ import annotations

import numpy as np

from .core import Case, Exercise, register

CHAPTER = "03_optimizers"

# --- regularization.dropout_forward: find and fix the bug in a dropout layer -------------------------------


def _df_original(x, keep, p, training):  # the colleague's code: scales by (1 - p), drops in evaluation too
    return x * keep * (1 - p)


def _df_always_drops(x, keep, p, training):  # the scale fixed, but the mask still applied in evaluation
    return x * keep / (1 - p)


def _df_eval_fixed_only(x, keep, p, training):  # evaluation fixed, the scale still (1 - p)
    return x * keep * (1 - p) if training else x


def _df_classic(x, keep, p, training):  # the original, non-inverted dropout: no scale in training, (1 - p) at test
    return x * keep if training else x * (1 - p)


def _df_mask_fraction(x, keep, p, training):  # divides by the fraction this mask happens to keep
    return x * keep / np.mean(keep) if training else x


def _df_scales_eval(x, keep, p, training):  # divides by (1 - p) in evaluation too
    return x * keep / (1 - p) if training else x / (1 - p)


_X = np.array([1.0, 2.0, 3.0, 4.0])
_KEEP = np.array([True, False, True, True])  # keeps 3 of 4, not 1 - p of them
_X2 = np.array([[1.0, -1.0], [0.5, 2.0]])
_KEEP2 = np.array([[True, True], [False, True]])

register(Exercise(
    id="regularization.dropout_forward", chapter=CHAPTER, function="dropout_forward",
    title="Find the bug in a dropout layer",
    hint="In training keep the masked values and divide them by (1 - p), so the expected output equals x; "
         "in evaluation return x unchanged.",
    cases=[
        Case("training, p 0.5", (_X, _KEEP, 0.5, True), expected=np.array([2.0, 0.0, 6.0, 8.0]),
             hint="A kept value is divided by the probability of keeping it, 1 - p (not multiplied; and "
                  "not by the fraction this particular mask kept)."),
        Case("evaluation is the identity", (_X2, _KEEP2, 0.25, False), expected=_X2,
             hint="With training=False, dropout does nothing: no mask, no scaling."),
        Case("training, p 0.2, 2-D", (_X2, _KEEP2, 0.2, True), expected=np.array([[1.25, -1.25], [0.0, 2.5]])),
        Case("p 0 keeps everything", (_X, np.ones(4, bool), 0.0, True), expected=_X),
    ],
    wrong_answers={"the original bug": _df_original, "still drops in evaluation": _df_always_drops,
                   "scale still (1 - p)": _df_eval_fixed_only, "non-inverted (scales at test time)": _df_classic,
                   "divides by the mask's own fraction": _df_mask_fraction, "scales in evaluation": _df_scales_eval},
))
