"""Fine-tuning BERT on small labelled tasks built from the corpus, and a fair comparison of starting points.

Taught in chapter 7. ``word_order_task``: is this a real sentence, or the same words shuffled? Only word
order tells the two apart (the final punctuation stays at the end of both), and word order is what masked
language modelling has to learn. ``topic_task``: which area of the standard library does a sentence come from? Its words
alone give it away. ``compare_inits`` fine-tunes several starting points (pretrained, from scratch) with
the same budget and grid of learning rates, and chooses on a validation split only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn

from ..validate import (as_tensor, check_callable, check_float, check_instance, check_int, check_positive, check_str,
                        check_str_list)
from .model import Bert, BertSettings
from .pairs import PairData, encode_pairs
from .wordpiece import WordPiece

__all__ = ["BertClassifier", "shuffle_words", "word_order_task", "TOPICS", "topic_task", "as_inputs", "fine_tune",
           "Comparison", "compare_inits"]

#: Standard-library modules grouped into five topics.
TOPICS = {
    "text": ["string", "re", "textwrap", "unicodedata", "difflib", "codecs", "html", "stringprep", "locale",
             "gettext", "csv", "json", "pprint", "reprlib"],
    "files": ["os", "io", "pathlib", "shutil", "glob", "fnmatch", "tarfile", "zipfile", "gzip", "bz2", "lzma",
              "tempfile", "filecmp", "fileinput", "stat", "mmap", "shelve", "dbm", "sqlite3"],
    "net": ["socket", "ssl", "http", "urllib", "smtplib", "ftplib", "imaplib", "poplib", "nntplib", "xmlrpc",
            "socketserver", "ipaddress", "mailbox", "email", "wsgiref", "uuid"],
    "math": ["math", "cmath", "decimal", "fractions", "statistics", "random", "numbers", "operator", "bisect",
             "heapq", "array", "itertools", "functools"],
    "concurrency": ["threading", "multiprocessing", "concurrent", "asyncio", "queue", "sched", "subprocess",
                    "signal", "contextvars", "selectors"],
}


class BertClassifier(nn.Module):
    """A BERT encoder with a classification head on its pooled [CLS] output."""

    def __init__(self, bert: Bert, n_classes: int) -> None:
        super().__init__()
        if not isinstance(bert, Bert):
            raise TypeError(f"bert must be a troikadl Bert, got {type(bert).__name__}")
        check_positive(n_classes, "n_classes", integer=True)
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {n_classes}")
        self.bert, self.head = bert, nn.Linear(bert.settings.hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` stacks ids, segments and attention mask: an integer tensor (batch, 3, length)."""
        x = as_tensor(x, "x", dtype="integer", convert=False)
        if x.dim() != 3 or x.shape[1] != 3:
            raise ValueError(f"x must be (batch, 3, length): ids, segments, attention; got {tuple(x.shape)}")
        try:
            h = self.bert.encode(x[:, 0], x[:, 1], x[:, 2])
        except ValueError as exc:  # a token id, segment or mask value out of range: say it is in x
            raise ValueError(f"x (ids, segments, attention stacked on axis 1) is invalid: {exc}") from None
        return self.head(torch.tanh(self.bert.pooler(h[:, 0])))


def as_inputs(data: PairData) -> np.ndarray:
    """Stack a :class:`PairData`'s ids, segments and attention mask for :class:`BertClassifier`."""
    if not isinstance(data, PairData):
        raise TypeError(f"data must be a PairData (from encode_pairs or a task), got {type(data).__name__}")
    return np.stack([data.ids, data.segments, data.attention], axis=1)


def _single(sentences: list[str], labels: Any, tok: WordPiece, max_length: int, n_classes: int) -> PairData:
    return encode_pairs([(s, "") for s in sentences], labels, tok, max_length, n_classes=n_classes)


#: A sentence's final run of punctuation, e.g. "." or ")." or "?".
_FINAL_PUNCTUATION = re.compile(r"[^\w\s]+$")


def shuffle_words(sentence: str, rng: np.random.Generator, *, keep_end: bool = True,
                  keep_first: bool = False) -> str:
    """``sentence`` with its (whitespace-separated) words in a random order different from the original.

    With ``keep_end``, the final punctuation is cut off first and put back at the end, so that the shuffled
    sentence ends as the real one does; otherwise it moves with the word it is attached to. With
    ``keep_first``, the first word stays first too, and only the words after it are shuffled.
    """
    check_str(sentence, "sentence")
    check_instance(rng, "rng", np.random.Generator, "a numpy.random.Generator (np.random.default_rng(seed))")
    end = _FINAL_PUNCTUATION.search(sentence) if keep_end else None
    body, end = (sentence[:end.start()], end.group()) if end else (sentence, "")
    words = body.split()
    head, words = (words[:1], words[1:]) if keep_first else ([], words)
    if len(set(words)) < 2:
        raise ValueError(f"sentence must have at least two different words to shuffle"
                         f"{' after the first' if keep_first else ''}, got {sentence!r}")
    while True:
        shuffled = [words[i] for i in rng.permutation(len(words))]
        if shuffled != words:
            return " ".join(head + shuffled) + end


