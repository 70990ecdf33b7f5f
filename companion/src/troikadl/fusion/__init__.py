"""Multimodal fusion (chapter 11): fusion models for mini-VQA and CLIP-style contrastive alignment.

Not imported by ``import troikadl`` (it imports torch at import time): ``from troikadl import fusion``.
"""

from __future__ import annotations

from . import contrastive, models
from .contrastive import ClipModel, clip_loss, info_nce, pack_pairs, recall_at_k
from .models import MODELS, ModalityDropout, pack, unpack

__all__ = ["contrastive", "models", "ClipModel", "clip_loss", "info_nce", "pack_pairs", "recall_at_k", "MODELS",
           "ModalityDropout", "pack", "unpack"]
