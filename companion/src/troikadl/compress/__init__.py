"""Model compression (chapters 9 and 10): pruning, low-rank factorization, distillation, and measuring size.

``prune`` (masks: magnitude, random, structured), ``lowrank`` (truncated SVD of dense layers),
``distill`` (the temperature-softened loss), ``measure`` (bytes on disk, latency). Torch is imported
inside the functions that use it.
"""

from __future__ import annotations

from . import distill, lowrank, measure, prune

__all__ = ["distill", "lowrank", "measure", "prune"]
