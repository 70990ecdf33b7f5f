"""BERT's normalizer and pre-tokenizer, character for character as Hugging Face ``tokenizers`` (chapter 7).

The private machinery behind :func:`troikadl.bert.wordpiece.normalize` and ``pretokenize`` (whose
docstrings, and the module docstring of :mod:`troikadl.bert.wordpiece`, describe the rules): the Unicode
tables that reproduce Hugging Face's view of characters (Unicode 8.0 categories, Unicode 9.0 NFD, Rust's
lower-casing) and the functions that apply them to checked text and options.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from typing import Any

from ..validate import check_bool

__all__: list[str] = []  # private helpers; the public functions live in troikadl.bert.wordpiece

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


def _check_options(lowercase: Any, strip_accents: Any, clean_text: Any, handle_chinese_chars: Any) -> dict:
    """The normalization options as a dict, each checked (a flag is True or False, not 1 or "no")."""
    for name, value in (("lowercase", lowercase), ("clean_text", clean_text),
                        ("handle_chinese_chars", handle_chinese_chars)):
        check_bool(value, name)
    if strip_accents is not None and not isinstance(strip_accents, bool):
        raise TypeError(f"strip_accents must be True, False or None (= same as lowercase), got {strip_accents!r}")
    return dict(lowercase=bool(lowercase), strip_accents=strip_accents, clean_text=bool(clean_text),
                handle_chinese_chars=bool(handle_chinese_chars))


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
