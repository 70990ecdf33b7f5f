"""Parameter and FLOP counts (chapter 12) against the models PyTorch and Hugging Face build from the same configs."""

from __future__ import annotations

import time

import pytest
import torch
import transformers
from torch.utils.flop_counter import FlopCounterMode

from troikadl.scaling.counting import (analytic_parameters, build_on_meta, count_parameters, forward_flops_per_token,
                                       meta_parameters, parameter_breakdown, reference_models, training_flops)
from troikadl.transformer import GPT, GPTConfig


def test_count_parameters_counts_shared_tensors_once_and_skips_embeddings_on_request():
    shared = torch.nn.Linear(5, 5)
    model = torch.nn.Sequential(torch.nn.Embedding(7, 5), shared, torch.nn.ReLU(), shared, torch.nn.Linear(5, 3))
    assert count_parameters(model) == 7 * 5 + (25 + 5) + (15 + 3)
    assert count_parameters(model, non_embedding=True) == (25 + 5) + (15 + 3)
    gpt = GPT(GPTConfig(vocab_size=11, n_positions=6, d_model=8, heads=2, layers=1))  # output layer tied: no extra
    blocks = 4 * 8 * 8 + 2 * 8 * 32 + 9 * 8 + 32
    assert count_parameters(gpt) == (11 + 6) * 8 + blocks + 2 * 8
    assert count_parameters(gpt, non_embedding=True) == blocks + 2 * 8


GPT_CONFIGS = [GPTConfig(vocab_size=50, n_positions=16), GPTConfig(vocab_size=37, n_positions=9, d_model=24, heads=3,
                                                                   layers=3, d_ff=40, norm_first=False)]
HF_CONFIGS = [
    transformers.GPT2Config(vocab_size=61, n_positions=20, n_embd=24, n_layer=2, n_head=4),
    transformers.GPT2Config(vocab_size=61, n_positions=20, n_embd=24, n_layer=3, n_head=4, n_inner=40,
                            tie_word_embeddings=False),
    transformers.BertConfig(vocab_size=70, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=48, max_position_embeddings=24, type_vocab_size=3),
    transformers.LlamaConfig(vocab_size=90, hidden_size=32, intermediate_size=56, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=4),
    transformers.LlamaConfig(vocab_size=90, hidden_size=32, intermediate_size=56, num_hidden_layers=3,  # grouped
                             num_attention_heads=8, num_key_value_heads=2, head_dim=6, attention_bias=True,
                             mlp_bias=True, tie_word_embeddings=True),
]


@pytest.mark.parametrize("config", GPT_CONFIGS + HF_CONFIGS, ids=lambda c: type(c).__name__)
def test_the_formulas_equal_the_models_built_on_the_meta_device(config):
    model = build_on_meta(config)
    assert next(model.parameters()).device.type == "meta"
    parts = parameter_breakdown(config)
    assert parts["total"] == parts["embedding"] + parts["blocks"] + parts["head"] + parts["other"]
    assert analytic_parameters(config) == count_parameters(model)
    assert analytic_parameters(config, non_embedding=True) == count_parameters(model, non_embedding=True)
    layers = getattr(model, "blocks", None) or getattr(getattr(model, "transformer", None), "h", None) or \
        getattr(getattr(model, "encoder", None), "layer", None) or model.model.layers
    assert parts["per_block"] == count_parameters(layers[0])  # the formula of one block, not only the sum


def test_the_reference_models_their_counts_and_their_published_sizes():
    refs = reference_models()
    assert list(refs) == ["BERT-base", "BERT-large", "GPT-2 small", "GPT-2 medium", "GPT-2 large", "GPT-2 XL",
                          "Llama-2-7B"]
    counts = {}
    for name, ref in refs.items():
        start = time.perf_counter()
        model = build_on_meta(ref.config)
        seconds = time.perf_counter() - start
        counts[name] = count_parameters(model)
        assert counts[name] == analytic_parameters(ref.config), name
        assert count_parameters(model, non_embedding=True) == analytic_parameters(ref.config, non_embedding=True)
        assert seconds < 20, f"{name} took {seconds:.1f} s to build on the meta device"
        assert abs(counts[name] / ref.published - 1) < 0.07, name  # published sizes are rounded, or differ
        assert ref.source in ("devlin2019bert", "radford2019language", "touvron2023llama2") and ref.where
    assert counts["BERT-base"] == 109_482_240 and counts["GPT-2 small"] == 124_439_808  # as HF's model cards
    assert counts["GPT-2 XL"] == 1_557_611_200 and counts["Llama-2-7B"] == 6_738_415_616
    assert all(counts[f"GPT-2 {s}"] > refs[f"GPT-2 {s}"].published for s in ("small", "medium", "large", "XL"))


