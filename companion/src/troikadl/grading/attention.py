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

# --- attention.top_p_filter: nucleus filtering of one row of logits (exercise 6.3) ------------------------


def _top_p_reference(logits, p):
    import torch

    from ..transformer import top_p_filter

    return top_p_filter(torch.as_tensor(np.asarray(logits, dtype=float)), p).numpy()


def _top_p_wrong(logits, p, variant):
    z = np.asarray(logits, dtype=float)
    probs = np.exp(z - z.max())
    probs /= probs.sum()
    order = np.arange(len(z)) if variant == "vocabulary order" else np.argsort(-z, kind="stable")
    cum = np.cumsum(probs[order])
    if variant == "stops before the crossing token":
        keep_sorted = cum <= p
        keep_sorted[0] = True
    else:
        keep_sorted = cum - probs[order] < p
        if variant != "top token not kept":
            keep_sorted[0] = True
    keep = np.zeros(len(z), dtype=bool)
    keep[order[keep_sorted]] = True
    if variant == "returns probabilities":
        return np.where(keep, probs, -np.inf)
    return np.where(keep, z, -np.inf)


def _top_p_case(name, probs, p, hint=""):
    logits = np.log(np.asarray(probs, dtype=float)) + 1.0  # logits, not log-probabilities: softmax them
    return Case(name, (logits, p), expected=lambda: _top_p_reference(logits, p), hint=hint)


register(Exercise(
    id="attention.top_p_filter", chapter=CHAPTER, function="top_p_filter",
    title="Top-p (nucleus) filtering",
    hint="probs = softmax(logits); visit the tokens from the most to the least likely and keep each one while the "
         "tokens kept before it hold less than p (the token that crosses p is kept; the most likely token is "
         "always kept); return the logits with every other entry set to -inf.",
    cases=[
        _top_p_case("the token that crosses p is kept", [0.5, 0.3, 0.15, 0.05], 0.7,
                    "0.5 < 0.7, so the second token is needed to reach p; the third is not."),
        _top_p_case("vocabulary order is not probability order", [0.1, 0.5, 0.05, 0.35], 0.8,
                    "Sort by probability first: the most likely tokens are kept, wherever they sit."),
        _top_p_case("p = 0 is greedy decoding", [0.2, 0.6, 0.2], 0.0,
                    "Even when p is 0 the most likely token is kept."),
        _top_p_case("p = 1 keeps everything", [0.25, 0.4, 0.3, 0.05], 1.0),
    ],
    wrong_answers={name: (lambda v: lambda logits, p: _top_p_wrong(logits, p, v))(name)
                   for name in ("stops before the crossing token", "vocabulary order", "top token not kept",
                                "returns probabilities")},
))
