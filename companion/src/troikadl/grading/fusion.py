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

# --- fusion.infonce_floor: the loss that duplicate captions in a batch make unavoidable ---------------------


def _floor_package(caption_ids):
    """The expected answer: the package's ``infonce_floor`` (tested against a direct optimisation)."""
    from ..fusion.contrastive import infonce_floor

    return infonce_floor(np.asarray(caption_ids))


def _floor_wrong(caption_ids, variant):
    ids = np.asarray(caption_ids)
    m = (ids[:, None] == ids[None, :]).sum(1)  # copies of each row's caption in the batch, itself included
    if variant == "log of the batch size":
        return float(np.log(len(ids)))
    if variant == "counts the image itself twice":
        return float(np.mean(np.log(m + 1)))
    if variant == "one direction only":
        return float(np.mean(np.log(m)) / 2)
    if variant == "averages over distinct captions":
        return float(np.mean([np.log(np.sum(ids == c)) for c in np.unique(ids)]))
    return 0.0  # ignores the duplicates


_IDS_MIXED = np.array([0, 1, 0, 2, 1, 0])

register(Exercise(
    id="fusion.infonce_floor", chapter=CHAPTER, function="infonce_floor",
    title="The loss floor of in-batch duplicates",
    hint="A caption that occurs m times gives its m images equal logits for those m columns: the best a row can "
         "do is probability 1/m on its own column, a loss of log m, and the same holds for the columns. Return "
         "the mean of log m_i over the batch's rows (the two directions have the same floor).",
    cases=[
        Case("all captions different", (np.array([0, 1, 2, 3]),), expected=0.0,
             hint="With no duplicate, every row can put all its probability on its own column."),
        Case("one caption twice", (np.array([5, 5, 7]),), expected=lambda: _floor_package([5, 5, 7]),
             hint="Rows 0 and 1 see the same caption in columns 0 and 1: at best 1/2 on their own, log 2 each; "
                  "row 2 can reach 0. Average over the 3 rows."),
        Case("one caption, four times", (np.array([2, 2, 2, 2]),), expected=lambda: _floor_package([2, 2, 2, 2]),
             hint="m counts the row's own caption too: here m = 4 for every row."),
        Case("groups of three, two and one", (_IDS_MIXED,), expected=lambda: _floor_package(_IDS_MIXED),
             hint="Average log m_i over the rows, not over the distinct captions."),
    ],
    wrong_answers={name: (lambda ids, _v=name: _floor_wrong(ids, _v)) for name in (
        "log of the batch size", "counts the image itself twice", "one direction only",
        "averages over distinct captions", "ignores the duplicates")},
))

# --- fusion.prompt_ensemble: zero-shot classes from several prompts per class ------------------------------


def _ensemble_package(image_emb, prompt_emb):
    """The expected answer: the package's ``ensemble_embeddings`` and ``zero_shot_predict``, in float64."""
    import torch

    from ..fusion.zeroshot import ensemble_embeddings, zero_shot_predict

    classes = ensemble_embeddings(torch.tensor(np.asarray(prompt_emb, dtype=float)))
    return zero_shot_predict(torch.tensor(np.asarray(image_emb, dtype=float)), classes).numpy()


def _unit(x, axis=-1):
    return x / np.linalg.norm(x, axis=axis, keepdims=True)


def _ensemble_wrong(image_emb, prompt_emb, variant):
    img, p = np.asarray(image_emb, dtype=float), np.asarray(prompt_emb, dtype=float)
    if variant == "max over templates":
        return np.einsum("nd,ctd->nct", _unit(img), _unit(p)).max(2).argmax(1)
    if variant == "averages unnormalized prompts":
        classes = _unit(p.mean(1))
    elif variant == "no renormalization after averaging":
        classes = _unit(p).mean(1)
    else:
        classes = _unit(_unit(p).mean(1))
    img = _unit(img, 0) if variant == "normalizes images over the batch" else _unit(img)
    return (img @ classes.T).argmax(1)


_LONG = (np.array([[1.0, 1.7], [1.0, 0.2]]), np.array([[[10.0, 0.0], [0.0, 1.0]], [[-0.2, 1.0], [-0.4, 2.0]]]))
_SPREAD = (np.array([[1.0, 0.7], [1.0, 0.0], [0.0, 1.0]]),
           np.array([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.25], [1.0, 0.25]]]))
_MAX = (np.array([[1.0, 0.0], [0.4, 1.0]]), np.array([[[1.0, 0.0], [-0.6, 0.8]], [[0.87, 0.5], [0.87, 0.5]]]))
_SCALES = (np.array([[1.0, 0.9], [100.0, 1.0]]), np.array([[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]]))

register(Exercise(
    id="fusion.prompt_ensemble", chapter=CHAPTER, function="prompt_ensemble",
    title="Zero-shot classification with a prompt ensemble",
    hint="Normalize every prompt embedding (last axis), average over the templates (axis 1), normalize the mean; "
         "normalize each image embedding (its row); each image's class is the argmax of the cosine similarities. "
         "Return an integer array.",
    cases=[
        Case("a long prompt must not dominate", _LONG, expected=lambda: _ensemble_package(*_LONG),
             hint="Normalize each prompt before averaging: a prompt embedding 10 times longer counts as much as "
                  "the others, no more."),
        Case("templates that disagree", _SPREAD, expected=lambda: _ensemble_package(*_SPREAD),
             hint="The mean of unit vectors is shorter when they disagree: renormalize it, or that class loses "
                  "every comparison."),
        Case("one template close, the class far", _MAX, expected=lambda: _ensemble_package(*_MAX),
             hint="Score a class by its ensemble embedding, not by its best single template."),
        Case("images of different lengths", _SCALES, expected=lambda: _ensemble_package(*_SCALES),
             hint="Normalize each image's own row (axis=1), not each feature over the batch."),
    ],
    wrong_answers={name: (lambda i, p, _v=name: _ensemble_wrong(i, p, _v)) for name in (
        "averages unnormalized prompts", "no renormalization after averaging", "max over templates",
        "normalizes images over the batch")},
))
