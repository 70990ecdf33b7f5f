"""Exercises on model compression (chapter 9): public cases and plausible wrong answers."""

from __future__ import annotations

import numpy as np

from ..attention import softmax
from ..compress.distill import distillation_loss
from ..compress.lowrank import truncated_svd
from .core import Case, Exercise, register

CHAPTER = "09_compression"

# --- compress.global_magnitude_mask ---------------------------------------------------------------------


def _gmask(weights, sparsity, variant=""):
    ws = [np.asarray(w, dtype=float) for w in weights]
    if variant == "per layer":
        out = []
        for w in ws:
            keep = np.ones(w.size, bool)
            keep[np.argsort(np.abs(w).ravel(), kind="stable")[:int(round(sparsity * w.size))]] = False
            out.append(keep.reshape(w.shape))
        return out
    flat = np.concatenate([w.ravel() for w in ws])
    score = flat if variant == "signed" else np.abs(flat)
    k = int(round(sparsity * flat.size))
    if variant == "quantile":
        keep = np.abs(flat) > np.quantile(np.abs(flat), sparsity)
    else:
        keep = np.ones(flat.size, bool)
        order = np.argsort(score, kind="stable")
        keep[order[:k]] = False
        if variant == "largest":
            keep = np.ones(flat.size, bool)
            keep[order[::-1][:k]] = False
    out, start = [], 0
    for w in ws:
        out.append(keep[start:start + w.size].reshape(w.shape))
        start += w.size
    return out


_W1 = np.array([[0.5, -0.1], [2.0, -3.0]])
_W2 = np.array([[0.05, 0.2, -0.02], [1.0, -0.4, 0.3]])

register(Exercise(
    id="compress.global_magnitude_mask", chapter=CHAPTER, function="global_magnitude_mask",
    title="A global magnitude mask",
    hint="Rank |w| over ALL matrices together; mark the round(sparsity * total) smallest False (ties: the "
         "earlier position in the concatenated, row-major order goes first); return one bool array per matrix.",
    cases=[
        Case("one matrix, half", ([_W1], 0.5), expected=[np.array([[False, False], [True, True]])]),
        Case("two matrices, ranked together", ([_W1, _W2], 0.5),
             expected=[np.array([[True, False], [True, True]]), np.array([[False, False, False], [True, True, False]])],
             hint="A global mask can remove more from one matrix than from another."),
        Case("magnitude, not sign", ([np.array([[-5.0, 1.0, -0.5, 2.0]])], 0.5),
             expected=[np.array([[True, False, False, True]])], hint="Rank by the absolute value."),
        Case("ties: exactly k removed", ([np.array([[1.0, 1.0, 1.0, 1.0]])], 0.5),
             expected=[np.array([[False, False, True, True]])],
             hint="Exactly round(sparsity * n) weights go, even when magnitudes tie: the earlier ones first."),
        Case("sparsity 0 keeps everything", ([_W2], 0.0), expected=[np.ones((2, 3), bool)]),
    ],
    wrong_answers={
        "per-layer instead of global": lambda w, s: _gmask(w, s, "per layer"),
        "ranks signed values": lambda w, s: _gmask(w, s, "signed"),
        "threshold at a quantile": lambda w, s: _gmask(w, s, "quantile"),
        "removes the largest": lambda w, s: _gmask(w, s, "largest"),
    },
))

# --- compress.low_rank_approx ------------------------------------------------------------------------------


def _best_rank(W, rank):
    """The expected answer: the package's truncated SVD (tested against the Eckart-Young error)."""
    A, B = truncated_svd(W, rank)
    return A @ B


def _lowrank(W, rank, variant):  # the wrong answers
    U, S, Vh = np.linalg.svd(np.asarray(W, float), full_matrices=False)
    if variant == "smallest":
        return (U[:, -rank:] * S[-rank:]) @ Vh[-rank:]
    if variant == "no S":
        return U[:, :rank] @ Vh[:rank]
    if variant == "off by one":
        rank = rank + 1
    return (U[:, :rank] * S[:rank]) @ Vh[:rank]


_M = np.array([[3.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 3.0], [1.0, 0.0, 1.0]])

