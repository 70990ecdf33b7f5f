"""Multimodal fusion (chapter 11): fusion models for mini-VQA and CLIP-style contrastive alignment.

Not imported by ``import troikadl`` (it imports torch at import time): ``from troikadl import fusion``.
Every model takes its two inputs as two arguments (``model(image, tokens)``, ``model(images, captions)``), token
ids as integer tensors; :func:`troikadl.fit` trains it on a tuple of inputs.
"""

from __future__ import annotations

from . import contrastive, models
from .contrastive import ClipModel, clip_loss, info_nce, recall_at_k
from .models import MODELS, ModalityDropout

__all__ = ["contrastive", "models", "ClipModel", "clip_loss", "info_nce", "recall_at_k", "MODELS", "ModalityDropout"]
