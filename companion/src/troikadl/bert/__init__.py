"""BERT from scratch (chapter 7): WordPiece, masking, the model, its maps to Hugging Face and Keras.

Submodules beyond these exports: ``pretrain`` (the pretraining loop and its RoBERTa-style variants),
``pairs`` (sentence pairs for next-sentence prediction), ``evaluation`` (masked accuracy, NSP accuracy,
fill-in-the-blank), ``finetune`` (the fine-tuning protocol), ``ablation`` (the shipped table of pretraining
variants and the command that rebuilds it). ``to_keras`` and ``from_keras`` import TensorFlow when called.
"""

from .evaluation import fill_mask, nsp_accuracy
from .keras_model import from_keras, keras_inputs, to_keras
from .masking import mask_rows, mask_tokens
from .model import Bert, BertSettings, to_huggingface
from .wordpiece import SPECIALS, WordPiece, normalize, pretokenize

__all__ = ["SPECIALS", "WordPiece", "normalize", "pretokenize", "mask_tokens", "Bert", "BertSettings",
           "to_huggingface", "mask_rows", "fill_mask", "nsp_accuracy", "to_keras", "from_keras", "keras_inputs"]
