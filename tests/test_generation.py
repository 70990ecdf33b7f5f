"""Decoding (chapter 6): top-k and top-p filters checked equal to Hugging Face's warpers; ``generate`` checked
equal to ``GPT2LMHeadModel.generate`` (greedy), cached equal to uncached, reproducible, and drawing with the
frequencies of softmax(logits / T); ``kv_cache_bytes`` equal to the bytes of a real cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper

from troikadl.transformer import GPT, GPTConfig, generate, kv_cache_bytes, top_k_filter, top_p_filter

INF = float("inf")


def _logits(seed, batch, vocab, dtype, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(batch, vocab, generator=g, dtype=torch.float64)).to(dtype)


def _same_filter(ours, theirs):
    assert torch.equal(torch.isinf(ours), torch.isinf(theirs))
    assert torch.equal(ours[~torch.isinf(ours)], theirs[~torch.isinf(theirs)])  # kept logits untouched


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), batch=st.integers(1, 4), vocab=st.integers(1, 40), k=st.integers(1, 45),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_top_k_equals_hugging_face(seed, batch, vocab, k, dtype):
    x = _logits(seed, batch, vocab, dtype)
    ours = top_k_filter(x, k)
    _same_filter(ours, TopKLogitsWarper(k)(None, x.clone()))
    assert (~torch.isinf(ours)).sum(-1).tolist() == [min(k, vocab)] * batch  # no ties in random logits


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), batch=st.integers(1, 4), vocab=st.integers(1, 40),
       p=st.floats(0.0, 1.0), scale=st.sampled_from([0.3, 3.0, 30.0]),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_top_p_equals_hugging_face(seed, batch, vocab, p, scale, dtype):
    x = _logits(seed, batch, vocab, dtype, scale)
    _same_filter(top_p_filter(x, p), TopPLogitsWarper(p)(None, x.clone()))


def test_top_p_keeps_the_smallest_set_that_reaches_p():
    x = torch.tensor([0.5, 0.05, 0.3, 0.15]).log()  # sorted: 0.5, 0.3, 0.15, 0.05
    kept = lambda p: (~torch.isinf(top_p_filter(x, p))).nonzero().flatten().tolist()  # noqa: E731
    assert kept(0.5 - 1e-6) == [0]            # the top token alone reaches p
    assert kept(0.5 + 1e-6) == [0, 2]         # the token that crosses p is kept
    assert kept(0.8 + 1e-6) == [0, 2, 3]
    assert kept(0.0) == [0]                   # p = 0: greedy
    assert kept(1.0) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="p"):
        top_p_filter(x, 1.5)


def test_edge_cases_equal_hugging_face():
    x = _logits(3, 2, 7, torch.float32)
    _same_filter(top_p_filter(x, 1.0), TopPLogitsWarper(1.0)(None, x.clone()))
    _same_filter(top_p_filter(x, 0.0), TopPLogitsWarper(0.0)(None, x.clone()))
    _same_filter(top_k_filter(x, 50), TopKLogitsWarper(50)(None, x.clone()))
    assert torch.equal(top_k_filter(x, 7), x) and torch.equal(top_p_filter(x, 1.0), x)
    assert torch.equal(top_k_filter(x[:, :1], 1), x[:, :1])


def test_ties_top_k_as_hugging_face_and_top_p_keeps_every_tied_token():
    x = torch.tensor([[2.0, 1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    _same_filter(top_k_filter(x, 2), TopKLogitsWarper(2)(None, x.clone()))  # ties with the k-th: all kept
    assert (~torch.isinf(top_k_filter(x, 2))).sum().item() == 4 + 5
    for p in (0.5, 0.7, 0.9):
        ours, theirs = top_p_filter(x, p), TopPLogitsWarper(p)(None, x.clone())
        cut = torch.where(torch.isinf(theirs), INF, x).min(-1, keepdim=True).values  # HF's smallest kept logit
        assert torch.equal(torch.isinf(ours), x < cut)  # ours: HF's set plus every token tied with its last one
        assert bool((torch.isinf(ours) <= torch.isinf(theirs)).all())
    assert torch.isinf(top_p_filter(x, 0.5)[1]).sum() == 0  # a uniform row: all tied, all kept


def test_filters_refuse_bad_logits():
    with pytest.raises(ValueError, match="logits"):
        top_p_filter(torch.tensor([0.0, float("nan")]), 0.5)
    with pytest.raises(ValueError, match="logits"):
        top_k_filter(torch.full((2, 3), -INF), 1)
    with pytest.raises(ValueError, match="k"):
        top_k_filter(torch.zeros(3), 0)
    assert torch.isinf(top_p_filter(torch.tensor([0.0, -INF, 1.0]), 0.9)).tolist() == [False, True, False]


# --- generate -------------------------------------------------------------------------------------------

def _gpt(seed=0, vocab=23, **kw):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab, n_positions=48, d_model=32, heads=4, layers=2, **kw)).eval()


class HFWrapped(nn.Module):
    """Hugging Face's GPT-2 in the ``(ids, cache) -> (logits, cache)`` convention."""

    def __init__(self, hf):
        super().__init__()
        self.hf, self.vocab_size = hf, hf.config.vocab_size

    def forward(self, ids, cache=None):
        out = self.hf(input_ids=ids, past_key_values=cache, use_cache=True)
        return out.logits, out.past_key_values


