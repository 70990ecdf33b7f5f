"""BERT's masked-language-model corruption: 15% of the tokens, replaced 80/10/10 (chapter 7)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..train import IGNORE
from ..validate import check_in_range, check_instance, check_int, check_positive

__all__ = ["mask_tokens"]


def mask_tokens(ids: Any, special: Any, *, vocab_size: int, mask_id: int, rng: np.random.Generator,
                p: float = 0.15, first_regular_id: int = 5,
                proportions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> tuple[np.ndarray, np.ndarray]:
    """Select each non-special token with probability ``p``; of the selected, replace 80% by
    ``mask_id``, 10% by a random regular token, and leave 10% unchanged (Devlin et al., 2019).

    ``special`` is a boolean array, True at [CLS], [SEP] and [PAD] positions, which are never selected.
    ``proportions`` are the shares (mask, random, unchanged) of the selected tokens: three numbers in
    [0, 1] that sum to 1 (``(1, 0, 0)`` is "always [MASK]"). Returns the corrupted inputs and the labels:
    the original token at selected positions, :data:`troikadl.train.IGNORE` (-100) elsewhere, which
    PyTorch's cross-entropy skips (``ignore_index``).
    """
    check_positive(vocab_size, "vocab_size", integer=True)
    mask_id = check_int(mask_id, "mask_id", min=0, max=vocab_size - 1)
    first_regular_id = check_int(first_regular_id, "first_regular_id", min=0, max=vocab_size - 1)
    check_instance(rng, "rng", np.random.Generator, "a numpy.random.Generator (np.random.default_rng(seed))")
    check_in_range(p, "p", 0.0, 1.0)
    if not (isinstance(proportions, (tuple, list)) and len(proportions) == 3):
        raise TypeError(f"proportions must be three numbers (mask, random, unchanged), got {proportions!r}")
    share_mask, _, share_unchanged = (check_in_range(x, f"proportions[{i}]", 0.0, 1.0)
                                      for i, x in enumerate(proportions))
    if abs(sum(proportions) - 1.0) > 1e-9:
        raise ValueError(f"proportions (mask, random, unchanged) must sum to 1, got {proportions!r} "
                         f"(sum {sum(proportions)})")
    ids, special = np.asarray(ids), np.asarray(special)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"ids must be integer token ids, got dtype {ids.dtype}")
    if special.dtype != bool:
        raise TypeError(f"special must be a boolean array (True at [CLS], [SEP], [PAD]), got dtype {special.dtype}")
    if ids.shape != special.shape:
        raise ValueError(f"special must have the shape of ids {ids.shape}, got {special.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"ids must be in [0, {vocab_size}), got values from {ids.min()} to {ids.max()}")
    selected = (rng.random(ids.shape) < p) & ~special
    kind = rng.random(ids.shape)
    inputs = ids.copy()
    inputs[selected & (kind < share_mask)] = mask_id
    swap = selected & (kind >= share_mask) & (kind < 1.0 - share_unchanged)
    inputs[swap] = rng.integers(first_regular_id, vocab_size, int(swap.sum()))
    labels = np.where(selected, ids, IGNORE)
    return inputs, labels
