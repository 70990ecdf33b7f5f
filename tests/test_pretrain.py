"""Chapter 7 part 2 machinery: resumable pretraining and DistributedDataParallel equality."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from troikadl.bert import Bert, BertSettings, WordPiece
from troikadl.bert.pretrain import PretrainSettings, batch_for_step, encode_pairs, masked_accuracy, pretrain
from troikadl.data.corpus import sentence_pairs, stdlib_corpus


@pytest.fixture(scope="module")
def small():
    corpus = stdlib_corpus()
    tok = WordPiece.train(corpus.sentences, 600)
    pairs, labels = sentence_pairs(corpus, 256, seed=0)
    return tok, encode_pairs(pairs, labels, tok, max_length=32)


def _model(tok, seed=0):
    torch.manual_seed(seed)
    return Bert(BertSettings(vocab_size=len(tok), hidden=32, layers=1, heads=2, intermediate=64, max_length=32))


def test_batches_are_a_function_of_seed_and_step(small):
    _, data = small
    a, b = batch_for_step(data, 3, 8, 0), batch_for_step(data, 3, 8, 0)
    assert all((a[k] == b[k]).all() for k in a)
    assert not (batch_for_step(data, 4, 8, 0)["ids"] == a["ids"]).all()


def test_resume_gives_the_same_parameters(small, tmp_path):
    tok, data = small
    settings = PretrainSettings(steps=8, batch_size=8, warmup=2)
    straight = _model(tok)
    h1 = pretrain(straight, data, settings)
    ckpt = tmp_path / "ckpt.pt"
    interrupted = _model(tok)
    pretrain(interrupted, data, settings, checkpoint=ckpt, stop_after=3)
    resumed = _model(tok, seed=99)  # whatever it holds is replaced by the checkpoint
    h2 = pretrain(resumed, data, settings, checkpoint=ckpt, resume=True)
    assert len(h2) == 8 and max(abs(a - b) for a, b in zip(h1, h2)) <= 1e-6
    for (n, p), q in zip(straight.named_parameters(), resumed.parameters()):
        assert (p - q).abs().max() <= 1e-6, n
    assert 0.0 <= masked_accuracy(resumed, data, batches=2, batch_size=16) <= 1.0


class _Scripted(Bert):
    """A Bert whose MLM logits we choose: ``rule(ids)`` gives the token it predicts at every position."""

    def __init__(self, vocab_size, rule):
        super().__init__(BertSettings(vocab_size=vocab_size, hidden=8, layers=1, heads=2, intermediate=16,
                                      max_length=32))
        self.rule = rule

    def forward(self, ids, segments=None, attention_mask=None):
        guess = self.rule(ids)
        return torch.nn.functional.one_hot(guess, self.settings.vocab_size).float(), torch.zeros(len(ids), 2)


def _batches(data, batches, batch_size, seed):
    return [batch_for_step(data, b, batch_size, seed) for b in range(batches)]


def test_masked_accuracy_is_the_share_of_masked_tokens_predicted_exactly(small):
    """Known answers, counted here with NumPy over the same seeded batches: pooled over all masked tokens
    of all batches (not a mean of per-batch shares), unmasked and padding positions never counted."""
    from troikadl.train import IGNORE

    tok, data = small
    v = len(tok)
    # a model that copies its input is right where the input kept the original token (10% of the selected
    # tokens are left unchanged; a random replacement seldom hits the original)
    copy = _Scripted(v, lambda ids: ids)
    for batches, batch_size, seed in ((3, 16, 12345), (4, 24, 7)):
        bs = _batches(data, batches, batch_size, seed)
        hits = [int(((b["ids"] == b["labels"]) & (b["labels"] != IGNORE)).sum()) for b in bs]
        masked = [int((b["labels"] != IGNORE).sum()) for b in bs]
        expected = sum(hits) / sum(masked)
        got = masked_accuracy(copy, data, batches=batches, batch_size=batch_size, seed=seed)
        assert got == pytest.approx(expected, abs=1e-12), (got, expected)
        assert 0.03 < expected < 0.3 and abs(np.mean(np.divide(hits, masked)) - expected) > 1e-4  # pooling shows
    assert masked_accuracy(copy, data, batches=3, batch_size=16) == pytest.approx(
        masked_accuracy(copy, data, batches=3, batch_size=16, seed=12345), abs=0)  # the documented default seed
    # every row the same pair: a model that knows that pair is always right, or right exactly at even positions
    same = data.subset(np.zeros(40, dtype=int))
    original = torch.as_tensor(same.ids[0])
    oracle = _Scripted(v, lambda ids: original.expand(ids.shape))
    assert masked_accuracy(oracle, same, batches=3, batch_size=16, seed=0) == 1.0
    wrong = torch.where(original == tok.mask_id, tok.unk_id, tok.mask_id)  # never an original regular token
    at_even = torch.where(torch.arange(len(original)) % 2 == 0, original, wrong)
    even = _Scripted(v, lambda ids: at_even.expand(ids.shape))
    bs = _batches(same, 3, 16, 0)
    expected = (sum(int((b["labels"][:, ::2] != IGNORE).sum()) for b in bs)
                / sum(int((b["labels"] != IGNORE).sum()) for b in bs))
    assert 0.2 < expected < 0.8
    assert masked_accuracy(even, same, batches=3, batch_size=16, seed=0) == pytest.approx(expected, abs=1e-12)
    never = _Scripted(v, lambda ids: wrong.expand(ids.shape))
    assert masked_accuracy(never, same, batches=3, batch_size=16, seed=0) == 0.0


def test_pretrain_errors(small, tmp_path):
    tok, data = small
    with pytest.raises(ValueError, match="must be divisible by the world size"):
        pretrain(_model(tok), data, PretrainSettings(steps=1, batch_size=7), rank=0, world=2)
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume from"):
        pretrain(_model(tok), data, PretrainSettings(steps=1, batch_size=8), checkpoint=tmp_path / "nope.pt",
                 resume=True)
    with pytest.raises(ValueError, match="pairs must not be empty"):
        encode_pairs([], [], tok)


@pytest.mark.slow
def test_ddp_on_two_processes_equals_one_process(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    one, two = tmp_path / "one.pt", tmp_path / "two.pt"
    args = ["-m", "troikadl.bert.pretrain", "--steps", "4", "--batch-size", "8"]
    subprocess.run([sys.executable, *args, "--out", str(one)], check=True, env=env, cwd=tmp_path)
    torchrun = Path(sys.executable).with_name("torchrun")
    subprocess.run([str(torchrun), "--standalone", "--nproc_per_node=2", *args, "--out", str(two)], check=True,
                   env=env, cwd=tmp_path, capture_output=True)
    a, b = torch.load(one), torch.load(two)
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst <= 1e-6, worst


def test_finetuning_tasks_and_classifier(small):
    from troikadl.bert.finetune import BertClassifier, as_inputs, topic_task, word_order_task

    tok, _ = small
    corpus = stdlib_corpus()
    order = word_order_task(corpus.sentences[:20], tok, seed=0, max_length=32)
    assert order.nsp.tolist() == [1] * 20 + [0] * 20
    topics = topic_task(corpus.documents, corpus.modules, tok, max_length=32)
    assert set(np.unique(topics.nsp)) == set(range(5))
    clf = BertClassifier(_model(tok), 5)
    assert clf(torch.as_tensor(as_inputs(order)[:3])).shape == (3, 5)
    with pytest.raises(ValueError, match=r"x must be \(batch, 3, length\)"):
        clf(torch.zeros(2, 32, dtype=torch.long))
    with pytest.raises(ValueError, match="no document comes from a module listed in TOPICS"):
        topic_task(corpus.documents[:1], ["nothing"], tok)
    held = corpus.subset(np.arange(len(corpus.documents)) % 10 == 0)
    assert len(held.documents) == len(held.modules) and held.sha256 != corpus.sha256
    with pytest.raises(ValueError, match="keep must have one entry per document"):
        corpus.subset([True])


def test_word_order_task_has_no_surface_cue(small):
    """Real and shuffled versions hold the same tokens and end alike: the last token, the length and the
    bag of tokens are useless, so "real iff the last token is '.'" scores 0.5 when no sentence is cut."""
    from troikadl.bert.finetune import word_order_task

    tok, _ = small
    dot = tok.ids["."]

    def last_token(d):
        return d.ids[np.arange(len(d.ids)), d.attention.sum(1) - 3]  # [CLS] A [SEP] [SEP]: the last of A

    # long enough for no sentence to be cut, and every sentence ending in punctuation
    sentences = [s for s in stdlib_corpus().sentences[:400] if not s[-1].isalnum()]
    n = len(sentences)
    task = word_order_task(sentences, tok, seed=0, max_length=160)
    assert task.attention.sum(1).max() < 160 and n > 300
    real, fake = task.subset(np.arange(n)), task.subset(np.arange(n, 2 * n))
    assert (last_token(real) == last_token(fake)).all()
    assert (real.attention.sum(1) == fake.attention.sum(1)).all()
    assert all(sorted(a) == sorted(b) for a, b in zip(real.ids.tolist(), fake.ids.tolist()))
    assert (real.ids != fake.ids).any(1).all()
    assert np.mean((last_token(task) == dot) == (task.nsp == 1)) == 0.5
    # at the chapter's length (a few sentences cut, so a mid-sentence "." may end one) it stays at chance...
    task = word_order_task(stdlib_corpus().sentences[:400], tok, seed=0, max_length=48)
    assert abs(np.mean((last_token(task) == dot) == (task.nsp == 1)) - 0.5) < 0.01
    # ...while with the final "." moving with its word, the cue is back and solves most of the task
    leaky = word_order_task(stdlib_corpus().sentences[:400], tok, seed=0, max_length=48, keep_end=False)
    assert np.mean((last_token(leaky) == dot) == (leaky.nsp == 1)) > 0.8


def test_shuffle_words():
    from troikadl.bert.finetune import shuffle_words

    rng = np.random.default_rng(0)
    s = "Return the (new) value of x."
    for _ in range(20):
        out = shuffle_words(s, rng)
        assert out != s and out.endswith(".") and sorted(out[:-1].split()) == sorted(s[:-1].split())
    assert shuffle_words("a b", rng) == "b a" and shuffle_words("a b?!", rng) == "b a?!"
    assert shuffle_words("a b.", rng, keep_end=False) == "b. a"
    for _ in range(10):
        out = shuffle_words("First of all, this.", rng, keep_first=True)
        assert out.startswith("First ") and out.endswith(".") and out != "First of all, this."
    with pytest.raises(ValueError, match="at least two different words to shuffle after the first"):
        shuffle_words("Only one.", rng, keep_first=True)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        shuffle_words("a b", 0)
    with pytest.raises(ValueError, match="at least two different words"):
        shuffle_words("word.", rng)
    with pytest.raises(ValueError, match="at least two different words"):
        shuffle_words("no no no", rng)
    with pytest.raises(TypeError, match="sentence must be a string"):
        shuffle_words(["a", "b"], rng)


def test_finetune_bad_arguments(small):
    from troikadl.bert.finetune import BertClassifier, as_inputs, topic_task, word_order_task

    tok, data = small
    with pytest.raises(TypeError, match="sentences must be a list of strings"):
        word_order_task("One sentence here.", tok)
    with pytest.raises(TypeError, match=r"sentences\[1\] is int 3"):
        word_order_task(["One two three.", 3], tok)
    with pytest.raises(ValueError, match="sentences must hold at least one string"):
        word_order_task([], tok)
    with pytest.raises(TypeError, match="tok must be a WordPiece"):
        word_order_task(["One two three."], {"one": 1})
    with pytest.raises(ValueError, match="documents and modules must have the same length"):
        topic_task([["A b c."]], ["os", "re"], tok)
    with pytest.raises(ValueError, match="n_classes must be at least 2"):
        BertClassifier(_model(tok), 1)
    with pytest.raises(TypeError, match="bert must be a troikadl Bert"):
        BertClassifier(torch.nn.Linear(2, 2), 2)
    with pytest.raises(TypeError, match="x must be a torch tensor"):
        BertClassifier(_model(tok), 2)(as_inputs(data))
    with pytest.raises(TypeError, match="data must be a PairData"):
        as_inputs(data.ids)


def test_pretrain_bad_arguments(small):
    tok, data = small
    with pytest.raises(ValueError, match=r"nsp must have one label per sample \(1\), got 2"):
        encode_pairs([("A b.", "C d.")], [1, 0], tok)
    with pytest.raises(ValueError, match="nsp must hold whole-number class labels"):
        encode_pairs([("A b.", "C d.")], [0.5], tok)
    with pytest.raises(ValueError, match=r"nsp must only hold labels \[0, 1\], got also \[2\]"):
        encode_pairs([("A b.", "C d.")], [2], tok)
    assert encode_pairs([("A b.", "C d.")], [2], tok, n_classes=3).nsp.tolist() == [2]
    assert encode_pairs([("A b.", "C d.")], [True], tok).nsp.tolist() == [1]
    with pytest.raises(TypeError, match=r"pairs\[0\] must be a pair of strings"):
        encode_pairs(["A b."], [1], tok)
    with pytest.raises(ValueError, match="max_length must be at least 3"):
        encode_pairs([("A b.", "C d.")], [1], tok, max_length=2)
    with pytest.raises(ValueError, match="nsp must hold one label per row"):
        data.__class__(data.ids, data.segments, data.attention, data.special, data.nsp[:-1], 10, 4)
    with pytest.raises(ValueError, match="batch_size must be at most the number of pairs"):
        batch_for_step(data, 0, len(data.ids) + 1, 0)
    with pytest.raises(ValueError, match="step must be >= 0"):
        batch_for_step(data, -1, 8, 0)
    with pytest.raises(ValueError, match="lr must be > 0"):
        PretrainSettings(lr=0.0)
    with pytest.raises(TypeError, match="steps must be an integer"):
        PretrainSettings(steps=10.0)
    with pytest.raises(TypeError, match="model must be a troikadl Bert"):
        pretrain(torch.nn.Linear(2, 2), data, PretrainSettings(steps=1, batch_size=8))
    with pytest.raises(TypeError, match="settings must be a PretrainSettings"):
        pretrain(_model(tok), data, {"steps": 1})
    with pytest.raises(ValueError, match="stop_after must be > 0"):
        pretrain(_model(tok), data, PretrainSettings(steps=1, batch_size=8), stop_after=0)
    with pytest.raises(ValueError, match="batches must be > 0"):
        masked_accuracy(_model(tok), data, batches=0)


def test_subset_takes_indices_or_a_mask_and_refuses_the_rest(small):
    _, data = small
    n = len(data.ids)
    mask = np.arange(n) % 3 == 0
    by_mask, by_index = data.subset(mask), data.subset(np.flatnonzero(mask))
    assert np.array_equal(by_mask.ids, data.ids[mask]) and np.array_equal(by_index.nsp, data.nsp[mask])
    assert np.array_equal(data.subset([-1]).ids, data.ids[-1:])
    assert len(data.subset(np.array([], dtype=int)).ids) == 0
    for rows, error, match in [(mask[:-1], ValueError, r"rows, as a boolean mask, must have one entry per pair"),
                               ([n], ValueError, r"rows must hold values in \[-\d+, \d+\]"),
                               ([-n - 1], ValueError, "rows must hold values in"),
                               (np.array([0.5]), ValueError, "rows must hold whole numbers"),
                               (np.array([[0, 1]]), ValueError, "rows must be 1-D"),
                               (None, TypeError, "rows must be an array of numbers"),
                               (["0"], TypeError, "rows must hold numbers")]:
        with pytest.raises(error, match=match):
            data.subset(rows)


def test_new_argument_checks_name_the_argument(small):
    from troikadl.bert.finetune import BertClassifier, as_inputs, topic_task, word_order_task

    tok, data = small
    for std, error in [(float("nan"), ValueError), (float("inf"), ValueError), (-0.5, ValueError), (0.0, ValueError),
                       (True, TypeError)]:
        with pytest.raises(error, match="std must be"):
            _model(tok).reset_parameters(std)
    for seed, error in [(0.5, TypeError), (0.0, TypeError), (True, TypeError), (None, TypeError), (-3, ValueError)]:
        with pytest.raises(error, match="seed must be"):
            word_order_task(["One two three."], tok, seed=seed)
    with pytest.raises(TypeError, match=r"documents\[0\] is a single string"):
        topic_task(["One two three.", "Four five six."], ["os", "re"], tok)
    with pytest.raises(TypeError, match=r"documents\[0\] must hold only strings"):
        topic_task([[1, 2]], ["os"], tok)
    with pytest.raises(TypeError, match="modules must be a list of strings"):
        topic_task([["One two three."]], None, tok)
    with pytest.raises(TypeError, match="data must be a PairData"):
        masked_accuracy(_model(tok), "model")
    x = torch.as_tensor(as_inputs(data)[:2])
    for bad in (x.clone().index_put_((torch.tensor(0), torch.tensor(0), torch.tensor(1)), torch.tensor(len(tok))),
                x.clone().index_put_((torch.tensor(0), torch.tensor(1), torch.tensor(1)), torch.tensor(-1))):
        with pytest.raises(ValueError, match=r"^x \(ids, segments, attention"):
            BertClassifier(_model(tok), 2)(bad)
    with pytest.raises(TypeError, match="x must hold integers"):
        BertClassifier(_model(tok), 2)(x.double())
