"""CLIP-style contrastive alignment of images and captions (Radford et al., 2021), at toy scale.

Taught in chapter 11. An image encoder and a text encoder map a batch of matching pairs to unit vectors;
the ``B x B`` matrix of cosine similarities divided by a temperature is read as ``B``-way classification
twice: each image must pick its own caption among the batch's captions, and each caption its own image.
The symmetric InfoNCE loss (van den Oord et al., 2018) averages the two cross-entropies.

:class:`ClipModel` takes two inputs, ``model(images, captions)``: float (batch, 3, 16, 16) images and integer
(batch, 3) caption token ids (or padded captions of any length, with ``pad_id``), so that :func:`troikadl.fit`
trains it on ``((images, captions), unused labels)`` with ``loss=clip_loss``.

In-batch false negatives: when a caption occurs ``m`` times in a batch, InfoNCE counts the other ``m - 1``
copies as negatives, and no model can bring that row's loss below ``log m`` (:func:`infonce_floor`).
:func:`multi_positive_loss` takes the batch's groups (e.g. the shape-colour pair of each example, passed as
``fit``'s labels) and treats every same-group column as a positive (Khosla et al., 2020), or removes the
other same-group columns from the softmax.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..validate import as_float_array, as_int_array, as_tensor, check_choice, check_float, check_float_tensor, check_int
from ._checks import check_number

__all__ = ["info_nce", "clip_loss", "ClipModel", "recall_at_k", "multi_positive_loss", "infonce_floor"]

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
    from ``init_temperature``, and never goes below ``min_temperature`` (CLIP: from 0.07, at least 0.01).
    Captions are integer tensors of token ids below ``vocab_size``: 3 tokens each, or with ``pad_id``
    (``text="tokens"`` only) any length, padded with ``pad_id``, whose token average skips the padding.
    """

    def __init__(self, *, vocab_size: int, dim: int = 32, text: str = "tokens", pad_id: int | None = None,
                 init_temperature: float = 0.1, min_temperature: float | None = 0.01):
        super().__init__()
        vocab_size, dim = check_int(vocab_size, "vocab_size", min=2), check_int(dim, "dim", min=1)
        if text not in ("tokens", "caption"):
            raise ValueError(f"text must be 'tokens' or 'caption', got {text!r}")
        if pad_id is not None:
            pad_id = check_int(pad_id, "pad_id", min=0, max=vocab_size - 1)
            if text != "tokens":
                raise ValueError(f"pad_id applies to text='tokens' only (a caption table reads {CAPTION_LENGTH} "
                                 f"tokens), got pad_id={pad_id} with text={text!r}")
        init_temperature = check_float(init_temperature, "init_temperature", min=0, min_open=True)
        if min_temperature is not None:
            min_temperature = check_float(min_temperature, "min_temperature", min=0, min_open=True,
                                          max=init_temperature)
        self.vocab_size, self.text_kind, self.pad_id, self.min_temperature = vocab_size, text, pad_id, min_temperature
        self.image = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                   nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d(1),
                                   nn.Flatten(), nn.Linear(32, dim))
        self.embed = nn.Embedding(vocab_size if text == "tokens" else vocab_size ** CAPTION_LENGTH, dim)
        self.text = nn.Linear(dim, dim)
        self.log_temperature = nn.Parameter(torch.tensor(float(np.log(init_temperature))))

    def caption_rows(self, captions: torch.Tensor) -> torch.Tensor:
        """The caption table's row of each caption (``text="caption"``): its tokens read as the digits of a
        number in base ``vocab_size``. Only rows of captions seen in training ever receive a gradient."""
        tokens = self._tokens(captions)
        return sum(tokens[:, i] * self.vocab_size ** (CAPTION_LENGTH - 1 - i) for i in range(CAPTION_LENGTH))

    def _tokens(self, captions: torch.Tensor) -> torch.Tensor:
        as_tensor(captions, "captions", ndim=2, dtype="integer", convert=False)
        if self.pad_id is None and captions.shape[1] != CAPTION_LENGTH:
            raise ValueError(f"captions must be (n, {CAPTION_LENGTH}) token ids, got {tuple(captions.shape)}")
        if self.pad_id is not None and captions.shape[1] == 0:
            raise ValueError(f"captions must hold at least one token per caption, got {tuple(captions.shape)}")
        if len(captions) and (int(captions.min()) < 0 or int(captions.max()) >= self.vocab_size):
            raise ValueError(f"captions must hold token ids in [0, {self.vocab_size}), got ids from "
                             f"{int(captions.min())} to {int(captions.max())}")
        if self.pad_id is not None and bool((captions == self.pad_id).all(1).any()):
            raise ValueError(f"captions must hold at least one token that is not padding (pad_id {self.pad_id}) "
                             f"in each caption")
        return captions

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        check_float_tensor(images, "images")
        if images.shape[1:] != (3, 16, 16):
            raise ValueError(f"images must be (n, 3, 16, 16), got {tuple(images.shape)}")
        return F.normalize(self.image(images), dim=1)

    def encode_captions(self, captions: torch.Tensor) -> torch.Tensor:
        if self.text_kind == "tokens" and self.pad_id is None:
            pooled = self.embed(self._tokens(captions)).mean(1)
        elif self.text_kind == "tokens":  # the mean of the non-padding tokens' embeddings
            keep = (self._tokens(captions) != self.pad_id).unsqueeze(2)
            emb = self.embed(captions)
            pooled = (emb * keep.to(emb.dtype)).sum(1) / keep.sum(1).to(emb.dtype)
        else:  # one row per distinct caption
            pooled = self.embed(self.caption_rows(captions))
        return F.normalize(self.text(pooled), dim=1)

    @property
    def temperature(self) -> torch.Tensor:
        """The temperature ``exp(log_temperature)``, clipped below at ``min_temperature`` (CLIP: 1/100)."""
        tau = self.log_temperature.exp()
        return tau if self.min_temperature is None else tau.clamp(min=self.min_temperature)

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