def word_order_task(sentences: list[str], tok: WordPiece, *, seed: int = 0, max_length: int = 48,
                    keep_end: bool = True, keep_first: bool = False) -> PairData:
    """Each sentence twice: as it is (label 1) and with its words shuffled (label 0), real ones first.

    The two versions hold the same tokens. With ``keep_end`` (the default) they also end alike: a
    sentence's final "." stays last, so that "real if and only if it ends with '.'" scores at chance.
    ``keep_end=False`` lets the final punctuation move with its word, which leaves that cue in;
    ``keep_first=True`` keeps the first word in place as well, so that only the order of the words after
    it tells the two versions apart.
    """
    sentences = check_str_list(sentences, "sentences")
    check_instance(tok, "tok", WordPiece)
    rng = np.random.default_rng(check_int(seed, "seed", min=0))
    shuffled = [shuffle_words(s, rng, keep_end=keep_end, keep_first=keep_first) for s in sentences]
    return _single(sentences + shuffled, [1] * len(sentences) + [0] * len(shuffled), tok, max_length, 2)


def topic_task(documents: Any, modules: Any, tok: WordPiece, *, max_length: int = 48) -> PairData:
    """Sentences from modules listed in :data:`TOPICS`, labelled by topic index (in TOPICS order).

    ``documents`` are lists of sentences (a :class:`~troikadl.data.corpus.Corpus`'s ``documents``) and
    ``modules`` the module each one comes from.
    """
    if isinstance(documents, (str, bytes)) or not isinstance(documents, Iterable):
        raise TypeError(f"documents must be a list of documents, each a list of sentences (a Corpus's "
                        f"documents), got {type(documents).__name__}")
    documents = list(documents)
    for i, doc in enumerate(documents):
        if isinstance(doc, str):
            raise TypeError(f"documents must be a list of documents, each a list of sentences, but documents[{i}] "
                            f"is a single string (for one document of sentences, pass [sentences])")
        check_str_list(doc, f"documents[{i}]", nonempty=False)
    modules = check_str_list(modules, "modules")
    if len(documents) != len(modules):
        raise ValueError(f"documents and modules must have the same length, got {len(documents)} and {len(modules)}")
    check_instance(tok, "tok", WordPiece)
    index = {m: i for i, ms in enumerate(TOPICS.values()) for m in ms}
    sentences, labels = [], []
    for doc, module in zip(documents, modules):
        root = module.split(".")[0]
        if root in index:
            sentences += list(doc)
            labels += [index[root]] * len(doc)
    if not sentences:
        raise ValueError("no document comes from a module listed in TOPICS")
    return _single(sentences, labels, tok, max_length, len(TOPICS))


def fine_tune(init: Bert | BertSettings, train: PairData, n_classes: int, *, lr: float, epochs: int = 8,
              batch_size: int = 32, seed: int = 0, desc: str = "fine-tuning",
              show_progress: bool = True) -> BertClassifier:
    """A :class:`BertClassifier` trained on ``train`` from ``init``: a pretrained :class:`Bert` (its weights are
    copied, it is left unchanged) or the :class:`BertSettings` of a fresh one (initialized with ``seed``).

    The head is initialized with ``seed`` whatever ``init`` is, so that every arm starts from the same head;
    training is :func:`troikadl.train.fit` (Adam at ``lr``, ``epochs`` passes in batches of ``batch_size``,
    shuffled with ``seed``, on the runtime's device). All of it runs inside ``torch.random.fork_rng()``.
    """
    from ..train import fit

    if not isinstance(init, (Bert, BertSettings)):
        raise TypeError(f"init must be a pretrained Bert or the BertSettings of a fresh one, got {type(init).__name__}")
    check_instance(train, "train", PairData, "a PairData (word_order_task, topic_task)")
    n_classes, seed = check_int(n_classes, "n_classes", min=2), check_int(seed, "seed", min=0)
    check_float(lr, "lr", min=0, min_open=True)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        encoder = Bert(init.settings if isinstance(init, Bert) else init)
        if isinstance(init, Bert):
            encoder.load_state_dict(init.state_dict())
        torch.manual_seed(seed)  # every arm's head starts the same
        model = BertClassifier(encoder, n_classes)
        fit(model, (as_inputs(train), train.nsp), loss="cross_entropy", lr=lr, epochs=epochs, batch_size=batch_size,
            desc=desc, seed=seed, show_progress=show_progress)
    return model


