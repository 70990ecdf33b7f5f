"""Multimodal models (chapter 11), split by concept: fusion models for mini-VQA (``models``), late fusion's
combiners and what each can express (``late``), CLIP-style contrastive alignment (``contrastive``) and zero-shot
classification with prompt templates (``zeroshot``), image captioning with chapter 6's decoder (``captioning``),
and image features as prefix tokens of chapter 6's GPT (``prefix``).

Not imported by ``import troikadl`` (it imports torch at import time): ``from troikadl import fusion``.
Every model takes its two inputs as two arguments (``model(image, tokens)``, ``model(images, captions)``), token
ids as integer tensors; :func:`troikadl.fit` trains it on a tuple of inputs.
"""

from __future__ import annotations

from . import captioning, contrastive, late, models, prefix, zeroshot
from .captioning import ImageCaptioner, caption_scores
from .contrastive import ClipModel, clip_loss, infonce_floor, info_nce, multi_positive_loss, recall_at_k
from .late import ScoreFusion
from .models import MODELS, ModalityDropout
from .prefix import PrefixVQA
from .zeroshot import class_embeddings, zero_shot_predict

__all__ = ["captioning", "contrastive", "late", "models", "prefix", "zeroshot", "ClipModel", "clip_loss", "info_nce",
           "infonce_floor", "multi_positive_loss", "recall_at_k", "MODELS", "ModalityDropout", "ScoreFusion",
           "ImageCaptioner", "caption_scores", "PrefixVQA", "class_embeddings", "zero_shot_predict"]