def _groups(groups: Any, n: int) -> np.ndarray:
    g = as_int_array(groups.detach() if isinstance(groups, torch.Tensor) else groups, "groups", ndim=1)
    if len(g) != n:
        raise ValueError(f"groups must hold one group id per pair of the batch ({n}), got {len(g)}")
    return g


def multi_positive_loss(logits: torch.Tensor, groups: Any, *, mode: str = "soft") -> torch.Tensor:
    """Symmetric InfoNCE in which the batch's pairs of one group (``groups``: one integer id per pair, such
    as the shape-colour pair of each image; ``fit`` passes them as its labels) are not negatives of each other.

    ``mode="soft"``: each row's target is spread equally over the ``m`` columns of its group, a cross-entropy
    with soft targets (the multi-positive loss of supervised contrastive learning, Khosla et al., 2020); each
    row's loss is still at least ``log m``, the entropy of its target. ``mode="mask"``: the other columns of
    the row's group are taken out of the softmax, the target stays the diagonal; its floor is 0. With all
    groups distinct, both equal :func:`clip_loss`.
    """
    check_float_tensor(logits, "logits")
    if logits.ndim != 2 or logits.shape[0] != logits.shape[1] or not len(logits):
        raise ValueError(f"logits must be a square (B, B) tensor of image-caption scores, got {tuple(logits.shape)}")
    check_choice(mode, "mode", ("soft", "mask"))
    g = torch.as_tensor(_groups(groups, len(logits)), device=logits.device)
    same = g[:, None] == g[None, :]
    if mode == "soft":
        weight = same.to(logits.dtype) / same.sum(1, keepdim=True).to(logits.dtype)  # symmetric: m_i = m_j
        rows = -(weight * F.log_softmax(logits, dim=1)).sum(1).mean()
        cols = -(weight * F.log_softmax(logits, dim=0)).sum(0).mean()
        return (rows + cols) / 2
    others = same & ~torch.eye(len(logits), dtype=torch.bool, device=logits.device)
    masked = logits.masked_fill(others, float("-inf"))
    return -(F.log_softmax(masked, dim=1).diagonal().mean() + F.log_softmax(masked, dim=0).diagonal().mean()) / 2


def infonce_floor(groups: Any) -> float:
    """The infimum of :func:`clip_loss` over all embeddings for a batch whose captions have these ids.

    Copies of one caption embed identically, so a caption occurring ``m_i`` times gives its ``m_i`` images equal
    logits: image ``i``'s row puts at most ``1/m_i`` on its own column, and the ``m_i`` identical columns share
    one distribution over the images; both directions cost at least ``log m_i``. The floor is the mean of
    ``log m_i`` over the batch, approached as the groups separate and the temperature goes to 0.
    """
    g = as_int_array(groups.detach() if isinstance(groups, torch.Tensor) else groups, "groups", ndim=1,
                     nonempty=True)
    _, inverse, counts = np.unique(g, return_inverse=True, return_counts=True)
    return float(np.log(counts[inverse]).mean())