@dataclass
class Comparison:
    """What :func:`compare_inits` measured. ``acc[arm, lr]`` is ``{"val": ..., "test": ...}``; ``best_lr[arm]`` the
    rate each arm's validation accuracy prefers, ``shared_lr`` the one their mean validation accuracy prefers;
    ``readings`` the test accuracies "best of each arm" and "same recipe" (``{reading: {arm: accuracy}}``);
    ``models[arm]`` each arm's classifier at its best rate."""

    acc: dict[tuple[str, float], dict[str, float]]
    best_lr: dict[str, float]
    shared_lr: float
    readings: dict[str, dict[str, float]]
    models: dict[str, BertClassifier]


def compare_inits(arms: Mapping[str, Bert | BertSettings], train: PairData, val: PairData, test: PairData,
                  n_classes: int, *, lrs: Sequence[float] = (1e-4, 3e-4, 1e-3), epochs: int = 8, batch_size: int = 32,
                  seed: int = 0, log: Callable[[str], None] | None = print, show_progress: bool = True) -> Comparison:
    """Fine-tune every arm (name -> pretrained Bert or BertSettings) at every learning rate of ``lrs`` with
    :func:`fine_tune` (same budget, same seed); every choice is made on ``val``, never on ``test``.

    Two readings of the test accuracy: the **best of each arm** (each at the rate its own validation
    accuracy prefers) and the **same recipe** (all at the one rate whose validation accuracy, averaged
    over the arms, is best). Ties go to the first rate of ``lrs``. ``log`` prints each rate's accuracies
    and the readings (``None``: silent).
    """
    from ..train import evaluate

    if not isinstance(arms, Mapping) or not arms or not all(isinstance(k, str) for k in arms):
        raise TypeError(f"arms must be a non-empty dict of name -> Bert or BertSettings, got {arms!r:.80}")
    for arm, init in arms.items():
        check_instance(init, f"arms[{arm!r}]", (Bert, BertSettings), "a pretrained Bert or BertSettings (scratch)")
    for name, d in (("train", train), ("val", val), ("test", test)):
        check_instance(d, name, PairData, "a PairData (word_order_task, topic_task)")
    if isinstance(lrs, (str, bytes)) or not isinstance(lrs, Sequence) or not lrs:
        raise TypeError(f"lrs must be a non-empty list of learning rates, got {lrs!r}")
    lrs = [check_float(lr, f"lrs[{i}]", min=0, min_open=True) for i, lr in enumerate(lrs)]
    if log is not None:
        check_callable(log, "log", "a function of one string (print, say), or None")
    say = log or (lambda _: None)
    acc, models = {}, {}
    for lr in lrs:
        for arm, init in arms.items():
            models[arm, lr] = model = fine_tune(init, train, n_classes, lr=lr, epochs=epochs, batch_size=batch_size,
                                                seed=seed, desc=f"{arm}, lr {lr:g}", show_progress=show_progress)
            acc[arm, lr] = {split: evaluate(model, as_inputs(d), d.nsp)["acc"] for split, d in (("val", val),
                                                                                               ("test", test))}
        say(f"  lr {lr:g}: " + ", ".join(f"{arm} val {acc[arm, lr]['val']:.3f} test {acc[arm, lr]['test']:.3f}"
                                         for arm in arms))
    best = {arm: max(lrs, key=lambda lr: acc[arm, lr]["val"]) for arm in arms}
    shared = max(lrs, key=lambda lr: float(np.mean([acc[arm, lr]["val"] for arm in arms])))
    readings = {"best of each arm": {arm: acc[arm, best[arm]]["test"] for arm in arms},
                "same recipe": {arm: acc[arm, shared]["test"] for arm in arms}}
    say("  best of each arm: " + ", ".join(f"{arm} (lr {best[arm]:g}) {readings['best of each arm'][arm]:.3f}"
                                           for arm in arms))
    say(f"  same recipe (lr {shared:g}): " + ", ".join(f"{arm} {readings['same recipe'][arm]:.3f}" for arm in arms))
    return Comparison(acc, best, shared, readings, {arm: models[arm, best[arm]] for arm in arms})
