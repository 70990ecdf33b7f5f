"""A GPT-style decoder in PyTorch, written to match Hugging Face's ``GPT2LMHeadModel`` (chapter 6).

Token plus learned position embeddings, a stack of blocks (causal multi-head self-attention, then a GELU
MLP, each with a residual connection and a layer norm), and an output layer that reuses the token embedding
matrix (*tied*). The blocks are pre-norm by default, as in GPT-2 (``x + f(LayerNorm(x))``, one more
LayerNorm after the last block); ``norm_first=False`` gives the post-norm stack of the original Transformer
(``LayerNorm(x + f(x))``, no final LayerNorm), which section 6.8 trains against it.

The model is called as the language models of chapter 5 are, ``model(ids, cache) -> (logits, cache)``, so
:func:`troikadl.language_model.perplexity` and :func:`~troikadl.language_model.train_lm` drive it (with
``carry_state=False``). The state it returns is a **KV cache**: per layer, the keys and values of every
position read so far, (batch, heads, past, d_head) each. Given a cache, only the new tokens are computed; they
take the positions after the cached ones and attend to the cached keys and values and to each other.

``model(ids, prefix=x)`` reads embeddings that are not tokens: ``x`` (batch, P, d_model) is placed before the
token embeddings and takes the P positions before them, as Hugging Face's ``inputs_embeds`` would place them
(:mod:`troikadl.fusion.prefix` prepends a projected image this way: image features read as P "words").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..language_model.text import _check_token_batch
from ..validate import check_bool, check_float, check_float_tensor, check_instance, check_int

__all__ = ["GPTConfig", "GPT"]  # causal_self_attention and Block are shown in chapter 6, used through GPT

Cache = list[tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class GPTConfig:
    """The sizes of a :class:`GPT` (chapter 6); ``d_ff=None`` means ``4 * d_model``, GPT-2's MLP width.

    ``n_positions`` is the context: the most tokens the model reads (its position table's length).
    ``norm_first=True`` is GPT-2's pre-norm block, ``False`` the post-norm block; ``eps`` is the layer norms'.
    """

    vocab_size: int
    n_positions: int
    d_model: int = 64
    heads: int = 4
    layers: int = 2
    d_ff: int | None = None
    norm_first: bool = True
    eps: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_positions", "d_model", "heads", "layers"):
            check_int(getattr(self, name), name, min=1)
        if self.d_ff is None:
            object.__setattr__(self, "d_ff", 4 * self.d_model)
        check_int(self.d_ff, "d_ff", min=1)
        check_bool(self.norm_first, "norm_first")
        check_float(self.eps, "eps", min=0.0, min_open=True)
        if self.d_model % self.heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by heads ({self.heads})")


def causal_self_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax(q k^T / sqrt(d_head)) v with a causal mask: (output, weights), per head (chapter 6).

    ``q`` (batch, heads, T, d_head) are the queries of the last ``T`` of the ``S >= T`` positions whose keys
    and values ``k``, ``v`` (batch, heads, S, d_head) hold, so query ``i`` sits at position ``S - T + i`` and
    may attend to keys ``0 .. S - T + i``: itself and the past, never the future.
    """
    T, S = q.shape[-2], k.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    future = torch.ones(T, S, dtype=torch.bool, device=q.device).triu(S - T + 1)
    weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
    return weights @ v, weights


class Block(nn.Module):
    """One decoder block: causal multi-head self-attention and a GELU MLP, each with residual and LayerNorm."""

    def __init__(self, c: GPTConfig) -> None:
        super().__init__()
        self.heads, self.norm_first = c.heads, c.norm_first
        self.ln1, self.ln2 = nn.LayerNorm(c.d_model, eps=c.eps), nn.LayerNorm(c.d_model, eps=c.eps)
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model)  # queries, keys and values of all heads, stacked
        self.proj = nn.Linear(c.d_model, c.d_model)
        self.up, self.down = nn.Linear(c.d_model, c.d_ff), nn.Linear(c.d_ff, c.d_model)

    def attention(self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple:
        """Multi-head causal self-attention of ``x`` (batch, T, d_model): (output, (keys, values), weights)."""
        B, T, D = x.shape
        heads = lambda t: t.view(B, T, self.heads, D // self.heads).transpose(1, 2)  # noqa: E731
        q, k, v = map(heads, self.qkv(x).split(D, dim=-1))
        if past is not None:  # the cached keys and values come first: they are the earlier positions
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        out, weights = causal_self_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(B, T, D)), (k, v), weights

    def mlp(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.gelu(self.up(x), approximate="tanh"))  # GPT-2's "gelu_new"

    def forward(self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple:
        if self.norm_first:  # pre-norm (GPT-2): the residual stream itself is never normalized
            a, kv, _ = self.attention(self.ln1(x), past)
            x = x + a
            return x + self.mlp(self.ln2(x)), kv
        a, kv, _ = self.attention(x, past)  # post-norm (the 2017 Transformer): normalize each residual sum
        x = self.ln1(x + a)
        return self.ln2(x + self.mlp(x)), kv


class GPT(nn.Module):
    """A GPT-style decoder (chapter 6): ``forward(ids, cache=None, *, prefix=None) -> (logits, cache)``.

    ``ids`` (batch, T) integer token ids; ``logits`` (batch, T, vocab_size) predict the token after each
    position; ``cache`` is ``None`` or what the previous call returned (see :mod:`troikadl.transformer.gpt`).
    ``prefix`` (batch, P, d_model), in the model's dtype, are embeddings read before the tokens (after the
    cache), at the next P positions; the logits then cover all P + T positions.
    Weights start as GPT-2's: N(0, 0.02), the residual projections N(0, 0.02 / sqrt(2 layers)), zero biases.
    """

    def __init__(self, config: GPTConfig) -> None:
        check_instance(config, "config", GPTConfig, "a GPTConfig")
        super().__init__()
        c = self.config = config
        self.vocab_size, self.n_positions = c.vocab_size, c.n_positions
        self.tokens, self.positions = nn.Embedding(c.vocab_size, c.d_model), nn.Embedding(c.n_positions, c.d_model)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.layers))
        self.ln_f = nn.LayerNorm(c.d_model, eps=c.eps) if c.norm_first else None
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() > 1:
                residual = name.endswith(("proj.weight", "down.weight"))
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * c.layers) if residual else 0.02)

    def _check(self, ids: Any, cache: Any, prefix: Any = None) -> int:
        """The cache's length after checking ``ids``, ``cache`` and ``prefix``."""
        _check_token_batch(ids, self.vocab_size)
        n_prefix = 0
        if prefix is not None:
            check_float_tensor(prefix, "prefix", ndim=3)
            d, dtype = self.config.d_model, self.tokens.weight.dtype
            if prefix.shape[0] != ids.shape[0] or prefix.shape[1] < 1 or prefix.shape[2] != d:
                raise ValueError(f"prefix must have shape (batch={ids.shape[0]}, P >= 1, d_model={d}), got "
                                 f"{tuple(prefix.shape)}")
            if prefix.dtype != dtype:
                raise TypeError(f"prefix must have the model's dtype {dtype}, got {prefix.dtype}")
            n_prefix = prefix.shape[1]
        past = 0
        if cache is not None:
            c = self.config
            want = (ids.shape[0], c.heads, None, c.d_model // c.heads)
            ok = isinstance(cache, (list, tuple)) and len(cache) == c.layers and all(
                isinstance(kv, tuple) and len(kv) == 2 and all(
                    isinstance(t, torch.Tensor) and t.is_floating_point() and t.ndim == 4
                    and all(w is None or s == w for s, w in zip(t.shape, want)) for t in kv) for kv in cache)
            if not ok or len({t.shape for kv in cache for t in kv}) != 1:
                raise ValueError(f"cache must be None or, per layer ({c.layers}), a pair (keys, values) of shape "
                                 f"(batch={ids.shape[0]}, heads={c.heads}, past, d_head={want[3]}) as the model "
                                 f"returned it, got {type(cache).__name__}")
            past = cache[0][0].shape[2]
        if past + n_prefix + ids.shape[1] > self.n_positions:
            what = f"{n_prefix} prefix embeddings + " if n_prefix else ""
            raise ValueError(f"ids: {past} cached + {what}{ids.shape[1]} new tokens exceed the context n_positions = "
                             f"{self.n_positions}; read the text in windows of at most that many")
        return past

    def embed(self, ids: torch.Tensor, past: int = 0, prefix: torch.Tensor | None = None) -> torch.Tensor:
        """Token plus position embeddings, the positions starting after ``past`` cached ones; a ``prefix``
        (batch, P, d_model) of embeddings comes before the tokens and takes the first P of those positions."""
        x = self.tokens(ids) if prefix is None else torch.cat([prefix, self.tokens(ids)], dim=1)
        return x + self.positions(torch.arange(past, past + x.shape[1], device=ids.device))

    def forward(self, ids: torch.Tensor, cache: Cache | None = None, *,
                prefix: torch.Tensor | None = None) -> tuple[torch.Tensor, Cache]:
        past = self._check(ids, cache, prefix)
        x, new_cache = self.embed(ids.long(), past, prefix), []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if cache is None else cache[i])
            new_cache.append(kv)
        if self.ln_f is not None:
            x = self.ln_f(x)
        return x @ self.tokens.weight.T, new_cache  # the output layer is the token embedding, tied

    @torch.no_grad()
    def attention_maps(self, ids: torch.Tensor, *, prefix: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Per layer, the attention weights (batch, heads, T, T) of ``ids`` read from the start (chapter 6);
        with a ``prefix`` of P embeddings, (batch, heads, P + T, P + T), the prefix's positions first."""
        self._check(ids, None, prefix)
        x, maps = self.embed(ids.long(), 0, prefix), []
        for block in self.blocks:
            maps.append(block.attention(block.ln1(x) if block.norm_first else x)[2])
            x = block(x)[0]
        return maps

    def extra_repr(self) -> str:
        return f"norm_first={self.config.norm_first}, parameters={sum(p.numel() for p in self.parameters()):,}"
