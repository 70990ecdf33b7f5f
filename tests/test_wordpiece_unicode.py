"""WordPiece on non-ASCII text: normalization, pre-tokenization and encoding checked equal to Hugging Face.

The reference is Hugging Face ``tokenizers`` (``BertNormalizer`` + ``BertPreTokenizer`` + the ``WordPiece``
model), built locally from the same options and the same vocabulary; nothing is downloaded. Chinese
articles and a bilingual glossary must be tokenized as Hugging Face's BERT tokenizer does.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from troikadl.bert import SPECIALS, WordPiece, pretokenize
from troikadl.bert.wordpiece import _ADDED_AFTER_8, normalize

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers  # noqa: E402

COURSE = {"lowercase": True, "strip_accents": False}  # chapter 7's BertNormalizer options, our defaults


def hf_normalizer(options: dict) -> normalizers.BertNormalizer:
    return normalizers.BertNormalizer(**{**COURSE, **options})


def hf_pieces(text: str, options: dict) -> list[str]:
    normalized = hf_normalizer(options).normalize_str(text)
    return [p for p, _ in pre_tokenizers.BertPreTokenizer().pre_tokenize_str(normalized)]


def hf_tokenizer(vocab: list[str], options: dict, max_chars: int = 100) -> Tokenizer:
    """Hugging Face's BERT pipeline with our vocabulary (no added tokens: "[UNK]" in text is plain text)."""
    tok = Tokenizer(models.WordPiece(vocab={t: i for i, t in enumerate(vocab)}, unk_token="[UNK]",
                                     max_input_chars_per_word=max_chars))
    tok.normalizer, tok.pre_tokenizer = hf_normalizer(options), pre_tokenizers.BertPreTokenizer()
    return tok


# Block bounds of the CJK ranges (and one past them): extension B-F, compatibility ideographs, and the
# gap U+2B820-U+2B91F that Hugging Face leaves out (Google's BERT includes it).
CJK_EDGES = [chr(o) for a, b in ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
                                 (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
                                 (0x2B820, 0x2B91F), (0x30000, 0x3134A))
             for o in (a - 1, a, b, b + 1)]
SPACES = ("\t\n\r\x0b\x0c\x85\xa0\u1680\u2000\u2007\u200a\u2028\u2029\u202f\u205f\u3000 "  # whitespace
          "\x00\x07\x1c\x1f\x7f\u00ad\u200b\u200c\u200d\u2060\ufeff\ufffd\ue000")  # control, format, ...
CHARS = st.one_of(
    st.characters(min_codepoint=32, max_codepoint=126),  # ASCII
    st.characters(min_codepoint=0x4E00, max_codepoint=0x4FFF), st.sampled_from(CJK_EDGES),  # Chinese
    st.characters(min_codepoint=0xC0, max_codepoint=0x24F),  # accented Latin
    st.characters(categories=["Mn", "Mc", "Me"]),  # combining marks, old and new
    st.characters(categories=["Sc", "Sm", "Sk", "So"]),  # currency, math, modifier and other symbols
    st.characters(categories=["Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po"]),  # punctuation
    st.sampled_from(SPACES), st.characters(categories=["Cc", "Cf", "Co", "Zs", "Zl", "Zp"]),
    st.sampled_from("ΣσςΟΔΟΣİIıißẞǅǄΆΐﬁＫK"),  # case mapping: final sigma, dotted I, sharp s, ligatures
    st.characters(min_codepoint=0xFF01, max_codepoint=0xFF5E),  # full-width forms
    st.characters(min_codepoint=0x3000, max_codepoint=0x303F),  # CJK punctuation
    st.characters(exclude_categories=["Cs"]),  # anything else, unassigned code points included (no surrogates)
)
TEXT = st.text(CHARS, max_size=40)
OPTIONS = st.fixed_dictionaries({"lowercase": st.booleans(), "strip_accents": st.sampled_from([None, True, False]),
                                 "clean_text": st.booleans(), "handle_chinese_chars": st.booleans()})


@settings(max_examples=400, deadline=None)
@given(text=TEXT, options=OPTIONS)
def test_normalize_and_pretokenize_equal_huggingface(text, options):
    assert normalize(text, **options) == hf_normalizer(options).normalize_str(text)
    assert pretokenize(text, **options) == hf_pieces(text, options)


@pytest.mark.parametrize("options", [{}, {"strip_accents": None}, {"lowercase": False, "clean_text": False}],
                         ids=["course", "hf-default", "raw"])
