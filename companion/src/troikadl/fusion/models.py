"""Fusion models for mini-VQA: one image, one question, one yes/no answer (a single logit).

Taught in chapter 11 (``from troikadl import fusion``; not imported by ``import troikadl``, since it
imports torch). Both inputs travel in one float tensor so that :func:`troikadl.fit` can train
every model unchanged: :func:`pack` puts the 64 pixels and the 6 question tokens side by side, and each
model starts with :func:`unpack`. A missing image is all zeros; a missing question is all padding.

- :class:`ImageOnly`, :class:`TextOnly`: one modality; the baselines.
- :class:`EarlyFusion` ("direct" fusion): raw pixels and a bag of words concatenated, then one MLP.
- :class:`LateFusion` (decision fusion): the average of an image model's and a text model's logits, an
  *additive* combination, which cannot express an interaction (a learned nonlinear combiner of the two
  branches' outputs could, as far as those outputs carry the information it needs).
- :class:`ConcatFusion` (feature fusion): ``g([f(x), h(q)])``, concatenated features.
- :class:`FiLMFusion` (feature fusion): the question scales and shifts the image features,
  ``g(gamma(q) * f(x) + beta(q))`` (Perez et al., 2018).
- :class:`CrossAttentionFusion`: the question's tokens attend to the image's patches.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..validate import as_float_array, check_int
from ._checks import check_number

__all__ = ["IMAGE_DIM", "QUESTION_LENGTH", "pack", "unpack", "ImageOnly", "TextOnly", "EarlyFusion", "LateFusion",
           "ConcatFusion", "FiLMFusion", "CrossAttentionFusion", "ModalityDropout", "MODELS", "concat_fusion_keras",
           "copy_concat_fusion_to_keras"]

IMAGE_DIM = 64
QUESTION_LENGTH = 6


def pack(images: Any, questions: Any) -> np.ndarray:
    """``(n, 64 + 6)`` float32: pixels, then token ids. Both inputs need the same number of examples."""
    img = as_float_array(images, "images", dtype=np.float32)
    q = np.asarray(questions)
    if img.ndim != 2 or img.shape[1] != IMAGE_DIM:
        raise ValueError(f"images must have shape (n, {IMAGE_DIM}), got {img.shape}")
    if q.ndim != 2 or q.shape[1] != QUESTION_LENGTH or not np.issubdtype(q.dtype, np.integer):
        raise ValueError(f"questions must be integer token ids of shape (n, {QUESTION_LENGTH}), got {q.shape} {q.dtype}")
    if q.size and q.min() < 0:
        raise ValueError(f"questions must hold token ids >= 0 (0 is padding), got {q.min()}")
    if len(img) != len(q):
        raise ValueError(f"images and questions must hold the same number of examples, got {len(img)} and {len(q)}")
    return np.concatenate([img, q.astype(np.float32)], axis=1)


def unpack(x: torch.Tensor, vocab: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The inverse of :func:`pack` on a batch: ``(pixels, token ids)``; ids checked against ``vocab`` if given."""
    if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point:
        raise TypeError(f"x must be a float tensor made by pack(), got {type(x).__name__} "
                        f"{getattr(x, 'dtype', '')}".rstrip())
    if x.ndim != 2 or x.shape[1] != IMAGE_DIM + QUESTION_LENGTH:
        raise ValueError(f"x must be packed (batch, {IMAGE_DIM + QUESTION_LENGTH}), got {tuple(x.shape)}")
    if x.device.type != "meta" and not bool(torch.isfinite(x).all()):
        raise ValueError("x must be finite, but it holds NaN or infinity")
    tokens = x[:, IMAGE_DIM:].round().long()
    if vocab is not None and len(x) and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab):
        raise ValueError(f"x must hold token ids in [0, {vocab}) (the vocabulary), got ids from "
                         f"{int(tokens.min())} to {int(tokens.max())}")
    return x[:, :IMAGE_DIM], tokens


def _sizes(vocab: Any, hidden: Any) -> tuple[int, int]:
    return check_int(vocab, "vocab", min=2), check_int(hidden, "hidden", min=1)


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))


