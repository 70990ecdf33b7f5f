"""Exercises on BERT's input pipeline (chapter 7): public cases and plausible wrong answers."""

from __future__ import annotations

import numpy as np

from .core import Case, Exercise, register

CHAPTER = "07_bert"
IGNORE = -100

# --- bert.apply_masking: the 80/10/10 rule, made deterministic by passing the random draws -----------


def _mask(ids, special, u_select, u_kind, random_ids, mask_id=4, p=0.15, variant=""):
    selected = u_select < p
    if variant != "special tokens masked":
        selected &= ~special
    inputs = ids.copy()
    lo, hi = (0.1, 0.2) if variant == "80/10/10 thresholds swapped" else (0.8, 0.9)
    if variant == "80/10/10 thresholds swapped":
        inputs[selected & (u_kind >= 0.2)] = mask_id
        inputs[selected & (u_kind < 0.1)] = random_ids[selected & (u_kind < 0.1)]
    else:
        inputs[selected & (u_kind < lo)] = mask_id
        swap = selected & (u_kind >= lo) & (u_kind < hi)
        inputs[swap] = random_ids[swap]
    labels = ids.copy() if variant == "labels everywhere" else np.where(selected, ids, IGNORE)
    return inputs, labels


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
             expected=_mask(_ids, _special, _usel, _ukind, _rand),
             hint="Position 0 ([CLS]) has u_select < 0.15 but must never be selected."),
        Case("a batch of 4", _bargs, expected=_mask(*_bargs)),
        Case("p = 0.5", (_ids, _special, _usel, _ukind, _rand), kwargs={"p": 0.5},
             expected=_mask(_ids, _special, _usel, _ukind, _rand, p=0.5), hint="Use the p you are given."),
    ],
    wrong_answers={name: (lambda n: lambda *a, **k: _mask(*a, **k, variant=n))(name)
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
