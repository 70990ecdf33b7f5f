"""Late (decision) fusion qualified: which answer patterns a combiner of two branch scores can produce.

Taught in chapter 11. Late fusion scores the image and the question separately, ``s(x)`` and ``t(q)``, and a
combiner turns the two scores into one logit; the answer is "yes" where the logit is positive. What the model
can answer depends on the combiner:

- ``"sum"``, ``s + t``: the answer matrix ``D[x, q] = [s(x) + t(q) > 0]`` has nested rows (a staircase once
  images are sorted by ``s`` and questions by ``t``): "is it greater than k ?" for every k, but not parity.
- ``"product"``, ``s * t``: ``D[x, q] = [s(x) t(q) > 0]`` depends only on the signs, so every nonzero row equals
  or complements every other: parity ("is it even ?", "is it odd ?"), but not "greater than k" for several k.
  With a bias, ``s t + b``, the staircases come back (``s = e^d``, ``t = e^(-k-1/2)``, ``b = -1``).
- ``"mlp"``, a learned ``c(s, t)``: any finite pattern, as far as ``s`` and ``t`` separate the inputs whose
  answers differ: what a branch outputs limits every combiner.

:func:`realize` decides exactly, by a combinatorial test, whether some scores give a 0/1 answer matrix through
``"sum"``, ``"product"`` or ``"product+bias"``, and returns the scores; :func:`answer_matrix` builds mini-VQA's
matrix (digits x distinct questions). :class:`ScoreFusion` is the trainable model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..cnn import mlp
from ..validate import as_int_array, check_bool, check_choice, check_int
from .models import IMAGE_DIM, _check_inputs, _TextEncoder

__all__ = ["COMBINERS", "REALIZABLE", "ScoreFusion", "answer_matrix", "realize", "realizable"]

#: The trainable combiners of :class:`ScoreFusion`.
COMBINERS = ("sum", "product", "mlp")
#: The combiners :func:`realize` decides exactly (scalar scores).
REALIZABLE = ("sum", "product", "product+bias")


class ScoreFusion(nn.Module):
    """Late fusion: an image branch and a question branch each output ``width`` scores, then a combiner.

    ``combiner="sum"``: ``sum(s) + sum(t)``; ``"product"``: ``s . t`` (plus a learned bias if ``bias``);
    ``"mlp"``: a small learned MLP ``c([s, t])`` (``combiner_hidden`` units, two hidden layers). The branches
    are the chapter's unimodal models with ``width`` outputs. ``scores(image, tokens)`` returns ``(s, t)``.
    """

    def __init__(self, *, vocab_size: int, combiner: str = "sum", width: int = 1, hidden: int = 128,
                 bias: bool = False, combiner_hidden: int = 16):
        super().__init__()
        self.vocab_size = check_int(vocab_size, "vocab_size", min=2)
        hidden, width = check_int(hidden, "hidden", min=1), check_int(width, "width", min=1)
        self.combiner = check_choice(combiner, "combiner", COMBINERS)
        if check_bool(bias, "bias") and combiner != "product":
            raise ValueError(f"bias is an option of combiner 'product' only, got combiner {combiner!r}")
        self.image = nn.Sequential(mlp([IMAGE_DIM, hidden, hidden]), nn.ReLU(), nn.Linear(hidden, width))
        self.text = _TextEncoder(self.vocab_size, hidden)
        self.text_head = mlp([hidden, hidden, width])
        self.bias = nn.Parameter(torch.zeros(1)) if bias else None
        if combiner == "mlp":
            self.combine = mlp([2 * width, check_int(combiner_hidden, "combiner_hidden", min=1), combiner_hidden, 1])

    def scores(self, image: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two branches' scores ``s`` (batch, width) of the images and ``t`` (batch, width) of the questions."""
        _check_inputs(image, tokens, self.vocab_size)
        return self.image(image), self.text_head(self.text(tokens))

    def forward(self, image: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        s, t = self.scores(image, tokens)
        if self.combiner == "sum":
            return s.sum(1, keepdim=True) + t.sum(1, keepdim=True)
        if self.combiner == "product":
            logit = (s * t).sum(1, keepdim=True)
            return logit if self.bias is None else logit + self.bias
        return self.combine(torch.cat([s, t], dim=1))


def answer_matrix(templates: Any = None) -> tuple[np.ndarray, list[str], list[str]]:
    """Mini-VQA's answers as a matrix: ``A[d, j] = 1`` if the answer to question ``j`` about digit ``d`` is yes.

    Rows are the digits 0-9, columns the distinct questions of ``templates`` (names of
    :data:`troikadl.data.vqa.TEMPLATES`, all five by default) with every number the generator asks about.
    Returns ``(A, texts, template_of_each_column)``.
    """
    from ..data import vqa

    names = list(vqa.TEMPLATES)
    if templates is None:
        templates = names
    if isinstance(templates, str) or not isinstance(templates, (list, tuple)) or not templates:
        raise TypeError(f"templates must be a non-empty list of template names from {names}, got {templates!r}")
    for name in templates:
        check_choice(name, "templates", names)
    columns, texts, groups = [], [], []
    for name in templates:
        text, rule = vqa.TEMPLATES[name]
        low, high = vqa._K_RANGE[name]
        for k in (range(low, high + 1) if "{k}" in text else [None]):
            columns.append([int(rule(d, k)) for d in range(10)])
            texts.append(text.format(k=k))
            groups.append(name)
    return np.array(columns, dtype=np.int64).T, texts, groups


def _check_matrix(answers: Any) -> np.ndarray:
    a = as_int_array(answers, "answers", ndim=2, min=0, max=1)
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"answers must have at least one row and one column, got shape {a.shape}")
    return a


