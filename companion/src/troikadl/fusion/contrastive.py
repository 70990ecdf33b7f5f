"""CLIP-style contrastive alignment of images and captions (Radford et al., 2021), at toy scale.

Taught in chapter 11. An image encoder and a text encoder map a batch of matching pairs to unit vectors;
the ``B x B`` matrix of cosine similarities divided by a temperature is read as ``B``-way classification
twice: each image must pick its own caption among the batch's captions, and each caption its own image.
The symmetric InfoNCE loss (van den Oord et al., 2018) averages the two cross-entropies.

:class:`ClipModel` takes two inputs, ``model(images, captions)``: float (batch, 3, 16, 16) images and integer
(batch, 3) caption token ids, so that :func:`troikadl.fit` trains it on ``((images, captions), unused labels)``
with ``loss=clip_loss``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..validate import as_float_array, as_tensor, check_float_tensor, check_int
from ._checks import check_number

__all__ = ["info_nce", "clip_loss", "ClipModel", "recall_at_k"]

CAPTION_LENGTH = 3


def info_nce(image_emb: torch.Tensor, text_emb: torch.Tensor, temperature: Any = 0.1) -> torch.Tensor:
    """Symmetric InfoNCE of a batch of matching pairs (row ``i`` of each input belongs together).

    Both inputs are L2-normalized here; ``logits = image @ text.T / temperature``; the loss is the mean of
    the cross-entropy over rows (image -> caption) and over columns (caption -> image), target the diagonal.
    """
    for name, emb in (("image_emb", image_emb), ("text_emb", text_emb)):
        check_float_tensor(emb, name)
    if image_emb.ndim != 2 or text_emb.ndim != 2:
        raise ValueError(f"image_emb and text_emb must be 2-D (batch, dim), got {tuple(image_emb.shape)} and "
                         f"{tuple(text_emb.shape)}")
    if image_emb.shape[0] == 0:
        raise ValueError("image_emb and text_emb must hold at least one pair, got an empty batch")
    if image_emb.shape[0] != text_emb.shape[0]:
        raise ValueError(f"image_emb and text_emb must hold the same number of pairs, got {image_emb.shape[0]} "
                         f"images and {text_emb.shape[0]} captions")
    if image_emb.shape[1] != text_emb.shape[1]:
        raise ValueError(f"image_emb and text_emb must have the same dimension, got {image_emb.shape[1]} and "
                         f"{text_emb.shape[1]}")
    if check_number(temperature.detach() if isinstance(temperature, torch.Tensor) else temperature,
                    "temperature") <= 0:
        raise ValueError(f"temperature must be > 0, got {float(temperature)}")
    return clip_loss(F.normalize(image_emb, dim=1) @ F.normalize(text_emb, dim=1).T / temperature)


class ClipModel(nn.Module):
    """A small CNN for images and a caption encoder, both projected to unit vectors of size ``dim``.

    ``text="tokens"`` averages the caption's token embeddings (a caption is built from its words);
    ``text="caption"`` looks each whole caption up in a table (one vector per distinct caption, however
    related two captions are). ``forward(images, captions)`` on a batch of matching pairs returns the ``B x B``
    logits (cosine similarity / temperature); the temperature is learned, as in CLIP, through its logarithm,
    from 0.1. Captions are integer tensors of token ids below ``vocab_size``.
    """

    def __init__(self, *, vocab_size: int, dim: int = 32, text: str = "tokens"):
        super().__init__()
        vocab_size, dim = check_int(vocab_size, "vocab_size", min=2), check_int(dim, "dim", min=1)
        if text not in ("tokens", "caption"):
            raise ValueError(f"text must be 'tokens' or 'caption', got {text!r}")
        self.vocab_size, self.text_kind = vocab_size, text
        self.image = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                   nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d(1),
                                   nn.Flatten(), nn.Linear(32, dim))
        self.embed = nn.Embedding(vocab_size if text == "tokens" else vocab_size ** CAPTION_LENGTH, dim)
        self.text = nn.Linear(dim, dim)
        self.log_temperature = nn.Parameter(torch.tensor(float(np.log(0.1))))

    def caption_rows(self, captions: torch.Tensor) -> torch.Tensor:
        """The caption table's row of each caption (``text="caption"``): its tokens read as the digits of a
        number in base ``vocab_size``. Only rows of captions seen in training ever receive a gradient."""
        tokens = self._tokens(captions)
        return sum(tokens[:, i] * self.vocab_size ** (CAPTION_LENGTH - 1 - i) for i in range(CAPTION_LENGTH))

    def _tokens(self, captions: torch.Tensor) -> torch.Tensor:
        as_tensor(captions, "captions", ndim=2, dtype="integer", convert=False)
        if captions.shape[1] != CAPTION_LENGTH:
            raise ValueError(f"captions must be (n, {CAPTION_LENGTH}) token ids, got {tuple(captions.shape)}")
        if len(captions) and (int(captions.min()) < 0 or int(captions.max()) >= self.vocab_size):
            raise ValueError(f"captions must hold token ids in [0, {self.vocab_size}), got ids from "
                             f"{int(captions.min())} to {int(captions.max())}")
        return captions

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        check_float_tensor(images, "images")
        if images.shape[1:] != (3, 16, 16):
            raise ValueError(f"images must be (n, 3, 16, 16), got {tuple(images.shape)}")
        return F.normalize(self.image(images), dim=1)

    def encode_captions(self, captions: torch.Tensor) -> torch.Tensor:
        if self.text_kind == "tokens":
            pooled = self.embed(self._tokens(captions)).mean(1)
        else:  # one row per distinct caption
            pooled = self.embed(self.caption_rows(captions))
        return F.normalize(self.text(pooled), dim=1)

    @property
    def temperature(self) -> torch.Tensor:
        return self.log_temperature.exp()

    def forward(self, images: torch.Tensor, captions: torch.Tensor) -> torch.Tensor:
        img, cap = self.encode_images(images), self.encode_captions(captions)
        if len(img) != len(cap):
            raise ValueError(f"images and captions must hold the same number of pairs, got {len(img)} and {len(cap)}")
        return img @ cap.T / self.temperature


def clip_loss(logits: torch.Tensor, _: Any = None) -> torch.Tensor:
    """The symmetric InfoNCE loss from a ``B x B`` logits matrix (the labels passed by ``fit`` are unused)."""
    check_float_tensor(logits, "logits")
    if logits.ndim != 2 or logits.shape[0] != logits.shape[1] or not len(logits):
        raise ValueError(f"logits must be a square (B, B) tensor of image-caption scores, got {tuple(logits.shape)}")
    target = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def recall_at_k(similarity: Any, targets: Any, k: int = 1) -> float:
    """Fraction of queries (rows) whose target column is among their ``k`` most similar columns.

    Ties are counted against the query: the target must beat all but ``k - 1`` columns strictly.
    """
    s = as_float_array(similarity, "similarity", ndim=2)
    t = np.asarray(targets)
    if t.shape != (s.shape[0],):
        raise ValueError(f"similarity must be (queries, gallery) and targets (queries,), got {s.shape} and {t.shape}")
    if not np.issubdtype(t.dtype, np.integer):
        raise TypeError(f"targets must hold integer gallery indices, got dtype {t.dtype}")
    if t.size and (t.min() < 0 or t.max() >= s.shape[1]):
        raise ValueError(f"targets must be gallery indices in [0, {s.shape[1]}), got {t.min()} to {t.max()}")
    check_int(k, "k")
    if not 1 <= k <= s.shape[1]:
        raise ValueError(f"k must be between 1 and the gallery size {s.shape[1]}, got {k}")
    own = s[np.arange(len(s)), t]
    better = (s > own[:, None]).sum(1) + ((s == own[:, None]).sum(1) - 1)
    return float(np.mean(better < k))
