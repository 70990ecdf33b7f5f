"""Text as ids for a character-level language model: the vocabulary, the held-out split, windows for truncated BPTT.

Taught in chapter 5; chapter 6's decoders reuse it. See :mod:`troikadl.language_model`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import torch

from ..data.corpus import Corpus
from ..validate import as_int_array, check_float, check_int, check_str, check_str_list

__all__ = ["UNKNOWN", "CharVocab", "train_val_split", "bptt_batches"]

#: The id every character outside the vocabulary maps to (it decodes to U+FFFD, the replacement character).
UNKNOWN = 0


class CharVocab:
    """The characters of a training text, sorted, with id 0 reserved for any character not among them.

    Taught in chapter 5. ``encode`` maps an unseen character (one that appears only in held-out text) to
    :data:`UNKNOWN` rather than failing, so held-out perplexity counts it as one more hard prediction;
    ``decode`` writes that id as U+FFFD. ``len(vocab)`` is the model's ``vocab_size`` (characters + 1).
    """

    def __init__(self, chars: Any) -> None:
        chars = check_str_list(chars, "chars")
        if any(len(c) != 1 for c in chars) or len(set(chars)) != len(chars):
            raise ValueError("chars must hold distinct single characters")
        self.chars = tuple(chars)
        self._ids = {c: i + 1 for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> "CharVocab":
        """The vocabulary of ``text`` (build it from the training text only)."""
        return cls(sorted(set(check_str(text, "text", nonempty=True))))

    def __len__(self) -> int:
        return len(self.chars) + 1

    def encode(self, text: str) -> torch.Tensor:
        """``text`` as a 1-D int64 tensor of ids; unseen characters become :data:`UNKNOWN`."""
        check_str(text, "text")
        return torch.tensor([self._ids.get(c, UNKNOWN) for c in text], dtype=torch.int64)

    def decode(self, ids: Any) -> str:
        """The text of ``ids`` (a 1-D array, list or tensor of ids in ``[0, len(vocab))``)."""
        ids = as_int_array(ids, "ids", ndim=1, min=0, max=len(self) - 1)
        return "".join("\ufffd" if i == UNKNOWN else self.chars[i - 1] for i in ids.tolist())

    def __repr__(self) -> str:
        return f"CharVocab({len(self.chars)} characters + the unknown id {UNKNOWN})"


def train_val_split(corpus: Any, val_fraction: float = 0.1, *, seed: int = 0) -> tuple[str, str]:
    """The training and held-out texts: whole documents held out, never a document cut in two.

    Taught in chapter 5. ``corpus`` is a :class:`~troikadl.data.corpus.Corpus` (a document is a docstring,
    its sentences joined by spaces; all the docstrings of one standard-library module go to the same side, so
    that no class's methods are split between training and validation) or a list of document strings (each
    its own group). Groups are drawn in a seeded random order until the held-out side has at least
    ``val_fraction`` of the characters; each side keeps the corpus order and joins its documents with "\\n".
    """
    check_float(val_fraction, "val_fraction", min=0.0, max=1.0, min_open=True, max_open=True)
    check_int(seed, "seed", min=0)
    if isinstance(corpus, Corpus):
        docs, groups = [" ".join(d) for d in corpus.documents], list(corpus.modules or range(len(corpus.documents)))
    else:
        docs = check_str_list(corpus, "corpus")
        groups = list(range(len(docs)))
    names = list(dict.fromkeys(groups))
    if len(names) < 2:
        raise ValueError(f"corpus must have at least two documents (or modules) to split, got {len(names)}")
    size = Counter()
    for d, g in zip(docs, groups):
        size[g] += len(d) + 1
    held, need = set(), val_fraction * sum(size.values())
    for i in np.random.default_rng(seed).permutation(len(names))[:-1]:  # at least one group stays in training
        if sum(size[g] for g in held) >= need:
            break
        held.add(names[i])
    train = "\n".join(d for d, g in zip(docs, groups) if g not in held)
    val = "\n".join(d for d, g in zip(docs, groups) if g in held)
    return train, val


def _ids(ids: Any, name: str = "ids", vocab_size: int | None = None) -> torch.Tensor:
    """A 1-D token stream (array, list or tensor) as a CPU int64 tensor, checked."""
    return torch.as_tensor(as_int_array(ids, name, ndim=1, min=0, max=None if vocab_size is None else vocab_size - 1))


def _check_token_batch(ids: Any, vocab_size: int) -> None:
    """Refuse what a token model cannot read: ``ids`` must be an integer torch tensor (batch, time) in [0, vocab_size).

    Shared by chapter 5's and chapter 6's language models.
    """
    if not isinstance(ids, torch.Tensor) or ids.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"ids must be an integer torch tensor (batch, time), got {getattr(ids, 'dtype', type(ids))}")
    if ids.ndim != 2 or 0 in ids.shape:
        raise ValueError(f"ids must have shape (batch, time) with both >= 1, got {tuple(ids.shape)}")
    if int(ids.min()) < 0 or int(ids.max()) >= vocab_size:
        raise ValueError(f"ids must lie in [0, {vocab_size}), got values from {int(ids.min())} to {int(ids.max())}")


def bptt_batches(ids: Any, batch_size: int, bptt: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Windows ``(x, y)`` for truncated backpropagation through time, each of shape (batch_size, <= bptt).

    Taught in chapter 5. The stream is cut into ``batch_size`` contiguous rows of ``L = (len(ids) - 1) //
    batch_size`` characters (row ``b`` reads ``ids[b L : (b + 1) L]``; its targets ``y`` are the next
    characters, the same slice shifted by one), and each row is read ``bptt`` characters at a time. Window
    ``k + 1`` of a row starts where window ``k`` ended, so the state a model reaches at the end of one window is
    the right initial state for the next. The last window may be shorter; the last ``len(ids) - 1 - L *
    batch_size`` targets are left out (:func:`perplexity` reads them). A tensor's windows stay on its device.
    """
    device = ids.device if isinstance(ids, torch.Tensor) else torch.device("cpu")
    ids = _ids(ids).to(device)
    batch_size, bptt = check_int(batch_size, "batch_size", min=1), check_int(bptt, "bptt", min=1)
    L = (len(ids) - 1) // batch_size
    if L < 1:
        raise ValueError(f"ids must hold more than batch_size = {batch_size} characters, got {len(ids)}")
    x, y = ids[:batch_size * L].view(batch_size, L), ids[1:batch_size * L + 1].view(batch_size, L)
    return [(x[:, t:t + bptt], y[:, t:t + bptt]) for t in range(0, L, bptt)]
