"""WordPiece from scratch: training by likelihood-scored merges, and greedy longest-match encoding.

Taught in chapter 7. Text is lower-cased and split into words and punctuation marks (BERT's "basic"
pre-tokenization). A word is first spelled as characters, every character after the first carrying the
continuation prefix ``##`` ("token" -> t ##o ##k ##e ##n). Training then repeatedly merges the adjacent
pair (a, b) with the highest score. Two scores are offered: ``"frequency"``, the pair's count, which is
what Hugging Face's ``WordPieceTrainer`` does (it trains like BPE, with the ``##`` prefix); and
``"likelihood"``, ``freq(ab) / (freq(a) freq(b))``, the score usually given for WordPiece (e.g. in
Hugging Face's course), which favours pairs whose parts are rare. Encoding takes, at each position of a word, the longest vocabulary entry that matches; a word
that cannot be spelled from the vocabulary becomes ``[UNK]``.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter, defaultdict
from typing import Iterable

from ..validate import check_positive

__all__ = ["SPECIALS", "pretokenize", "WordPiece"]

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_WORDS = re.compile(r"[^\W_]+|[^\w\s]|_")  # runs of letters and digits; each punctuation mark alone


def pretokenize(text: str) -> list[str]:
    """Lower-case and split into words and single punctuation marks (``_`` counts as punctuation, as in BERT)."""
    return _WORDS.findall(text.lower())


def _spell(word: str) -> tuple[str, ...]:
    return (word[0],) + tuple("##" + c for c in word[1:])


def _join(a: str, b: str) -> str:
    return a + (b[2:] if b.startswith("##") else b)


class WordPiece:
    """A trained WordPiece vocabulary: ``tokenize``, ``encode`` and ``decode`` text."""

    def __init__(self, vocab: Iterable[str]) -> None:
        self.vocab = list(vocab)
        self.ids = {t: i for i, t in enumerate(self.vocab)}
        missing = [s for s in SPECIALS if s not in self.ids]
        if missing:
            raise ValueError(f"vocab must contain the special tokens {SPECIALS}; missing {missing}")
        for s in SPECIALS:
            setattr(self, s.strip("[]").lower() + "_id", self.ids[s])

    def __len__(self) -> int:
        return len(self.vocab)

    def __repr__(self) -> str:
        return f"WordPiece({len(self.vocab)} tokens, e.g. {self.vocab[len(SPECIALS):len(SPECIALS) + 5]} ...)"

    @classmethod
    def train(cls, sentences: Iterable[str], vocab_size: int = 2000, score: str = "frequency") -> "WordPiece":
        """Learn a vocabulary of ``vocab_size`` tokens (specials and single characters included)."""
        check_positive(vocab_size, "vocab_size", integer=True)
        if score not in ("frequency", "likelihood"):
            raise ValueError(f"score must be 'frequency' or 'likelihood', got {score!r}")
        word_freq = Counter(w for s in sentences for w in pretokenize(s))
        if not word_freq:
            raise ValueError("sentences must contain at least one word; the corpus is empty")
        splits = {w: list(_spell(w)) for w in word_freq}
        sym_freq: Counter[str] = Counter()
        pair_freq: Counter[tuple[str, str]] = Counter()
        words_with: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
        pairs_with: defaultdict[str, set[tuple[str, str]]] = defaultdict(set)
        def count(w: str, sign: int) -> list[tuple[str, str]]:
            """Add (sign=+1) or remove (sign=-1) word w's symbols and pairs; return its pairs."""
            f, sp = sign * word_freq[w], splits[w]
            for s in sp:
                sym_freq[s] += f
            pairs = list(zip(sp, sp[1:]))
            for p in pairs:
                pair_freq[p] += f
                if sign > 0:
                    words_with[p].add(w)
                    pairs_with[p[0]].add(p)
                    pairs_with[p[1]].add(p)
                else:
                    words_with[p].discard(w)
            return pairs

        for w in word_freq:
            count(w, +1)
        vocab = list(SPECIALS) + sorted(sym_freq)
        if vocab_size < len(vocab):
            raise ValueError(f"vocab_size must be at least {len(vocab)} (specials + single characters), "
                             f"got {vocab_size}")

        likelihood = score == "likelihood"

        def rank(p: tuple[str, str]) -> float:
            return pair_freq[p] / (sym_freq[p[0]] * sym_freq[p[1]]) if likelihood else float(pair_freq[p])

        heap = [(-rank(p), p) for p in pair_freq]
        heapq.heapify(heap)
        while len(vocab) < vocab_size and heap:
            neg, pair = heapq.heappop(heap)
            if pair_freq.get(pair, 0) <= 0 or -neg != rank(pair):
                continue  # a stale entry: the pair's score changed or it no longer occurs
            a, b = pair
            new = _join(a, b)
            vocab.append(new)
            touched: set[tuple[str, str]] = set()
            for w in list(words_with.pop(pair)):
                touched.update(count(w, -1))  # take the word out, merge (a, b) in it, put it back
                sp, merged, i = splits[w], [], 0
                while i < len(sp):
                    if i + 1 < len(sp) and sp[i] == a and sp[i + 1] == b:
                        merged.append(new)
                        i += 2
                    else:
                        merged.append(sp[i])
                        i += 1
                splits[w] = merged
                touched.update(count(w, +1))
            pair_freq.pop(pair, None)
            if likelihood:  # symbol frequencies changed: every pair using them has a new score
                for sym in (a, b, new):
                    touched |= pairs_with[sym]
            for p in touched:
                if pair_freq.get(p, 0) > 0:
                    heapq.heappush(heap, (-rank(p), p))
        return cls(vocab)

    def tokenize(self, text: str) -> list[str]:
        """Greedy longest-match-first WordPiece tokens of ``text``."""
        out = []
        for word in pretokenize(text):
            pieces, start = [], 0
            while start < len(word):
                end = len(word)
                while end > start:
                    piece = word[start:end] if start == 0 else "##" + word[start:end]
                    if piece in self.ids:
                        break
                    end -= 1
                if end == start:  # no piece matches: the whole word is unknown
                    pieces = ["[UNK]"]
                    break
                pieces.append(piece)
                start = end
            out += pieces
        return out

    def encode(self, text: str) -> list[int]:
        return [self.ids[t] for t in self.tokenize(text)]

    def decode(self, ids: Iterable[int]) -> str:
        """Join tokens back into text: ``##`` pieces attach to the previous token."""
        words: list[str] = []
        for i in ids:
            if not 0 <= int(i) < len(self.vocab):
                raise ValueError(f"token id {i} is outside the vocabulary [0, {len(self.vocab)})")
            tok = self.vocab[int(i)]
            if tok.startswith("##") and words:
                words[-1] += tok[2:]
            else:
                words.append(tok)
        return " ".join(words)