def test_every_code_point_of_the_bmp_equals_huggingface(options):
    """Every code point of the BMP, and around every range that Hugging Face's old tables treat apart."""
    cps = [o for o in range(0x10000) if not 0xD800 <= o <= 0xDFFF]
    cps += [o for a, b in _ADDED_AFTER_8 if a >= 0x10000 for o in range(a - 1, b + 2)] + [ord(c) for c in CJK_EDGES]
    text = "|".join(map(chr, cps))  # "|" is a starter: no mark reorders across it
    normalized = hf_normalizer(options).normalize_str(text)
    assert normalize(text, **options) == normalized
    assert pretokenize(text, **options) == [p for p, _ in pre_tokenizers.BertPreTokenizer().pre_tokenize_str(normalized)]


@pytest.mark.parametrize("text, options, expected", [
    ("BERT 模型很好！", {}, ["bert", "模", "型", "很", "好", "！"]),  # each CJK character is a word
    ("\U00020000\U0002a6dfx\U0002b820", {}, ["\U00020000", "\U0002a6df", "x\U0002b820"]),  # U+2B820: not CJK for HF
    ("Café Ωμέγα", {}, ["café", "ωμέγα"]),  # chapter 7 keeps accents ...
    ("Café Ωμέγα", {"strip_accents": True}, ["cafe", "ωμεγα"]),  # ... Hugging Face's default strips them
    ("cafe\u0301", {"strip_accents": None}, ["cafe"]),  # a combining mark stays in its word (or is stripped)
    ("cafe\u0301!", {}, ["cafe\u0301", "!"]),
    ("US$5 €10 ±2 ´x´ ©", {}, ["us", "$", "5", "€10", "±2", "´x´", "©"]),  # ASCII $ splits, other symbols stay
    ("a_b^c`d~e|f", {}, ["a", "_", "b", "^", "c", "`", "d", "~", "e", "|", "f"]),  # ASCII punctuation ranges
    ("“quoted” — ‘x’…", {}, ["“", "quoted", "”", "—", "‘", "x", "’", "…"]),  # Unicode P* splits
    ("zero\u200bwidth\u200djoin\ufeffbom\u00adsoft", {}, ["zerowidthjoinbomsoft"]),  # format chars removed
    ("no\xa0break\u3000ideo\u2009thin\u2028line", {}, ["no", "break", "ideo", "thin", "line"]),
    ("a\x0bb\x1cc\x85d", {}, ["abcd"]),  # VT, FS, NEL are control characters: removed, not spaces
    ("a\x0bb\x1cc", {"clean_text": False}, ["a", "b\x1cc"]),  # raw: VT splits (Unicode space), FS does not
    ("ＡＢＣ，ｄｅｆ。", {}, ["ａｂｃ", "，", "ｄｅｆ", "。"]),  # full-width letters lower-cased, not folded
    ("ΟΔΟΣ", {}, ["οδοσ"]),  # character by character: no final sigma
    ("İstanbul ẞtraße", {}, ["i\u0307stanbul", "ßtraße"]),  # dotted capital I -> i + combining dot
    ("İ", {"strip_accents": True}, ["i"]),  # stripping first: NFD gives I + U+0307, the dot goes
    ("ﬁne", {}, ["ﬁne"]),  # ligatures are not decomposed (no NFKC)
    ("a\U00011938b", {"strip_accents": True}, ["a\U00011938b"]),  # added in Unicode 13: not decomposed
    ("x\u2e43y", {}, ["x\u2e43y"]),  # punctuation added after Unicode 8.0: not split by Hugging Face
    ("[MASK] here", {}, ["[", "mask", "]", "here"]),  # special tokens in the text are plain text
])
def test_hand_picked_cases(text, options, expected):
    assert pretokenize(text, **options) == expected
    assert hf_pieces(text, options) == expected


GLOSSARY = [
    "反向传播 (backpropagation) 用链式法则计算每个参数的梯度。",
    "学习率 (learning rate) η 控制每一步的大小；常取 0.001 到 0.1。",
    "注意力机制 (attention) 让模型关注句子中相关的词。",
    "过拟合 (overfitting)：模型记住了训练集，却不能泛化。",
    "批量归一化 (Batch Normalization) 使训练更稳定、更快。",
    "预训练 (pre-training) 与微调 (fine-tuning) 是 BERT 的两个阶段。",
    "词元化 (tokenization) 把文本切成词元，例如 WordPiece。",
    "Dropout 在训练时随机丢弃神经元，防止过拟合。",
]