register(Exercise(
    id="compress.low_rank_approx", chapter=CHAPTER, function="low_rank_approx",
    title="The best rank-r approximation",
    hint="U, S, Vh = np.linalg.svd(W, full_matrices=False); keep the first r singular values and vectors: "
         "(U[:, :r] * S[:r]) @ Vh[:r].",
    cases=[
        Case("rank 1", (_M, 1), expected=lambda: _best_rank(_M, 1)),
        Case("rank 2", (_M, 2), expected=lambda: _best_rank(_M, 2), hint="Keep the LARGEST singular values."),
        Case("full rank gives W back", (_M, 3), expected=_M),
        Case("a diagonal matrix", (np.diag([1.0, 5.0, 2.0]), 2), expected=np.diag([0.0, 5.0, 2.0]),
             hint="Singular values come sorted, largest first, whatever their position on the diagonal."),
    ],
    wrong_answers={
        "keeps the smallest singular values": lambda W, r: _lowrank(W, r, "smallest"),
        "forgets the singular values": lambda W, r: _lowrank(W, r, "no S"),
        "keeps r + 1": lambda W, r: _lowrank(W, min(r, min(np.shape(W)) - 1), "off by one"),
    },
))

# --- compress.soft_target_loss ----------------------------------------------------------------------------


def _distillation(zs, zt, T):
    """The expected answer: the soft term of the package's distillation loss (no labels), in float64."""
    import torch

    return float(distillation_loss(torch.tensor(zs, dtype=torch.float64), torch.tensor(zt, dtype=torch.float64), T=T))


def _soft(zs, zt, T, variant):  # the wrong answers
    ps = softmax(np.asarray(zs, float) / (T if variant != "T on teacher only" else 1.0), axis=1)
    pt = softmax(np.asarray(zt, float) / T, axis=1)
    kl = (ps * (np.log(ps) - np.log(pt))) if variant == "reversed" else (pt * (np.log(pt) - np.log(ps)))
    per = kl.sum(1)
    total = per.sum() if variant == "sum" else per.mean()
    return float(total * (1.0 if variant == "no T^2" else T * T))


_ZS = np.array([[2.0, 0.5, -1.0], [0.0, 1.0, 0.3]])
_ZT = np.array([[3.0, 1.0, -2.0], [-1.0, 2.0, 0.0]])

register(Exercise(
    id="compress.soft_target_loss", chapter=CHAPTER, function="soft_target_loss",
    title="The soft-target term of distillation",
    hint="p_t = softmax(z_t / T), p_s = softmax(z_s / T) (row-wise); per example KL(p_t || p_s) = "
         "sum p_t (log p_t - log p_s); return T**2 times its mean over the batch.",
    cases=[
        Case("T = 1", (_ZS, _ZT, 1.0), expected=lambda: _distillation(_ZS, _ZT, 1.0)),
        Case("T = 4", (_ZS, _ZT, 4.0), expected=lambda: _distillation(_ZS, _ZT, 4.0),
             hint="Divide both logits by T, and multiply the KL divergence by T**2."),
        Case("student equals teacher", (_ZT, _ZT, 2.0), expected=0.0, atol=1e-12),
        Case("one example", (_ZS[:1], _ZT[:1], 2.0), expected=lambda: _distillation(_ZS[:1], _ZT[:1], 2.0)),
    ],
    wrong_answers={
        "no T squared": lambda a, b, T: _soft(a, b, T, "no T^2"),
        "KL the wrong way round": lambda a, b, T: _soft(a, b, T, "reversed"),
        "sum instead of mean": lambda a, b, T: _soft(a, b, T, "sum"),
        "temperature on the teacher only": lambda a, b, T: _soft(a, b, T, "T on teacher only"),
    },
))

# --- compress.prune_round: one round of iterative magnitude pruning --------------------------------------


def _round_package(weights, masks, rate):
    """The expected answer: the package's prune_round (checked equal to torch's repeated global pruning)."""
    import torch

    from ..compress.lottery import prune_round

    new = prune_round([torch.tensor(np.asarray(w, dtype=float)) for w in weights],
                      [torch.tensor(np.asarray(m, dtype=bool)) for m in masks], rate)
    return [m.numpy() for m in new]


