"""BERT from scratch (chapter 7): WordPiece, masking, the model, and its map to Hugging Face."""

from .evaluation import fill_mask, nsp_accuracy
from .keras_model import from_keras, keras_inputs, to_keras
from .masking import mask_rows, mask_tokens
from .model import Bert, BertSettings, to_huggingface
from .wordpiece import SPECIALS, WordPiece, normalize, pretokenize

__all__ = ["SPECIALS", "WordPiece", "normalize", "pretokenize", "mask_tokens", "Bert", "BertSettings",
           "to_huggingface", "mask_rows", "fill_mask", "nsp_accuracy", "to_keras", "from_keras", "keras_inputs"]