def test_mixed_english_chinese_glossary_equals_huggingface():
    wp = WordPiece.train(GLOSSARY, 260)
    hf = hf_tokenizer(wp.vocab, {})
    sentence = "BERT 的预训练 (pre-training) 使用 WordPiece 词元化，学习率 η=0.0001。"
    assert wp.tokenize(sentence)[:8] == ["bert", "的", "预", "训", "练", "(", "pre", "-"]
    for text in GLOSSARY + [sentence, "未见过的字：鑫 and unseen words: xylophone"]:
        assert wp.encode(text) == hf.encode(text).ids, text
        assert wp.tokenize(text) == hf.encode(text).tokens, text
    # every CJK character is its own word: no token spans two of them
    assert all(len(t.lstrip("#")) == 1 for t in wp.vocab if any("\u4e00" <= c <= "\u9fff" for c in t))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corpus=st.lists(TEXT, min_size=1, max_size=12), extra=st.integers(0, 60), options=OPTIONS,
       max_chars=st.sampled_from([100, 4, 9]), score=st.sampled_from(["frequency", "likelihood"]),
       probes=st.lists(TEXT, max_size=5))
def test_encoding_with_a_trained_vocabulary_equals_huggingface(corpus, extra, options, max_chars, score, probes):
    """Train on random mixed text, load the vocabulary into Hugging Face's WordPiece: same ids."""
    words = [w for s in corpus for w in pretokenize(s, **options)]
    if not words:
        return
    alphabet = {w[0] for w in words} | {"##" + c for w in words for c in w[1:]}
    wp = WordPiece.train(corpus, len(SPECIALS) + len(alphabet) + extra, score, max_input_chars_per_word=max_chars,
                         **options)
    assert len(set(wp.vocab)) == len(wp.vocab)
    hf = hf_tokenizer(wp.vocab, options, max_chars)
    for text in corpus + probes:
        assert wp.encode(text) == hf.encode(text).ids, text


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corpus=st.lists(TEXT, min_size=1, max_size=12), size=st.integers(20, 200), options=OPTIONS,
       probes=st.lists(TEXT, max_size=5))
def test_huggingface_trained_vocabulary_encodes_equally(corpus, size, options, probes):
    """The other way round: Hugging Face's WordPieceTrainer's vocabulary, loaded into ours."""
    trained = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    trained.normalizer, trained.pre_tokenizer = hf_normalizer(options), pre_tokenizers.BertPreTokenizer()
    trained.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=size, special_tokens=list(SPECIALS),
                                                                  show_progress=False))
    vocab = sorted(trained.get_vocab(), key=trained.get_vocab().get)
    wp, hf = WordPiece(vocab, **options), hf_tokenizer(vocab, options)
    for text in corpus + probes:
        assert wp.encode(text) == hf.encode(text).ids, text


def test_long_words_become_unknown_as_in_huggingface():
    wp = WordPiece.train(["ab " * 3 + "a" * 120], 40)
    hf = hf_tokenizer(wp.vocab, {})
    for n in (99, 100, 101, 150):
        assert wp.tokenize("a" * n) == hf.encode("a" * n).tokens
    assert wp.tokenize("a" * 101) == ["[UNK]"] and wp.tokenize("a" * 100) != ["[UNK]"]
    short = WordPiece(wp.vocab, max_input_chars_per_word=3)
    assert short.tokenize("ab aaaa") == ["ab", "[UNK]"] == hf_tokenizer(wp.vocab, {}, 3).encode("ab aaaa").tokens


def test_decode_accepts_numpy_and_torch_integers():
    import torch

    wp = WordPiece.train(GLOSSARY, 260)
    ids = wp.encode(GLOSSARY[0])
    assert wp.decode(ids) == " ".join(pretokenize(GLOSSARY[0]))
    assert wp.decode(np.array(ids)) == wp.decode(torch.tensor(ids)) == wp.decode(ids)


