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
