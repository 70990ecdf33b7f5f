"""WordPiece from scratch: BERT's text normalization, training by scored merges, greedy longest-match encoding.

Taught in chapter 7. Text first goes through BERT's normalizer and pre-tokenizer, which this module
reproduces character for character from Hugging Face ``tokenizers`` (``BertNormalizer`` and
``BertPreTokenizer``; checked equal on every Unicode code point with tokenizers 0.23.3):

1. *clean text*: drop NUL, U+FFFD and control or format characters (``\\x07``, zero-width space
   U+200B, zero-width joiner U+200D, byte-order mark U+FEFF, private-use characters); turn every
   whitespace character (tab, newline, no-break space U+00A0, ideographic space U+3000, ...) into ``" "``;
2. *Chinese characters*: put spaces around every CJK ideograph, so that each becomes a word of its own;
3. *strip accents* (optional): decompose (NFD) and drop non-spacing marks ("café" -> "cafe");
4. *lower-case*, character by character (so a final "Σ" becomes "σ", not "ς", and "İ" becomes "i̇");
5. split on whitespace, and isolate every punctuation mark: ASCII ``!"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~``
   (``$``, ``+``, ``^`` included) and every Unicode punctuation character (category P*: "，", "。", "’").
   Other symbols ("€", "±", "´", "©") are not split off: they stay inside their word.

Hugging Face takes character categories from Unicode 8.0 tables, whatever Python's version: a mark,
punctuation or format character added to Unicode later counts as an ordinary letter (``_ADDED_AFTER_8``).

A word is then spelled as characters, every character after the first carrying the continuation prefix
``##`` ("token" -> t ##o ##k ##e ##n). Training repeatedly merges the adjacent pair (a, b) with the
highest score. Two scores are offered: ``"frequency"``, the pair's count, which is what Hugging Face's
``WordPieceTrainer`` does (it trains like BPE, with the ``##`` prefix); and ``"likelihood"``,
``freq(ab) / (freq(a) freq(b))``, a pointwise-mutual-information heuristic (the ratio Hugging Face's
course presents for WordPiece training), which favours pairs whose parts are rare. Neither is Schuster
& Nakajima's criterion, the gain in the likelihood of the training data under a language model of the
units, which this module does not implement. Encoding takes, at each position of a word, the longest
vocabulary entry that matches; a word that cannot be spelled from the vocabulary, or that is longer than
``max_input_chars_per_word`` characters, becomes ``[UNK]``.
"""

from __future__ import annotations

import heapq
import operator
from collections import Counter, defaultdict
from typing import Any, Iterable

from ..validate import check_positive, check_str, check_str_list
from ._normalize import _ADDED_AFTER_8, _check_options, _normalize, _pretokenize  # noqa: F401 (_ADDED_AFTER_8: tests)

__all__ = ["SPECIALS", "normalize", "pretokenize", "WordPiece"]

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def _check_text(text: Any, name: str = "text") -> str:
    """``text`` must be a str that is valid Unicode (no lone surrogate, which UTF-8 cannot encode)."""
    check_str(text, name)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"{name} must be valid Unicode text; it holds a lone surrogate "
                             f"{text[exc.start]!r} at index {exc.start}") from None
    return text


def _check_texts(texts: Any, name: str) -> list[str]:
    """``texts`` as a list of valid Unicode str: a single str, or an item that is not a str, is an error."""
    items = check_str_list(texts, name, nonempty=False)
    for i, t in enumerate(items):
        _check_text(t, f"{name}[{i}]")
    return items


def normalize(text: str, *, lowercase: bool = True, strip_accents: bool | None = False,
              clean_text: bool = True, handle_chinese_chars: bool = True) -> str:
    """BERT's normalizer (Hugging Face's ``BertNormalizer`` with the same options).

    ``strip_accents=None`` follows ``lowercase``, as in Hugging Face; the default ``False`` is what
    chapter 7 compares with (``BertNormalizer(lowercase=True, strip_accents=False)``).
    """
    options = _check_options(lowercase, strip_accents, clean_text, handle_chinese_chars)
    return _normalize(_check_text(text), options)


def pretokenize(text: str, *, lowercase: bool = True, strip_accents: bool | None = False,
                clean_text: bool = True, handle_chinese_chars: bool = True) -> list[str]:
    """Normalize (see ``normalize``), split on whitespace and isolate each punctuation mark.

    Equal to Hugging Face's ``BertNormalizer`` with the same options followed by ``BertPreTokenizer``.
    """
    options = _check_options(lowercase, strip_accents, clean_text, handle_chinese_chars)
    return _pretokenize(_check_text(text), options)


def _spell(word: str) -> tuple[str, ...]:
    return (word[0],) + tuple("##" + c for c in word[1:])


def _merge(pieces: list[str], a: str, b: str, new: str) -> list[str]:
    """``pieces`` with every adjacent ``a``, ``b`` (left to right, not overlapping) replaced by ``new``."""
    merged, i = [], 0
    while i < len(pieces):
        if i + 1 < len(pieces) and pieces[i] == a and pieces[i + 1] == b:
            merged.append(new)
            i += 2
        else:
            merged.append(pieces[i])
            i += 1
    return merged


def _join(a: str, b: str) -> str:
    return a + (b[2:] if b.startswith("##") else b)


