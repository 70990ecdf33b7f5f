"""Sentence pairs as BERT reads them: ``[CLS] A [SEP] B [SEP]``, padded, with segments and a label per pair.

Taught in chapter 7. :func:`encode_pairs` makes a :class:`PairData` from text pairs; pretraining
(:mod:`troikadl.bert.pretrain`) draws its batches from one, and the fine-tuning tasks
(:mod:`troikadl.bert.finetune`) are built as one. Both names are also importable from
:mod:`troikadl.bert.pretrain`, their first home.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..validate import as_int_array, as_labels, check_int, check_positive
from .wordpiece import WordPiece

__all__ = ["PairData", "encode_pairs"]


@dataclass
class PairData:
    """Encoded sentence pairs: ids, segments, attention mask, special-token mask (n, L) and NSP labels (n,)."""

    ids: np.ndarray
    segments: np.ndarray
    attention: np.ndarray
    special: np.ndarray
    nsp: np.ndarray
    vocab_size: int
    mask_id: int

    def __post_init__(self) -> None:
        for name in ("ids", "segments", "attention", "special"):
            if getattr(self, name).ndim != 2 or getattr(self, name).shape != self.ids.shape:
                raise ValueError(f"{name} must be 2-D with the shape of ids {self.ids.shape}, "
                                 f"got {getattr(self, name).shape}")
        if self.nsp.shape != self.ids.shape[:1]:
            raise ValueError(f"nsp must hold one label per row ({self.ids.shape[0]}), got shape {self.nsp.shape}")

    def subset(self, rows: Any) -> "PairData":
        """The pairs at ``rows``: 1-D integer indices in ``[-n, n)``, or a boolean mask of length n."""
        n = len(self.ids)
        try:
            mask = np.asarray(rows.detach().cpu() if isinstance(rows, torch.Tensor) else rows)
        except (ValueError, TypeError):  # ragged lists: as_int_array names the argument
            mask = None
        if mask is not None and mask.dtype == bool:
            if mask.shape != (n,):
                raise ValueError(f"rows, as a boolean mask, must have one entry per pair ({n},), got shape {mask.shape}")
            rows = np.flatnonzero(mask)
        else:
            rows = as_int_array(rows, "rows", ndim=1, min=-n, max=n - 1)
        return PairData(self.ids[rows], self.segments[rows], self.attention[rows], self.special[rows],
                        self.nsp[rows], self.vocab_size, self.mask_id)


def encode_pairs(pairs: list[tuple[str, str]], nsp: Any, tok: WordPiece, max_length: int = 48, *,
                 n_classes: int = 2) -> PairData:
    """[CLS] A [SEP] B [SEP], trimmed to ``max_length`` (longer sentence first) and padded.

    ``nsp`` holds one label per pair in ``[0, n_classes)``: for next-sentence prediction 1 (B follows A)
    or 0 (``n_classes=2``, the default); for a classification task, the pair's class.
    """
    if not isinstance(pairs, (list, tuple)):
        raise TypeError(f"pairs must be a list of (sentence A, sentence B) tuples, got {type(pairs).__name__}")
    if not pairs:
        raise ValueError("pairs must not be empty")
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise TypeError(f"pairs[{i}] must be a pair of strings (A, B), got {pair!r}")
    if not isinstance(tok, WordPiece):
        raise TypeError(f"tok must be a WordPiece, got {type(tok).__name__}")
    check_positive(max_length, "max_length", integer=True)
    if max_length < 3:
        raise ValueError(f"max_length must be at least 3 ([CLS] and two [SEP]), got {max_length}")
    n_classes = check_int(n_classes, "n_classes", min=2)
    labels = as_labels(nsp, "nsp", n=len(pairs), allowed=tuple(range(n_classes)))
    ids = np.full((len(pairs), max_length), tok.pad_id)
    seg, att = np.zeros_like(ids), np.zeros_like(ids)
    for r, (a, b) in enumerate(pairs):
        ta, tb = tok.encode(a), tok.encode(b)
        while len(ta) + len(tb) > max_length - 3:
            (ta if len(ta) > len(tb) else tb).pop()
        row = [tok.cls_id] + ta + [tok.sep_id] + tb + [tok.sep_id]
        ids[r, :len(row)], att[r, :len(row)] = row, 1
        seg[r, len(ta) + 2:len(row)] = 1
    special = np.isin(ids, [tok.pad_id, tok.cls_id, tok.sep_id])
    return PairData(ids, seg, att, special, labels, len(tok), tok.mask_id)
