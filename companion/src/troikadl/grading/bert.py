"""Exercises on BERT's input pipeline (chapter 7): public cases and plausible wrong answers."""

from __future__ import annotations

import numpy as np

from ..train import IGNORE
from .core import Case, Exercise, register

CHAPTER = "07_bert"

# --- bert.apply_masking: the 80/10/10 rule, made deterministic by passing the random draws -----------

_MARK = -1  # stands for "a random token" in mask_tokens's output (never a token id)


class _Draws(np.random.Generator):
    """Hands the exercise's draws to the package's ``mask_tokens``: ``random`` returns ``u_select``, then
    ``u_kind``; ``integers`` (the random tokens, drawn for the swapped positions only) returns ``_MARK``s."""

    def __init__(self, u_select: np.ndarray, u_kind: np.ndarray) -> None:
        super().__init__(np.random.PCG64(0))
        self._uniform = [u_select, u_kind]

    def random(self, size=None):
        return self._uniform.pop(0)

    def integers(self, low, high=None, size=None):
        return np.full(size, _MARK)


def _mask(ids, special, u_select, u_kind, random_ids, mask_id=4, p=0.15, proportions=(0.8, 0.1, 0.1)):
    """The package's ``bert.mask_tokens`` on the given draws (``random_ids[i]`` where it swaps position i)."""
    from ..bert.masking import mask_tokens  # imports torch, so only when a case is checked

    vocab_size = int(max(ids.max(), random_ids.max(), mask_id)) + 1
    inputs, labels = mask_tokens(ids, special, vocab_size=vocab_size, mask_id=mask_id, p=p, first_regular_id=0,
                                 proportions=proportions, rng=_Draws(u_select, u_kind))
    return np.where(inputs == _MARK, random_ids, inputs), labels


def _mask_wrong(ids, special, u_select, u_kind, random_ids, mask_id=4, p=0.15, *, variant):
    if variant == "special tokens masked":
        return _mask(ids, np.zeros_like(special), u_select, u_kind, random_ids, mask_id, p)
    if variant == "80/10/10 thresholds swapped":  # 10% [MASK], 10% random, 80% unchanged
        return _mask(ids, special, u_select, u_kind, random_ids, mask_id, p, proportions=(0.1, 0.1, 0.8))
    inputs, _ = _mask(ids, special, u_select, u_kind, random_ids, mask_id, p)
    return inputs, ids.copy()  # "labels everywhere"


_ids = np.array([[2, 10, 11, 12, 13, 14, 3, 0]])
_special = np.array([[True, False, False, False, False, False, True, True]])
_usel = np.array([[0.01, 0.05, 0.9, 0.10, 0.14, 0.5, 0.02, 0.03]])
_ukind = np.array([[0.5, 0.3, 0.5, 0.85, 0.95, 0.2, 0.1, 0.1]])
_rand = np.array([[7, 8, 9, 40, 41, 42, 43, 44]])
_big = np.random.default_rng(3)
_bids = _big.integers(5, 100, (4, 16))
_bspecial = np.zeros((4, 16), dtype=bool)
_bspecial[:, 0] = _bspecial[:, -1] = True
_bargs = (_bids, _bspecial, _big.random((4, 16)), _big.random((4, 16)), _big.integers(5, 100, (4, 16)))

register(Exercise(
    id="bert.apply_masking", chapter=CHAPTER, function="apply_masking",
    title="BERT's 80/10/10 masking rule",
    hint="selected = (u_select < p) & ~special; among selected: u_kind < 0.8 -> mask_id, 0.8 <= u_kind < 0.9 "
         "-> random_ids, else unchanged; labels = ids where selected, -100 elsewhere.",
    cases=[
        Case("one sequence, every branch", (_ids, _special, _usel, _ukind, _rand),
             expected=lambda: _mask(_ids, _special, _usel, _ukind, _rand),
             hint="Position 0 ([CLS]) has u_select < 0.15 but must never be selected."),
        Case("a batch of 4", _bargs, expected=lambda: _mask(*_bargs)),
        Case("p = 0.5", (_ids, _special, _usel, _ukind, _rand), kwargs={"p": 0.5},
             expected=lambda: _mask(_ids, _special, _usel, _ukind, _rand, p=0.5), hint="Use the p you are given."),
    ],
    wrong_answers={name: (lambda n: lambda *a, **k: _mask_wrong(*a, **k, variant=n))(name)
                   for name in ("special tokens masked", "80/10/10 thresholds swapped", "labels everywhere")},
))

# --- bert.wordpiece_word: greedy longest-match-first for one word ----------------------------------

_VOCAB = {"[UNK]", "un", "##aff", "##able", "##a", "##ff", "a", "affable", "##b", "##le", "u", "##n"}


def _wp(word, vocab, variant=""):
    pieces, start = [], 0
    while start < len(word):
        ends = range(len(word), start, -1) if variant != "shortest first" else range(start + 1, len(word) + 1)
        for end in ends:
            piece = word[start:end] if (start == 0 or variant == "no ## prefix") else "##" + word[start:end]
            if piece in vocab:
                break
        else:
            return pieces + ["[UNK]"] if variant == "keeps the pieces before [UNK]" else ["[UNK]"]
        pieces.append(piece)
        start = end
    return pieces


