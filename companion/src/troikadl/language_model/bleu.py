"""BLEU (Papineni et al., 2002): modified n-gram precision with clipping, brevity penalty, geometric mean.

Taught in chapter 11 (scoring generated captions). A candidate sentence is compared with one or more reference
sentences, all given as lists of tokens (words or token ids). For each n from 1 to ``max_n``:

- the **modified n-gram precision** counts each candidate n-gram at most as often as it occurs in the single
  reference where it is most frequent ("clipping"), so that "the the the the" earns no credit for repeating a
  correct word; the clipped counts and the candidate's n-gram counts are each summed over the corpus;
- the **brevity penalty** ``exp(1 - r / c)`` (1 when ``c > r``) punishes a corpus of candidates of total length
  ``c`` shorter than ``r``, the sum over sentences of the reference length closest to the candidate's
  (the shorter one on a tie);
- BLEU is the brevity penalty times the geometric mean of the ``max_n`` precisions (uniform weights).

A single zero precision makes the geometric mean zero, which is common for one short sentence. ``smoothing``
chooses a remedy from Chen & Cherry (2014): ``"add-one"`` (their method 2, from Lin & Och, 2004) adds 1 to the
numerator and the denominator of every precision with ``n >= 2``; ``"epsilon"`` (their method 1) replaces a zero
numerator by 0.1. ``"none"`` is the paper's definition.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Hashable, Sequence

import numpy as np

from ..validate import check_choice, check_int

__all__ = ["ngram_counts", "modified_precision", "brevity_penalty", "bleu", "SMOOTHINGS"]

#: The smoothing methods :func:`bleu` knows.
SMOOTHINGS = ("none", "add-one", "epsilon")
EPSILON = 0.1


def _tokens(sentence: Any, name: str) -> tuple[Hashable, ...]:
    if isinstance(sentence, np.ndarray) and sentence.ndim == 1:
        sentence = sentence.tolist()
    if not isinstance(sentence, (list, tuple)):
        raise TypeError(f"{name} must be a list of tokens (split a string into words first), got "
                        f"{type(sentence).__name__}")
    for t in sentence:
        if isinstance(t, (list, tuple, np.ndarray, dict, set)):
            raise TypeError(f"{name} must be a flat list of tokens, got an item of type {type(t).__name__}")
    return tuple(sentence)


def _references(references: Any, name: str) -> list[tuple[Hashable, ...]]:
    if not isinstance(references, (list, tuple)):
        raise TypeError(f"{name} must be a non-empty list of reference sentences (lists of tokens), got "
                        f"{type(references).__name__} {references!r:.60}")
    if not references:
        raise ValueError(f"{name} must hold at least one reference sentence, got an empty list")
    return [_tokens(r, f"{name}[{i}]") for i, r in enumerate(references)]


def ngram_counts(tokens: Sequence[Hashable], n: int) -> Counter:
    """How often each n-gram (a tuple of ``n`` tokens) occurs in ``tokens``."""
    tokens = _tokens(tokens, "tokens")
    n = check_int(n, "n", min=1)
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def modified_precision(candidate: Sequence[Hashable], references: Sequence[Sequence[Hashable]],
                       n: int) -> tuple[int, int]:
    """``(clipped matches, candidate n-grams)`` of one candidate against its references: each n-gram counts at
    most as often as in the reference where it is most frequent. Papineni et al.'s modified precision is the
    ratio (their example: 2 / 7 for "the the the the the the the" against "the cat is on the mat")."""
    candidate = _tokens(candidate, "candidate")
    references = _references(references, "references")
    n = check_int(n, "n", min=1)
    counts = ngram_counts(candidate, n)
    most = Counter()
    for ref in references:
        most |= ngram_counts(ref, n)  # Counter union keeps the larger count of each n-gram
    return sum(min(k, most[g]) for g, k in counts.items()), sum(counts.values())


def brevity_penalty(candidate_length: int, reference_length: int) -> float:
    """``1`` when the candidate is longer than the reference (``c > r``), else ``exp(1 - r / c)``; 0 for ``c = 0``."""
    c = check_int(candidate_length, "candidate_length", min=0)
    r = check_int(reference_length, "reference_length", min=0)
    if c > r:
        return 1.0
    return 0.0 if c == 0 else math.exp(1 - r / c)


def _closest_length(length: int, references: list[tuple[Hashable, ...]]) -> int:
    return min((abs(len(ref) - length), len(ref)) for ref in references)[1]


def bleu(candidates: Sequence[Sequence[Hashable]], references: Sequence[Sequence[Sequence[Hashable]]], *,
         max_n: int = 4, smoothing: str = "none") -> float:
    """Corpus BLEU of ``candidates`` (a list of token lists) against ``references`` (per candidate, a list of one
    or more reference token lists), in [0, 1]. For one sentence pass one-element lists.

    Clipped matches and n-gram counts are summed over the corpus before dividing; the precisions are combined
    by a geometric mean with weights ``1 / max_n`` and multiplied by the brevity penalty. ``smoothing`` is one
    of :data:`SMOOTHINGS` (see the module's docstring).
    """
    if not isinstance(candidates, (list, tuple)) or not candidates:
        raise TypeError(f"candidates must be a non-empty list of token lists, got {type(candidates).__name__}")
    if not isinstance(references, (list, tuple)) or len(references) != len(candidates):
        raise ValueError(f"references must be a list with one list of references per candidate "
                         f"({len(candidates)}), got {type(references).__name__} of length "
                         f"{len(references) if isinstance(references, (list, tuple)) else '?'}")
    max_n = check_int(max_n, "max_n", min=1)
    smoothing = check_choice(smoothing, "smoothing", SMOOTHINGS)
    cands = [_tokens(c, f"candidates[{i}]") for i, c in enumerate(candidates)]
    refs = [_references(r, f"references[{i}]") for i, r in enumerate(references)]
    matches, totals = [0] * max_n, [0] * max_n
    for cand, rs in zip(cands, refs):
        for n in range(1, max_n + 1):
            m, t = modified_precision(cand, rs, n)
            matches[n - 1] += m
            totals[n - 1] += t
    c = sum(len(cand) for cand in cands)
    if c == 0:
        return 0.0
    r = sum(_closest_length(len(cand), rs) for cand, rs in zip(cands, refs))
    log_p = 0.0
    for n, (m, t) in enumerate(zip(matches, totals), start=1):
        if smoothing == "add-one" and n >= 2:
            m, t = m + 1, t + 1
        elif smoothing == "epsilon" and m == 0:
            m = EPSILON
        if m == 0 or t == 0:
            return 0.0
        log_p += math.log(m / t) / max_n
    return brevity_penalty(c, r) * math.exp(log_p)
