"""Images as tokens: the vision transformer (ViT, Dosovitskiy et al., 2021), at the size of 8x8 digits.

Taught in chapter 11. :func:`patchify` cuts (batch, C, H, W) images into non-overlapping ``patch x patch``
squares, in row-major order, each flattened channel-first (the order of a ``Conv2d`` kernel's weights), so
that one ``nn.Linear`` on the patches is the same map as a convolution with ``kernel_size = stride = patch``
(:meth:`PatchEmbedding.as_conv2d` builds it). :class:`PatchEmbedding` adds a learned [CLS] token and learned
position embeddings; :class:`ViT` stacks pre-norm Transformer encoder blocks (PyTorch's
``nn.TransformerEncoderLayer`` with ``norm_first=True``, GELU, no dropout) and classifies from the [CLS]
token (or from the mean of the patch tokens). :func:`to_hf_vit_embeddings` and :func:`to_hf_vit` copy our
weights into Hugging Face's ``ViTEmbeddings`` and ``ViTForImageClassification``, built from a ``ViTConfig``
(nothing downloaded), so that the two can be checked equal.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .validate import check_bool, check_choice, check_float_tensor, check_instance, check_int

__all__ = ["patchify", "PatchEmbedding", "ViT", "to_hf_vit_embeddings", "to_hf_vit"]


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, C, H, W) images -> (B, N, C * patch * patch) patches, N = (H / patch) * (W / patch).

    Patch ``n`` is the one in patch-row ``n // (W / patch)`` and patch-column ``n % (W / patch)`` (row-major,
    as text is read); its values are flattened channel-first, then by row, then by column: the order in which a
    ``Conv2d`` weight of shape (out, C, patch, patch) is flattened, and the order of ``F.unfold``.
    """
    check_float_tensor(images, "images", ndim=4)
    patch = check_int(patch, "patch", min=1)
    B, C, H, W = images.shape
    if H % patch or W % patch:
        raise ValueError(f"patch must divide the image height and width, got patch {patch} for {H}x{W} images")
    x = images.reshape(B, C, H // patch, patch, W // patch, patch)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(B, (H // patch) * (W // patch), C * patch * patch)


class PatchEmbedding(nn.Module):
    """Patches -> tokens: ``patchify``, one ``nn.Linear(C * patch**2, d_model)``, [CLS] and position embeddings.

    ``forward(images)`` takes (B, channels, image_size, image_size) float images and returns (B, T, d_model)
    tokens, T = N + 1 with the [CLS] token first (``cls=True``) or T = N. ``positions=False`` leaves the
    position embeddings out: the encoder then sees a bag of patches, blind to where each came from.
    The [CLS] token and the position embeddings start as N(0, 0.02^2) draws (ViT's initialization is a
    truncated normal of that standard deviation).
    """

    def __init__(self, *, image_size: int, patch: int, channels: int = 1, d_model: int = 32, cls: bool = True,
                 positions: bool = True, bias: bool = True) -> None:
        super().__init__()
        self.image_size = check_int(image_size, "image_size", min=1)
        self.patch = check_int(patch, "patch", min=1)
        self.channels = check_int(channels, "channels", min=1)
        d_model = check_int(d_model, "d_model", min=1)
        if image_size % patch:
            raise ValueError(f"patch must divide image_size, got patch {patch} and image_size {image_size}")
        self.n_patches = (image_size // patch) ** 2
        self.proj = nn.Linear(channels * patch * patch, d_model, bias=check_bool(bias, "bias"))
        self.cls_token = nn.Parameter(0.02 * torch.randn(1, 1, d_model)) if check_bool(cls, "cls") else None
        n_tokens = self.n_patches + int(cls)
        self.pos = nn.Parameter(0.02 * torch.randn(1, n_tokens, d_model)) if check_bool(positions, "positions") \
            else None

    @property
    def d_model(self) -> int:
        """The width of each token."""
        return self.proj.out_features

    def check_images(self, images: Any) -> torch.Tensor:
        """``images`` checked to be a float tensor (B, channels, image_size, image_size)."""
        check_float_tensor(images, "images", ndim=4)
        want = (self.channels, self.image_size, self.image_size)
        if tuple(images.shape[1:]) != want:
            raise ValueError(f"images must be (batch, {want[0]}, {want[1]}, {want[2]}) (channels, height, width), "
                             f"got shape {tuple(images.shape)}")
        return images

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The token sequence (B, T, d_model) of a batch of images."""
        x = self.proj(patchify(self.check_images(images), self.patch))
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], dim=1)
        return x if self.pos is None else x + self.pos

    def as_conv2d(self) -> nn.Conv2d:
        """The equal ``nn.Conv2d(channels, d_model, kernel_size=patch, stride=patch)``, weights copied.

        Its output (B, d_model, H/patch, W/patch), flattened and transposed to (B, N, d_model), equals
        ``proj(patchify(images, patch))`` (before [CLS] and position embeddings)."""
        p, D = self.patch, self.d_model
        conv = nn.Conv2d(self.channels, D, p, stride=p, bias=self.proj.bias is not None)
        conv = conv.to(device=self.proj.weight.device, dtype=self.proj.weight.dtype)
        with torch.no_grad():
            conv.weight.copy_(self.proj.weight.reshape(D, self.channels, p, p))
            if self.proj.bias is not None:
                conv.bias.copy_(self.proj.bias)
        return conv


class ViT(nn.Module):
    """A small vision transformer classifier: (B, C, H, W) images -> (B, n_classes) logits.

    :class:`PatchEmbedding` (a [CLS] token when ``pool="cls"``), ``layers`` pre-norm encoder blocks
    (``nn.TransformerEncoderLayer(d_model, heads, d_ff, dropout=0, activation="gelu", norm_first=True)``:
    ``x + attention(norm(x))``, then ``x + mlp(norm(x))``), a final LayerNorm, and a linear head read from the
    [CLS] token (``pool="cls"``, as ViT) or from the mean of the patch tokens (``pool="mean"``).
    ``positions=False`` drops the position embeddings. ``eps`` is every LayerNorm's epsilon.
    """

    def __init__(self, *, image_size: int = 8, patch: int = 2, channels: int = 1, d_model: int = 32, heads: int = 4,
                 layers: int = 2, d_ff: int = 64, n_classes: int = 10, pool: str = "cls", positions: bool = True,
                 eps: float = 1e-5) -> None:
        super().__init__()
        heads, layers = check_int(heads, "heads", min=1), check_int(layers, "layers", min=1)
        d_ff, n_classes = check_int(d_ff, "d_ff", min=1), check_int(n_classes, "n_classes", min=1)
        if check_int(d_model, "d_model", min=1) % heads:
            raise ValueError(f"d_model must be divisible by heads, got d_model {d_model} and heads {heads}")
        if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not 0 < eps < 1:
            raise ValueError(f"eps must be a number in (0, 1), got {eps!r}")
        self.pool = check_choice(pool, "pool", ("cls", "mean"))
        self.embed = PatchEmbedding(image_size=image_size, patch=patch, channels=channels, d_model=d_model,
                                    cls=pool == "cls", positions=positions)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(d_model, heads, d_ff, dropout=0.0, activation="gelu", layer_norm_eps=eps,
                                       batch_first=True, norm_first=True) for _ in range(layers))
        self.norm = nn.LayerNorm(d_model, eps=eps)
        self.head = nn.Linear(d_model, n_classes)
        self.heads, self.d_ff, self.eps = heads, d_ff, float(eps)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The final, normalized tokens (B, T, d_model)."""
        x = self.embed(images)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits (B, n_classes)."""
        x = self.features(images)
        return self.head(x[:, 0] if self.pool == "cls" else x.mean(dim=1))

    @torch.no_grad()
    def attention(self, images: torch.Tensor, layer: int = -1) -> torch.Tensor:
        """Block ``layer``'s attention weights (B, heads, T, T): row ``i`` is how token ``i`` spreads its attention.

        With ``pool="cls"``, row 0 read from column 1 on is the [CLS] token's attention over the patches."""
        n = len(self.blocks)
        layer = check_int(layer, "layer", min=-n, max=n - 1) % n
        x = self.embed(images)
        for block in self.blocks[:layer]:
            x = block(x)
        block = self.blocks[layer]
        h = block.norm1(x)
        _, weights = block.self_attn(h, h, h, need_weights=True, average_attn_weights=False)
        return weights


def _hf_config(model: ViT) -> Any:
    from transformers import ViTConfig

    e = model.embed
    return ViTConfig(hidden_size=e.d_model, num_hidden_layers=len(model.blocks), num_attention_heads=model.heads,
                     intermediate_size=model.d_ff, hidden_act="gelu", hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0, layer_norm_eps=model.eps, image_size=e.image_size,
                     patch_size=e.patch, num_channels=e.channels, qkv_bias=True, num_labels=model.head.out_features)


def _copy_embeddings(ours: PatchEmbedding, hf: Any) -> None:
    with torch.no_grad():
        hf.patch_embeddings.projection.load_state_dict(ours.as_conv2d().state_dict())
        hf.cls_token.copy_(ours.cls_token)
        if ours.pos is None:
            hf.position_embeddings.zero_()
        else:
            hf.position_embeddings.copy_(ours.pos)


def _check_hf_embedding(ours: PatchEmbedding) -> None:
    check_instance(ours, "embedding", PatchEmbedding, "a troikadl.vit.PatchEmbedding")
    if ours.cls_token is None:
        raise ValueError("embedding must have a [CLS] token (cls=True): Hugging Face's ViTEmbeddings always adds one")
    if ours.proj.bias is None:
        raise ValueError("embedding must have a bias (bias=True): Hugging Face's patch projection always has one")


def to_hf_vit_embeddings(embedding: PatchEmbedding) -> Any:
    """Hugging Face's ``ViTEmbeddings`` built from a ``ViTConfig`` of our sizes, holding our weights (eval mode).

    Needs ``cls=True`` and ``bias=True`` (Hugging Face's always has both); without position embeddings, its
    position embeddings are set to zero. Hugging Face's ``projection`` is the ``Conv2d`` of
    :meth:`PatchEmbedding.as_conv2d`."""
    from transformers import ViTConfig
    from transformers.models.vit.modeling_vit import ViTEmbeddings

    _check_hf_embedding(embedding)
    config = ViTConfig(hidden_size=embedding.d_model, image_size=embedding.image_size, patch_size=embedding.patch,
                       num_channels=embedding.channels, hidden_dropout_prob=0.0)
    w = embedding.proj.weight
    hf = ViTEmbeddings(config).to(device=w.device, dtype=w.dtype)
    _copy_embeddings(embedding, hf)
    return hf.eval()


def to_hf_vit(model: ViT) -> Any:
    """Hugging Face's ``ViTForImageClassification`` from a ``ViTConfig`` of our sizes, holding our weights.

    Needs ``pool="cls"``. The map, per block: the stacked ``self_attn.in_proj_weight`` splits into
    ``q_proj``, ``k_proj``, ``v_proj``; ``out_proj`` -> ``o_proj``; ``norm1`` / ``norm2`` ->
    ``layernorm_before`` / ``layernorm_after``; ``linear1`` / ``linear2`` -> ``mlp.fc1`` / ``mlp.fc2``. Our
    LayerNorm epsilon is put in the config (Hugging Face's default is 1e-12). Eval mode, SDPA attention (its eager
    attention takes the softmax in float32 even for float64 inputs, which would blur a float64 check)."""
    from transformers import ViTForImageClassification

    check_instance(model, "model", ViT, "a troikadl.vit.ViT")
    if model.pool != "cls":
        raise ValueError(f"model must read its [CLS] token (pool='cls') as Hugging Face's ViT does, got {model.pool!r}")
    config = _hf_config(model)
    config._attn_implementation = "sdpa"
    w = model.head.weight
    hf = ViTForImageClassification(config).to(device=w.device, dtype=w.dtype)
    _copy_embeddings(model.embed, hf.vit.embeddings)
    D = model.embed.d_model
    with torch.no_grad():
        for ours, theirs in zip(model.blocks, hf.vit.layers):
            a, h = ours.self_attn, theirs.attention
            for i, proj in enumerate((h.q_proj, h.k_proj, h.v_proj)):
                proj.weight.copy_(a.in_proj_weight[i * D:(i + 1) * D])
                proj.bias.copy_(a.in_proj_bias[i * D:(i + 1) * D])
            pairs = ((a.out_proj, h.o_proj), (ours.norm1, theirs.layernorm_before),
                     (ours.norm2, theirs.layernorm_after), (ours.linear1, theirs.mlp.fc1),
                     (ours.linear2, theirs.mlp.fc2))
            for src, dst in pairs:
                dst.weight.copy_(src.weight)
                dst.bias.copy_(src.bias)
        hf.vit.layernorm.load_state_dict(model.norm.state_dict())
        hf.classifier.load_state_dict(model.head.state_dict())
    return hf.eval()
