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
``freq(ab) / (freq(a) freq(b))``, the score usually given for WordPiece (e.g. in Hugging Face's course),
which favours pairs whose parts are rare. Encoding takes, at each position of a word, the longest
vocabulary entry that matches; a word that cannot be spelled from the vocabulary, or that is longer than
``max_input_chars_per_word`` characters, becomes ``[UNK]``.
"""

from __future__ import annotations

import heapq
import operator
import re
import unicodedata
from bisect import bisect_right
from collections import Counter, defaultdict
from typing import Any, Iterable

from ..validate import check_positive

__all__ = ["SPECIALS", "normalize", "pretokenize", "WordPiece"]

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def _ranges(spec: str) -> list[tuple[int, int]]:
    """Parse "61D 890-89F ..." (hexadecimal code points and inclusive ranges)."""
    return [(int(r.split("-")[0], 16), int(r.split("-")[-1], 16)) for r in spec.split()]


# Unicode's White_Space property, which Rust's char::is_whitespace uses (note: not U+001C-U+001F, which
# Python's str.isspace counts, and not the zero-width space U+200B, a format character).
_WHITESPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
                        "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
# The blocks BERT treats as Chinese characters (CJK Unified Ideographs, extensions A-F, compatibility
# ideographs and their supplement), with Hugging Face's bounds.
_CJK = _ranges("4E00-9FFF 3400-4DBF 20000-2A6DF 2A700-2B73F 2B740-2B81F 2B920-2CEAF F900-FAFF 2F800-2FA1F")
# The tables below were measured against tokenizers 0.23.3 on every code point. Its character categories
# come from Unicode 8.0, its NFD from Unicode 9.0 and its lower-casing from Rust's (newer) Unicode.
# Marks, punctuation and format characters added after Unicode 8.0 (with runs of unassigned code points
# folded in): Hugging Face sees them as unassigned, neither punctuation nor marks nor control characters.
_ADDED_AFTER_8 = _ranges("""
    61D 7FD 890-89F 8CA-8E2 9FD-9FE A76 AFA-AFF B55 C04 C3C C77 C84 CF3-D00 D3B-D3C D81 EBA ECE 1715 180F
    1ABF-1ACE 1B4E-1B4F 1B7D-1B7F 1CF7 1DF6-1DFB 2E43-2E5D A82C A8C5 A8FF 10D24-10D6E 10EAB-10F89
    11070-11074 110C2-110CD 11145-11146 111CE-111CF 1123E-11241 1133B 113B8-1145E 11660-1166C 116B9
    1182C-1183B 11930-11AA2 11B00-11FFF 12FF1-12FF2 13430-13455 1611E-1612F 16D6D-16E9A 16F4F 16F7F-16F87
    16FE2-16FF1 1CF00-1CF46 1E000-1E5FF 1E944-1E95F""")
_ADDED_STARTS = [a for a, _ in _ADDED_AFTER_8]
# Characters whose category changed after Unicode 8.0: their 8.0 category.
_CATEGORY_8 = {0x166D: "Po", 0x1734: "Mn", 0x1885: "Lo", 0x1886: "Lo", 0xA9BD: "Mc", 0x111C9: "Po",
               0x1171E: "Mn"}
# Characters added after Unicode 9.0 that have a canonical decomposition or a non-zero combining class:
# Hugging Face's NFD neither decomposes nor reorders them (they act as starters).
_NFD_AFTER_9 = re.compile("([%s])" % "".join(f"{chr(a)}-{chr(b)}" for a, b in _ranges("""
    7FD 897-89F 8CA-8D3 9FE C3C D3B-D3C EBA 1715 1ABF-1ACE 1DF6-1DFA A82C 105C9-105E4 10D24-10D6D
    10EAB-10F85 11070 1133B 11383-113D0 1145E 11839-1183A 11938-11A99 11D42-11F42 16121-1612F 16D68-16D6A
    16FF0-16FF1 1E08F-1E5EF""")))
# Upper-case letters added in Unicode 14.0 (unknown to Python 3.10) and 16.0 (unknown to Python < 3.14)
# whose lower case Rust knows.
_LOWER_NEW = {0x2C2F: "\u2c5f", 0xA7C0: "\ua7c1", 0xA7D0: "\ua7d1", 0xA7D6: "\ua7d7", 0xA7D8: "\ua7d9",
              **{o: chr(o + 0x27) for a, b in _ranges("10570-1057A 1057C-1058A 1058C-10592 10594-10595")
                 for o in range(a, b + 1)},
              0x1C89: "\u1c8a", 0xA7CB: "\u0264", 0xA7CC: "\ua7cd", 0xA7CE: "\ua7cf", 0xA7D2: "\ua7d3",
              0xA7D4: "\ua7d5", 0xA7DA: "\ua7db", 0xA7DC: "\u019b",
              **{o: chr(o + 0x20) for o in range(0x10D50, 0x10D66)},
              **{o: chr(o + 0x1B) for o in range(0x16EA0, 0x16EB9)}}


def _category(o: int) -> str:
    """The general category of code point ``o`` as Hugging Face's tables (Unicode 8.0) give it."""
    if o in _CATEGORY_8:
        return _CATEGORY_8[o]
    i = bisect_right(_ADDED_STARTS, o) - 1
    if i >= 0 and o <= _ADDED_AFTER_8[i][1]:
        return "Cn"
    return unicodedata.category(chr(o))


class _Table(dict):
    """A ``str.translate`` table filled on first use of each character by ``rule(code point)``."""

    def __init__(self, rule: Any) -> None:
        super().__init__()
        self.rule = rule

    def __missing__(self, o: int) -> Any:
        self[o] = value = self.rule(o)
        return value


def _clean_rule(o: int) -> str | None:
    c = chr(o)
    if c in "\t\n\r":
        return " "
    if o in (0, 0xFFFD) or _category(o) in ("Cc", "Cf", "Co"):  # so also VT, FF and NEL, though spaces
        return None
    return " " if c in _WHITESPACE else c


def _cjk_rule(o: int) -> str:
    return f" {chr(o)} " if any(a <= o <= b for a, b in _CJK) else chr(o)


def _split_rule(o: int) -> str:
    c = chr(o)
    if c in _WHITESPACE:
        return " "
    if 33 <= o <= 47 or 58 <= o <= 64 or 91 <= o <= 96 or 123 <= o <= 126 or _category(o)[0] == "P":
        return f" {c} "
    return c


_CLEAN, _CJK_SPACES, _SPLIT = _Table(_clean_rule), _Table(_cjk_rule), _Table(_split_rule)
_MARKS = _Table(lambda o: None if _category(o) == "Mn" else chr(o))


def _check_text(text: Any, name: str = "text") -> str:
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str, got {type(text).__name__}")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"{name} must be valid Unicode text; it holds a lone surrogate "
                             f"{text[exc.start]!r} at index {exc.start}") from None
    return text


