"""The encoder-decoder Transformer, with trained cross-attention, in PyTorch (chapter 6).

The encoder reads the whole source (no mask but its padding); the decoder has three sublayers per layer:
causal self-attention over the target so far, cross-attention from the target positions to the encoder's
outputs, and an MLP. Both stacks are PyTorch's ``nn.TransformerEncoderLayer`` / ``nn.TransformerDecoderLayer``
(pre-norm, relu, no dropout), with token plus learned position embeddings and a final LayerNorm.
Token ids follow :class:`troikadl.data.translation.TokenVocab`: 0 is ``<pad>``, 1 ``<bos>``, 2 ``<eos>``.

Masks use PyTorch's convention: ``True`` means *masked out* (not attended to).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.translation import BOS, EOS, PAD
from ..validate import as_tensor, check_int, check_positive

__all__ = ["Seq2SeqTransformer", "causal_mask", "seq2seq_accuracy"]


def causal_mask(length: int, device: Any = None) -> torch.Tensor:
    """The (length, length) boolean mask of the decoder's self-attention: ``True`` above the diagonal, where a
    position would see a later one (chapter 6; PyTorch's convention, True = not attended to)."""
    length = check_int(length, "length", min=1)
    return torch.ones(length, length, dtype=torch.bool, device=device).triu(1)


class Seq2SeqTransformer(nn.Module):
    """Encoder-decoder Transformer: ``model(src, tgt_in)`` -> (batch, L_tgt, tgt_vocab) logits (chapter 6).

    ``src`` (batch, L_src <= ``src_len``) and ``tgt_in`` (batch, L_tgt <= ``tgt_len``) are token ids, padded on
    the right with ``<pad>`` (0); every source row needs at least one token that is not padding, and
    ``tgt_in`` starts with ``<bos>``. Training is teacher forcing: ``tgt_in`` is the true target shifted right,
    and the causal mask keeps each position from seeing later ones. ``d_model``, ``heads``, ``d_ff``,
    ``enc_layers`` and ``dec_layers`` size the two stacks.
    """

    def __init__(self, src_vocab: int, tgt_vocab: int, src_len: int, tgt_len: int, *, d_model: int = 64,
                 heads: int = 4, d_ff: int = 128, enc_layers: int = 2, dec_layers: int = 2) -> None:
        check_int(src_vocab, "src_vocab", min=EOS + 2)
        check_int(tgt_vocab, "tgt_vocab", min=EOS + 2)
        for name, v in (("src_len", src_len), ("tgt_len", tgt_len), ("d_model", d_model), ("heads", heads),
                        ("d_ff", d_ff), ("enc_layers", enc_layers), ("dec_layers", dec_layers)):
            check_positive(v, name, integer=True)
        if d_model % heads:
            raise ValueError(f"d_model {d_model} must be divisible by heads {heads}")
        super().__init__()
        self.src_vocab, self.tgt_vocab, self.src_len, self.tgt_len = src_vocab, tgt_vocab, src_len, tgt_len
        self.src_tokens, self.src_positions = nn.Embedding(src_vocab, d_model), nn.Embedding(src_len, d_model)
        self.tgt_tokens, self.tgt_positions = nn.Embedding(tgt_vocab, d_model), nn.Embedding(tgt_len, d_model)
        opts = dict(dim_feedforward=d_ff, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.ModuleList(nn.TransformerEncoderLayer(d_model, heads, **opts) for _ in range(enc_layers))
        self.decoder = nn.ModuleList(nn.TransformerDecoderLayer(d_model, heads, **opts) for _ in range(dec_layers))
        self.enc_norm, self.dec_norm = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.readout = nn.Linear(d_model, tgt_vocab)

    def _ids(self, ids: Any, name: str, vocab: int, length: int) -> torch.Tensor:
        if not torch.is_tensor(ids) and not isinstance(ids, np.ndarray):
            raise TypeError(f"{name} must be a tensor or array of token ids, got {type(ids).__name__}")
        ids = as_tensor(ids, name, ndim=2, dtype="integer")
        if not 1 <= ids.shape[1] <= length:
            raise ValueError(f"{name} must be (batch, length) with 1 <= length <= {length}, got {tuple(ids.shape)}")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab):
            raise ValueError(f"{name} must hold ids in [0, {vocab}), got values from {int(ids.min())} "
                             f"to {int(ids.max())}")
        return ids.long().to(self.readout.weight.device)

    def _embed(self, ids: torch.Tensor, tokens: nn.Embedding, positions: nn.Embedding) -> torch.Tensor:
        return tokens(ids) + positions(torch.arange(ids.shape[1], device=ids.device))

    def encode(self, src: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's outputs ("memory", (batch, L_src, d_model)) and the source padding mask (True = pad)."""
        src = self._ids(src, "src", self.src_vocab, self.src_len)
        pad = src == PAD
        if bool(pad.all(dim=1).any()):
            raise ValueError("src must have at least one token that is not <pad> (0) in every row")
        x = self._embed(src, self.src_tokens, self.src_positions)
        for layer in self.encoder:
            x = layer(x, src_key_padding_mask=pad)
        return self.enc_norm(x), pad

    def _decoder_input(self, tgt_in: Any, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        tgt_in = self._ids(tgt_in, "tgt_in", self.tgt_vocab, self.tgt_len)
        if tgt_in.shape[0] != batch:
            raise ValueError(f"tgt_in must have one row per source row ({batch}), got {tgt_in.shape[0]}")
        if tgt_in.numel() and bool((tgt_in[:, 0] != BOS).any()):
            raise ValueError(f"tgt_in must start with <bos> ({BOS}) in every row")
        x = self._embed(tgt_in, self.tgt_tokens, self.tgt_positions)
        return x, causal_mask(tgt_in.shape[1], tgt_in.device), tgt_in == PAD

    def decode(self, memory: torch.Tensor, src_pad: torch.Tensor, tgt_in: Any) -> torch.Tensor:
        """Logits (batch, L_tgt, tgt_vocab) of the decoder reading ``tgt_in`` and attending to ``memory``."""
        x, causal, tgt_pad = self._decoder_input(tgt_in, memory.shape[0])
        for layer in self.decoder:
            x = layer(x, memory, tgt_mask=causal, tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=src_pad)
        return self.readout(self.dec_norm(x))

    def forward(self, src: Any, tgt_in: Any) -> torch.Tensor:
        memory, src_pad = self.encode(src)
        return self.decode(memory, src_pad, tgt_in)

    @torch.no_grad()
    def greedy_decode(self, src: Any, max_len: int, *, prefix: Any = None) -> torch.Tensor:
        """Free-running generation: (batch, <= max_len) ids, ``<bos>`` first, then at each step the most likely
        next token given the model's *own* previous outputs; ``<pad>`` after a row's ``<eos>``.

        The source is encoded once. ``prefix`` (batch, k) forces the first k tokens (``<bos>`` first); the
        model continues from there (chapter 6 forces a wrong first word to watch the error propagate).
        Stops after ``max_len`` tokens (at most ``tgt_len``) or when every row has produced ``<eos>``.
        """
        max_len = check_int(max_len, "max_len", min=1, max=self.tgt_len)
        was_training = self.training
        self.eval()
        memory, src_pad = self.encode(src)
        batch = memory.shape[0]
        if prefix is None:
            out = torch.full((batch, 1), BOS, dtype=torch.long, device=memory.device)
        else:
            out = self._ids(prefix, "prefix", self.tgt_vocab, max_len)
            if out.shape[0] != batch or bool((out[:, 0] != BOS).any()) or bool((out[:, 1:] < EOS + 1).any()):
                raise ValueError(f"prefix must be ({batch}, k): <bos> then k - 1 ordinary tokens, got "
                                 f"{tuple(out.shape)}")
        done = torch.zeros(batch, dtype=torch.bool, device=memory.device)
        while out.shape[1] < max_len and not bool(done.all()):
            nxt = self.decode(memory, src_pad, out)[:, -1].argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
            done |= nxt == EOS
            out = torch.cat([out, nxt[:, None]], dim=1)
        self.train(was_training)
        return out

    @torch.no_grad()
    def cross_attention_maps(self, src: Any, tgt_in: Any) -> list[torch.Tensor]:
        """Per decoder layer, the cross-attention weights (batch, heads, L_tgt, L_src): row t is where target
        position t (predicting token t + 1) reads the source; padded source positions get weight 0."""
        memory, src_pad = self.encode(src)
        x, causal, tgt_pad = self._decoder_input(tgt_in, memory.shape[0])
        maps = []
        for layer in self.decoder:  # the layer's first two sublayers (pre-norm), as the layer computes them
            h = layer.norm1(x)
            y = x + layer.self_attn(h, h, h, attn_mask=causal, key_padding_mask=tgt_pad, need_weights=False)[0]
            maps.append(layer.multihead_attn(layer.norm2(y), memory, memory, key_padding_mask=src_pad,
                                             need_weights=True, average_attn_weights=False)[1])
            x = layer(x, memory, tgt_mask=causal, tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=src_pad)
        return maps


def seq2seq_accuracy(model: Seq2SeqTransformer, src: Any, tgt: Any, *, batch_size: int = 1024) -> dict[str, float]:
    """Accuracies of ``model`` on the pairs (``src``, ``tgt``); ``tgt`` is ``<bos> ... <eos>`` padded (chapter 6).

    ``teacher_forced``: the fraction of target tokens (``<eos>`` included) predicted right when the decoder reads
    the *true* previous tokens (as in training). ``greedy_token``: the same fraction when it reads its *own*
    previous outputs (:meth:`~Seq2SeqTransformer.greedy_decode`), position by position. ``greedy_sequence``: the
    fraction of sequences decoded exactly. The gap between the first two is exposure bias at work.
    """
    if not isinstance(model, Seq2SeqTransformer):
        raise TypeError(f"model must be a Seq2SeqTransformer, got {type(model).__name__}")
    check_int(batch_size, "batch_size", min=1)
    src = model._ids(src, "src", model.src_vocab, model.src_len)
    if len(src) == 0:
        raise ValueError("src must hold at least one source sequence, got an empty batch")
    tgt = model._ids(tgt, "tgt", model.tgt_vocab, model.tgt_len)
    if tgt.shape[0] != src.shape[0] or tgt.shape[1] < 2:
        raise ValueError(f"tgt must be ({src.shape[0]}, >= 2): one <bos> ... <eos> row per source row, "
                         f"got {tuple(tgt.shape)}")
    was_training = model.training
    model.eval()
    tf_hits, free_hits, exact = 0.0, 0.0, 0.0
    with torch.no_grad():
        for i in range(0, len(src), batch_size):
            s, t = src[i:i + batch_size], tgt[i:i + batch_size]
            want, real = t[:, 1:], t[:, 1:] != PAD
            tf_hits += float(((model(s, t[:, :-1]).argmax(-1) == want) & real).sum())
            got = model.greedy_decode(s, t.shape[1])
            got = torch.cat([got, got.new_full((len(s), t.shape[1] - got.shape[1]), PAD)], dim=1)[:, 1:]
            free_hits += float(((got == want) & real).sum())
            exact += float((got == want).all(dim=1).sum())
    model.train(was_training)
    n_tokens = float((tgt[:, 1:] != PAD).sum())
    return {"teacher_forced": tf_hits / n_tokens, "greedy_token": free_hits / n_tokens,
            "greedy_sequence": exact / len(src)}
