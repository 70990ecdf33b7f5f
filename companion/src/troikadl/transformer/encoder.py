"""A small trainable Transformer encoder for token sequences, in PyTorch (chapter 6).

Token embeddings plus learned (or sinusoidal) position embeddings, a stack of
``nn.TransformerEncoderLayer`` blocks (post-norm, relu, no dropout: the block chapter 6 rebuilds from
scratch and checks equal, on random inputs, to this PyTorch layer), and a linear read-out at every
position. ``attention_maps`` returns each layer's attention weights.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..attention import sinusoidal_positions
from ..validate import check_positive

__all__ = ["TokenEncoder"]


class TokenEncoder(nn.Module):
    """The encoder: (batch, length) token ids -> (batch, length, n_out) logits (``n_out`` defaults to ``vocab_size``).

    ``vocab_size`` token ids, sequences of at most ``length`` tokens; ``d_model``, ``heads``, ``layers`` and
    ``d_ff`` (the feed-forward width) size the ``nn.TransformerEncoderLayer`` stack; ``positions`` is
    "learned", "sinusoidal" or "none".
    """

    def __init__(self, vocab_size: int, length: int, *, d_model: int = 64, heads: int = 4, layers: int = 2,
                 d_ff: int = 128, n_out: int | None = None, positions: str = "learned") -> None:
        n_out = vocab_size if n_out is None else n_out
        for name, v in (("vocab_size", vocab_size), ("length", length), ("d_model", d_model), ("heads", heads),
                        ("layers", layers), ("d_ff", d_ff), ("n_out", n_out)):
            check_positive(v, name, integer=True)
        if d_model % heads:
            raise ValueError(f"d_model {d_model} must be divisible by heads {heads}")
        if positions not in ("learned", "sinusoidal", "none"):
            raise ValueError(f"positions must be 'learned', 'sinusoidal' or 'none', got {positions!r}")
        super().__init__()
        self.vocab_size, self.length = int(vocab_size), int(length)
        self.tokens = nn.Embedding(vocab_size, d_model)
        self.positions = nn.Embedding(length, d_model) if positions == "learned" else None
        fixed = sinusoidal_positions(length, d_model) if positions == "sinusoidal" else np.zeros((length, d_model))
        self.register_buffer("fixed_positions", torch.as_tensor(fixed, dtype=torch.float32))
        self.blocks = nn.ModuleList(nn.TransformerEncoderLayer(d_model, heads, d_ff, dropout=0.0, batch_first=True)
                                    for _ in range(layers))
        self.readout = nn.Linear(d_model, n_out)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Token plus position embeddings of ``ids`` (batch, length): (batch, length, d_model)."""
        length, vocab_size = self.length, self.vocab_size
        if not torch.is_tensor(ids):
            raise TypeError(f"ids must be a torch tensor of token ids, got {type(ids).__name__}")
        if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
            raise TypeError(f"ids must hold integer token ids, got dtype {ids.dtype}")
        if ids.dim() != 2 or not 1 <= ids.shape[1] <= length:
            raise ValueError(f"ids must be (batch, length <= {length}), got {tuple(ids.shape)}")
        if ids.numel() and (ids.min() < 0 or ids.max() >= vocab_size):
            raise ValueError(f"ids must be in [0, {vocab_size}), got values from {int(ids.min())} to {int(ids.max())}")
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.tokens(ids.long()) + self.fixed_positions[: ids.shape[1]]
        return x + self.positions(pos) if self.positions is not None else x

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids)
        for block in self.blocks:
            x = block(x)
        return self.readout(x)

    @torch.no_grad()
    def attention_maps(self, ids: torch.Tensor) -> list[torch.Tensor]:
        """Per layer, the attention weights (batch, heads, length, length)."""
        x, maps = self.embed(ids), []
        for block in self.blocks:
            maps.append(block.self_attn(x, x, x, need_weights=True, average_attn_weights=False)[1])
            x = block(x)
        return maps
