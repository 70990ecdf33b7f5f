"""Exercises on attention (chapter 6): public cases and plausible wrong answers."""

from __future__ import annotations

import numpy as np

from ..attention import scaled_dot_product_attention, sinusoidal_positions, softmax
from .core import Case, Exercise, register

CHAPTER = "06_attention"

# --- attention.masked_attention: one head, with a boolean mask --------------------------------------


def _att(q, k, v, mask, variant=""):
    s = q @ k.T / (1.0 if variant == "unscaled" else np.sqrt(q.shape[-1]))
    if variant == "mask ignored":
        return softmax(s) @ v
    if variant == "mask after softmax":
        return (softmax(s) * mask) @ v
    s = np.where(mask, s, -np.inf)
    return (softmax(s, axis=0) if variant == "softmax over queries" else softmax(s)) @ v


def _att_case(name, lq, lk, d, seed, mask_kind, hint=""):
    r = np.random.default_rng(seed)
    q, k, v = r.normal(size=(lq, d)), r.normal(size=(lk, d)), r.normal(size=(lk, 3))
    if mask_kind == "causal":
        mask = np.tril(np.ones((lq, lk), dtype=bool))
    elif mask_kind == "padding":
        mask = np.ones((lq, lk), dtype=bool)
        mask[:, -2:] = False
    else:
        mask = np.ones((lq, lk), dtype=bool)
    return Case(name, (q, k, v, mask), expected=scaled_dot_product_attention(q, k, v, mask)[0], hint=hint)


register(Exercise(
    id="attention.masked_attention", chapter=CHAPTER, function="masked_attention",
    title="Scaled dot-product attention with a mask",
    hint="scores = q k^T / sqrt(d_k); set scores to -inf where mask is False; softmax over the keys "
         "(each row); multiply by v.",
    cases=[
        _att_case("no mask (all True)", 3, 4, 8, 0, "none", "Divide the scores by sqrt(d_k)."),
        _att_case("causal mask", 4, 4, 5, 1, "causal", "Each query's weights sum to one over the keys it may see."),
        _att_case("padding: last two keys masked", 3, 6, 4, 2, "padding",
                  "Masked keys must get weight exactly 0, and the others must still sum to one."),
    ],
    wrong_answers={"no 1/sqrt(d_k)": lambda *a: _att(*a, variant="unscaled"),
                   "mask ignored": lambda *a: _att(*a, variant="mask ignored"),
                   "mask applied after the softmax": lambda *a: _att(*a, variant="mask after softmax"),
                   "softmax over the queries": lambda *a: _att(*a, variant="softmax over queries")},
))

# --- attention.sinusoidal_encoding -----------------------------------------------------------------


def _pe(length, d, variant=""):
    i = np.arange(0, d, 2)
    if variant == "exponent i, not 2i":
        i = np.arange(d // 2)
    angles = np.arange(length)[:, None] / 10000 ** (i[None, :] / d)
    pe = np.zeros((length, d))
    first, second = (np.cos, np.sin) if variant == "sin and cos swapped" else (np.sin, np.cos)
    if variant == "halves, not interleaved":
        pe[:, : d // 2], pe[:, d // 2:] = first(angles), second(angles)
    else:
        pe[:, 0::2], pe[:, 1::2] = first(angles), second(angles)
    return pe


register(Exercise(
    id="attention.sinusoidal_encoding", chapter=CHAPTER, function="sinusoidal_encoding",
    title="Sinusoidal positional encodings",
    hint="PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(p / 10000^(2i/d)); shape (length, d).",
    cases=[
        Case("4 positions, d = 4", (4, 4), expected=sinusoidal_positions(4, 4)),
        Case("10 positions, d = 8", (10, 8), expected=sinusoidal_positions(10, 8),
             hint="Even columns hold sines, odd columns cosines, interleaved."),
        Case("1 position, d = 6", (1, 6), expected=sinusoidal_positions(1, 6), hint="At p = 0: sin 0 = 0, cos 0 = 1."),
    ],
    wrong_answers={name: (lambda n: lambda L, d: _pe(L, d, n))(name)
                   for name in ("sin and cos swapped", "exponent i, not 2i", "halves, not interleaved")},
))