def _round_wrong(weights, masks, rate, variant):  # the wrong answers
    ws = [np.abs(np.asarray(w, dtype=float)) for w in weights]
    ms = [np.asarray(m, dtype=bool) for m in masks]
    if variant == "per layer":
        out = []
        for w, m in zip(ws, ms):
            keep, alive = m.ravel().copy(), np.flatnonzero(m)
            keep[alive[np.argsort(w.ravel()[alive], kind="stable")[:int(round(rate * alive.size))]]] = False
            out.append(keep.reshape(m.shape))
        return out
    flat, keep = np.concatenate([w.ravel() for w in ws]), np.concatenate([m.ravel() for m in ms])
    alive = np.flatnonzero(keep)
    k = int(round(rate * (keep.size if variant == "all" else alive.size)))
    if variant == "zeros":  # ranks every position, the pruned ones as |w| = 0, then keeps the old mask
        keep = keep & ~np.isin(np.arange(keep.size), np.argsort(flat * keep, kind="stable")[:k])
    elif variant == "forgets":  # a fresh global mask at the new overall sparsity: pruned weights may come back
        keep = np.ones(keep.size, bool)
        keep[np.argsort(flat, kind="stable")[:keep.size - alive.size + k]] = False
    else:
        order = np.argsort(flat[alive], kind="stable")
        keep[alive[order[::-1][:k] if variant == "largest" else order[:k]]] = False
    out, start = [], 0
    for m in ms:
        out.append(keep[start:start + m.size].reshape(m.shape))
        start += m.size
    return out


_ALL = [np.ones((2, 2), bool), np.ones((2, 3), bool)]
_HALF = [np.ones((2, 2), bool), np.array([[False, False, False], [True, True, True]])]

register(Exercise(
    id="compress.prune_round", chapter=CHAPTER, function="prune_round",
    title="One round of iterative magnitude pruning",
    hint="Rank |w| of the SURVIVING weights (mask True) over all matrices together; mark the "
         "round(rate * surviving) smallest False (ties: the earlier position in the concatenated row-major order "
         "first); weights already pruned stay pruned; return one bool array per matrix.",
    cases=[
        Case("first round: a global mask", ([_W1, _W2], _ALL, 0.5),
             expected=[np.array([[True, False], [True, True]]), np.array([[False, False, False], [True, True, False]])],
             hint="All layers are ranked together, as in exercise 9.1."),
        Case("a fraction of the survivors", ([_W1, _W2], _HALF, 0.5),
             expected=[np.array([[False, False], [True, True]]),
                       np.array([[False, False, False], [True, False, False]])],
             hint="Remove round(rate * surviving) weights, 4 of the 7 that survive here; rank only the survivors."),
        Case("pruned stays pruned",
             ([np.array([[5.0, 0.1, 0.2, 0.3]])], [np.array([[False, True, True, True]])], 1 / 3),
             expected=[np.array([[False, False, True, True]])],
             hint="A weight pruned in an earlier round never comes back, however large its value."),
        Case("pruned weights that hold zeros", ([np.array([[0.0, 0.0, 0.3, -0.1, 0.2, 0.4]])],
                                                 [np.array([[False, False, True, True, True, True]])], 0.5),
             expected=[np.array([[False, False, True, False, False, True]])],
             hint="The zeros of pruned weights are not candidates: remove k weights that are still kept."),
        Case("ties: exactly k, the earlier first",
             ([np.ones((1, 6))], [np.array([[True, False, True, True, True, True]])], 0.4),
             expected=[np.array([[False, False, False, True, True, True]])]),
        Case("rate 0 changes nothing", ([_W1, _W2], _HALF, 0.0), expected=_HALF),
    ],
    wrong_answers={
        "prunes a fraction of ALL weights instead of the survivors": lambda w, m, r: _round_wrong(w, m, r, "all"),
        "per-layer instead of global": lambda w, m, r: _round_wrong(w, m, r, "per layer"),
        "counts pruned zeros as the smallest": lambda w, m, r: _round_wrong(w, m, r, "zeros"),
        "forgets the old mask (pruned weights come back)": lambda w, m, r: _round_wrong(w, m, r, "forgets"),
        "removes the largest": lambda w, m, r: _round_wrong(w, m, r, "largest"),
    },
))