class _TextEncoder(nn.Module):
    """Token embeddings averaged over the non-padding tokens (a zero vector for an empty question)."""

    def __init__(self, vocab: int, dim: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        keep = (tokens != 0).unsqueeze(-1).to(self.embed.weight.dtype)
        return (self.embed(tokens) * keep).sum(1) / keep.sum(1).clamp_min(1.0)


class ImageOnly(nn.Module):
    """The image alone: an MLP on the 64 pixels (the question is ignored)."""

    def __init__(self, vocab: int, hidden: int = 128):
        super().__init__()
        self.vocab, hidden = _sizes(vocab, hidden)
        self.net = nn.Sequential(_mlp(IMAGE_DIM, hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(unpack(x, self.vocab)[0])


class TextOnly(nn.Module):
    """The question alone: averaged token embeddings, then an MLP (the image is ignored)."""

    def __init__(self, vocab: int, hidden: int = 128):
        super().__init__()
        self.vocab, hidden = _sizes(vocab, hidden)
        self.text = _TextEncoder(vocab, hidden)
        self.head = _mlp(hidden, hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.text(unpack(x, self.vocab)[1]))


class EarlyFusion(nn.Module):
    """Raw pixels concatenated with the question's bag of words (token counts), then one MLP."""

    def __init__(self, vocab: int, hidden: int = 128):
        super().__init__()
        self.vocab, hidden = _sizes(vocab, hidden)
        self.net = nn.Sequential(_mlp(IMAGE_DIM + vocab, hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        img, tokens = unpack(x, self.vocab)
        bag = torch.zeros(len(x), self.vocab, dtype=img.dtype, device=x.device)
        bag.scatter_add_(1, tokens, torch.ones_like(tokens, dtype=img.dtype))
        bag[:, 0] = 0.0  # padding is not a word
        return self.net(torch.cat([img, bag], dim=1))


class LateFusion(nn.Module):
    """Decision fusion by averaging: ``(image_logit + text_logit) / 2``, trained end to end.

    An additive combination of per-modality scores cannot express an interaction: the image's effect
    on the logit is the same for every question, so for any images x1, x2 and questions q1, q2,
    ``f(x1, q1) + f(x2, q2) = f(x1, q2) + f(x2, q1)``. That is a property of the sum, not of late fusion
    as such: a learned nonlinear combiner ``c(image_outputs, text_outputs)`` can express interactions,
    as far as what each branch outputs carries the information it needs."""

    def __init__(self, vocab: int, hidden: int = 128):
        super().__init__()
        self.image, self.text = ImageOnly(vocab, hidden), TextOnly(vocab, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.image(x) + self.text(x)) / 2


class ConcatFusion(nn.Module):
    """Feature fusion by concatenation: ``g([f(image), h(question)])``."""

    def __init__(self, vocab: int, hidden: int = 128):
        super().__init__()
        self.vocab, hidden = _sizes(vocab, hidden)
        self.image = nn.Sequential(nn.Linear(IMAGE_DIM, hidden), nn.ReLU())
        self.text = _TextEncoder(vocab, hidden)
        self.head = _mlp(2 * hidden, hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        img, tokens = unpack(x, self.vocab)
        return self.head(torch.cat([self.image(img), self.text(tokens)], dim=1))


class FiLMFusion(nn.Module):
    """Feature-wise linear modulation: the question sets a scale and a shift for every image feature."""

    def __init__(self, vocab: int, hidden: int = 128):
        super().__init__()
        self.vocab, hidden = _sizes(vocab, hidden)
        self.image = nn.Sequential(nn.Linear(IMAGE_DIM, hidden), nn.ReLU())
        self.text = _TextEncoder(vocab, hidden)
        self.film = nn.Linear(hidden, 2 * hidden)
        self.head = _mlp(hidden, hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        img, tokens = unpack(x, self.vocab)
        gamma, beta = self.film(self.text(tokens)).chunk(2, dim=1)
        return self.head(torch.relu((1 + gamma) * self.image(img) + beta))


class CrossAttentionFusion(nn.Module):
    """The question's tokens (queries) attend to the image's 16 patches of 2x2 pixels (keys and values)."""

    def __init__(self, vocab: int, hidden: int = 64, heads: int = 2):
        super().__init__()
        self.vocab, hidden = _sizes(vocab, hidden)
        heads = check_int(heads, "heads", min=1)
        if hidden % heads:
            raise ValueError(f"hidden must be divisible by heads, got hidden {hidden} and heads {heads}")
        self.patch = nn.Linear(4, hidden)
        self.patch_pos = nn.Parameter(0.02 * torch.randn(16, hidden))
        self.embed = nn.Embedding(vocab, hidden, padding_idx=0)
        self.token_pos = nn.Parameter(0.02 * torch.randn(QUESTION_LENGTH, hidden))
        self.attend = nn.MultiheadAttention(hidden, heads, batch_first=True)
        self.head = _mlp(2 * hidden, hidden, 1)

    def patches(self, img: torch.Tensor) -> torch.Tensor:
        p = img.reshape(-1, 4, 2, 4, 2).permute(0, 1, 3, 2, 4).reshape(-1, 16, 4)  # (batch, 16 patches, 4 pixels)
        return torch.relu(self.patch(p)) + self.patch_pos

    def forward(self, x: torch.Tensor, *, need_weights: bool = False) -> Any:
        img, tokens = unpack(x, self.vocab)
        q = self.embed(tokens) + self.token_pos
        out, weights = self.attend(q, self.patches(img), self.patches(img), need_weights=need_weights)
        keep = (tokens != 0).unsqueeze(-1).to(out.dtype)
        pooled = torch.cat([(out * keep).sum(1), (q * keep).sum(1)], dim=1) / keep.sum(1).clamp_min(1.0)
        logit = self.head(pooled)
        return (logit, weights) if need_weights else logit


class ModalityDropout(nn.Module):
    """During training, hide the image (zeros) or the question (padding) of each example with probability
    ``p`` each (never both); in evaluation mode, pass everything through."""

    def __init__(self, model: nn.Module, p: float = 0.2):
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module (a fusion model), got {type(model).__name__}")
        p = check_number(p, "p")
        if not 0 <= p < 0.5:
            raise ValueError(f"p must be in [0, 0.5), got {p}")
        self.model, self.p = model, p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        unpack(x)  # checks the packed batch
        if self.training and self.p > 0:
            u = torch.rand(len(x), 1, device=x.device)
            x = x.clone()
            x[:, :IMAGE_DIM] *= (u >= self.p).to(x.dtype)
            x[:, IMAGE_DIM:] *= ((u < self.p) | (u >= 2 * self.p)).to(x.dtype)
        return self.model(x)


#: Every model of the chapter, by name.
MODELS = {"image only": ImageOnly, "text only": TextOnly, "late fusion": LateFusion, "early fusion": EarlyFusion,
          "feature fusion (concat)": ConcatFusion, "feature fusion (FiLM)": FiLMFusion,
          "cross-attention": CrossAttentionFusion}


def concat_fusion_keras(vocab: int, hidden: int = 128) -> Any:
    """The Keras twin of :class:`ConcatFusion`, taking the same packed (batch, 70) input."""
    import keras
    from keras import layers, ops

    vocab, hidden = _sizes(vocab, hidden)
    x = keras.Input((IMAGE_DIM + QUESTION_LENGTH,))
    img = x[:, :IMAGE_DIM]
    tokens = ops.cast(ops.round(x[:, IMAGE_DIM:]), "int32")
    f = layers.Dense(hidden, activation="relu", name="image")(img)
    emb = layers.Embedding(vocab, hidden, name="embed")(tokens)
    keep = ops.expand_dims(ops.cast(ops.not_equal(tokens, 0), "float32"), -1)
    h = ops.sum(emb * keep, axis=1) / ops.maximum(ops.sum(keep, axis=1), 1.0)
    z = layers.Dense(hidden, activation="relu", name="head0")(ops.concatenate([f, h], axis=1))
    return keras.Model(x, layers.Dense(1, name="head2")(z))


def copy_concat_fusion_to_keras(model: ConcatFusion, keras_model: Any) -> None:
    """Copy a trained :class:`ConcatFusion` into :func:`concat_fusion_keras`'s model."""
    from ..twins import linear_to_dense

    import keras

    if not isinstance(model, ConcatFusion):
        raise TypeError(f"model must be a ConcatFusion, got {type(model).__name__}")
    if not isinstance(keras_model, keras.Model):
        raise TypeError(f"keras_model must be the keras.Model of concat_fusion_keras(), "
                        f"got {type(keras_model).__name__}")
    for name in ("image", "embed", "head0", "head2"):
        try:
            keras_model.get_layer(name)
        except ValueError as err:
            raise ValueError(f"keras_model must be built by concat_fusion_keras(): it has no layer {name!r}") from err

    linear_to_dense(model.image[0], keras_model.get_layer("image"))
    keras_model.get_layer("embed").set_weights([model.text.embed.weight.detach().cpu().numpy()])
    linear_to_dense(model.head[0], keras_model.get_layer("head0"))
    linear_to_dense(model.head[2], keras_model.get_layer("head2"))
