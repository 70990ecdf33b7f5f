"""A small BERT in PyTorch, written to match Hugging Face's ``BertForPreTraining`` exactly (chapter 7).

Embeddings (token + position + segment, then layer norm), post-norm encoder layers (attention and a
GELU MLP, each added back to its input and layer-normalized), a masked-language-model head whose
output matrix is the token embedding matrix itself (*tied*), and a next-sentence head reading the
[CLS] position through a tanh "pooler". Weights start as N(0, 0.02), BERT's initialization.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..validate import check_positive

__all__ = ["BertSettings", "Bert", "to_huggingface"]


@dataclass(frozen=True)
class BertSettings:
    vocab_size: int
    hidden: int = 128
    layers: int = 2
    heads: int = 4
    intermediate: int = 512
    max_length: int = 64
    segments: int = 2
    init_std: float = 0.02
    eps: float = 1e-12

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden", "layers", "heads", "intermediate", "max_length", "segments"):
            check_positive(getattr(self, name), name, integer=True)
        check_positive(self.init_std, "init_std")
        check_positive(self.eps, "eps")
        if self.hidden % self.heads:
            raise ValueError(f"hidden {self.hidden} must be divisible by heads {self.heads}")


class _Layer(nn.Module):
    def __init__(self, s: BertSettings) -> None:
        super().__init__()
        self.heads = s.heads
        self.q, self.k, self.v, self.o = (nn.Linear(s.hidden, s.hidden) for _ in range(4))
        self.ln1, self.ln2 = nn.LayerNorm(s.hidden, eps=s.eps), nn.LayerNorm(s.hidden, eps=s.eps)
        self.up, self.down = nn.Linear(s.hidden, s.intermediate), nn.Linear(s.intermediate, s.hidden)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        B, L, E = x.shape
        split = lambda t: t.view(B, L, self.heads, E // self.heads).transpose(1, 2)  # noqa: E731
        a = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)), attn_mask=keep)
        x = self.ln1(x + self.o(a.transpose(1, 2).reshape(B, L, E)))
        return self.ln2(x + self.down(F.gelu(self.up(x))))


class Bert(nn.Module):
    """``forward(ids, segments, attention_mask)`` -> (MLM logits (B, L, V), NSP logits (B, 2))."""

    def __init__(self, s: BertSettings) -> None:
        super().__init__()
        if not isinstance(s, BertSettings):
            raise TypeError(f"settings must be a BertSettings, got {type(s).__name__}")
        self.settings = s
        self.tokens = nn.Embedding(s.vocab_size, s.hidden)
        self.positions = nn.Embedding(s.max_length, s.hidden)
        self.segments = nn.Embedding(s.segments, s.hidden)
        self.ln = nn.LayerNorm(s.hidden, eps=s.eps)
        self.layers = nn.ModuleList(_Layer(s) for _ in range(s.layers))
        self.pooler = nn.Linear(s.hidden, s.hidden)
        self.nsp = nn.Linear(s.hidden, 2)
        self.mlm_dense = nn.Linear(s.hidden, s.hidden)
        self.mlm_ln = nn.LayerNorm(s.hidden, eps=s.eps)
        self.mlm_bias = nn.Parameter(torch.zeros(s.vocab_size))
        self.reset_parameters(s.init_std)

    def reset_parameters(self, std: float) -> None:
        """N(0, std) for every weight matrix and embedding, zeros for biases, (1, 0) for layer norms.

        ``std`` is a finite positive number (BERT uses 0.02).
        """
        std = check_positive(std, "std")
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, std)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)
            if isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.zeros_(self.mlm_bias)

    def _check_inputs(self, ids: Any, segments: Any, attention_mask: Any) -> None:
        s = self.settings
        for name, t in (("ids", ids), ("segments", segments), ("attention_mask", attention_mask)):
            if t is None and name != "ids":
                continue
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
            if t.is_floating_point() or t.is_complex() or (name != "attention_mask" and t.dtype == torch.bool):
                kind = "an integer or boolean" if name == "attention_mask" else "an integer"
                raise TypeError(f"{name} must be {kind} tensor, got dtype {t.dtype}")
            if t.shape != ids.shape:
                raise ValueError(f"{name} must have the shape of ids {tuple(ids.shape)}, got {tuple(t.shape)}")
        if ids.dim() != 2:
            raise ValueError(f"ids must be (batch, length), got shape {tuple(ids.shape)}")
        if ids.shape[1] > s.max_length:
            raise ValueError(f"sequences of length {ids.shape[1]} exceed the position table ({s.max_length})")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= s.vocab_size):
            raise ValueError(f"token ids must be in [0, {s.vocab_size}), got {int(ids.min())}..{int(ids.max())}")
        if segments is not None and segments.numel() and (int(segments.min()) < 0
                                                          or int(segments.max()) >= s.segments):
            raise ValueError(f"segments must be in [0, {s.segments}), got {int(segments.min())}..{int(segments.max())}")
        if attention_mask is not None and attention_mask.numel():
            m = attention_mask.long()
            if int(m.min()) < 0 or int(m.max()) > 1:
                raise ValueError("attention_mask must hold 0 (padding) and 1 (token) only")
            if not bool((m.sum(1) > 0).all()):
                raise ValueError("attention_mask must keep at least one token in every sequence")

    def encode(self, ids: torch.Tensor, segments: torch.Tensor | None = None,
               attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states (B, L, hidden). ``attention_mask`` is 1 for real tokens, 0 for padding."""
        self._check_inputs(ids, segments, attention_mask)
        segments = torch.zeros_like(ids) if segments is None else segments.long()
        mask = torch.ones_like(ids) if attention_mask is None else attention_mask
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.ln(self.tokens(ids) + self.positions(pos) + self.segments(segments))
        keep = mask.bool()[:, None, None, :]
        for layer in self.layers:
            x = layer(x, keep)
        return x

    def forward(self, ids: torch.Tensor, segments: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encode(ids, segments, attention_mask)
        mlm = self.mlm_ln(F.gelu(self.mlm_dense(h))) @ self.tokens.weight.T + self.mlm_bias
        nsp = self.nsp(torch.tanh(self.pooler(h[:, 0])))
        return mlm, nsp


def to_huggingface(model: Bert) -> Any:
    """A ``transformers.BertForPreTraining`` built from a config (nothing downloaded) with our weights."""
    from transformers import BertConfig, BertForPreTraining

    if not isinstance(model, Bert):
        raise TypeError(f"model must be a troikadl Bert, got {type(model).__name__}")
    s = model.settings
    config = BertConfig(vocab_size=s.vocab_size, hidden_size=s.hidden, num_hidden_layers=s.layers,
                        num_attention_heads=s.heads, intermediate_size=s.intermediate, hidden_act="gelu",
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, max_position_embeddings=s.max_length,
                        type_vocab_size=s.segments, initializer_range=s.init_std, layer_norm_eps=s.eps)
    hf = BertForPreTraining(config).eval()
    ours = {
        "bert.embeddings.word_embeddings.weight": model.tokens.weight,
        "bert.embeddings.position_embeddings.weight": model.positions.weight,
        "bert.embeddings.token_type_embeddings.weight": model.segments.weight,
        "bert.embeddings.LayerNorm": model.ln, "bert.pooler.dense": model.pooler,
        "cls.seq_relationship": model.nsp, "cls.predictions.transform.dense": model.mlm_dense,
        "cls.predictions.transform.LayerNorm": model.mlm_ln,
    }
    for i, layer in enumerate(model.layers):
        p = f"bert.encoder.layer.{i}."
        ours.update({p + "attention.self.query": layer.q, p + "attention.self.key": layer.k,
                     p + "attention.self.value": layer.v, p + "attention.output.dense": layer.o,
                     p + "attention.output.LayerNorm": layer.ln1, p + "intermediate.dense": layer.up,
                     p + "output.dense": layer.down, p + "output.LayerNorm": layer.ln2})
    state = {}
    for name, src in ours.items():
        if isinstance(src, nn.Module):
            state[name + ".weight"], state[name + ".bias"] = src.weight, src.bias
        else:
            state[name] = src
    state["cls.predictions.bias"] = model.mlm_bias
    state["cls.predictions.decoder.weight"] = model.tokens.weight  # tied, as in BERT
    state["cls.predictions.decoder.bias"] = model.mlm_bias
    missing = set(hf.state_dict()) - set(state)
    if missing:
        raise RuntimeError(f"no weights for {sorted(missing)}")
    hf.load_state_dict({k: v.detach().clone() for k, v in state.items() if k in hf.state_dict()})
    return hf