def _check_texts(texts: Any, name: str) -> list[str]:
    """``texts`` as a list of str: a single str, or an item that is not a str, is an error."""
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"{name} must be a list (or other iterable) of str, got a single "
                        f"{type(texts).__name__}; wrap it in a list")
    try:
        items = list(texts)
    except TypeError:
        raise TypeError(f"{name} must be a list (or other iterable) of str, got {type(texts).__name__}") from None
    for i, t in enumerate(items):
        _check_text(t, f"{name}[{i}]")
    return items


def _check_options(lowercase: Any, strip_accents: Any, clean_text: Any, handle_chinese_chars: Any) -> dict:
    for name, value in (("lowercase", lowercase), ("clean_text", clean_text),
                        ("handle_chinese_chars", handle_chinese_chars)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be True or False, got {value!r}")
    if strip_accents is not None and not isinstance(strip_accents, bool):
        raise TypeError(f"strip_accents must be True, False or None (= same as lowercase), got {strip_accents!r}")
    return dict(lowercase=lowercase, strip_accents=strip_accents, clean_text=clean_text,
                handle_chinese_chars=handle_chinese_chars)


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


_ASCII_CLEAN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|[\t\n\r]")
_ASCII_WORDS = re.compile(r"[!-/:-@\[-`{-~]|[^\t\n\x0b\x0c\r !-/:-@\[-`{-~]+")  # the same split, faster


def _normalize(text: str, options: dict) -> str:
    if options["clean_text"]:
        if text.isascii():
            text = _ASCII_CLEAN.sub(lambda m: " " if m[0] in "\t\n\r" else "", text)
        else:
            text = text.translate(_CLEAN)
    if text.isascii():
        return text.lower() if options["lowercase"] else text
    if options["handle_chinese_chars"]:
        text = text.translate(_CJK_SPACES)
    if options["lowercase"] if options["strip_accents"] is None else options["strip_accents"]:
        parts = _NFD_AFTER_9.split(text)  # odd items are the characters to keep whole
        text = "".join(p if i % 2 else unicodedata.normalize("NFD", p) for i, p in enumerate(parts))
        text = text.translate(_MARKS)
    if options["lowercase"]:  # character by character: Python's str.lower would turn a final Σ into ς
        text = text.translate(_LOWER_NEW).replace("Σ", "σ").lower()
    return text


def _pretokenize(text: str, options: dict) -> list[str]:
    text = _normalize(text, options)
    if text.isascii():
        return _ASCII_WORDS.findall(text)
    return [w for w in text.translate(_SPLIT).split(" ") if w]


def _spell(word: str) -> tuple[str, ...]:
    return (word[0],) + tuple("##" + c for c in word[1:])


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
                if isinstance(i, bool):
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
