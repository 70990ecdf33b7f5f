"""Held-out perplexity of a language model, and the unigram and bigram baselines' (chapters 5 and 6).

See :mod:`troikadl.language_model`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..validate import check_bool, check_instance, check_int
from .char_rnn import _map, check_window
from .text import _ids, bptt_batches

__all__ = ["perplexity", "unigram_perplexity", "bigram_perplexity"]


@torch.no_grad()
def perplexity(model: nn.Module, ids: Any, *, batch_size: int = 1, bptt: int = 256, carry_state: bool = True) -> float:
    """``exp`` of the mean cross-entropy of predicting every character of ``ids`` after the first (chapter 5).

    The text is read as ``batch_size`` contiguous streams (:func:`bptt_batches`) with the state carried across
    windows, then the leftover tail continues the last stream's state, so each of the ``len(ids) - 1`` targets
    counts once. Each stream starts from a zero state: ``batch_size=1`` gives every character its full
    context (exact, slowest); more streams are faster and cost a little context at ``batch_size`` points.
    Perplexity is the effective number of equally likely choices per character: a model that
    spreads its probability uniformly over V characters scores exactly V.

    ``carry_state=False`` (chapter 6's decoders, whose context is a fixed window) reads every window from a
    zero state, the tail too, in windows of at most ``bptt``, which must not exceed the model's
    ``n_positions``: a character then sees only the earlier characters of its own window.
    """
    check_instance(model, "model", nn.Module, "a torch.nn.Module called as model(ids, state)")
    check_bool(carry_state, "carry_state")
    check_window(model, check_int(bptt, "bptt", min=1), carry_state)
    device = next(model.parameters()).device
    ids = _ids(ids, vocab_size=getattr(model, "vocab_size", None)).to(device)
    was_training, total, state = model.training, 0.0, None
    model.eval()
    for x, y in bptt_batches(ids, batch_size, bptt):
        logits, state = model(x, state if carry_state else None)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
    start = (len(ids) - 1) // batch_size * batch_size
    if start < len(ids) - 1 and carry_state:  # the tail continues the last stream
        state = _map(lambda s: s[:, -1:], state)
        logits, _ = model(ids[start:-1][None], state)
        total += F.cross_entropy(logits[0], ids[start + 1:], reduction="sum").item()
    elif start < len(ids) - 1:  # the tail in fresh windows
        for t in range(start, len(ids) - 1, bptt):
            x = ids[t:min(t + bptt, len(ids) - 1)]
            total += F.cross_entropy(model(x[None])[0][0], ids[t + 1:t + 1 + len(x)], reduction="sum").item()
    model.train(was_training)
    return math.exp(total / (len(ids) - 1))


def unigram_perplexity(train_ids: Any, ids: Any, vocab_size: int) -> float:
    """The perplexity on ``ids[1:]`` of character frequencies counted in ``train_ids``, add-one smoothed (chapter 5).

    The baseline that knows how often each character occurs and nothing about order. Add-one (Laplace)
    smoothing, ``p(c) = (count(c) + 1) / (len(train_ids) + vocab_size)``, gives the unknown id and every
    unseen character a small probability, so the perplexity stays finite.
    """
    V = check_int(vocab_size, "vocab_size", min=2)
    train_ids = _ids(train_ids, "train_ids", V).cpu()
    if len(train_ids) == 0:
        raise ValueError("train_ids must not be empty: the frequencies are counted there")
    counts = torch.bincount(train_ids, minlength=V).double() + 1.0
    targets = _ids(ids, "ids", V).cpu()[1:]
    if len(targets) == 0:
        raise ValueError("ids must hold at least two characters (the first is never predicted)")
    return math.exp(-float(torch.log(counts / counts.sum())[targets].mean()))


def bigram_perplexity(train_ids: Any, ids: Any, vocab_size: int) -> float:
    """The perplexity on ``ids[1:]`` of next-character counts from ``train_ids``, add-one smoothed (chapter 6).

    The baseline that knows the previous character and nothing older: ``p(b | a) = (count(a b) + 1) /
    (count(a .) + vocab_size)``, with ``count(a b)`` the times ``b`` follows ``a`` in ``train_ids`` and
    ``count(a .)`` the times ``a`` is followed by anything. Add-one smoothing keeps it finite, as in
    :func:`unigram_perplexity`; a character never seen first in a pair gets the uniform ``1 / vocab_size``.
    """
    V = check_int(vocab_size, "vocab_size", min=2)
    train_ids = _ids(train_ids, "train_ids", V).cpu()
    if len(train_ids) < 2:
        raise ValueError("train_ids must hold at least two characters: the pairs are counted there")
    counts = torch.bincount(train_ids[:-1] * V + train_ids[1:], minlength=V * V).view(V, V).double() + 1.0
    ids = _ids(ids, "ids", V).cpu()
    if len(ids) < 2:
        raise ValueError("ids must hold at least two characters (the first is never predicted)")
    log_p = torch.log(counts / counts.sum(1, keepdim=True))
    return math.exp(-float(log_p[ids[:-1], ids[1:]].mean()))
