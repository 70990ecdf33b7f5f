"""Chapter 7 part 1: corpus, WordPiece (vs HF tokenizers), masking statistics, BERT vs Hugging Face."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from troikadl.bert import SPECIALS, Bert, BertSettings, WordPiece, mask_tokens, to_huggingface
from troikadl.data.corpus import sentence_pairs, stdlib_corpus
from troikadl.train import IGNORE


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
    # the fingerprint is the SHA-256 of the sentences, one a line
    assert corpus.sha256 == hashlib.sha256("\n".join(s).encode()).hexdigest()
    pairs, labels = sentence_pairs(corpus, 200, seed=1)
    assert len(pairs) == 200 and 0.3 < labels.mean() < 0.7
    with pytest.raises(ValueError, match="n must be > 0"):
        sentence_pairs(corpus, 0)


def test_the_corpus_is_the_same_when_built_twice(corpus):
    """Two independent builds (``stdlib_corpus`` caches its result: call the uncached builder), each in its
    own Python process with its own string-hash seed, give the same documents in the same order."""
    again = stdlib_corpus.__wrapped__()
    assert again is not corpus
    assert again.documents == corpus.documents and again.modules == corpus.modules
    assert again.sha256 == corpus.sha256


def test_wordpiece_round_trip_and_vocab(corpus, wp):
    assert len(wp) == 1500 and wp.vocab[:5] == list(SPECIALS)
    for sentence in corpus.sentences[:300]:
        ids = wp.encode(sentence)
        assert wp.decode(ids) == " ".join(wp_words(sentence))
    # "€" is a symbol, not punctuation: it stays inside its word, and a word with a character outside the
    # vocabulary is one [UNK] as a whole (BERT's rule), not its spellable prefix followed by [UNK]
    assert "€" not in "".join(wp.vocab) and wp.tokenize("zzzq") == ["z", "##z", "##z", "##q"]
    assert wp.tokenize("zzzq€") == ["[UNK]"] and wp.tokenize("q€z") == ["[UNK]"]
    assert wp.tokenize("zzzq €, zzzq") == ["z", "##z", "##z", "##q", "[UNK]", ",", "z", "##z", "##z", "##q"]


def test_wordpiece_encodes_by_greedy_longest_match_on_a_hand_made_vocabulary():
    """Expected tokens worked out by hand: at each position, the longest entry that matches."""
    tok = WordPiece([*SPECIALS, "z", "zz", "##z", "##q", "un", "##aff", "##able", "##a", "##f", "##b", "##l", "##e"])
    assert tok.tokenize("zzzq") == ["zz", "##z", "##q"]  # not z ##z ##z ##q: "zz" is the longer match
    assert tok.tokenize("unaffable") == ["un", "##aff", "##able"]
    assert tok.tokenize("unaffablez") == ["un", "##aff", "##able", "##z"]
    assert tok.tokenize("zzx") == ["[UNK]"] and tok.tokenize("ZZ zq") == ["zz", "z", "##q"]


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
    # HF's trainer is not deterministic: its vocabulary differs slightly from one training to the next.
    # Measured over 53 HF trainings in three environments (Python 3.11 and 3.12, tokenizers 0.22.2 and
    # 0.23.3): vocabulary overlap 97.67-97.93%, tokens per sentence within 0.005-0.039% of HF's. The bounds
    # allow 1.3 times the largest share of differing tokens measured and 2.5 times the largest length gap.
    assert overlap > 0.97 and abs(ours - theirs) / theirs < 0.001, (overlap, ours, theirs)
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


def test_masking_proportions():
    """``proportions`` moves the three thresholds: all [MASK], all random, all unchanged."""
    rng = np.random.default_rng(1)
    ids = rng.integers(5, 500, size=(200, 64))
    special = np.zeros(ids.shape, dtype=bool)
    for shares, check in [((1.0, 0.0, 0.0), lambda i, o: (i == 4).all()),
                          ((0.0, 0.0, 1.0), lambda i, o: (i == o).all()),
                          ((0.0, 1.0, 0.0), lambda i, o: (i != 4).all() and (i == o).mean() < 0.01)]:
        inputs, labels = mask_tokens(ids, special, vocab_size=500, mask_id=4, rng=rng, proportions=shares)
        sel = labels != IGNORE
        assert sel.sum() > 1000 and check(inputs[sel], ids[sel]), shares
        assert (inputs[~sel] == ids[~sel]).all()
    # p = 0 selects nothing, p = 1 every regular token
    assert (mask_tokens(ids, special, vocab_size=500, mask_id=4, rng=rng, p=0.0)[1] == IGNORE).all()
    assert (mask_tokens(ids, special, vocab_size=500, mask_id=4, rng=rng, p=1.0)[1] != IGNORE).all()


def test_the_ignore_label_is_pytorchs_and_has_one_home():
    """Unselected positions get PyTorch's ``ignore_index`` default; ``troikadl.train.IGNORE`` is the only
    definition in the package (bert and distillation import it; ``troikadl.bert.IGNORE`` is no second name)."""
    import pathlib
    import re

    import troikadl
    import troikadl.bert

    assert IGNORE == torch.nn.CrossEntropyLoss().ignore_index == -100
    ids = np.arange(5, 25).reshape(2, 10)
    labels = mask_tokens(ids, np.zeros(ids.shape, dtype=bool), vocab_size=30, mask_id=4,
                         rng=np.random.default_rng(0), p=0.0)[1]
    assert (labels == torch.nn.CrossEntropyLoss().ignore_index).all()
    assert not hasattr(troikadl.bert, "IGNORE") and "IGNORE" not in troikadl.bert.__all__
    root = pathlib.Path(troikadl.__file__).parent
    defined = [str(py.relative_to(root)) for py in sorted(root.rglob("*.py"))
               if re.search(r"^\s*(IGNORE\s*(:[^=]*)?=|\w+\s*=\s*-100\b)", py.read_text(), re.M)]
    assert defined == ["train.py"], defined


@pytest.mark.parametrize("kwargs, error, match", [
    ({"p": 1.5}, ValueError, r"p must be in \[0"),
    ({"p": -0.1}, ValueError, r"p must be in"),
    ({"p": "0.15"}, TypeError, "p must be a"),
    ({"proportions": (0.8, 0.1, 0.2)}, ValueError, "proportions .* must sum to 1"),
    ({"proportions": (1.2, -0.1, -0.1)}, ValueError, r"proportions\[0\] must be in"),
    ({"proportions": (0.8, 0.2)}, TypeError, "proportions must be three numbers"),
    ({"mask_id": 1000}, ValueError, r"mask_id must be <= 999, got 1000"),
    ({"mask_id": 4.0}, TypeError, "mask_id must be an integer"),
    ({"first_regular_id": -1}, ValueError, "first_regular_id must be >= 0"),
    ({"mask_id": True}, TypeError, "mask_id must be an integer"),
    ({"vocab_size": 0}, ValueError, "vocab_size must be > 0"),
    ({"rng": 0}, TypeError, "rng must be a numpy.random.Generator"),
])
def test_masking_bad_arguments(kwargs, error, match):
    ids = np.arange(5, 25).reshape(2, 10)
    args = {"vocab_size": 1000, "mask_id": 4, "rng": np.random.default_rng(0), **kwargs}
    with pytest.raises(error, match=match):
        mask_tokens(ids, np.zeros(ids.shape, dtype=bool), **args)


def test_masking_bad_arrays():
    rng = np.random.default_rng(0)
    ids = np.arange(5, 25).reshape(2, 10)
    with pytest.raises(TypeError, match="special must be a boolean array"):
        mask_tokens(ids, np.zeros(ids.shape, dtype=int), vocab_size=1000, mask_id=4, rng=rng)
    with pytest.raises(TypeError, match="ids must be integer token ids"):
        mask_tokens(ids.astype(float), np.zeros(ids.shape, dtype=bool), vocab_size=1000, mask_id=4, rng=rng)


def _hf_pair(seed, vocab, hidden, heads, layers, intermediate, length, dtype=torch.float32):
    torch.manual_seed(seed)
    model = Bert(BertSettings(vocab_size=vocab, hidden=hidden, layers=layers, heads=heads,
                              intermediate=intermediate, max_length=length)).eval().to(dtype)
    return model, to_huggingface(model).to(dtype)


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([(8, 1), (16, 2), (24, 3), (32, 8)]), st.integers(1, 3),
       st.integers(1, 4), st.integers(2, 12), st.booleans())
def test_bert_equals_huggingface_random_configurations(seed, width, layers, batch, length, float64):
    """Random sizes, padding patterns and segment splits; float64 is held to a far tighter tolerance."""
    hidden, heads = width
    dtype, tol = (torch.float64, 1e-10) if float64 else (torch.float32, 1e-5)
    model, hf = _hf_pair(seed, 60, hidden, heads, layers, 2 * hidden + 4, 12, dtype)
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 60, (batch, length), generator=g)
    seg = (torch.arange(length) >= torch.randint(1, length + 1, (batch, 1), generator=g)).long()
    mask = (torch.arange(length) < torch.randint(1, length + 1, (batch, 1), generator=g)).long()
    with torch.no_grad():
        mlm, nsp = model(ids, seg, mask)
        out = hf(input_ids=ids, token_type_ids=seg, attention_mask=mask)
    assert mlm.dtype == dtype
    assert (mlm - out.prediction_logits).abs().max() <= tol
    assert (nsp - out.seq_relationship_logits).abs().max() <= tol


def test_pretraining_loss_and_gradients_equal_huggingface():
    """The loss `pretrain` minimizes (MLM mean over the selected tokens + NSP mean over the pairs) is
    BertForPreTraining's, and so are its gradients, the tied embedding matrix included."""
    from troikadl.bert.pretrain import _loss

    model, hf = _hf_pair(3, 120, 32, 4, 2, 64, 16)
    model.train(), hf.train()  # no dropout in either (HF's probabilities are set to 0)
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 120, (6, 16))
    att = np.ones(ids.shape, dtype=np.int64)
    att[3, 10:] = 0  # one padded row
    special = att == 0
    special[:, 0] = True
    inputs, labels = mask_tokens(ids, special, vocab_size=120, mask_id=4, rng=rng, p=0.3)
    batch = {"ids": inputs, "segments": (np.arange(16) >= 8).astype(np.int64) * np.ones((6, 1), np.int64),
             "attention": att, "labels": labels, "nsp": rng.integers(0, 2, 6)}
    ours = _loss(model, batch, 0, 1, torch.device("cpu"))
    theirs = hf(input_ids=torch.as_tensor(inputs), token_type_ids=torch.as_tensor(batch["segments"]),
                attention_mask=torch.as_tensor(att), labels=torch.as_tensor(labels),
                next_sentence_label=torch.as_tensor(batch["nsp"])).loss
    assert abs(ours.item() - theirs.item()) <= 1e-5, (ours.item(), theirs.item())
    ours.backward()
    theirs.backward()
    pairs = {"tokens.weight": "bert.embeddings.word_embeddings.weight", "mlm_bias": "cls.predictions.bias",
             "layers.0.q.weight": "bert.encoder.layer.0.attention.self.query.weight",
             "layers.1.down.weight": "bert.encoder.layer.1.output.dense.weight",
             "pooler.weight": "bert.pooler.dense.weight", "nsp.weight": "cls.seq_relationship.weight",
             "mlm_dense.weight": "cls.predictions.transform.dense.weight"}
    ours_p, theirs_p = dict(model.named_parameters()), dict(hf.named_parameters())
    for a, b in pairs.items():
        assert ours_p[a].grad is not None and theirs_p[b].grad is not None, a
        assert (ours_p[a].grad - theirs_p[b].grad).abs().max() <= 1e-5, a


