"""The subword-merge diagram (troikadl.figures.tokenizers, chapter 7): the merges drawn are the package trainer's,
checked against a plain reference trainer written here, and the word's tokens are the package's tokenizer's."""

from __future__ import annotations

from collections import Counter

import matplotlib
import pytest

matplotlib.use("Agg")

from troikadl.bert import SPECIALS, WordPiece  # noqa: E402
from troikadl.figures import tokenizers as ftok  # noqa: E402
from figure_checks import assert_fits  # noqa: E402


def by_gid(fig, gid):
    return [t for ax in fig.axes for t in ax.texts if t.get_gid() == gid]


def reference_merges(words: dict, n: int, score: str) -> list[tuple[str, str, int, float]]:
    """Merge the best adjacent pair n times (score: the pair's count, or count(ab) / (count(a) count(b)));
    ties go to the smaller pair. Pieces after a word's first character carry '##'."""
    splits = {w: [w[0]] + ["##" + c for c in w[1:]] for w in words}
    out = []
    for _ in range(n):
        sym, pair = Counter(), Counter()
        for w, f in words.items():
            for s in splits[w]:
                sym[s] += f
            for p in zip(splits[w], splits[w][1:]):
                pair[p] += f
        if not pair:
            break
        value = {p: c / (sym[p[0]] * sym[p[1]]) if score == "likelihood" else c for p, c in pair.items()}
        best = min(value, key=lambda p: (-value[p], p))
        a, b = best
        new = a + b.removeprefix("##")
        out.append((a, b, pair[best], value[best]))
        for w, sp in splits.items():
            merged, i = [], 0
            while i < len(sp):
                if sp[i:i + 2] == [a, b]:
                    merged.append(new)
                    i += 2
                else:
                    merged.append(sp[i])
                    i += 1
            splits[w] = merged
    return out


CORPORA = {"hug": None, "low": ["low"] * 5 + ["lower"] * 2 + ["newest"] * 6 + ["widest"] * 3,
           "sentences": ["the cat sat", "the cat", "a hat", "that cat"]}


@pytest.mark.parametrize("corpus", CORPORA)
@pytest.mark.parametrize("score", ["frequency", "likelihood"])
@pytest.mark.parametrize("n", [3, 6])
def test_merge_steps_are_the_trainers_merges_and_the_reference(corpus, score, n):
    sentences = list(ftok.EXAMPLE_CORPUS) if CORPORA[corpus] is None else CORPORA[corpus]
    words = Counter(w for s in sentences for w in s.split())
    steps = ftok.merge_steps(sentences, n, score)
    ref = reference_merges(dict(words), n, score)
    assert [(m.a, m.b, m.count_ab) for m in steps] == [r[:3] for r in ref]
    assert [m.score for m in steps] == pytest.approx([r[3] for r in ref])
    base = len(SPECIALS) + len({c for w in words for c in [w[0]] + ["##" + x for x in w[1:]]})
    assert [m.token for m in steps] == WordPiece.train(sentences, base + n, score=score).vocab[base:]
    for m in steps:
        if score == "likelihood":
            assert m.score == pytest.approx(m.count_ab / (m.count_a * m.count_b))
        else:
            assert m.score == m.count_ab


@pytest.mark.parametrize("corpus, n, word", [("hug", 4, "hugs"), ("hug", 6, "bugs"), ("low", 5, "lowest"),
                                             ("sentences", 3, "cats")])
def test_subword_merges_draws_both_trainers_merges_and_tokens(corpus, n, word):
    sentences = None if CORPORA[corpus] is None else CORPORA[corpus]
    fig = ftok.subword_merges(sentences, n, word)
    assert_fits(fig)
    used = list(ftok.EXAMPLE_CORPUS) if sentences is None else sentences
    words = Counter(w for s in used for w in s.split())
    (c,) = by_gid(fig, "corpus")
    for w, f in words.items():
        assert f"{' '.join([w[0]] + ['##' + x for x in w[1:]])} ×{f}" in c.get_text()
    ties = False
    for score in ("frequency", "likelihood"):
        ref = reference_merges(dict(words), n, score)
        for k, (a, b, count, value) in enumerate(ref):
            (t,) = by_gid(fig, f"{score} merge {k}")
            assert t.get_text() == f"{k + 1}.  {a} + {b} → {a + b.removeprefix('##')}"
            (s,) = by_gid(fig, f"{score} score {k}")
            number = s.get_text().removesuffix(" *")
            assert number == (f"{count}" if score == "frequency" else number.split(" = ")[0] + f" = {value:.3f}")
            ties |= s.get_text().endswith(" *")
        assert not by_gid(fig, f"{score} merge {len(ref)}")
        base = len(SPECIALS) + len({c for w in words for c in [w[0]] + ["##" + x for x in w[1:]]})
        tokens = WordPiece.train(used, base + n, score=score).tokenize(word)
        drawn = [by_gid(fig, f"{score} token {k}")[0].get_text() for k in range(len(tokens))]
        assert drawn == tokens and not by_gid(fig, f"{score} token {len(tokens)}")
    assert bool(by_gid(fig, "ties")) == ties


def test_the_default_shows_the_two_scores_disagree():
    """On the default corpus, the frequency merges ##u ##g first and the ratio ##g ##s (rare parts)."""
    fig = ftok.subword_merges()
    assert by_gid(fig, "frequency merge 0")[0].get_text().endswith("##u + ##g → ##ug")
    assert by_gid(fig, "likelihood merge 0")[0].get_text().endswith("##g + ##s → ##gs")
    assert by_gid(fig, "likelihood score 0")[0].get_text() == "5/(20·5) = 0.050"


@pytest.mark.parametrize("kwargs, err, name", [
    (dict(sentences="hug pug"), TypeError, "sentences"), (dict(sentences=[]), ValueError, "sentences"),
    (dict(sentences=["a b c d e f g"]), ValueError, "sentences"), (dict(n=0), ValueError, "n"),
    (dict(n=2.5), TypeError, "n"), (dict(n=7), ValueError, "n"), (dict(word="two words"), ValueError, "word"),
    (dict(word=3), TypeError, "word"), (dict(word=""), ValueError, "word")])
def test_subword_merges_bad_input(kwargs, err, name):
    with pytest.raises(err, match=name):
        ftok.subword_merges(**kwargs)


def test_merge_steps_bad_input():
    with pytest.raises(ValueError, match="score"):
        ftok.merge_steps(["hug"], 2, "bpe")
    with pytest.raises(TypeError, match="sentences"):
        ftok.merge_steps("hug", 2, "frequency")
    with pytest.raises(ValueError, match="sentences"):
        ftok.merge_steps(["  "], 2, "frequency")