class WordPiece:
    """A WordPiece vocabulary with its normalization options: ``tokenize``, ``encode`` and ``decode`` text.

    The keyword options are ``pretokenize``'s; ``max_input_chars_per_word`` (100, as in BERT and
    Hugging Face) is the length beyond which a word becomes ``[UNK]`` without being split. Special tokens
    written in the text ("[MASK]") are plain text, split into "[", "mask", "]", as by a Hugging Face
    tokenizer built from the vocabulary alone (one trained with ``special_tokens`` keeps them whole).
    """

    def __init__(self, vocab: Iterable[str], *, lowercase: bool = True, strip_accents: bool | None = False,
                 clean_text: bool = True, handle_chinese_chars: bool = True,
                 max_input_chars_per_word: int = 100) -> None:
        if isinstance(vocab, (dict, set, frozenset)):  # a {token: id} dict or a set would scramble the ids
            raise TypeError(f"vocab must be a list of tokens in id order, got a {type(vocab).__name__}; "
                            "for a {token: id} dict d, pass sorted(d, key=d.get)")
        self.vocab = _check_texts(vocab, "vocab")
        self.options = _check_options(lowercase, strip_accents, clean_text, handle_chinese_chars)
        self.max_input_chars_per_word = check_positive(max_input_chars_per_word, "max_input_chars_per_word",
                                                       integer=True)
        if not all(self.vocab):
            raise ValueError(f"vocab must not hold empty tokens; token {self.vocab.index('')} is ''")
        self.ids = {t: i for i, t in enumerate(self.vocab)}
        if len(self.ids) < len(self.vocab):
            dup = next(t for t, n in Counter(self.vocab).items() if n > 1)
            raise ValueError(f"vocab must not repeat a token; {dup!r} appears {self.vocab.count(dup)} times")
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
    def train(cls, sentences: Iterable[str], vocab_size: int = 2000, score: str = "frequency", *,
              lowercase: bool = True, strip_accents: bool | None = False, clean_text: bool = True,
              handle_chinese_chars: bool = True, max_input_chars_per_word: int = 100) -> "WordPiece":
        """Learn a vocabulary of ``vocab_size`` tokens (specials and single characters included)."""
        sentences = _check_texts(sentences, "sentences")
        check_positive(vocab_size, "vocab_size", integer=True)
        check_positive(max_input_chars_per_word, "max_input_chars_per_word", integer=True)
        if score not in ("frequency", "likelihood"):
            raise ValueError(f"score must be 'frequency' or 'likelihood', got {score!r}")
        options = _check_options(lowercase, strip_accents, clean_text, handle_chinese_chars)
        word_freq = Counter(w for s in sentences for w in _pretokenize(s, options))
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
        vocab = list(SPECIALS) + sorted(set(sym_freq) - set(SPECIALS))
        if vocab_size < len(vocab):
            raise ValueError(f"vocab_size must be at least {len(vocab)} (specials + single characters), "
                             f"got {vocab_size}")

        likelihood = score == "likelihood"

        def rank(p: tuple[str, str]) -> float:
            return pair_freq[p] / (sym_freq[p[0]] * sym_freq[p[1]]) if likelihood else float(pair_freq[p])

        heap = [(-rank(p), p) for p in pair_freq]
        heapq.heapify(heap)
        known = set(vocab)
        while len(vocab) < vocab_size and heap:
            neg, pair = heapq.heappop(heap)
            if pair_freq.get(pair, 0) <= 0 or -neg != rank(pair):
                continue  # a stale entry: the pair's score changed or it no longer occurs
            a, b = pair
            new = _join(a, b)
            if new not in known:  # two different pairs can spell the same token ("a"+"##bc", "ab"+"##c")
                vocab.append(new)
                known.add(new)
            touched: set[tuple[str, str]] = set()
            for w in list(words_with.pop(pair)):
                touched.update(count(w, -1))  # take the word out, merge (a, b) in it, put it back
                splits[w] = _merge(splits[w], a, b, new)
                touched.update(count(w, +1))
            pair_freq.pop(pair, None)
            if likelihood:  # symbol frequencies changed: every pair using them has a new score
                for sym in (a, b, new):
                    touched |= pairs_with[sym]
            for p in touched:
                if pair_freq.get(p, 0) > 0:
                    heapq.heappush(heap, (-rank(p), p))
        return cls(vocab, max_input_chars_per_word=max_input_chars_per_word, **options)

    def tokenize(self, text: str) -> list[str]:
        """Greedy longest-match-first WordPiece tokens of ``text``."""
        out = []
        for word in _pretokenize(_check_text(text), self.options):
            if len(word) > self.max_input_chars_per_word:
                out.append("[UNK]")
                continue
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
        try:
            if isinstance(ids, (str, bytes)):
                raise TypeError
            ids = iter(ids)
        except TypeError:
            raise TypeError(f"ids must be an iterable of integer token ids, got {type(ids).__name__}") from None
        words: list[str] = []
        for k, i in enumerate(ids):
            try:
                if isinstance(i, bool) or type(i).__name__ == "bool_":  # NumPy < 2's bool_ has __index__
                    raise TypeError
                i = operator.index(i)  # int, NumPy or 0-d torch integer; not 1.0 or True
            except TypeError:
                raise TypeError(f"ids must hold integer token ids; ids[{k}] is {i!r} ({type(i).__name__})") from None
            if not 0 <= i < len(self.vocab):
                raise ValueError(f"ids[{k}] = {i} is outside the vocabulary [0, {len(self.vocab)})")
            tok = self.vocab[i]
            if tok.startswith("##") and words:
                words[-1] += tok[2:]
            else:
                words.append(tok)
        return " ".join(words)
