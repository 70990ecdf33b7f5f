"""Zero-shot classification with a contrastive image-text model, and CLIP's prompt ensemble.

Taught in chapter 11. A model trained to match images with captions classifies images into classes that no
classifier was trained on: write one caption per class ("a green circle"), embed it, and give each image
the class whose caption embedding is most similar (cosine). CLIP (Radford et al., 2021, §3.1.4) phrases each
class by several templates ("a photo of a {}", "a {} in a video game", ...) and averages them: each prompt
embedding is normalized, the class embedding is the renormalized mean over templates, computed once per class.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from ..validate import as_tensor, check_callable, check_float_tensor

__all__ = ["ensemble_embeddings", "class_embeddings", "zero_shot_predict"]


def ensemble_embeddings(prompt_emb: torch.Tensor) -> torch.Tensor:
    """(classes, templates, dim) prompt embeddings -> (classes, dim) unit class embeddings: each prompt
    normalized, averaged over the templates, the mean renormalized."""
    check_float_tensor(prompt_emb, "prompt_emb")
    if prompt_emb.ndim != 3 or 0 in prompt_emb.shape:
        raise ValueError(f"prompt_emb must be a non-empty (classes, templates, dim) tensor, got "
                         f"{tuple(prompt_emb.shape)}")
    if bool((prompt_emb.norm(dim=2) == 0).any()):
        raise ValueError("prompt_emb must not hold a zero vector: it has no direction to normalize")
    mean = F.normalize(prompt_emb, dim=2).mean(1)
    if bool((mean.norm(dim=1) < 1e-12).any()):
        raise ValueError("prompt_emb's templates cancel out for some class: their mean direction is zero")
    return F.normalize(mean, dim=1)


def class_embeddings(encode_text: Callable[[torch.Tensor], torch.Tensor], prompts: Any) -> torch.Tensor:
    """The prompt-ensemble embedding of each class: ``prompts`` (classes, templates, length) token ids,
    ``encode_text`` maps (n, length) token ids to (n, dim) embeddings (such as ``ClipModel.encode_captions``).

    All prompts are encoded in one call; see :func:`ensemble_embeddings`. No gradients are recorded."""
    check_callable(encode_text, "encode_text", "a function from (n, length) token ids to (n, dim) embeddings")
    tokens = as_tensor(prompts, "prompts", ndim=3, dtype="integer")
    if 0 in tokens.shape:
        raise ValueError(f"prompts must hold at least one class, template and token, got {tuple(tokens.shape)}")
    n_classes, n_templates, length = tokens.shape
    with torch.no_grad():
        emb = encode_text(tokens.reshape(n_classes * n_templates, length))
    check_float_tensor(emb, "encode_text(prompts)", ndim=2)
    if len(emb) != n_classes * n_templates:
        raise ValueError(f"encode_text must return one embedding per prompt ({n_classes * n_templates}), got "
                         f"{tuple(emb.shape)}")
    return ensemble_embeddings(emb.reshape(n_classes, n_templates, -1))


def zero_shot_predict(image_emb: torch.Tensor, class_emb: torch.Tensor) -> torch.Tensor:
    """The class of each image: the index of the class embedding with the highest cosine similarity.

    ``image_emb`` (n, dim), ``class_emb`` (classes, dim); returns (n,) int64 indices (ties: the first class)."""
    for name, emb in (("image_emb", image_emb), ("class_emb", class_emb)):
        check_float_tensor(emb, name, ndim=2)
    if not len(class_emb):
        raise ValueError("class_emb must hold at least one class, got none")
    if image_emb.shape[1] != class_emb.shape[1]:
        raise ValueError(f"image_emb and class_emb must have the same dimension, got {image_emb.shape[1]} and "
                         f"{class_emb.shape[1]}")
    return (F.normalize(image_emb, dim=1) @ F.normalize(class_emb, dim=1).T).argmax(1)
