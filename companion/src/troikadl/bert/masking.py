"""BERT's masked-language-model corruption: 15% of the tokens, replaced 80/10/10 (chapter 7)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["IGNORE", "mask_tokens"]

#: Label of positions that were not selected: PyTorch's cross-entropy skips them (``ignore_index``).
IGNORE = -100


def mask_tokens(ids: Any, special: Any, *, vocab_size: int, mask_id: int, rng: np.random.Generator,
                p: float = 0.15, first_regular_id: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Select each non-special token with probability ``p``; of the selected, replace 80% by
    ``mask_id``, 10% by a random regular token, and leave 10% unchanged (Devlin et al., 2019).

    ``special`` is True at [CLS], [SEP] and [PAD] positions, which are never selected. Returns the
    corrupted inputs and the labels: the original token at selected positions, :data:`IGNORE` elsewhere.
    """
    ids, special = np.asarray(ids), np.asarray(special, dtype=bool)
    if ids.shape != special.shape:
        raise ValueError(f"special must have the shape of ids {ids.shape}, got {special.shape}")
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"ids must be integer token ids, got dtype {ids.dtype}")
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"ids must be in [0, {vocab_size}), got values from {ids.min()} to {ids.max()}")
    selected = (rng.random(ids.shape) < p) & ~special
    kind = rng.random(ids.shape)
    inputs = ids.copy()
    inputs[selected & (kind < 0.8)] = mask_id
    swap = selected & (kind >= 0.8) & (kind < 0.9)
    inputs[swap] = rng.integers(first_regular_id, vocab_size, int(swap.sum()))
    labels = np.where(selected, ids, IGNORE)
    return inputs, labels