def _hf(seed=0, vocab=23):
    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=vocab, n_positions=48, n_embd=32, n_layer=2, n_head=4, bos_token_id=0,
                     eos_token_id=None, pad_token_id=0)
    hf = GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # larger weights than GPT-2's init, so that the greedy path is not one repeated token
        for p in hf.parameters():
            p.mul_(8.0 if p.dim() > 1 else 1.0)
    return hf


@pytest.mark.parametrize("use_cache", [True, False])
def test_greedy_equals_hugging_face_generate(use_cache):
    hf = _hf(1)
    ids = torch.randint(0, 23, (3, 4), generator=torch.Generator().manual_seed(0))
    theirs = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=False)
    ours = generate(HFWrapped(hf), ids, 12, greedy=True, use_cache=use_cache)
    assert torch.equal(ours, theirs)
    assert len(set(ours[0, 4:].tolist())) > 2  # a test on a varied continuation


def test_greedy_on_our_gpt_equals_hugging_face_on_the_same_weights():
    hf_mod = pytest.importorskip("troikadl.transformer.hf")
    gpt = _gpt(2)
    with torch.no_grad():
        for p in gpt.parameters():
            p.mul_(8.0 if p.dim() > 1 else 1.0)
    hf = hf_mod.to_hf_gpt2(gpt).eval()
    ids = torch.randint(0, 23, (2, 5), generator=torch.Generator().manual_seed(1))
    theirs = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=15, do_sample=False,
                         pad_token_id=0, eos_token_id=None)
    assert torch.equal(generate(gpt, ids, 15, greedy=True), theirs)
    assert torch.equal(generate(gpt, ids, 15, temperature=0.0), theirs)


@pytest.mark.parametrize("options", [dict(greedy=True), dict(temperature=0.8), dict(top_k=5, temperature=1.3),
                                     dict(top_p=0.8), dict(top_k=8, top_p=0.9, temperature=0.7)])
def test_cached_generation_equals_uncached(options):
    gpt = _gpt(3)
    ids = torch.randint(0, 23, (2, 3), generator=torch.Generator().manual_seed(2))
    runs = [generate(gpt, ids, 20, use_cache=c, generator=torch.Generator().manual_seed(5), **options)
            for c in (True, False)]
    assert runs[0].shape == (2, 23) and torch.equal(runs[0][:, :3], ids)
    assert torch.equal(runs[0], runs[1])


