"""Decoding strategies for an autoregressive model: greedy, temperature, top-k, top-p, with or without a KV cache.

Taught in chapter 6. A model is anything called as ``model(ids, cache) -> (logits, cache)`` with ``ids`` of
shape (batch, new_length), ``logits`` (batch, new_length, vocab_size) and ``cache`` what the model keeps of
the positions it has read (``None``: nothing yet), the convention of :class:`troikadl.transformer.GPT` and of
chapter 5's recurrent models. The filters return logits with the tokens they leave out set to ``-inf``; the
draw is :func:`troikadl.language_model.sample_next`'s.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..language_model import sample_next
from ..validate import check_bool, check_float, check_float_tensor, check_instance, check_int

__all__ = ["top_k_filter", "top_p_filter", "generate", "kv_cache_bytes"]


def _logits(logits: Any) -> torch.Tensor:
    check_float_tensor(logits, "logits", finite=False)
    if logits.ndim < 1 or logits.shape[-1] == 0:
        raise ValueError(f"logits must have shape (..., vocab_size) with vocab_size >= 1, got {tuple(logits.shape)}")
    if bool(torch.isnan(logits).any()) or bool((logits == float("inf")).any()):
        raise ValueError("logits must not hold NaN or +inf (-inf marks a token already left out)")
    if bool((logits == float("-inf")).all(-1).any()):
        raise ValueError("logits: every row needs at least one finite entry")
    return logits


def _keep_from(logits: torch.Tensor, n_keep: torch.Tensor) -> torch.Tensor:
    """Keep, per row, every token whose logit is at least the ``n_keep``-th largest (ties at the cut all kept)."""
    cut = logits.sort(dim=-1, descending=True).values.gather(-1, n_keep - 1)
    return logits.masked_fill(logits < cut, float("-inf"))


def top_k_filter(logits: Any, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of each row (…, vocab_size), set the others to ``-inf`` (chapter 6).

    Tokens tied with the ``k``-th largest logit are all kept (as Hugging Face's ``TopKLogitsWarper`` does), so a
    row may keep more than ``k``; ``k >= vocab_size`` keeps everything.
    """
    logits = _logits(logits)
    k = min(check_int(k, "k", min=1), logits.shape[-1])
    n_keep = torch.full((*logits.shape[:-1], 1), k, dtype=torch.int64, device=logits.device)
    return _keep_from(logits, n_keep)


def top_p_filter(logits: Any, p: float) -> torch.Tensor:
    """Nucleus filtering: keep the most likely tokens until their probability reaches ``p`` (chapter 6).

    Per row of ``logits`` (…, vocab_size): sort the tokens by probability, most likely first, and keep the
    smallest prefix whose total probability is at least ``p``; that is, a token is kept when the tokens more
    likely than it hold less than ``p``. The most likely token is always kept (``p = 0`` is greedy decoding),
    ``p = 1`` keeps every token. The others become ``-inf``. Checked equal to Hugging Face's
    ``TopPLogitsWarper``; one deliberate difference: tokens tied with the last kept one are all kept (so the
    result does not depend on how a sort orders equal values), where Hugging Face keeps some of them.
    """
    logits = _logits(logits)
    p = check_float(p, "p", min=0.0, max=1.0)
    if p == 1.0:
        return logits.clone()
    probs = torch.softmax(logits.sort(dim=-1, descending=True).values, dim=-1)
    before = torch.cat([torch.zeros_like(probs[..., :1]), probs[..., :-1]], dim=-1).cumsum(-1)  # mass ranked above
    n_keep = (before < p).sum(-1, keepdim=True).clamp(min=1)
    return _keep_from(logits, n_keep)


def _model_ids(ids: Any, vocab_size: int | None) -> torch.Tensor:
    if not isinstance(ids, torch.Tensor) or ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise TypeError(f"ids must be an integer torch tensor of token ids, got {getattr(ids, 'dtype', type(ids))}")
    if ids.ndim not in (1, 2) or ids.shape[-1] == 0:
        raise ValueError(f"ids must have shape (length,) or (batch, length) with length >= 1, got {tuple(ids.shape)}")
    if bool((ids < 0).any()) or (vocab_size is not None and bool((ids >= vocab_size).any())):
        raise ValueError(f"ids must be token ids in [0, {vocab_size}), got values from {int(ids.min())} to "
                         f"{int(ids.max())}")
    return ids.long()


@torch.no_grad()
def generate(model: nn.Module, ids: Any, max_new_tokens: int, *, temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None, greedy: bool = False, use_cache: bool = True,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """``ids`` followed by ``max_new_tokens`` tokens, each drawn from the model's prediction for the next (chapter 6).

    ``ids`` is (batch, length) or (length,); the result has the same number of dimensions. Each step takes the
    logits at the last position, divides them by ``temperature``, applies :func:`top_k_filter` (if ``top_k``)
    then :func:`top_p_filter` (if ``top_p``), and draws from the softmax, in the order Hugging Face's
    ``generate`` uses; ``greedy=True`` (or ``temperature=0``) takes the argmax instead. With ``use_cache`` the
    prompt is read once and each step feeds the model only the new token and the cache; without, each step
    re-reads the whole sequence (the same logits, more work). The model is put in eval mode and restored.
    """
    check_instance(model, "model", nn.Module, "a torch.nn.Module called as model(ids, cache) -> (logits, cache)")
    ids = _model_ids(ids, getattr(model, "vocab_size", None))
    max_new_tokens = check_int(max_new_tokens, "max_new_tokens", min=0)
    temperature = check_float(temperature, "temperature", min=0.0)
    if top_k is not None:
        check_int(top_k, "top_k", min=1)
    if top_p is not None:
        check_float(top_p, "top_p", min=0.0, max=1.0)
    greedy, use_cache = check_bool(greedy, "greedy"), check_bool(use_cache, "use_cache")
    if generator is not None:
        check_instance(generator, "generator", torch.Generator)
    squeeze = ids.ndim == 1
    out = ids[None] if squeeze else ids
    out = out.to(next(model.parameters()).device)
    was_training = model.training
    model.eval()
    try:
        logits, cache = model(out, None)
        for step in range(max_new_tokens):
            last = logits[:, -1, :]
            if greedy or temperature == 0.0:
                nxt = last.argmax(-1)
            else:
                last = last / temperature
                if top_k is not None:
                    last = top_k_filter(last, top_k)
                if top_p is not None:
                    last = top_p_filter(last, top_p)
                nxt = sample_next(last, 1.0, generator=generator)
            out = torch.cat([out, nxt[:, None]], dim=1)
            if step + 1 < max_new_tokens:
                logits, cache = model(nxt[:, None], cache) if use_cache else model(out, None)
    finally:
        model.train(was_training)
    return out[0] if squeeze else out


def kv_cache_bytes(layers: int, heads: int, d_head: int, length: int, batch: int = 1, bytes_per_value: int = 4) -> int:
    """The memory of a KV cache: a key and a value tensor (batch, heads, length, d_head) per layer (chapter 6).

    ``2 * layers * batch * heads * length * d_head * bytes_per_value`` bytes (4 for float32, 2 for float16):
    it grows linearly with the length generated, and with the batch.
    """
    sizes = [check_int(v, n, min=1) for v, n in ((layers, "layers"), (heads, "heads"), (d_head, "d_head"),
                                                  (batch, "batch"), (bytes_per_value, "bytes_per_value"))]
    length = check_int(length, "length", min=0)
    layers, heads, d_head, batch, bytes_per_value = sizes
    return 2 * layers * batch * heads * length * d_head * bytes_per_value