@pytest.mark.parametrize("call, error, match", [
    (lambda wp: pretokenize(123), TypeError, "text must be a string, got int"),
    (lambda wp: pretokenize(["a b"]), TypeError, "text must be a string, got list"),
    (lambda wp: pretokenize("a\ud800b"), ValueError, "text must be valid Unicode.*surrogate.*index 1"),
    (lambda wp: normalize(b"bytes"), TypeError, "text must be a string, got bytes"),
    (lambda wp: pretokenize("a", lowercase="yes"), TypeError, "lowercase must be True or False"),
    (lambda wp: pretokenize("a", strip_accents=1), TypeError, "strip_accents must be True, False or None"),
    (lambda wp: pretokenize("a", clean_text=None), TypeError, "clean_text must be True or False"),
    (lambda wp: pretokenize("a", handle_chinese_chars=0), TypeError, "handle_chinese_chars must be True or False"),
    (lambda wp: WordPiece.train("hello world", 100), TypeError, "sentences must be a list of strings, not a single string"),
    (lambda wp: WordPiece.train(["hello", 3], 100), TypeError, r"sentences\[1\] is int 3"),
    (lambda wp: WordPiece.train(5, 100), TypeError, "sentences must be a list .* got int"),
    (lambda wp: WordPiece.train(["hello"], 0), ValueError, "vocab_size must be > 0"),
    (lambda wp: WordPiece.train(["hello"], -3), ValueError, "vocab_size must be > 0"),
    (lambda wp: WordPiece.train(["hello"], 20.5), TypeError, "vocab_size must be an integer"),
    (lambda wp: WordPiece.train(["hello"], 20.0), TypeError, "vocab_size must be an integer"),
    (lambda wp: WordPiece.train(["hello"], True), TypeError, "vocab_size must be an integer"),
    (lambda wp: WordPiece.train(["hello"], "20"), TypeError, "vocab_size must be an integer"),
    (lambda wp: WordPiece.train(["hello"], 20, score="bpe"), ValueError, "score must be 'frequency' or"),
    (lambda wp: WordPiece.train(["hello"], 20, lowercase=1), TypeError, "lowercase must be True or False"),
    (lambda wp: WordPiece.train(["hello"], 20, max_input_chars_per_word=0), ValueError,
     "max_input_chars_per_word must be > 0"),
    (lambda wp: WordPiece.train([" ", "\u200b"], 20), ValueError, "corpus is empty"),
    (lambda wp: WordPiece("[PAD][UNK]"), TypeError, "vocab must be a list of strings, not a single string"),
    (lambda wp: WordPiece([*SPECIALS, "a", 7]), TypeError, r"vocab\[6\] is int 7"),
    (lambda wp: WordPiece({t: i for i, t in enumerate(SPECIALS)}), TypeError, "vocab must be a list of tokens in id"),
    (lambda wp: WordPiece(set(SPECIALS)), TypeError, "vocab must be a list of tokens in id order, got a set"),
    (lambda wp: WordPiece([*SPECIALS, "a", "a"]), ValueError, "vocab must not repeat a token; 'a'"),
    (lambda wp: WordPiece([*SPECIALS, ""]), ValueError, "vocab must not hold empty tokens"),
    (lambda wp: WordPiece(["a", "b"]), ValueError, "missing"),
    (lambda wp: WordPiece(SPECIALS, max_input_chars_per_word=2.5), TypeError, "max_input_chars_per_word must be an"),
    (lambda wp: WordPiece(SPECIALS, strip_accents="no"), TypeError, "strip_accents must be"),
    (lambda wp: wp.tokenize(None), TypeError, "text must be a string, got None"),
    (lambda wp: wp.encode(["hello"]), TypeError, "text must be a string, got list"),
    (lambda wp: wp.decode("12"), TypeError, "ids must be an iterable of integer token ids, got str"),
    (lambda wp: wp.decode(3), TypeError, "ids must be an iterable of integer token ids, got int"),
    (lambda wp: wp.decode([5, 1.0]), TypeError, r"ids must hold integer token ids; ids\[1\] is 1.0"),
    (lambda wp: wp.decode([True]), TypeError, r"ids must hold integer token ids; ids\[0\] is True"),
    (lambda wp: wp.decode(np.array([5.0, 6.0])), TypeError, r"ids\[0\]"),
    (lambda wp: wp.decode([5, -1]), ValueError, r"ids\[1\] = -1 is outside the vocabulary \[0, "),
    (lambda wp: wp.decode(np.array([999])), ValueError, r"ids\[0\] = 999 is outside the vocabulary"),
])
def test_bad_input_raises_naming_the_argument(call, error, match):
    wp = WordPiece.train(["hello world"], 30)
    with pytest.raises(error, match=match):
        call(wp)