register(Exercise(
    id="bert.wordpiece_word", chapter=CHAPTER, function="wordpiece_word",
    title="WordPiece tokenization of one word",
    hint="From the start of the word, take the longest piece in the vocabulary (with ## after the first "
         "piece); if no piece matches at some position, the whole word is ['[UNK]'].",
    cases=[
        Case("unaffable", ("unaffable", _VOCAB), expected=["un", "##aff", "##able"]),
        Case("a whole word", ("affable", _VOCAB), expected=["affable"], hint="Longest match first."),
        Case("unknown inside", ("unaffablez", _VOCAB), expected=["[UNK]"],
             hint="One unmatched position makes the whole word [UNK]."),
        Case("continuation needs ##", ("aun", _VOCAB), expected=["[UNK]"],
             hint="After the first piece, look up '##' + piece, never the bare piece."),
    ],
    wrong_answers={name: (lambda n: lambda w, v: _wp(w, v, n))(name)
                   for name in ("shortest first", "no ## prefix", "keeps the pieces before [UNK]")},
))

# --- bert.mlm_loss: cross-entropy on the masked positions only ------------------------------------


def _mlm(logits, labels, variant=""):
    """The expected answer: PyTorch's cross-entropy with ``ignore_index``; a ``variant`` is a wrong answer."""
    import torch
    import torch.nn.functional as F

    z, y = torch.as_tensor(logits, dtype=torch.float64), torch.as_tensor(labels)
    if variant == "every position":  # the unselected positions counted, as if their label were 0
        return float(F.cross_entropy(z.flatten(0, 1), torch.where(y == IGNORE, 0, y).flatten()))
    if variant == "sum, not mean":
        return float(F.cross_entropy(z.flatten(0, 1), y.flatten(), ignore_index=IGNORE, reduction="sum"))
    if variant == "mean of per-sequence means":
        return float(torch.stack([F.cross_entropy(zi, yi, ignore_index=IGNORE) for zi, yi in zip(z, y)
                                  if (yi != IGNORE).any()]).mean())
    return float(F.cross_entropy(z.flatten(0, 1), y.flatten(), ignore_index=IGNORE))


_r = np.random.default_rng(5)
_logits = _r.normal(size=(2, 5, 7))
_labels = np.array([[IGNORE, 3, IGNORE, IGNORE, IGNORE], [1, IGNORE, 6, 0, IGNORE]])
_logits2 = _r.normal(size=(3, 4, 11)) * 3
_labels2 = np.array([[IGNORE, IGNORE, 10, IGNORE], [2, 2, IGNORE, IGNORE], [IGNORE, IGNORE, IGNORE, 5]])

register(Exercise(
    id="bert.mlm_loss", chapter=CHAPTER, function="mlm_loss",
    title="The masked-language-model loss",
    hint="log_softmax over the vocabulary (last axis), pick the label's log-probability at every position "
         "whose label is not -100, and average those -log p over all selected positions of the batch.",
    cases=[
        Case("2 sequences, 4 masked tokens", (_logits, _labels), expected=lambda: _mlm(_logits, _labels),
             hint="Positions labelled -100 must not count at all."),
        Case("3 sequences, uneven masks", (_logits2, _labels2), expected=lambda: _mlm(_logits2, _labels2),
             hint="Average over masked tokens, not over sequences."),
        Case("one masked token", (np.zeros((1, 2, 4)), np.array([[IGNORE, 2]])), expected=float(np.log(4)),
             hint="Uniform logits over 4 tokens give log 4."),
    ],
    wrong_answers={name: (lambda n: lambda lg, lb: _mlm(lg, lb, n))(name)
                   for name in ("every position", "sum, not mean", "mean of per-sequence means")},
))

# --- bert.repeat_share: when can static masking differ from dynamic masking? -------------------------


def _repeat(n_pairs, steps, batch_size, variant=""):
    """The expected share of draws that repeat a pair drawn at an earlier step (``variant``: a wrong answer).

    Each step draws ``batch_size`` distinct pairs uniformly from ``n_pairs``, independently of the other steps,
    so a given pair is missed by a step with probability 1 - B/N and by all of them with (1 - B/N)^S; the
    expected number of distinct pairs drawn is N (1 - (1 - B/N)^S), and every other draw is a repeat.
    """
    n, s, b = float(n_pairs), float(steps), float(batch_size)
    if variant == "pairs never drawn":
        return (1 - b / n) ** s
    if variant == "pairs drawn at least once":
        return 1 - (1 - b / n) ** s
    if variant == "draws with replacement":  # as if every one of the S*B draws were independent
        return 1 - n * (1 - (1 - 1 / n) ** (s * b)) / (s * b)
    if variant == "draws per pair":
        return s * b / n
    return 1 - n * (1 - (1 - b / n) ** s) / (s * b)


register(Exercise(
    id="bert.repeat_share", chapter=CHAPTER, function="repeat_share",
    title="How many draws can tell static from dynamic masking",
    hint="A step draws B of the N pairs without replacement: a given pair is missed by one step with "
         "probability 1 - B/N, by all S steps with (1 - B/N)**S. Expected distinct pairs drawn: "
         "N * (1 - (1 - B/N)**S); every other one of the S*B draws is a repeat.",
    cases=[
        Case("every step draws every pair", (10, 4, 10), expected=0.75,
             hint="With B = N each step draws all pairs: only the first step's draws are new."),
        Case("one step", (100, 1, 32), expected=0.0, hint="Nothing can repeat within one step (no replacement)."),
        Case("small", (4, 3, 2), expected=lambda: _repeat(4, 3, 2),
             hint="Within a step the B pairs are distinct: a pair is drawn by a step with probability B/N."),
        Case("the chapter's run", (20_000, 600, 32), expected=lambda: _repeat(20_000, 600, 32)),
    ],
    wrong_answers={name: (lambda v: lambda n, s, b: _repeat(n, s, b, v))(name)
                   for name in ("pairs never drawn", "pairs drawn at least once", "draws with replacement",
                                "draws per pair")},
))
