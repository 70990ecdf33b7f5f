"""Fine-tuning BERT on small labelled tasks built from the corpus (chapter 7).

``word_order_task``: is this a real sentence, or the same words shuffled? Word order is what masked
language modelling has to learn, so pretraining should help. ``topic_task``: which area of the standard
library does a sentence come from? Its words alone give it away, so pretraining should help little.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn as nn

from .model import Bert
from .pretrain import PairData, encode_pairs
from .wordpiece import WordPiece

__all__ = ["BertClassifier", "word_order_task", "TOPICS", "topic_task", "as_inputs"]

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
        self.bert, self.head = bert, nn.Linear(bert.settings.hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` stacks ids, segments and attention mask: (batch, 3, length)."""
        if x.dim() != 3 or x.shape[1] != 3:
            raise ValueError(f"x must be (batch, 3, length): ids, segments, attention; got {tuple(x.shape)}")
        h = self.bert.encode(x[:, 0], x[:, 1], x[:, 2])
        return self.head(torch.tanh(self.bert.pooler(h[:, 0])))


def as_inputs(data: PairData) -> np.ndarray:
    """Stack a :class:`PairData`'s ids, segments and attention mask for :class:`BertClassifier`."""
    return np.stack([data.ids, data.segments, data.attention], axis=1)


def _single(sentences: list[str], labels: Any, tok: WordPiece, max_length: int) -> PairData:
    return encode_pairs([(s, "") for s in sentences], labels, tok, max_length)


def word_order_task(sentences: list[str], tok: WordPiece, *, seed: int = 0, max_length: int = 48) -> PairData:
    """Each sentence twice: as it is (label 1) and with its words shuffled (label 0)."""
    rng = np.random.default_rng(seed)
    shuffled = []
    for s in sentences:
        words = s.split()
        order = rng.permutation(len(words))
        while len(words) > 1 and (order == np.arange(len(words))).all():
            order = rng.permutation(len(words))
        shuffled.append(" ".join(words[i] for i in order))
    return _single(list(sentences) + shuffled, [1] * len(sentences) + [0] * len(shuffled), tok, max_length)


def topic_task(documents: Any, modules: Any, tok: WordPiece, *, max_length: int = 48) -> PairData:
    """Sentences from modules listed in :data:`TOPICS`, labelled by topic index (in TOPICS order)."""
    index = {m: i for i, ms in enumerate(TOPICS.values()) for m in ms}
    sentences, labels = [], []
    for doc, module in zip(documents, modules):
        root = module.split(".")[0]
        if root in index:
            sentences += list(doc)
            labels += [index[root]] * len(doc)
    if not sentences:
        raise ValueError("no document comes from a module listed in TOPICS")
    return _single(sentences, labels, tok, max_length)
