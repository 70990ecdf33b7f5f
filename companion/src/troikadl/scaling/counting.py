"""Counting a model's size: parameters and training FLOPs, from the model or from its configuration (chapter 12).

A transformer's parameter count follows from a handful of numbers in its configuration: the vocabulary ``V``,
the width ``d``, the MLP width ``f``, the depth ``L`` and, for the position table, the context ``P``. One
block of our decoder (chapter 6), of GPT-2 and of BERT holds ``4 d^2 + 4 d`` in attention (queries, keys,
values and the output projection, with biases), ``2 d f + f + d`` in its MLP and ``4 d`` in two layer norms;
a Llama-style block has no biases, three MLP matrices (SwiGLU) and two RMSNorm vectors, and with grouped-query
attention fewer key and value heads than query heads. :func:`parameter_breakdown` writes these formulas out;
the tests check them, to the parameter, against the models built from the same configurations on PyTorch's
``meta`` device (:func:`build_on_meta`): the tensors have shapes but no memory, so a 7-billion-parameter model
is "built" in a second on a laptop and nothing is downloaded.

:func:`reference_models` holds the configurations of real models with their published sizes, which do not
always agree with the count (GPT-2's paper lists 117M for a model of 124M parameters).

Compute: a forward pass costs about 2 FLOPs (a multiply and an add) per parameter per token, the backward
pass twice that (the gradients of the inputs and of the weights), so training costs ``6 N D`` FLOPs for ``N``
parameters and ``D`` tokens (Kaplan et al. 2020, arXiv 2001.08361, Table 1): :func:`training_flops`,
:func:`forward_flops_per_token`.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any, NamedTuple

from ..transformer.gpt import GPT, GPTConfig
from ..validate import check_bool, check_instance, check_int, check_positive

__all__ = ["count_parameters", "parameter_breakdown", "analytic_parameters", "build_on_meta", "meta_parameters",
           "Reference", "reference_models", "training_flops", "forward_flops_per_token"]

_CONFIGS = "a troikadl GPTConfig or a transformers GPT2Config, BertConfig or LlamaConfig"


def count_parameters(model: Any, *, non_embedding: bool = False) -> int:
    """The number of parameters of the torch module ``model``; a tensor shared by two layers counts once.

    An output layer tied to the token embedding (GPT-2, our GPT) is the same tensor: it adds nothing.
    ``non_embedding=True`` leaves out the tables of the ``torch.nn.Embedding`` modules (tokens, learned
    positions, BERT's segments): Kaplan et al.'s ``N``. An untied output layer is a ``Linear`` and stays in.
    Works on the ``meta`` device, where tensors have a shape but no values.
    """
    import torch

    check_instance(model, "model", torch.nn.Module, "a torch.nn.Module")
    non_embedding = check_bool(non_embedding, "non_embedding")
    skip = {id(p) for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()}
    return sum(p.numel() for p in model.parameters() if not (non_embedding and id(p) in skip))


def _hf(config: Any) -> str:
    """The family of ``config``: "gpt", "gpt2", "bert" or "llama"; TypeError for anything else."""
    if isinstance(config, GPTConfig):
        return "gpt"
    import transformers

    kinds = {transformers.GPT2Config: "gpt2", transformers.BertConfig: "bert", transformers.LlamaConfig: "llama"}
    check_instance(config, "config", tuple(kinds), _CONFIGS)
    if getattr(config, "add_cross_attention", False):
        raise ValueError("config: models with cross-attention (add_cross_attention=True) are not counted here")
    return next(kind for cls, kind in kinds.items() if isinstance(config, cls))


def _sizes(config: Any, **fields: str) -> dict[str, int]:
    """The configuration's sizes named by ``fields`` (our name -> attribute), each checked to be an int >= 1."""
    return {ours: check_int(getattr(config, attr), f"config.{attr}", min=1) for ours, attr in fields.items()}


def parameter_breakdown(config: Any) -> dict[str, int]:
    """Where the parameters of the model that ``config`` describes are, counted from its sizes alone.

    ``config`` is our :class:`~troikadl.transformer.GPTConfig` (the model :class:`~troikadl.transformer.GPT`),
    or a Hugging Face ``GPT2Config`` (``GPT2LMHeadModel``), ``BertConfig`` (``BertModel`` with its pooler)
    or ``LlamaConfig`` (``LlamaForCausalLM``). Returns a dict of ints: ``embedding`` (the ``nn.Embedding``
    tables), ``per_block`` and ``blocks`` (``layers * per_block``), ``head`` (an untied output layer, else 0),
    ``other`` (final norm, BERT's embedding norm and pooler) and ``total``.
    """
    kind = _hf(config)
    if kind == "gpt":
        s = dict(V=config.vocab_size, P=config.n_positions, d=config.d_model, f=config.d_ff, L=config.layers)
    elif kind == "gpt2":
        s = _sizes(config, V="vocab_size", P="n_positions", d="n_embd", L="n_layer")
        s["f"] = 4 * s["d"] if config.n_inner is None else check_int(config.n_inner, "config.n_inner", min=1)
    elif kind == "bert":
        s = _sizes(config, V="vocab_size", P="max_position_embeddings", T="type_vocab_size", d="hidden_size",
                   f="intermediate_size", L="num_hidden_layers")
    else:
        s = _sizes(config, V="vocab_size", d="hidden_size", f="intermediate_size", L="num_hidden_layers",
                   h="num_attention_heads", kv="num_key_value_heads", hd="head_dim")
    V, d, f, L = s["V"], s["d"], s["f"], s["L"]
    if kind == "llama":  # no biases unless asked; grouped-query attention: kv key/value heads of hd each
        q, kv = s["h"] * s["hd"], s["kv"] * s["hd"]
        attention = 2 * d * q + 2 * d * kv + (q + 2 * kv + d if config.attention_bias else 0)
        mlp = 3 * d * f + (2 * f + d if config.mlp_bias else 0)  # SwiGLU: gate, up, down
        per_block, embedding, other = attention + mlp + 2 * d, V * d, d  # two RMSNorm weights; the final norm
        head = 0 if config.tie_word_embeddings else V * d
    else:  # attention 4 d^2 + 4 d; MLP 2 d f + f + d; two LayerNorms 4 d
        per_block, head = 4 * d * d + 2 * d * f + 9 * d + f, 0
        if kind == "bert":
            embedding, other = (V + s["P"] + s["T"]) * d, 2 * d + d * d + d  # embedding LayerNorm; pooler
        else:
            embedding = (V + s["P"]) * d
            other = 2 * d if kind == "gpt2" or config.norm_first else 0  # post-norm GPT has no final LayerNorm
            head = V * d if kind == "gpt2" and not config.tie_word_embeddings else 0
    blocks = L * per_block
    return dict(embedding=embedding, per_block=per_block, blocks=blocks, head=head, other=other,
                total=embedding + blocks + head + other)


def analytic_parameters(config: Any, *, non_embedding: bool = False) -> int:
    """The parameter count of the model that ``config`` describes (see :func:`parameter_breakdown`).

    ``non_embedding=True`` leaves out the embedding tables, as :func:`count_parameters` does.
    """
    parts = parameter_breakdown(config)
    return parts["total"] - (parts["embedding"] if check_bool(non_embedding, "non_embedding") else 0)


def build_on_meta(config: Any) -> Any:
    """The model that ``config`` describes, built on PyTorch's ``meta`` device: shapes, no memory, no download.

    :class:`~troikadl.transformer.GPT` for a ``GPTConfig``; ``transformers.GPT2LMHeadModel``, ``BertModel``
    or ``LlamaForCausalLM`` for a ``GPT2Config``, ``BertConfig`` or ``LlamaConfig``.
    """
    import torch

    kind = _hf(config)
    parameter_breakdown(config)  # checks the sizes first: a zero width names config.n_embd, not a ZeroDivisionError
    if kind != "gpt":
        import transformers

        cls = dict(gpt2=transformers.GPT2LMHeadModel, bert=transformers.BertModel,
                   llama=transformers.LlamaForCausalLM)[kind]
    with torch.device("meta"):
        return GPT(config) if kind == "gpt" else cls(config)


def meta_parameters(config: Any, *, non_embedding: bool = False) -> int:
    """:func:`count_parameters` of :func:`build_on_meta` ``(config)``: the framework's own count."""
    non_embedding = check_bool(non_embedding, "non_embedding")
    return count_parameters(build_on_meta(config), non_embedding=non_embedding)


class Reference(NamedTuple):
    """A real model: its configuration, the size its authors published and where (a key of the bibliography)."""

    config: Any
    published: int
    source: str
    where: str


def reference_models() -> dict[str, Reference]:
    """The real architectures chapter 12 counts, by name, built from configurations with published sizes.

    BERT-base and BERT-large (Devlin et al. 2019, section 3: 110M and 340M), the four GPT-2 models
    (Radford et al. 2019, Table 2: 117M, 345M, 762M, 1542M) and Llama 2 7B (Touvron et al. 2023,
    arXiv 2307.09288, Table 1: 7B; width 4096, 32 layers and heads as Llama 1's 6.7B, arXiv 2302.13971,
    Table 2; MLP width 11008, about 2/3 of 4 d rounded up to a multiple of 256; 32000 tokens; untied output).
    """
    import transformers

    bert = lambda d, L, h: transformers.BertConfig(  # noqa: E731
        vocab_size=30522, hidden_size=d, num_hidden_layers=L, num_attention_heads=h, intermediate_size=4 * d,
        max_position_embeddings=512, type_vocab_size=2)
    gpt2 = lambda d, L, h: transformers.GPT2Config(  # noqa: E731
        vocab_size=50257, n_positions=1024, n_embd=d, n_layer=L, n_head=h)
    llama = transformers.LlamaConfig(
        vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
        num_key_value_heads=32, max_position_embeddings=4096, rms_norm_eps=1e-5, tie_word_embeddings=False)
    radford = "radford2019language", "Table 2"
    return {
        "BERT-base": Reference(bert(768, 12, 12), 110_000_000, "devlin2019bert", "section 3"),
        "BERT-large": Reference(bert(1024, 24, 16), 340_000_000, "devlin2019bert", "section 3"),
        "GPT-2 small": Reference(gpt2(768, 12, 12), 117_000_000, *radford),
        "GPT-2 medium": Reference(gpt2(1024, 24, 16), 345_000_000, *radford),
        "GPT-2 large": Reference(gpt2(1280, 36, 20), 762_000_000, *radford),
        "GPT-2 XL": Reference(gpt2(1600, 48, 25), 1_542_000_000, *radford),
        "Llama-2-7B": Reference(llama, 7_000_000_000, "touvron2023llama2", "Table 1"),
    }


def _amount(value: Any, name: str) -> int | float:
    """A positive count (an int, or a float such as 3e11 for a large one)."""
    integer = isinstance(value, Integral) and not isinstance(value, bool)
    return check_positive(value, name, integer=integer)


def training_flops(n_params: Any, n_tokens: Any) -> int | float:
    """``6 N D``: the FLOPs of training ``n_params`` parameters on ``n_tokens`` tokens (Kaplan et al. 2020).

    2 per parameter and token in the forward pass (one multiply-add per weight), 4 in the backward pass (the
    gradient with respect to the layer's input and the one with respect to its weights). The attention's
    context term (see :func:`forward_flops_per_token`) is left out. An int if both arguments are ints.
    """
    return 6 * _amount(n_params, "n_params") * _amount(n_tokens, "n_tokens")


def forward_flops_per_token(config: Any, *, n_ctx: int | None = None, output_layer: bool = False) -> int:
    """Kaplan et al.'s forward FLOPs per token of a GPT-style decoder: ``2 N + 2 L n_ctx d``.

    ``config`` is our ``GPTConfig`` or a ``GPT2Config``; ``N`` is the non-embedding parameter count, ``L``
    the depth, ``d`` the width (``d_attn = d_model``), ``n_ctx`` the context (default: the model's). As in
    their Table 1, the output layer (``2 d V``, the "de-embedding") is left out unless ``output_layer=True``
    (an untied output layer is in ``N`` already). ``2 N`` also counts 2 FLOPs for each bias and norm weight,
    which do no multiply-add. The context term is one attention product over ``n_ctx`` positions; a dense
    implementation such as ours computes both, ``q k^T`` and ``weights v``, in full: ``4 L n_ctx d``.
    """
    kind = _hf(config)
    if kind not in ("gpt", "gpt2"):
        raise TypeError(f"config must be a GPTConfig or GPT2Config (a GPT-style decoder), got "
                        f"{type(config).__name__}")
    output_layer = check_bool(output_layer, "output_layer")
    L, d, V, P = ((config.layers, config.d_model, config.vocab_size, config.n_positions) if kind == "gpt" else
                  (config.n_layer, config.n_embd, config.vocab_size, config.n_positions))
    n_ctx = P if n_ctx is None else check_int(n_ctx, "n_ctx", min=1)
    flops = 2 * analytic_parameters(config, non_embedding=True) + 2 * L * n_ctx * d
    return flops + (2 * d * V if output_layer else 0)
