"""Our GPT's weights to and from Hugging Face's ``GPT2LMHeadModel`` (chapter 6).

The Hugging Face model is built from a ``GPT2Config`` (nothing downloaded): dropouts 0, ``"gelu_new"`` (the tanh
GELU), our layer-norm epsilon, tied embeddings. GPT-2 stores its linear layers as ``Conv1D`` with weights
(in, out), the transpose of ``nn.Linear``'s (out, in); its ``c_attn`` stacks the queries, keys and values as
our ``qkv`` does, so that one transpose maps it. :func:`gpt2_weight_map` is the whole map, as a table.
"""

from __future__ import annotations

from typing import Any

import torch

from ..validate import check_instance, check_int
from .gpt import GPT, GPTConfig

__all__ = ["gpt2_weight_map", "to_hf_gpt2", "from_hf_gpt2"]

_BLOCK = [("ln1.weight", "ln_1.weight", "copy"), ("ln1.bias", "ln_1.bias", "copy"),
          ("qkv.weight", "attn.c_attn.weight", "transpose"), ("qkv.bias", "attn.c_attn.bias", "copy"),
          ("proj.weight", "attn.c_proj.weight", "transpose"), ("proj.bias", "attn.c_proj.bias", "copy"),
          ("ln2.weight", "ln_2.weight", "copy"), ("ln2.bias", "ln_2.bias", "copy"),
          ("up.weight", "mlp.c_fc.weight", "transpose"), ("up.bias", "mlp.c_fc.bias", "copy"),
          ("down.weight", "mlp.c_proj.weight", "transpose"), ("down.bias", "mlp.c_proj.bias", "copy")]


def gpt2_weight_map(layers: int = 1) -> list[tuple[str, str, str]]:
    """Rows (our parameter, GPT-2's parameter, transform) for a pre-norm GPT of ``layers`` blocks (chapter 6).

    The transform is ``"copy"``, ``"transpose"`` (``nn.Linear`` (out, in) to ``Conv1D`` (in, out)) or ``"tied"``
    (GPT-2's output layer is the token embedding itself, as ours is).
    """
    layers = check_int(layers, "layers", min=1)
    rows = [("tokens.weight", "transformer.wte.weight", "copy"), ("positions.weight", "transformer.wpe.weight", "copy")]
    rows += [(f"blocks.{i}.{ours}", f"transformer.h.{i}.{hf}", how) for i in range(layers) for ours, hf, how in _BLOCK]
    return rows + [("ln_f.weight", "transformer.ln_f.weight", "copy"), ("ln_f.bias", "transformer.ln_f.bias", "copy"),
                   ("tokens.weight", "lm_head.weight", "tied")]


def _hf_config(c: GPTConfig) -> Any:
    from transformers import GPT2Config

    return GPT2Config(vocab_size=c.vocab_size, n_positions=c.n_positions, n_embd=c.d_model, n_layer=c.layers,
                      n_head=c.heads, n_inner=c.d_ff, activation_function="gelu_new", resid_pdrop=0.0,
                      embd_pdrop=0.0, attn_pdrop=0.0, layer_norm_epsilon=c.eps, bos_token_id=None, eos_token_id=None,
                      tie_word_embeddings=True)


def to_hf_gpt2(model: GPT) -> Any:
    """A ``transformers.GPT2LMHeadModel`` with ``model``'s weights, dtype and device, in eval mode (chapter 6).

    Built from a ``GPT2Config`` (no download). GPT-2 is pre-norm: a post-norm model (``norm_first=False``) has no
    GPT-2 equivalent and is refused with a ``ValueError``.
    """
    from transformers import GPT2LMHeadModel

    check_instance(model, "model", GPT, "a troikadl GPT")
    c = model.config
    if not c.norm_first:
        raise ValueError("model is post-norm (norm_first=False); GPT-2 is pre-norm (a LayerNorm before attention "
                         "and the MLP, and one after the last block), so it has no GPT-2 equivalent")
    weight = model.tokens.weight
    hf = GPT2LMHeadModel(_hf_config(c)).to(device=weight.device, dtype=weight.dtype).eval()
    ours = model.state_dict()
    state = {name: ours[src].T if how == "transpose" else ours[src] for src, name, how in gpt2_weight_map(c.layers)}
    missing = set(hf.state_dict()) - set(state)
    if missing:
        raise RuntimeError(f"no weights for {sorted(missing)}")
    hf.load_state_dict({k: v.detach().clone() for k, v in state.items()})
    return hf


def from_hf_gpt2(hf_model: Any) -> GPT:
    """Our :class:`GPT` with the weights, dtype and device of a ``transformers.GPT2LMHeadModel`` (chapter 6).

    Refuses, with a ``ValueError`` naming the option, configurations our model does not compute: another
    activation than the tanh GELU, unscaled or layer-scaled attention, cross-attention, untied output weights.
    """
    from transformers import GPT2LMHeadModel

    check_instance(hf_model, "hf_model", GPT2LMHeadModel, "a transformers GPT2LMHeadModel")
    h = hf_model.config
    wrong = {"activation_function": h.activation_function not in ("gelu_new", "gelu_pytorch_tanh"),
             "scale_attn_weights": not h.scale_attn_weights,
             "scale_attn_by_inverse_layer_idx": h.scale_attn_by_inverse_layer_idx,
             "add_cross_attention": h.add_cross_attention, "tie_word_embeddings": not h.tie_word_embeddings}
    bad = [k for k, v in wrong.items() if v]
    if bad:
        options = ", ".join(f"{k}={getattr(h, k)!r}" for k in bad)
        raise ValueError(f"hf_model's config sets {options}, which our GPT does not compute (it is GPT-2's tanh "
                         f"GELU, scaled attention, tied output, no cross-attention)")
    c = GPTConfig(h.vocab_size, h.n_positions, d_model=h.n_embd, heads=h.n_head, layers=h.n_layer,
                  d_ff=h.n_inner or 4 * h.n_embd, eps=float(h.layer_norm_epsilon))
    weight = hf_model.transformer.wte.weight
    model = GPT(c).to(device=weight.device, dtype=weight.dtype)
    theirs = hf_model.state_dict()
    with torch.no_grad():
        model.load_state_dict({src: theirs[name].T if how == "transpose" else theirs[name]
                               for src, name, how in gpt2_weight_map(c.layers) if how != "tied"})
    return model
