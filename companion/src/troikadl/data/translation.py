"""A small translation task, generated offline: numbers written in digits -> the same numbers in English words.

Taught in chapter 6 (the encoder-decoder Transformer and its cross-attention). ``"3021"`` becomes
``"three thousand twenty one"``: the source is a sequence of digit tokens, the target a sequence of word
tokens ("three", "thousand", "twenty", "one"; no "and", no hyphens). The alignment between the two is
monotone but not one-to-one: "thousand" and "hundred" are read off a digit's *place*, which depends on the
length of the number; "eleven" needs two digits; a zero digit produces no word. The split is by value: a
held-out number is never seen in training, in any form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..validate import as_int_array, check_bool, check_float, check_int, check_str_list

__all__ = ["SPECIALS", "PAD", "BOS", "EOS", "TokenVocab", "DIGIT_VOCAB", "WORD_VOCAB", "number_to_words",
           "NumberPairs", "number_words"]

#: The special tokens that every :class:`TokenVocab` starts with, and their ids.
SPECIALS = ("<pad>", "<bos>", "<eos>")
PAD, BOS, EOS = 0, 1, 2

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
#: The largest value :func:`number_to_words` writes.
MAX_VALUE = 999_999


class TokenVocab:
    """Word-level tokens and their ids: the :data:`SPECIALS` (``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2), then ``tokens``.

    Taught in chapter 6. ``encode`` maps a list of tokens to ids (optionally framed by ``<bos>`` and
    ``<eos>``); ``decode`` maps ids back to tokens, stopping at the first ``<eos>`` and dropping ``<pad>`` and
    ``<bos>``. ``len(vocab)`` is a model's vocabulary size.
    """

    def __init__(self, tokens: Any) -> None:
        tokens = check_str_list(tokens, "tokens")
        if len(set(tokens)) != len(tokens) or set(tokens) & set(SPECIALS):
            raise ValueError(f"tokens must be distinct and must not include the special tokens {SPECIALS}")
        self.tokens = SPECIALS + tuple(tokens)
        self._ids = {t: i for i, t in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Any, *, bos: bool = False, eos: bool = False) -> np.ndarray:
        """The ids (1-D int64) of ``tokens``, a list of known tokens; ``bos``/``eos`` add the frame."""
        tokens = check_str_list(tokens, "tokens", nonempty=False)
        check_bool(bos, "bos")
        check_bool(eos, "eos")
        unknown = [t for t in tokens if t not in self._ids or t in SPECIALS]
        if unknown:
            raise ValueError(f"tokens must be in the vocabulary (no special tokens), got {unknown[:5]}")
        ids = [BOS] * bos + [self._ids[t] for t in tokens] + [EOS] * eos
        return np.array(ids, dtype=np.int64)

    def decode(self, ids: Any) -> list[str]:
        """The tokens of ``ids`` (1-D), up to the first ``<eos>``, without ``<pad>`` and ``<bos>``."""
        ids = as_int_array(ids, "ids", ndim=1, min=0, max=len(self) - 1).tolist()
        out = []
        for i in ids:
            if i == EOS:
                break
            if i not in (PAD, BOS):
                out.append(self.tokens[i])
        return out

    def __repr__(self) -> str:
        return f"TokenVocab({len(self.tokens) - len(SPECIALS)} tokens + {len(SPECIALS)} special)"


#: The source vocabulary: the ten digits (ids 3-12).
DIGIT_VOCAB = TokenVocab(list("0123456789"))
#: The target vocabulary: "zero" to "nineteen", the tens, "hundred", "thousand".
WORD_VOCAB = TokenVocab(_ONES + _TENS[2:] + ["hundred", "thousand"])


def _below_thousand(n: int) -> list[str]:
    words = [_ONES[n // 100], "hundred"] if n >= 100 else []
    n %= 100
    if n >= 20:
        words += [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    elif n:
        words.append(_ONES[n])
    return words


def number_to_words(value: int) -> list[str]:
    """The English words of ``value`` (0 to 999 999): 1001 -> ["one", "thousand", "one"] (chapter 6)."""
    value = check_int(value, "value", min=0, max=MAX_VALUE)
    if value == 0:
        return ["zero"]
    high, low = divmod(value, 1000)
    return (_below_thousand(high) + ["thousand"] if high else []) + _below_thousand(low)


@dataclass
class NumberPairs:
    """One side of the split: ``values`` (n,), ``src`` (n, S) digit ids and ``tgt`` (n, T) word ids (chapter 6).

    ``src`` holds the digits left-aligned, padded with ``<pad>`` on the right; ``tgt`` is
    ``<bos> words <eos>`` padded on the right.
    """

    values: np.ndarray
    src: np.ndarray
    tgt: np.ndarray

    def __len__(self) -> int:
        return len(self.values)

    def teacher_forcing(self) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        """``((src, tgt_in), tgt_out)`` for :func:`troikadl.fit`: the decoder reads ``tgt[:, :-1]`` and predicts
        ``tgt[:, 1:]``; padded target positions become :data:`troikadl.train.IGNORE`, skipped by the loss."""
        from ..train import IGNORE

        out = self.tgt[:, 1:]
        return (self.src, self.tgt[:, :-1]), np.where(out == PAD, IGNORE, out)

    def text(self, i: int) -> tuple[str, str]:
        """Example ``i`` as (digits, words)."""
        i = check_int(i, "i", min=0, max=len(self) - 1)
        return "".join(DIGIT_VOCAB.decode(self.src[i])), " ".join(WORD_VOCAB.decode(self.tgt[i]))


def _pad(rows: Sequence[np.ndarray], width: int) -> np.ndarray:
    out = np.full((len(rows), width), PAD, dtype=np.int64)
    for r, ids in zip(out, rows):
        r[:len(ids)] = ids
    return out


def number_words(max_value: int = 9999, *, test_fraction: float = 0.2, seed: int = 0
                 ) -> tuple[NumberPairs, NumberPairs]:
    """Every number from 0 to ``max_value`` as a (digits, words) pair, split by value into train and test.

    Taught in chapter 6. A seeded random ``test_fraction`` of the values (at least one) is held out; the
    rest is the training set, in a seeded random order. Both sides have the same widths: ``S`` = the number
    of digits of ``max_value``, ``T`` = the longest word sequence in the range plus ``<bos>`` and ``<eos>``.
    """
    max_value = check_int(max_value, "max_value", min=1, max=MAX_VALUE)
    test_fraction = check_float(test_fraction, "test_fraction", min=0.0, max=1.0, min_open=True, max_open=True)
    seed = check_int(seed, "seed", min=0)
    n = max_value + 1
    n_test = max(1, int(round(test_fraction * n)))
    if n_test >= n:
        raise ValueError(f"test_fraction {test_fraction} leaves no training value out of {n}")
    order = np.random.default_rng(seed).permutation(n)
    src = [DIGIT_VOCAB.encode(list(str(v))) for v in range(n)]
    tgt = [WORD_VOCAB.encode(number_to_words(v), bos=True, eos=True) for v in range(n)]
    S, T = len(str(max_value)), max(len(t) for t in tgt)
    src_all, tgt_all = _pad(src, S), _pad(tgt, T)

    def side(idx: np.ndarray) -> NumberPairs:
        return NumberPairs(idx.astype(np.int64), src_all[idx], tgt_all[idx])

    return side(order[n_test:]), side(np.sort(order[:n_test]))
