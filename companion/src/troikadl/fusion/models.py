"""Fusion models for mini-VQA: one image, one question, one yes/no answer (a single logit).

Taught in chapter 11 (``from troikadl import fusion``; not imported by ``import troikadl``, since it
imports torch). Every model takes two inputs, ``model(image, tokens)``: a float tensor of the 64 pixels of
each image and an integer tensor of the 6 token ids of each question, so :func:`troikadl.fit` trains it on
``((images, questions), answers)``. A missing image is all zeros; a missing question is all padding (id 0).

- :class:`ImageOnly`, :class:`TextOnly`: one modality; the baselines.
- :class:`EarlyFusion` ("direct" fusion): raw pixels and a bag of words concatenated, then one MLP.
- :class:`LateFusion` (decision fusion): the average of an image model's and a text model's logits, an
  *additive* combination, which cannot express an interaction (a learned nonlinear combiner of the two
  branches' outputs could, as far as those outputs carry the information it needs).
- :class:`ConcatFusion` (feature fusion): ``g([f(x), h(q)])``, concatenated features.
- :class:`FiLMFusion` (feature fusion): the question scales and shifts the image features,
  ``g(gamma(q) * f(x) + beta(q))`` (Perez et al., 2018).
- :class:`CrossAttentionFusion`: the question's tokens attend to the image's patches.

Each model's settings are keyword arguments: ``ConcatFusion(vocab_size=21, hidden=128)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..cnn import mlp
from ..validate import as_tensor, check_float_tensor, check_int
from ._checks import check_number

__all__ = ["IMAGE_DIM", "QUESTION_LENGTH", "ImageOnly", "TextOnly", "EarlyFusion", "LateFusion", "ConcatFusion",
           "FiLMFusion", "CrossAttentionFusion", "ModalityDropout", "MODELS", "concat_fusion_keras", "copy_to_keras"]

IMAGE_DIM = 64
QUESTION_LENGTH = 6


def _check_inputs(image: Any, tokens: Any, vocab_size: int | None = None) -> None:
    """Check a batch: ``image`` a float (batch, 64) tensor, ``tokens`` integer (batch, 6) ids below ``vocab_size``."""
    check_float_tensor(image, "image", ndim=2)
    if image.shape[1] != IMAGE_DIM:
        raise ValueError(f"image must have shape (batch, {IMAGE_DIM}), got {tuple(image.shape)}")
    as_tensor(tokens, "tokens", ndim=2, dtype="integer", convert=False)
    if tokens.shape[1] != QUESTION_LENGTH:
        raise ValueError(f"tokens must have shape (batch, {QUESTION_LENGTH}), got {tuple(tokens.shape)}")
    if len(tokens) != len(image):
        raise ValueError(f"image and tokens must hold the same number of examples, got {len(image)} and "
                         f"{len(tokens)}")
    if not tokens.numel():
        return
    low, high = int(tokens.min()), int(tokens.max())
    if low < 0 or (vocab_size is not None and high >= vocab_size):
        allowed = f"in [0, {vocab_size})" if vocab_size is not None else ">= 0"
        raise ValueError(f"tokens must hold token ids {allowed} (0 is padding), got ids from {low} to {high}")


def _sizes(vocab_size: Any, hidden: Any) -> tuple[int, int]:
    return check_int(vocab_size, "vocab_size", min=2), check_int(hidden, "hidden", min=1)


class _TextEncoder(nn.Module):
    """Token embeddings averaged over the non-padding tokens (a zero vector for an empty question)."""

    def __init__(self, vocab_size: int, dim: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        keep = (tokens != 0).unsqueeze(-1).to(self.embed.weight.dtype)
        return (self.embed(tokens) * keep).sum(1) / keep.sum(1).clamp_min(1.0)


class ImageOnly(nn.Module):
    """The image alone: an MLP on the 64 pixels (the question is ignored)."""

    def __init__(self, *, vocab_size: int, hidden: int = 128):
        super().__init__()
        self.vocab_size, hidden = _sizes(vocab_size, hidden)
        self.net = nn.Sequential(mlp([IMAGE_DIM, hidden, hidden]), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, image: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        _check_inputs(image, tokens, self.vocab_size)
        return self.net(image)


class TextOnly(nn.Module):
    """The question alone: averaged token embeddings, then an MLP (the image is ignored)."""

    def __init__(self, *, vocab_size: int, hidden: int = 128):
        super().__init__()
        self.vocab_size, hidden = _sizes(vocab_size, hidden)
        self.text = _TextEncoder(vocab_size, hidden)
        self.head = mlp([hidden, hidden, 1])

    def forward(self, image: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        _check_inputs(image, tokens, self.vocab_size)
        return self.head(self.text(tokens))


class EarlyFusion(nn.Module):
    """Raw pixels concatenated with the question's bag of words (token counts), then one MLP."""

    def __init__(self, *, vocab_size: int, hidden: int = 128):
        super().__init__()
        self.vocab_size, hidden = _sizes(vocab_size, hidden)
        self.net = nn.Sequential(mlp([IMAGE_DIM + vocab_size, hidden, hidden]), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, image: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        _check_inputs(image, tokens, self.vocab_size)
        bag = torch.zeros(len(image), self.vocab_size, dtype=image.dtype, device=image.device)
        bag.scatter_add_(1, tokens, torch.ones_like(tokens, dtype=image.dtype))
        bag[:, 0] = 0.0  # padding is not a word
        return self.net(torch.cat([image, bag], dim=1))


class LateFusion(nn.Module):
    """Decision fusion by averaging: ``(image_logit + text_logit) / 2``, trained end to end.

    An additive combination of per-modality scores cannot express an interaction: the image's effect
    on the logit is the same for every question, so for any images x1, x2 and questions q1, q2,
    ``f(x1, q1) + f(x2, q2) = f(x1, q2) + f(x2, q1)``. That is a property of the sum, not of late fusion
    as such: a learned nonlinear combiner ``c(image_outputs, text_outputs)`` can express interactions,
    as far as what each branch outputs carries the information it needs."""

    def __init__(self, *, vocab_size: int, hidden: int = 128):
        super().__init__()
        self.image = ImageOnly(vocab_size=vocab_size, hidden=hidden)
        self.text = TextOnly(vocab_size=vocab_size, hidden=hidden)

    def forward(self, image: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return (self.image(image, tokens) + self.text(image, tokens)) / 2


class ConcatFusion(nn.Module):
    """Feature fusion by concatenation: ``g([f(image), h(question)])``."""

    def __init__(self, *, vocab_size: int, hidden: int = 128):
        super().__init__()
        self.vocab_size, hidden = _sizes(vocab_size, hidden)
        self.image = nn.Sequential(nn.Linear(IMAGE_DIM, hidden), nn.ReLU())
        self.text = _TextEncoder(vocab_size, hidden)
        self.head = mlp([2 * hidden, hidden, 1])

    def forward(self, image: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        _check_inputs(image, tokens, self.vocab_size)
        return self.head(torch.cat([self.image(image), self.text(tokens)], dim=1))


class FiLMFusion(nn.Module):
    """Feature-wise linear modulation: the question sets a scale and a shift for every image feature."""

    def __init__(self, *, vocab_size: int, hidden: int = 128):
        super().__init__()
        self.vocab_size, hidden = _sizes(vocab_size, hidden)
        self.image = nn.Sequential(nn.Linear(IMAGE_DIM, hidden), nn.ReLU())
        self.text = _TextEncoder(vocab_size, hidden)
        self.film = nn.Linear(hidden, 2 * hidden)
        self.head = mlp([hidden, hidden, 1])

    def forward(self, image: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        _check_inputs(image, tokens, self.vocab_size)
        gamma, beta = self.film(self.text(tokens)).chunk(2, dim=1)
        return self.head(torch.relu((1 + gamma) * self.image(image) + beta))


class CrossAttentionFusion(nn.Module):
    """The question's tokens (queries) attend to the image's 16 patches of 2x2 pixels (keys and values)."""

    def __init__(self, *, vocab_size: int, hidden: int = 64, heads: int = 2):
        super().__init__()
        self.vocab_size, hidden = _sizes(vocab_size, hidden)
        heads = check_int(heads, "heads", min=1)
        if hidden % heads:
            raise ValueError(f"hidden must be divisible by heads, got hidden {hidden} and heads {heads}")
        self.patch = nn.Linear(4, hidden)
        self.patch_pos = nn.Parameter(0.02 * torch.randn(16, hidden))
        self.embed = nn.Embedding(vocab_size, hidden, padding_idx=0)
        self.token_pos = nn.Parameter(0.02 * torch.randn(QUESTION_LENGTH, hidden))
        self.attend = nn.MultiheadAttention(hidden, heads, batch_first=True)
        self.head = mlp([2 * hidden, hidden, 1])

    def patches(self, image: torch.Tensor) -> torch.Tensor:
        p = image.reshape(-1, 4, 2, 4, 2).permute(0, 1, 3, 2, 4).reshape(-1, 16, 4)  # (batch, 16 patches, 4 pixels)
        return torch.relu(self.patch(p)) + self.patch_pos

    def forward(self, image: torch.Tensor, tokens: torch.Tensor, *, need_weights: bool = False) -> Any:
        _check_inputs(image, tokens, self.vocab_size)
        q = self.embed(tokens) + self.token_pos
        out, weights = self.attend(q, self.patches(image), self.patches(image), need_weights=need_weights)
        keep = (tokens != 0).unsqueeze(-1).to(out.dtype)
        pooled = torch.cat([(out * keep).sum(1), (q * keep).sum(1)], dim=1) / keep.sum(1).clamp_min(1.0)
        logit = self.head(pooled)
        return (logit, weights) if need_weights else logit


class ModalityDropout(nn.Module):
    """During training, hide the image (zeros) or the question (padding) of each example with probability
    ``p`` each (never both); in evaluation mode, pass everything through. Wraps a fusion ``model``."""

    def __init__(self, model: nn.Module, *, p: float = 0.2):
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module (a fusion model), got {type(model).__name__}")
        p = check_number(p, "p")
        if not 0 <= p < 0.5:
            raise ValueError(f"p must be in [0, 0.5), got {p}")
        self.model, self.p = model, p

    def forward(self, image: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        _check_inputs(image, tokens)
        if self.training and self.p > 0:
            u = torch.rand(len(image), 1, device=image.device)
            image = image * (u >= self.p).to(image.dtype)
            tokens = tokens * ((u < self.p) | (u >= 2 * self.p)).to(tokens.dtype)
        return self.model(image, tokens)


#: Every model of the chapter, by name.
MODELS = {"image only": ImageOnly, "text only": TextOnly, "late fusion": LateFusion, "early fusion": EarlyFusion,
          "feature fusion (concat)": ConcatFusion, "feature fusion (FiLM)": FiLMFusion,
          "cross-attention": CrossAttentionFusion}

_KERAS_LAYERS = ("image", "embed", "head0", "head2")


def concat_fusion_keras(*, vocab_size: int, hidden: int = 128) -> Any:
    """The Keras twin of :class:`ConcatFusion` (new, untrained), taking the same two inputs: (batch, 64)
    pixels and (batch, 6) integer token ids. :func:`copy_to_keras` fills it with a trained model's weights."""
    import keras
    from keras import layers, ops

    vocab_size, hidden = _sizes(vocab_size, hidden)
    image = keras.Input((IMAGE_DIM,), name="pixels")
    tokens = keras.Input((QUESTION_LENGTH,), dtype="int32", name="tokens")
    f = layers.Dense(hidden, activation="relu", name="image")(image)
    emb = layers.Embedding(vocab_size, hidden, name="embed")(tokens)
    keep = ops.expand_dims(ops.cast(ops.not_equal(tokens, 0), "float32"), -1)
    h = ops.sum(emb * keep, axis=1) / ops.maximum(ops.sum(keep, axis=1), 1.0)
    z = layers.Dense(hidden, activation="relu", name="head0")(ops.concatenate([f, h], axis=1))
    return keras.Model([image, tokens], layers.Dense(1, name="head2")(z))


def copy_to_keras(model: ConcatFusion, keras_model: Any) -> None:
    """Fill ``keras_model``, built by :func:`concat_fusion_keras`, with the weights of the :class:`ConcatFusion`
    ``model``; return ``None``. Every shape is checked before anything is copied (``ValueError`` naming the
    layer whose shape differs)."""
    from ..twins import copy_linear_to_keras

    import keras

    if not isinstance(model, ConcatFusion):
        raise TypeError(f"model must be a ConcatFusion, got {type(model).__name__}")
    if not isinstance(keras_model, keras.Model):
        raise TypeError(f"keras_model must be the keras.Model of concat_fusion_keras(), "
                        f"got {type(keras_model).__name__}")
    names = {layer.name for layer in keras_model.layers}
    missing = [name for name in _KERAS_LAYERS if name not in names]
    if missing:
        raise ValueError(f"keras_model must be built by concat_fusion_keras(): it has no layer {missing[0]!r}")
    sources = {"image": model.image[0].weight, "embed": model.text.embed.weight, "head0": model.head[0].weight,
               "head2": model.head[2].weight}
    for name, weight in sources.items():
        want = tuple(weight.shape) if name == "embed" else tuple(weight.shape)[::-1]  # a Dense kernel is W^T
        got = tuple(keras_model.get_layer(name).get_weights()[0].shape)
        if got != want:
            raise ValueError(f"keras_model's layer {name!r} must have weights of shape {want} to hold model "
                             f"(vocab_size={model.vocab_size}, hidden={model.head[0].out_features}), got {got}")
    copy_linear_to_keras(model.image[0], keras_model.get_layer("image"))
    keras_model.get_layer("embed").set_weights([model.text.embed.weight.detach().cpu().numpy()])
    copy_linear_to_keras(model.head[0], keras_model.get_layer("head0"))
    copy_linear_to_keras(model.head[2], keras_model.get_layer("head2"))
