"""BERT from scratch (chapter 7): WordPiece, masking, the model, and its map to Hugging Face."""

from .masking import mask_tokens
from .model import Bert, BertSettings, to_huggingface
from .wordpiece import SPECIALS, WordPiece, normalize, pretokenize

__all__ = ["SPECIALS", "WordPiece", "normalize", "pretokenize", "mask_tokens", "Bert", "BertSettings",
           "to_huggingface"]
