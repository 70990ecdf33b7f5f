"""The GPT-style decoder (chapter 6) against Hugging Face's GPT2LMHeadModel and PyTorch's own layers.

Expected values come from outside the code under test: ``transformers.GPT2LMHeadModel`` built from a config
(both directions of the weight map), ``nn.TransformerEncoderLayer`` with a causal mask for one block (pre- and
post-norm), ``F.scaled_dot_product_attention`` for the attention, the full forward pass for the KV cache, and
cross-entropies and pair counts written here for the language-model helpers (windows without carried state,
the bigram baseline).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from troikadl import language_model as lm
from troikadl.transformer import GPT, GPTConfig, from_hf_gpt2, gpt2_weight_map, to_hf_gpt2
from troikadl.transformer.gpt import causal_self_attention

TOL32, TOL64 = 1e-5, 1e-10

configs = st.builds(lambda v, n, dh, h, L, ff, eps: GPTConfig(v, n, d_model=dh * h, heads=h, layers=L, d_ff=ff,
                                                              eps=eps),
                    st.integers(2, 20), st.integers(4, 12), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3),
                    st.sampled_from([None, 7, 16]), st.sampled_from([1e-5, 1e-3]))


def _model(config, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    model = GPT(config).to(dtype)
    with torch.no_grad():  # random LayerNorm gains and biases, so that a swapped or dropped one shows
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_(torch.randn_like(p) * 0.3 + (1.0 if name.endswith(("ln1.weight", "ln2.weight", "ln_f.weight"))
                                                    else 0.0))
    return model.eval()


def _ids(config, batch=2, length=None, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, config.vocab_size, (batch, length or config.n_positions), generator=g)


# --- equal to Hugging Face's GPT-2 ------------------------------------------------------------------------------

@settings(max_examples=8, deadline=None)
@given(config=configs, seed=st.integers(0, 100))
def test_logits_equal_hugging_face_gpt2_in_float32_and_float64(config, seed):
    for dtype, tol in ((torch.float32, TOL32), (torch.float64, TOL64)):
        model = _model(config, seed, dtype)
        hf = to_hf_gpt2(model)
        ids = _ids(config, seed=seed)
        assert hf.dtype == dtype
        with torch.no_grad():
            ours, theirs = model(ids)[0], hf(ids).logits
        assert ours.dtype == dtype and ours.shape == (2, config.n_positions, config.vocab_size)
        assert (ours - theirs).abs().max().item() <= tol


@settings(max_examples=5, deadline=None)
@given(config=configs, seed=st.integers(0, 100))
def test_from_hf_reads_a_gpt2_initialised_by_hugging_face(config, seed):
    from transformers import GPT2LMHeadModel

    from troikadl.transformer.hf import _hf_config

    torch.manual_seed(seed)
    hf = GPT2LMHeadModel(_hf_config(config)).double().eval()
    with torch.no_grad():  # HF starts LayerNorms at (1, 0) and biases at 0: randomize them too
        for name, p in hf.named_parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.3)
    model = from_hf_gpt2(hf).eval()
    assert model.config == config and next(model.parameters()).dtype == torch.float64
    ids = _ids(config, seed=seed)
    with torch.no_grad():
        assert (model(ids)[0] - hf(ids).logits).abs().max().item() <= TOL64


def test_weight_map_names_every_parameter_once():
    config = GPTConfig(7, 5, d_model=8, heads=2, layers=3)
    rows = gpt2_weight_map(3)
    ours = [r[0] for r in rows if r[2] != "tied"]
    assert sorted(ours) == sorted(name for name, _ in GPT(config).named_parameters())
    assert sorted(r[1] for r in rows) == sorted(to_hf_gpt2(GPT(config)).state_dict())
    assert {r[2] for r in rows} == {"copy", "transpose", "tied"}


def test_post_norm_and_unsupported_hf_configs_are_refused():
    with pytest.raises(ValueError, match="post-norm.*GPT-2 is pre-norm"):
        to_hf_gpt2(GPT(GPTConfig(7, 5, d_model=8, heads=2, norm_first=False)))
    from transformers import GPT2LMHeadModel

    from troikadl.transformer.hf import _hf_config

    for option, value in (("activation_function", "relu"), ("scale_attn_by_inverse_layer_idx", True),
                          ("scale_attn_weights", False)):
        cfg = _hf_config(GPTConfig(7, 5, d_model=8, heads=2))
        setattr(cfg, option, value)
        with pytest.raises(ValueError, match=option):
            from_hf_gpt2(GPT2LMHeadModel(cfg))
    with pytest.raises(TypeError, match="hf_model"):
        from_hf_gpt2(GPT(GPTConfig(7, 5, d_model=8, heads=2)))


# --- one block, the attention, causality ---------------------------------------------------------------------

@pytest.mark.parametrize("norm_first", [True, False])
def test_a_block_equals_torch_encoder_layer_with_a_causal_mask(norm_first):
    """Pre-norm and post-norm blocks against nn.TransformerEncoderLayer (same norm_first, tanh GELU)."""
    config = GPTConfig(7, 9, d_model=12, heads=3, layers=1, d_ff=20, norm_first=norm_first, eps=1e-3)
    block = _model(config).blocks[0]
    torch.manual_seed(5)
    ref = nn.TransformerEncoderLayer(12, 3, 20, dropout=0.0, activation=lambda x: F.gelu(x, approximate="tanh"),
                                     batch_first=True, norm_first=norm_first, layer_norm_eps=1e-3).double().eval()
    with torch.no_grad():
        attn = ref.self_attn
        for theirs, ours in ((attn.in_proj_weight, block.qkv.weight), (attn.in_proj_bias, block.qkv.bias),
                             (attn.out_proj.weight, block.proj.weight), (attn.out_proj.bias, block.proj.bias),
                             (ref.linear1.weight, block.up.weight), (ref.linear1.bias, block.up.bias),
                             (ref.linear2.weight, block.down.weight), (ref.linear2.bias, block.down.bias),
                             (ref.norm1.weight, block.ln1.weight), (ref.norm1.bias, block.ln1.bias),
                             (ref.norm2.weight, block.ln2.weight), (ref.norm2.bias, block.ln2.bias)):
            theirs.copy_(ours)
        x = torch.randn(3, 9, 12, dtype=torch.float64)
        masked = torch.ones(9, 9, dtype=torch.bool).triu(1)  # torch's convention: True = may not attend
        expected = ref(x, src_mask=masked)
        assert (block(x)[0] - expected).abs().max().item() <= TOL64


@pytest.mark.parametrize("past", [0, 1, 5])
def test_attention_equals_torch_sdpa(past):
    g = torch.Generator().manual_seed(past)
    q = torch.randn(2, 3, 4, 5, generator=g, dtype=torch.float64)
    k, v = (torch.randn(2, 3, past + 4, 5, generator=g, dtype=torch.float64) for _ in range(2))
    allowed = torch.ones(4, past + 4, dtype=torch.bool).tril(past)  # query i sits at position past + i
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    out, weights = causal_self_attention(q, k, v)
    assert (out - expected).abs().max().item() <= TOL64
    assert torch.all(weights[..., ~allowed] == 0) and torch.allclose(weights.sum(-1), torch.ones(2, 3, 4).double())
    if past == 0:
        assert (out - F.scaled_dot_product_attention(q, k, v, is_causal=True)).abs().max().item() <= TOL64


@pytest.mark.parametrize("norm_first", [True, False])
def test_changing_a_later_token_leaves_earlier_logits_unchanged(norm_first):
    config = GPTConfig(11, 10, d_model=8, heads=2, layers=2, norm_first=norm_first)
    model, ids = _model(config), _ids(config)
    changed = ids.clone()
    changed[:, 6] = (changed[:, 6] + 1) % 11
    with torch.no_grad():
        a, b = model(ids)[0], model(changed)[0]
    assert (a[:, :6] - b[:, :6]).abs().max().item() <= TOL64
    assert (a[:, 6:] - b[:, 6:]).abs().max().item() > 1e-6  # the change does reach the later positions


def test_attention_maps_equal_hugging_face_attentions():
    config = GPTConfig(11, 8, d_model=8, heads=2, layers=2)
    model, ids = _model(config), _ids(config)
    hf = to_hf_gpt2(model)
    hf.config._attn_implementation = "eager"  # the path that returns the weights
    with torch.no_grad():
        theirs = hf(ids, output_attentions=True).attentions
    ours = model.attention_maps(ids)
    assert len(ours) == 2 and all((a - b).abs().max().item() <= TOL64 for a, b in zip(ours, theirs))


# --- the KV cache ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("chunks", [[1] * 9, [4, 1, 1, 3], [2, 7]])
def test_cached_steps_equal_the_full_forward(norm_first, chunks):
    config = GPTConfig(11, 9, d_model=12, heads=3, layers=2, norm_first=norm_first)
    model, ids = _model(config), _ids(config)
    with torch.no_grad():
        full, full_cache = model(ids)
        outs, cache, t = [], None, 0
        for n in chunks:
            logits, cache = model(ids[:, t:t + n], cache)
            outs.append(logits)
            t += n
    assert (torch.cat(outs, 1) - full).abs().max().item() <= TOL64
    assert all(k.shape == (2, 3, 9, 4) and torch.allclose(k, fk) and torch.allclose(v, fv)
               for (k, v), (fk, fv) in zip(cache, full_cache))


def test_bad_ids_and_caches_name_the_argument():
    config = GPTConfig(11, 6, d_model=8, heads=2, layers=2)
    model = _model(config)
    ids = _ids(config, length=4)
    with pytest.raises(TypeError, match="ids"):
        model(ids.double())
    for bad in (ids[0], ids[:, :0], ids + 11, ids - 1):
        with pytest.raises(ValueError, match="ids"):
            model(bad)
    with pytest.raises(ValueError, match="n_positions"):
        model(_ids(config, length=7))
    _, cache = model(ids)
    with pytest.raises(ValueError, match="exceed the context n_positions = 6"):
        model(ids[:, :3], cache)  # 4 cached + 3 new > 6
    for bad in (cache[:1], [(k, v[:, :1]) for k, v in cache], [(k[:1], v[:1]) for k, v in cache], "cache",
                [None, None]):
        with pytest.raises(ValueError, match="cache"):
            model(ids[:, :1], bad)
    for kwargs, name in ((dict(d_model=10, heads=3), "heads"), (dict(d_ff=0), "d_ff"), (dict(eps=0.0), "eps"),
                         (dict(norm_first="yes"), "norm_first"), (dict(layers=2.0), "layers")):
        with pytest.raises((TypeError, ValueError), match=name):
            GPTConfig(11, 6, **{"d_model": 8, "heads": 2, **kwargs})
    assert GPTConfig(11, 6, d_model=8, heads=2).d_ff == 32


# --- language-model plumbing: windows without carried state, the bigram baseline --------------------------------

def test_perplexity_without_carried_state_scores_each_window_from_scratch():
    config = GPTConfig(12, 8, d_model=8, heads=2, layers=1)
    model = _model(config)
    ids = torch.as_tensor(np.random.default_rng(3).integers(0, 12, 60))
    batch_size, bptt, L, total = 3, 8, 59 // 3, 0.0
    with torch.no_grad():
        starts = [(b * L + t, min(t + bptt, L) - t) for b in range(3) for t in range(0, L, bptt)]
        starts += [(t, min(bptt, 59 - t)) for t in range(3 * L, 59, bptt)]  # the tail, windows of at most bptt
        for s, n in starts:
            total += F.cross_entropy(model(ids[None, s:s + n])[0][0], ids[s + 1:s + 1 + n], reduction="sum").item()
    got = lm.perplexity(model, ids, batch_size=batch_size, bptt=bptt, carry_state=False)
    assert got == pytest.approx(math.exp(total / 59), rel=TOL64)
    with pytest.raises(ValueError, match="carry_state"):
        lm.perplexity(model, ids)
    with pytest.raises(ValueError, match="bptt"):
        lm.perplexity(model, ids, bptt=9, carry_state=False)


def test_train_lm_drives_a_gpt_and_lowers_its_loss():
    text = "abcabd" * 40
    vocab = lm.CharVocab.from_text(text)
    ids = vocab.encode(text)
    torch.manual_seed(0)
    model = GPT(GPTConfig(len(vocab), 16, d_model=16, heads=2, layers=1))
    before = lm.perplexity(model, ids, bptt=16, carry_state=False)
    history = lm.train_lm(model, ids, steps=60, batch_size=4, bptt=16, lr=3e-2, carry_state=False)
    assert len(history["loss"]) == 60
    assert lm.perplexity(model, ids, bptt=16, carry_state=False) < 0.5 * before
    with pytest.raises(ValueError, match="carry_state"):
        lm.train_lm(model, ids, steps=1, bptt=16)
    with pytest.raises(ValueError, match="bptt"):
        lm.train_lm(model, ids, steps=1, bptt=17, carry_state=False)


def test_train_lm_follows_the_schedule():
    ids = torch.as_tensor(np.random.default_rng(2).integers(0, 12, 80))
    torch.manual_seed(0)
    model = GPT(GPTConfig(12, 8, d_model=8, heads=2, layers=1))
    before = [p.detach().clone() for p in model.parameters()]
    asked = []
    lm.train_lm(model, ids, steps=5, batch_size=2, bptt=8, lr=0.1, carry_state=False,
                schedule=lambda t: asked.append(t) or 0.0)
    assert asked == [0, 1, 2, 3, 4]
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters()))  # a zero learning rate: no move
    with pytest.raises(TypeError, match="schedule"):
        lm.train_lm(model, ids, steps=1, bptt=8, carry_state=False, schedule=0.1)


def test_bigram_perplexity_by_hand():
    train = np.array([1, 2, 1, 2, 1, 3, 0])
    ids = np.array([1, 2, 3, 1, 4])
    V = 5
    counts = np.ones((V, V))
    for a, b in zip(train[:-1], train[1:]):
        counts[a, b] += 1
    p = counts / counts.sum(1, keepdims=True)
    expected = np.exp(-np.mean([np.log(p[a, b]) for a, b in zip(ids[:-1], ids[1:])]))
    assert lm.bigram_perplexity(torch.as_tensor(train), ids, V) == pytest.approx(expected, rel=1e-12)
    assert lm.bigram_perplexity(np.array([4, 4]), np.array([0, 1, 2]), V) == pytest.approx(V, rel=1e-12)  # unseen
    with pytest.raises(ValueError, match="ids"):
        lm.bigram_perplexity(train, np.array([1]), V)
    with pytest.raises(ValueError, match="train_ids"):
        lm.bigram_perplexity(np.array([1]), ids, V)


def test_bigram_beats_unigram_on_english():
    text = ("The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs. " * 5
            + "How vexingly quick daft zebras jump. Sphinx of black quartz, judge my vow. " * 5)
    vocab = lm.CharVocab.from_text(text)
    train, val = vocab.encode(text[:600]), vocab.encode(text[600:])
    assert lm.bigram_perplexity(train, val, len(vocab)) < 0.7 * lm.unigram_perplexity(train, val, len(vocab))