def test_sampling_is_reproducible_with_a_generator_and_varies_without_the_same_seed():
    gpt = _gpt(4)
    ids = torch.zeros(4, 1, dtype=torch.long)
    draw = lambda seed: generate(gpt, ids, 30, top_p=0.95, generator=torch.Generator().manual_seed(seed))  # noqa
    assert torch.equal(draw(7), draw(7))
    assert not torch.equal(draw(7), draw(8))
    one = generate(gpt, torch.tensor([1, 2]), 4, greedy=True)
    assert one.shape == (6,) and gpt.training is False


class FixedLogits(nn.Module):
    """A 'model' whose prediction is always the same logits (cache unused)."""

    def __init__(self, logits):
        super().__init__()
        self.logits, self.vocab_size = nn.Parameter(logits), logits.shape[0]

    def forward(self, ids, cache=None):
        return self.logits.expand(*ids.shape, -1), None


@pytest.mark.parametrize("temperature, top_k, top_p", [(1.0, None, None), (0.5, None, None), (2.0, None, None),
                                                       (1.5, 3, None), (0.8, None, 0.7)])
def test_draws_follow_softmax_of_filtered_logits_over_temperature(temperature, top_k, top_p):
    logits = torch.tensor([1.0, 0.2, -0.5, 2.0, 0.0, -1.0])
    n = 6000
    out = generate(FixedLogits(logits), torch.zeros(n, 1, dtype=torch.long), 1, temperature=temperature,
                   top_k=top_k, top_p=top_p, generator=torch.Generator().manual_seed(11))
    counts = np.bincount(out[:, 1].numpy(), minlength=6)
    z = (logits / temperature).double()
    keep = torch.ones(6, dtype=torch.bool)
    if top_k is not None:
        keep &= z >= z.sort(descending=True).values[top_k - 1]
    if top_p is not None:  # written from the definition: smallest most-likely set reaching top_p
        order = z.argsort(descending=True)
        probs = torch.softmax(z, 0)[order]
        n_keep = int((probs.cumsum(0) < top_p).sum()) + 1
        keep &= torch.zeros(6, dtype=torch.bool).index_fill(0, order[:n_keep], True)
    want = torch.softmax(z.masked_fill(~keep, -INF), 0).numpy()
    assert (counts[~keep.numpy()] == 0).all()
    assert chisquare(counts[keep.numpy()], want[keep.numpy()] * n).pvalue > 1e-3


def test_generate_refuses_bad_input():
    gpt = _gpt(0)
    with pytest.raises(ValueError, match="ids"):
        generate(gpt, torch.tensor([[1, 99]]), 2)
    with pytest.raises(TypeError, match="ids"):
        generate(gpt, torch.tensor([[0.5]]), 2)
    with pytest.raises(ValueError, match="top_p"):
        generate(gpt, torch.tensor([[1]]), 2, top_p=1.5)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(gpt, torch.tensor([[1]]), -1)
    assert torch.equal(generate(gpt, torch.tensor([[1, 2]]), 0), torch.tensor([[1, 2]]))


# --- the KV cache's memory ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype, batch, length", [(torch.float32, 1, 9), (torch.float64, 3, 17)])
def test_kv_cache_bytes_equals_the_cache_tensors(dtype, batch, length):
    gpt = _gpt(5, d_ff=40).to(dtype)
    c = gpt.config
    with torch.no_grad():
        _, cache = gpt(torch.zeros(batch, length - 1, dtype=torch.long))
        _, cache = gpt(torch.zeros(batch, 1, dtype=torch.long), cache)  # one cached step more
    actual = sum(t.nbytes for kv in cache for t in kv)
    bpv = torch.finfo(dtype).bits // 8
    assert kv_cache_bytes(c.layers, c.heads, c.d_model // c.heads, length, batch, bpv) == actual
    with pytest.raises(ValueError, match="heads"):
        kv_cache_bytes(2, 0, 8, 10)
