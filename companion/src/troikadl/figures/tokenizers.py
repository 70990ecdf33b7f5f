"""Subword vocabularies (chapter 7, section 7.2): the merges the frequency score and the ratio score make.

Both vocabularies are trained by the package's own trainer, :meth:`troikadl.bert.WordPiece.train`, with
``score="frequency"`` (the pair's count: BPE's score, and Hugging Face's ``WordPieceTrainer``'s) and
``score="likelihood"`` (the ratio ``count(ab) / (count(a) count(b))`` usually presented as WordPiece's).
The trainer returns only the vocabulary, whose tokens after the specials and single characters are the
merges in the order they were made; :func:`merge_steps` replays them on the corpus to recover, for each, the
pair merged and the counts behind its score, and checks that each is the best pair under its score (so a
trainer that merged the wrong pair would be caught). :func:`subword_merges` draws the first merges of both
side by side and one word tokenized with each vocabulary (the package's greedy longest match).

Taught in chapter 7.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

from ..validate import check_choice, check_int, check_str, check_str_list
from .style import EDGES, FONT, MAX_WIDTH, box, canvas, note, text_width

__all__ = ["EXAMPLE_CORPUS", "SCORES", "Merge", "merge_steps", "subword_merges"]

#: The default corpus of :func:`subword_merges`: a few words, each repeated (one sentence per occurrence).
EXAMPLE_CORPUS: tuple[str, ...] = tuple(["hug"] * 10 + ["pug"] * 5 + ["pun"] * 12 + ["bun"] * 4 + ["hugs"] * 5)
#: The two scores, as :meth:`troikadl.bert.WordPiece.train` names them, with the names the figure gives them.
SCORES = {"frequency": "frequency: count(ab)  (BPE)", "likelihood": "ratio: count(ab) / (count(a) count(b))"}


@dataclass(frozen=True)
class Merge:
    """One merge: the pair ``(a, b)`` into ``token``, with the counts at that step, the pair's score and the number
    of other pairs with the same score (``ties``; the trainer takes the smallest pair)."""

    a: str
    b: str
    token: str
    count_ab: int
    count_a: int
    count_b: int
    score: float
    ties: int = 0


def _counts(words: Counter, splits: dict[str, list[str]]) -> tuple[Counter, Counter]:
    sym, pair = Counter(), Counter()
    for w, f in words.items():
        sp = splits[w]
        for s in sp:
            sym[s] += f
        for p in zip(sp, sp[1:]):
            pair[p] += f
    return sym, pair


def merge_steps(sentences: Sequence[str], n: int, score: str) -> list[Merge]:
    """The first ``n`` merges :meth:`troikadl.bert.WordPiece.train` makes on ``sentences`` with ``score``.

    The merged tokens (and their order) are the trainer's vocabulary; each is replayed on the corpus to find
    its pair and the counts of that step. ``ValueError`` if the corpus allows fewer than ``n`` merges (the trainer
    would stop early); ``RuntimeError`` if a merge is not the best pair under
    ``score`` at its step (ties broken as the trainer breaks them: the smaller pair first).
    """
    from ..bert.wordpiece import SPECIALS, WordPiece, _join, _merge, _spell, pretokenize

    sentences = check_str_list(sentences, "sentences")
    n = check_int(n, "n", min=1, max=8)
    score = check_choice(score, "score", SCORES)
    words = Counter(w for s in sentences for w in pretokenize(s))
    if not words:
        raise ValueError("sentences must contain at least one word")
    splits = {w: list(_spell(w)) for w in words}
    base = len(SPECIALS) + len({s for sp in splits.values() for s in sp} - set(SPECIALS))
    vocab = WordPiece.train(sentences, base + n, score=score).vocab
    if len(vocab) - base < n:
        raise ValueError(f"n must be at most {len(vocab) - base}, the merges the sentences allow, got {n}")
    steps = []
    for token in vocab[base:]:
        sym, pair = _counts(words, splits)

        def rank(p: tuple[str, str]) -> float:
            return pair[p] / (sym[p[0]] * sym[p[1]]) if score == "likelihood" else float(pair[p])

        top = max(rank(p) for p in pair)
        best = min(p for p in pair if rank(p) == top)
        if _join(*best) != token:
            raise RuntimeError(f"the trainer merged into {token!r}, but the best pair under {score!r} is {best}")
        a, b = best
        ties = sum(rank(p) == top for p in pair) - 1
        steps.append(Merge(a, b, token, pair[best], sym[a], sym[b], top, ties))
        splits = {w: _merge(sp, a, b, token) for w, sp in splits.items()}
    return steps


def _tokens(ax: Any, x: float, y: float, tokens: Sequence[str], gid: str) -> float:
    """The tokens as blue boxes from ``x`` on; returns the right end."""
    for k, t in enumerate(tokens):
        w = text_width(t, FONT["label"]) + 0.18
        box(ax, x + w / 2, y, t, w=w, h=0.3, role="data", shape="square")
        ax.texts[-1].set_gid(f"{gid} {k}")
        x += w + 0.06
    return x


def subword_merges(sentences: Sequence[str] | None = None, n: int = 4, word: str = "hugs") -> Any:
    """The first ``n`` merges of the frequency score beside those of the ratio score, on one corpus (chapter 7).

    Top, the corpus's words with their counts, spelled as WordPiece starts them (``##`` marks a piece that
    continues a word). Left column, :func:`merge_steps` with ``score="frequency"`` (BPE's score): each merge,
    its pair and its count. Right column, ``score="likelihood"``: each merge with its ratio
    ``count(ab) / (count(a) count(b))`` written out. Bottom, ``word`` tokenized with each vocabulary (specials,
    characters and the ``n`` merges) by the package's greedy longest match. ``sentences`` default to
    :data:`EXAMPLE_CORPUS`; at most 6 distinct words.
    """
    from ..bert.wordpiece import SPECIALS, WordPiece, _spell, pretokenize

    corpus = EXAMPLE_CORPUS if sentences is None else check_str_list(sentences, "sentences")
    n = check_int(n, "n", min=1, max=6)
    word = check_str(word, "word")
    words = Counter(w for s in corpus for w in pretokenize(s))
    if not 1 <= len(words) <= 6:
        raise ValueError(f"sentences must hold 1 to 6 distinct words, got {len(words)}")
    if len(pretokenize(word)) != 1:
        raise ValueError(f"word must be one word, got {word!r}")
    steps = {s: merge_steps(corpus, n, s) for s in SCORES}
    lines = [""]
    for item in (f"{' '.join(_spell(w))} ×{f}" for w, f in words.most_common()):
        joined = (lines[-1] + "     " + item) if lines[-1] else item
        if text_width(joined, 9.0) <= MAX_WIDTH - 0.3 or not lines[-1]:
            lines[-1] = joined
        else:
            lines.append(item)
    if len(lines) > 2 or any(text_width(x, 9.0) > MAX_WIDTH - 0.3 for x in lines):
        raise ValueError("sentences must hold words short enough to spell on two lines of the figure")
    extra = 0.2 * (len(lines) - 1)
    height = 2.64 + 0.36 * n + extra
    fig, ax = canvas(MAX_WIDTH, height)
    note(ax, 0.1, height - 0.18, "corpus (word × count), spelled as characters:", ha="left", size=9.0)
    note(ax, MAX_WIDTH / 2, height - 0.45 - extra / 2, "\n".join(lines), size=9.0, gid="corpus")
    xs = (0.15, 3.6)
    top = height - 0.85 - extra
    for (score, title), x in zip(SCORES.items(), xs):
        note(ax, x, top, title, ha="left", size=FONT["label"], fontweight="bold")
        for k, m in enumerate(steps[score]):
            y = top - 0.36 * (k + 1)
            text = (f"{k + 1}.  {m.a} + {m.b} → {m.token}",
                    f"{m.count_ab}" if score == "frequency"
                    else f"{m.count_ab}/({m.count_a}·{m.count_b}) = {m.score:.3f}")
            text = (text[0], text[1] + (" *" if m.ties else ""))
            box(ax, x + 1.6, y, w=3.25, h=0.3, role="op", shape="square")
            note(ax, x + 0.07, y, text[0], ha="left", size=9.0, gid=f"{score} merge {k}")
            note(ax, x + 3.15, y, text[1], ha="right", size=9.0, gid=f"{score} score {k}")
    ybottom = top - 0.36 * (n + 1) - 0.42
    tied = [m for ms in steps.values() for m in ms if m.ties]
    if tied:
        note(ax, MAX_WIDTH - 0.1, ybottom + 0.3, "* tied with other pairs: the trainer takes the first in sort order",
             ha="right", size=8.5, gid="ties")
    note(ax, 0.1, ybottom, f"the word {word!r} tokenized with each vocabulary (characters + these {n} merges; "
         "longest match first):", ha="left", size=9.0)
    base = len(SPECIALS) + len({s for w in words for s in _spell(w)} - set(SPECIALS))
    for k, score in enumerate(SCORES):
        wp = WordPiece.train(corpus, base + n, score=score)
        y = ybottom - 0.38 * (k + 1)
        note(ax, 0.15, y, "frequency" if score == "frequency" else "ratio", ha="left", size=9.0,
             color=EDGES["data"])
        _tokens(ax, 1.05, y, wp.tokenize(word), f"{score} token")
    return fig
