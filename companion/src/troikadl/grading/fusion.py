"""Exercises on multimodal learning (chapter 11): public cases and plausible wrong answers."""

from __future__ import annotations

import numpy as np

from .core import Case, Exercise, register

CHAPTER = "11_fusion"

# --- fusion.info_nce: the symmetric contrastive loss, in NumPy ------------------------------------------


def _nce(a, b, temperature, variant=""):
    """The expected answer: the package's ``fusion.info_nce`` (checked against PyTorch), in float64; a
    ``variant`` feeds it one plausible mistake (imported here: ``troikadl.fusion`` imports torch)."""
    import torch
    import torch.nn.functional as F

    from ..fusion import clip_loss, info_nce

    a, b = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    if variant == "not normalized":
        return float(clip_loss(a @ b.T / temperature))
    if variant == "times temperature":
        return float(info_nce(a, b, 1.0 / temperature))
    if variant == "images to captions only":
        logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / temperature
        return float(F.cross_entropy(logits, torch.arange(len(logits))))
    return float(info_nce(a, b, temperature))


_A = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
_B = np.array([[0.9, 0.1], [0.2, 1.0], [3.0, 0.0]])
_B2 = _B[[1, 0, 2]] + np.array([[0.0, 0.5], [0.0, 0.0], [0.0, 0.0]])  # pairs whose two directions differ

register(Exercise(
    id="fusion.info_nce", chapter=CHAPTER, function="info_nce",
    title="The symmetric InfoNCE loss",
    hint="Normalize the rows of both inputs; logits = A @ B.T / temperature; loss = (mean cross-entropy of each "
         "row with target its diagonal entry + the same over columns) / 2. Use a stable log-softmax.",
    cases=[
        Case("three pairs, temperature 1", (_A, _B, 1.0), expected=lambda: _nce(_A, _B, 1.0)),
        Case("temperature 0.1", (_A, _B, 0.1), expected=lambda: _nce(_A, _B, 0.1),
             hint="Divide the cosine similarities by the temperature."),
        Case("unnormalized inputs are normalized first", (_A * 5, _B, 0.5), expected=lambda: _nce(_A, _B, 0.5),
             hint="Scaling an embedding must not change the loss: normalize each row to unit length."),
        Case("rows and columns differ", (_A, _B2, 0.2), expected=lambda: _nce(_A, _B2, 0.2),
             hint="Average the image-to-caption and the caption-to-image cross-entropies."),
    ],
    wrong_answers={
        "images to captions only": lambda a, b, t: _nce(a, b, t, "images to captions only"),
        "not normalized": lambda a, b, t: _nce(a, b, t, "not normalized"),
        "multiplies by the temperature": lambda a, b, t: _nce(a, b, t, "times temperature"),
    },
))

# --- fusion.recall_at_k -----------------------------------------------------------------------------------


def _recall(sim, targets, k, variant=""):
    s, t = np.asarray(sim, float), np.asarray(targets)
    own = s[np.arange(len(s)), t]
    if variant == "ties favour the target":
        rank = (s > own[:, None]).sum(1)
    else:
        rank = (s > own[:, None]).sum(1) + (s == own[:, None]).sum(1) - 1
    if variant == "off by one":
        return float(np.mean(rank <= k))
    return float(np.mean(rank < k))


def _recall_argmax(sim, targets, k):
    s = np.asarray(sim, float)
    top = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return float(np.mean([t in row for t, row in zip(targets, top)]))


_S = np.array([[0.9, 0.1, 0.3], [0.2, 0.8, 0.8], [0.5, 0.6, 0.4], [0.1, 0.2, 0.3]])

register(Exercise(
    id="fusion.recall_at_k", chapter=CHAPTER, function="recall_at_k",
    title="Recall at k",
    hint="For each query (row), count the gallery items (columns) other than its target whose similarity is "
         ">= the target's; the query is a hit when that count is < k. Return the fraction of hits.",
    cases=[
        Case("recall@1", (_S, np.array([0, 1, 1, 2])), kwargs={"k": 1}, expected=0.75,
             hint="Query 1 ties with another caption: a tie counts against the query."),
        Case("recall@2", (_S, np.array([0, 1, 0, 0])), kwargs={"k": 2}, expected=0.75),
        Case("recall@3 is everything", (_S, np.array([2, 0, 2, 0])), kwargs={"k": 3}, expected=1.0),
        Case("ties", (np.array([[0.5, 0.5, 0.5]]), np.array([2])), kwargs={"k": 2}, expected=0.0,
             hint="Two other items are as similar as the target, so it is not in a top 2 for sure."),
    ],
    wrong_answers={
        "ties favour the target": lambda s, t, k: _recall(s, t, k, "ties favour the target"),
        "off by one": lambda s, t, k: _recall(s, t, k, "off by one"),
        "argsort breaks ties by position": _recall_argmax,
    },
))