def test_bert_bad_inputs():
    model = Bert(BertSettings(vocab_size=50, hidden=16, layers=1, heads=2, intermediate=32, max_length=8))
    ids = torch.full((2, 4), 7)
    with pytest.raises(TypeError, match="ids must be an integer tensor"):
        model(ids.float())
    with pytest.raises(TypeError, match="ids must be a torch.Tensor"):
        model(ids.numpy())
    with pytest.raises(ValueError, match=r"ids must be \(batch, length\)"):
        model(ids[0])
    with pytest.raises(ValueError, match="segments must have the shape of ids"):
        model(ids, torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"segments must be in \[0, 2\)"):
        model(ids, torch.full((2, 4), 2))
    with pytest.raises(TypeError, match="attention_mask must be an integer or boolean tensor"):
        model(ids, None, torch.ones(2, 4))
    with pytest.raises(ValueError, match="attention_mask must hold 0"):
        model(ids, None, torch.full((2, 4), 2))
    with pytest.raises(ValueError, match="at least one token in every sequence"):
        model(ids, None, torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0]]))
    # a boolean attention mask is accepted and means the same as 0/1
    m = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    with torch.no_grad():
        assert torch.equal(model(ids, None, m)[0], model(ids, None, m.bool())[0])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"vocab_size": 0}, ValueError, "vocab_size must be > 0"),
    ({"vocab_size": 50.0}, TypeError, "vocab_size must be an integer"),
    ({"layers": 0}, ValueError, "layers must be > 0"),
    ({"init_std": -0.02}, ValueError, "init_std must be > 0"),
    ({"heads": 3}, ValueError, "hidden 128 must be divisible by heads 3"),
])
def test_bert_settings_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        BertSettings(**{"vocab_size": 50, **kwargs})
    with pytest.raises(TypeError, match="settings must be a BertSettings"):
        Bert({"vocab_size": 50})
    with pytest.raises(TypeError, match="model must be a troikadl Bert"):
        to_huggingface(torch.nn.Linear(2, 2))