def _flops(model, ids, backward=False):
    counter = FlopCounterMode(display=False)
    with counter:
        logits = model(ids)[0]
        if backward:
            logits.sum().backward()
    return counter.get_total_flops()


@pytest.mark.parametrize("norm_first", [True, False])
def test_forward_flops_are_two_per_weight_plus_attention_and_backward_doubles_them(norm_first):
    c = GPTConfig(vocab_size=64, n_positions=16, d_model=128, heads=4, layers=2, norm_first=norm_first)
    torch.manual_seed(0)
    model, (B, T) = GPT(c), (2, 16)
    ids = torch.randint(0, c.vocab_size, (B, T))
    weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    forward = _flops(model, ids)
    # exactly: one multiply-add per weight and token, q k^T and weights v (T x T x d each), the tied output layer
    assert forward == 2 * B * T * weights + 4 * B * c.layers * T * T * c.d_model + 2 * B * T * c.d_model * c.vocab_size
    # Kaplan et al.'s count: 2 N (N with biases and norms) + one attention product; ours computes two
    no_matmul = count_parameters(model, non_embedding=True) - weights
    kaplan = forward_flops_per_token(c, n_ctx=T, output_layer=True)
    assert forward == B * T * (kaplan - 2 * no_matmul + 2 * c.layers * T * c.d_model)
    assert _flops(model, ids, backward=True) == 3 * forward  # input and weight gradients: twice the forward
    six_nd = training_flops(count_parameters(model, non_embedding=True), B * T)
    assert 1 <= 3 * forward / six_nd < 1.06  # 6 N D leaves out the attention and the output layer: a few %


def test_forward_flops_per_token_by_hand_and_for_gpt2():
    c = GPTConfig(vocab_size=100, n_positions=32, d_model=16, heads=2, layers=3)
    n = 3 * (12 * 16 * 16 + 13 * 16) + 2 * 16
    assert forward_flops_per_token(c) == 2 * n + 2 * 3 * 32 * 16
    assert forward_flops_per_token(c, n_ctx=8, output_layer=True) == 2 * n + 2 * 3 * 8 * 16 + 2 * 16 * 100
    small = reference_models()["GPT-2 small"].config
    assert forward_flops_per_token(small) == 2 * 85_056_000 + 2 * 12 * 1024 * 768


def test_training_flops():
    assert training_flops(10, 7) == 420 and isinstance(training_flops(10, 7), int)
    assert training_flops(70e9, 1.4e12) == pytest.approx(5.88e23)
    assert training_flops(6_738_415_616, 2_000_000_000_000) == 6 * 6_738_415_616 * 2_000_000_000_000  # exact


def test_bad_input():
    with pytest.raises(TypeError, match="model"):
        count_parameters("gpt2")
    with pytest.raises(TypeError, match="config"):
        analytic_parameters({"n_embd": 768})
    with pytest.raises(ValueError, match="config.n_embd"):
        analytic_parameters(transformers.GPT2Config(n_embd=0))
    with pytest.raises(ValueError, match="cross-attention"):
        meta_parameters(transformers.GPT2Config(n_layer=1, add_cross_attention=True))
    with pytest.raises(TypeError, match="config"):
        forward_flops_per_token(transformers.BertConfig())
    with pytest.raises(ValueError, match="n_ctx"):
        forward_flops_per_token(GPT_CONFIGS[0], n_ctx=0)
    with pytest.raises(ValueError, match="n_params"):
        training_flops(-1, 10)
    with pytest.raises(TypeError, match="n_tokens"):
        training_flops(10, "1e9")
    with pytest.raises(TypeError, match="non_embedding"):
        count_parameters(torch.nn.Linear(2, 2), non_embedding="yes")
