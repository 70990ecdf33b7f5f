"""BERT's masked-language-model corruption: 15% of the tokens, replaced 80/10/10 (chapter 7).

Taught in chapter 7. :func:`mask_tokens` draws a new mask from the generator it is given (dynamic masking,
RoBERTa's choice, when the generator is seeded by the training step); :func:`mask_rows` gives every row
its own mask, fixed by ``(seed, row)`` however often the row is drawn (static masking, original BERT's).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..train import IGNORE
from ..validate import as_int_array, check_in_range, check_instance, check_int, check_positive

__all__ = ["mask_tokens", "mask_rows"]


def _proportions(proportions: Any) -> tuple[float, float, float]:
    """Check the shares (mask, random, unchanged): three numbers in [0, 1] that sum to 1; return them as floats."""
    if not (isinstance(proportions, (tuple, list)) and len(proportions) == 3):
        raise TypeError(f"proportions must be three numbers (mask, random, unchanged), got {proportions!r}")
    shares = tuple(check_in_range(x, f"proportions[{i}]", 0.0, 1.0) for i, x in enumerate(proportions))
    if abs(sum(proportions) - 1.0) > 1e-9:
        raise ValueError(f"proportions (mask, random, unchanged) must sum to 1, got {proportions!r} "
                         f"(sum {sum(proportions)})")
    return shares  # type: ignore[return-value]


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
    share_mask, _, share_unchanged = _proportions(proportions)
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


def mask_rows(ids: Any, special: Any, rows: Any, *, seed: int, vocab_size: int, mask_id: int, p: float = 0.15,
              first_regular_id: int = 5,
              proportions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> tuple[np.ndarray, np.ndarray]:
    """:func:`mask_tokens` applied to the ``rows`` of ``ids`` (2-D), each row with its own generator seeded by
    ``(seed, row, 1)``: a row gets the same mask every time it is drawn (static masking).

    Original BERT masked its pretraining data once, in preprocessing (the data duplicated 10 times, so that
    each sequence had 10 masks over 40 epochs); RoBERTa (Liu et al. 2019, "RoBERTa: A Robustly Optimized
    BERT Pretraining Approach", arXiv:1907.11692, section 4.1) compares such *static* masking with a new
    mask at every step (*dynamic*). Here each pair has exactly one mask for the whole run. The trailing 1
    keeps these generators apart from the per-step ones ``(seed, step)`` of
    :func:`~troikadl.bert.pretrain.batch_for_step`. Returns the inputs and labels of the chosen rows, in the
    order of ``rows``.
    """
    ids, special = np.asarray(ids), np.asarray(special)
    if ids.ndim != 2:
        raise ValueError(f"ids must be 2-D (pairs, length), got shape {ids.shape}")
    if special.shape != ids.shape:
        raise ValueError(f"special must have the shape of ids {ids.shape}, got {special.shape}")
    rows = as_int_array(rows, "rows", ndim=1, min=0, max=len(ids) - 1)
    seed = check_int(seed, "seed", min=0)
    kw = dict(vocab_size=vocab_size, mask_id=mask_id, p=p, first_regular_id=first_regular_id, proportions=proportions)
    if not len(rows):  # no rows: the other arguments are still checked
        return mask_tokens(ids[:0], special[:0], rng=np.random.default_rng(seed), **kw)  # type: ignore[arg-type]
    out = [mask_tokens(ids[r:r + 1], special[r:r + 1], rng=np.random.default_rng([seed, r, 1]), **kw)  # type: ignore
           for r in rows.tolist()]
    return np.concatenate([x for x, _ in out]), np.concatenate([y for _, y in out])
