"""Chapter 7 part 1: corpus, WordPiece (vs HF tokenizers), masking statistics, BERT vs Hugging Face."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from troikadl.bert import IGNORE, SPECIALS, Bert, BertSettings, WordPiece, mask_tokens, to_huggingface
from troikadl.data.corpus import sentence_pairs, stdlib_corpus


@pytest.fixture(scope="module")
def corpus():
    return stdlib_corpus()


@pytest.fixture(scope="module")
def wp(corpus):
    return WordPiece.train(corpus.sentences, 1500)


def test_corpus_properties(corpus):
    s = corpus.sentences
    assert len(s) > 3000 and len(set(s)) == len(s)
    assert all(4 <= len(x.split()) <= 40 for x in s)
    assert corpus.sha256 == stdlib_corpus().sha256 and len(corpus.sha256) == 64
    pairs, labels = sentence_pairs(corpus, 200, seed=1)
    assert len(pairs) == 200 and 0.3 < labels.mean() < 0.7
    with pytest.raises(ValueError, match="n must be > 0"):
        sentence_pairs(corpus, 0)


def test_wordpiece_round_trip_and_vocab(corpus, wp):
    assert len(wp) == 1500 and wp.vocab[:5] == list(SPECIALS)
    for sentence in corpus.sentences[:300]:
        ids = wp.encode(sentence)
        assert wp.decode(ids) == " ".join(wp_words(sentence))
    assert wp.tokenize("zzzq€") == ["zz", "##z", "##q", "[UNK]"] or "[UNK]" in wp.tokenize("€")


def wp_words(sentence):
    from troikadl.bert import pretokenize

    return pretokenize(sentence)


def test_wordpiece_agrees_with_hf_tokenizers(corpus, wp):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(corpus.sentences, trainers.WordPieceTrainer(vocab_size=1500, special_tokens=list(SPECIALS)))
    overlap = len(set(tok.get_vocab()) & set(wp.vocab)) / len(wp.vocab)
    ours = np.mean([len(wp.tokenize(s)) for s in corpus.sentences])
    theirs = np.mean([len(tok.encode(s).tokens) for s in corpus.sentences])
    assert overlap > 0.85 and abs(ours - theirs) / theirs < 0.05, (overlap, ours, theirs)
    # with the same vocabulary, greedy longest-match encodes identically
    same = Tokenizer(models.WordPiece(vocab={t: i for i, t in enumerate(wp.vocab)}, unk_token="[UNK]"))
    same.normalizer, same.pre_tokenizer = tok.normalizer, tok.pre_tokenizer
    for s in corpus.sentences[:300]:
        assert same.encode(s).tokens == wp.tokenize(s)


def test_wordpiece_errors():
    with pytest.raises(ValueError, match="corpus is empty"):
        WordPiece.train([], 100)
    with pytest.raises(ValueError, match="vocab_size must be at least"):
        WordPiece.train(["hello world"], 6)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        WordPiece.train(["hello world"], 30).decode([999])
    with pytest.raises(ValueError, match="missing"):
        WordPiece(["a", "b"])


def test_masking_rates():
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 1000, size=(400, 128))
    special = np.zeros(ids.shape, dtype=bool)
    special[:, 0] = special[:, -1] = True
    special[:200, 100:] = True  # padding
    inputs, labels = mask_tokens(ids, special, vocab_size=1000, mask_id=4, rng=rng)
    sel = labels != IGNORE
    n_regular = (~special).sum()
    assert not sel[special].any()
    rate = sel.sum() / n_regular
    assert abs(rate - 0.15) < 4 * np.sqrt(0.15 * 0.85 / n_regular)
    masked = (inputs[sel] == 4).mean()
    unchanged = (inputs[sel] == ids[sel]).mean()
    n = sel.sum()
    assert abs(masked - 0.8) < 4 * np.sqrt(0.16 / n)
    # unchanged = the 10% kept + the random replacements that hit the same token (~0.1 / 995)
    assert abs(unchanged - 0.1) < 4 * np.sqrt(0.09 / n)
    assert (inputs[~sel] == ids[~sel]).all() and (labels[sel] == ids[sel]).all()
    with pytest.raises(ValueError, match="special must have the shape"):
        mask_tokens(ids, special[:1], vocab_size=1000, mask_id=4, rng=rng)
    with pytest.raises(ValueError, match="ids must be in"):
        mask_tokens(ids, special, vocab_size=10, mask_id=4, rng=rng)


def test_bert_equals_huggingface_with_padding():
    torch.manual_seed(0)
    model = Bert(BertSettings(vocab_size=200, hidden=32, layers=2, heads=4, intermediate=64, max_length=16)).eval()
    hf = to_huggingface(model)
    ids = torch.randint(5, 200, (3, 12))
    seg = torch.zeros_like(ids)
    seg[:, 6:] = 1
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0
    mask[2, 3:] = 0
    with torch.no_grad():
        mlm, nsp = model(ids, seg, mask)
        out = hf(input_ids=ids, token_type_ids=seg, attention_mask=mask)
    assert (mlm - out.prediction_logits).abs().max() <= 1e-5
    assert (nsp - out.seq_relationship_logits).abs().max() <= 1e-5


def test_bert_errors():
    model = Bert(BertSettings(vocab_size=50, hidden=16, layers=1, heads=2, intermediate=32, max_length=8))
    with pytest.raises(ValueError, match="exceed the position table"):
        model(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 50\)"):
        model(torch.full((1, 4), 50))
    with pytest.raises(ValueError, match="must be divisible by heads"):
        Bert(BertSettings(vocab_size=50, hidden=10, heads=4))