def _staircase(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores with ``a == [s + t > 0]`` whenever the rows of ``a`` are nested (checked by the caller)."""
    count = a.sum(1).astype(np.float64)
    t = np.array([-count[a[:, j] == 1].min() + 0.5 if a[:, j].any() else -count.max() - 1.0
                  for j in range(a.shape[1])])
    return count, t


def _signs(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores with ``a == [s t > 0]`` whenever ``a`` is such a sign pattern (checked by the caller)."""
    s, t = np.zeros(a.shape[0]), np.zeros(a.shape[1])
    rows, cols = np.flatnonzero(a.any(1)), np.flatnonzero(a.any(0))
    if len(rows):
        t[cols] = np.where(a[rows[0], cols] == 1, 1.0, -1.0)
        for i in rows:
            s[i] = t[np.flatnonzero(a[i])[0]]
    return s, t


def _components(a: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The connected components (rows, columns) of the bipartite graph whose edges are the 1s of ``a``."""
    row_label, col_label = -np.ones(a.shape[0], dtype=int), -np.ones(a.shape[1], dtype=int)
    found = []
    for start in np.flatnonzero(a.any(1)):
        if row_label[start] >= 0:
            continue
        label, rows, frontier = len(found), {int(start)}, [int(start)]
        row_label[start] = label
        while frontier:
            cols = np.flatnonzero((a[frontier].sum(0) > 0) & (col_label < 0))
            col_label[cols] = label
            new = np.flatnonzero((a[:, cols].sum(1) > 0) & (row_label < 0)) if len(cols) else np.array([], int)
            row_label[new] = label
            rows.update(int(i) for i in new)
            frontier = [int(i) for i in new]
        found.append((np.flatnonzero(row_label == label), np.flatnonzero(col_label == label)))
    return found


def _threshold_product(a: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Scores with ``a == [s t > 1]``: at most two components of 1s, each a staircase, on opposite signs."""
    parts = _components(a)
    if len(parts) > 2:
        return None
    s, t = np.zeros(a.shape[0]), np.zeros(a.shape[1])
    for sign, (rows, cols) in zip((1.0, -1.0), parts):
        u, v = _staircase(a[np.ix_(rows, cols)])
        s[rows], t[cols] = sign * np.exp(u), sign * np.exp(v)
    return s, t


def realize(answers: Any, combiner: str) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Scores ``(s, t, b)`` with ``answers[i, j] == [c(s[i], t[j]) + b > 0]`` for every entry, or ``None`` if none
    exist, decided exactly for scalar scores.

    ``combiner``: ``"sum"`` (``s + t``; realizable iff the rows' sets of 1s are nested), ``"product"`` (``s t``,
    ``b = 0``; iff, once the all-zero rows and columns are left out, every row equals or complements every
    other) or ``"product+bias"`` (``s t + b``: a product pattern, or the 1s, or else the 0s, form at most two
    connected blocks, each a staircase). ``answers`` is a 2-D array of 0s and 1s.
    """
    a = _check_matrix(answers)
    check_choice(combiner, "combiner", REALIZABLE)
    candidates: list[tuple[Any, float]] = []
    if combiner == "sum":
        candidates.append((_staircase(a), 0.0))
    else:
        candidates.append((_signs(a), 0.0))
        if combiner == "product+bias":
            candidates += [(_threshold_product(a), -1.0), (_threshold_product(1 - a), 1.0)]
    for scores, b in candidates:
        if scores is None:
            continue
        s, t = scores
        if b > 0:
            s = -s  # 1 - a == [s' t > 1]  <=>  a == [-s' t + 1 > 0] (no product equals -1 exactly)
        logits = (s[:, None] + t[None, :]) if combiner == "sum" else s[:, None] * t[None, :] + b
        if np.array_equal((logits > 0).astype(np.int64), a):
            return s, t, b
    return None


def realizable(answers: Any, combiner: str) -> bool:
    """Whether some scalar scores give the 0/1 matrix ``answers`` through ``combiner`` (see :func:`realize`)."""
    return realize(answers, combiner) is not None
