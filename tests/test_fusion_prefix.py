"""Image tokens for a language model: the GPT's ``prefix`` input and the PrefixVQA model (fusion.prefix).

Expected values come from outside the code under test: Hugging Face's ``GPT2LMHeadModel`` (built from a config,
nothing downloaded) called with ``inputs_embeds`` = the prefix concatenated before its own ``wte(ids)``, its
attention weights (``output_attentions``, eager attention), and, for PrefixVQA, the same Hugging Face model run
on each row's *unpadded* sequence (image tokens, then only the question's real words), whose last position's
softmax over the two answer words must equal the sigmoid of PrefixVQA's logit.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from troikadl.data import vqa
from troikadl.fusion.prefix import ANSWER_WORDS, PrefixVQA
from troikadl.transformer.gpt import GPT, GPTConfig
from troikadl.transformer.hf import to_hf_gpt2

matplotlib.use("Agg")

TOL32, TOL64 = 1e-5, 1e-10
V = len(vqa.VOCAB)

configs = st.builds(lambda v, n, dh, h, L: GPTConfig(v, n, d_model=dh * h, heads=h, layers=L),
                    st.integers(2, 20), st.integers(3, 12), st.integers(1, 4), st.integers(1, 3), st.integers(1, 2))


def _randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random LayerNorm gains and biases (GPT starts them at 1 and 0), so that a dropped or swapped one shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                noise = torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3
                p.copy_(noise + (1.0 if "ln" in name and name.endswith("weight") else 0.0))
    return model.eval()


def _gpt(config: GPTConfig, seed: int, dtype: torch.dtype) -> GPT:
    torch.manual_seed(seed)
    return _randomize(GPT(config).to(dtype), seed)


def _hf_logits(hf, embeds: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return hf(inputs_embeds=embeds).logits


# --- the GPT's prefix input, against Hugging Face's inputs_embeds ----------------------------------------------

@settings(max_examples=8, deadline=None)
@given(config=configs, seed=st.integers(0, 100), data=st.data())
def test_prefix_forward_equals_hugging_face_inputs_embeds(config, seed, data):
    P = data.draw(st.integers(1, config.n_positions - 1))
    T = data.draw(st.integers(1, config.n_positions - P))
    for dtype, tol in ((torch.float32, TOL32), (torch.float64, TOL64)):
        model = _gpt(config, seed, dtype)
        hf = to_hf_gpt2(model)
        g = torch.Generator().manual_seed(seed)
        ids = torch.randint(0, config.vocab_size, (2, T), generator=g)
        prefix = torch.randn(2, P, config.d_model, generator=g, dtype=dtype)
        with torch.no_grad():
            ours, cache = model(ids, prefix=prefix)
            theirs = _hf_logits(hf, torch.cat([prefix, hf.transformer.wte(ids)], dim=1))
        assert ours.shape == (2, P + T, config.vocab_size) and ours.dtype == dtype
        assert (ours - theirs).abs().max().item() <= tol
        assert cache[0][0].shape[2] == P + T  # the cache holds the prefix's positions too


def test_prefix_after_a_cache_takes_the_next_positions():
    """ids, then a prefix with more ids read from the cache: the logits of HF on the whole sequence at once."""
    config = GPTConfig(11, 12, d_model=8, heads=2, layers=2)
    model = _gpt(config, 3, torch.float64)
    hf = to_hf_gpt2(model)
    g = torch.Generator().manual_seed(0)
    first, later = torch.randint(0, 11, (3, 4), generator=g), torch.randint(0, 11, (3, 2), generator=g)
    prefix = torch.randn(3, 3, 8, generator=g, dtype=torch.float64)
    with torch.no_grad():
        _, cache = model(first)
        ours, cache = model(later, cache, prefix=prefix)
        wte = hf.transformer.wte
        theirs = _hf_logits(hf, torch.cat([wte(first), prefix, wte(later)], dim=1))[:, 4:]
    assert ours.shape == (3, 5, 11) and cache[0][0].shape[2] == 9
    assert (ours - theirs).abs().max().item() <= TOL64


def test_no_prefix_is_the_token_model_unchanged():
    config = GPTConfig(9, 7, d_model=8, heads=2, layers=2)
    model = _gpt(config, 1, torch.float64)
    ids = torch.randint(0, 9, (2, 7), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, none = model(ids)[0], model(ids, None, prefix=None)[0]
        theirs = to_hf_gpt2(model)(ids).logits
    assert torch.equal(ours, none) and (ours - theirs).abs().max().item() <= TOL64


def test_attention_maps_with_a_prefix_equal_hugging_face_attentions():
    config = GPTConfig(10, 9, d_model=12, heads=3, layers=2)
    model = _gpt(config, 5, torch.float64)
    hf = to_hf_gpt2(model)
    hf.set_attn_implementation("eager")  # the SDPA kernel returns no weights
    g = torch.Generator().manual_seed(2)
    ids, prefix = torch.randint(0, 10, (2, 5), generator=g), torch.randn(2, 4, 12, generator=g, dtype=torch.float64)
    ours = model.attention_maps(ids, prefix=prefix)
    with torch.no_grad():
        theirs = hf(inputs_embeds=torch.cat([prefix, hf.transformer.wte(ids)], 1), output_attentions=True).attentions
    assert len(ours) == 2
    for a, b in zip(ours, theirs):
        assert a.shape == (2, 3, 9, 9) and (a - b).abs().max().item() <= TOL64


@pytest.mark.parametrize("prefix, error, words", [
    (torch.zeros(2, 2, 6), ValueError, ["prefix", "d_model=8"]),              # wrong width
    (torch.zeros(3, 2, 8), ValueError, ["prefix", "batch=2"]),                # wrong batch
    (torch.zeros(2, 0, 8), ValueError, ["prefix", "P >= 1"]),                 # empty
    (torch.zeros(2, 8), ValueError, ["prefix"]),                              # 2-D
    (torch.zeros(2, 2, 8, dtype=torch.float64), TypeError, ["prefix", "float32"]),  # not the model's dtype
    (torch.zeros(2, 2, 8, dtype=torch.int64), TypeError, ["prefix"]),        # integers
    (torch.full((2, 2, 8), float("nan")), ValueError, ["prefix", "finite"]),
    (np.zeros((2, 2, 8), dtype=np.float32), TypeError, ["prefix"]),          # not a tensor
    (torch.zeros(2, 4, 8), ValueError, ["ids", "4 prefix", "n_positions = 6"]),  # 4 + 3 > 6 positions
])
def test_bad_prefix_is_refused_naming_it(prefix, error, words):
    model = GPT(GPTConfig(10, 6, d_model=8, heads=2, layers=1))
    ids = torch.zeros(2, 3, dtype=torch.int64)
    for call in (lambda: model(ids, prefix=prefix), lambda: model.attention_maps(ids, prefix=prefix)):
        with pytest.raises(error) as info:
            call()
        assert all(w in str(info.value) for w in words), str(info.value)


# --- PrefixVQA: the answer read at the last real word --------------------------------------------------------

def _vqa_model(dtype=torch.float64, **kw) -> PrefixVQA:
    torch.manual_seed(0)
    return _randomize(PrefixVQA(vocab_size=V, **kw).to(dtype), 1)


def _batch(dtype=torch.float64):
    data = vqa.mini_vqa(6, seed=4)
    image, tokens = torch.as_tensor(data.images, dtype=dtype), torch.as_tensor(data.questions)
    image, tokens = torch.cat([image, torch.zeros(1, 64, dtype=dtype)]), torch.cat([tokens, torch.zeros(1, 6).long()])
    return image, tokens  # the last row: a missing image and a question that is all padding


@pytest.mark.parametrize("n_prefix", [1, 3])
def test_the_answer_is_hugging_faces_next_word_over_yes_and_no_on_the_unpadded_sequence(n_prefix):
    model = _vqa_model(n_prefix=n_prefix, d_model=16, heads=2, layers=2)
    hf = to_hf_gpt2(model.lm)
    image, tokens = _batch()
    with torch.no_grad():
        p_yes = torch.sigmoid(model(image, tokens)).reshape(-1)
        prefix = model.projector(model.encoder(image)).reshape(len(image), n_prefix, 16)
        for i in range(len(image)):
            words = tokens[i][tokens[i] != 0]
            seq = torch.cat([prefix[i], hf.transformer.wte(words)])[None]
            last = hf(inputs_embeds=seq).logits[0, -1]
            yes, no = V + ANSWER_WORDS.index("yes"), V + ANSWER_WORDS.index("no")
            assert abs(p_yes[i].item() - torch.softmax(last[[yes, no]], 0)[0].item()) <= TOL64


def test_words_after_the_answer_position_never_change_the_logit():
    """Right padding: whatever follows the question's last word (padding or not), the logit is the same."""
    model = _vqa_model(n_prefix=2, d_model=8, heads=2)
    image, tokens = _batch()
    tokens = tokens[:-1]  # rows with a question
    with torch.no_grad():
        want = model(image[:-1], tokens)
        pos = model.answer_positions(tokens) - model.n_prefix
        noisy = tokens.clone()
        for i, p in enumerate(pos.tolist()):
            noisy[i, p + 1:] = torch.randint(1, V, (6 - p - 1,))  # real words where the padding was
        lm_logits, _ = model.lm(noisy, prefix=model.image_tokens(image[:-1]))
        rows = lm_logits[torch.arange(len(noisy)), model.answer_positions(tokens)]
    assert ((rows[:, model.yes] - rows[:, model.no]).unsqueeze(1) - want).abs().max().item() <= TOL64
    assert torch.equal(pos, torch.tensor([len(t.split()) - 1 for t in vqa.mini_vqa(6, seed=4).texts]))


def test_float32_on_the_default_model_and_an_empty_batch():
    model = _vqa_model(torch.float32)
    image, tokens = _batch(torch.float32)
    out = model(image, tokens)
    assert out.shape == (7, 1) and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert model(image[:0], tokens[:0]).shape == (0, 1)
    assert model.lm.config.vocab_size == V + 2 and model.lm.config.n_positions == 4 + 6
    assert (model.yes, model.no) == (V, V + 1)


def test_gradients_reach_the_encoder_the_projector_and_the_language_model():
    model = PrefixVQA(vocab_size=V, n_prefix=2, d_model=8, heads=2).train()
    image, tokens = _batch(torch.float32)
    model(image, tokens).sum().backward()
    for name in ("encoder.0.weight", "projector.weight", "lm.tokens.weight", "lm.positions.weight",
                 "lm.blocks.0.qkv.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name
    answer_rows = model.lm.tokens.weight.grad[[model.yes, model.no]]
    assert (answer_rows.abs().sum(1) > 0).all()  # the tied output layer: the answer words' rows learn


def test_a_given_encoder_is_frozen_and_stays_in_evaluation_mode():
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(64, 10), nn.Dropout(0.5))
    before = encoder[0].weight.detach().clone()
    model = PrefixVQA(vocab_size=V, n_prefix=2, d_model=8, heads=2, encoder=encoder).train()
    assert model.frozen and model.projector.in_features == 10 and not encoder.training
    image, tokens = _batch(torch.float32)
    a, b = model(image, tokens), model(image, tokens)
    assert torch.equal(a, b)  # no dropout: the encoder is in evaluation mode while the model trains
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.1)
    a.sum().backward()
    opt.step()
    assert encoder[0].weight.grad is None and torch.equal(encoder[0].weight, before)
    assert model.projector.weight.grad is not None


def test_answer_attention_is_the_answer_rows_of_hugging_faces_attentions():
    model = _vqa_model(n_prefix=3, d_model=8, heads=2, layers=2)
    hf = to_hf_gpt2(model.lm)
    hf.set_attn_implementation("eager")
    image, tokens = _batch()
    att = model.answer_attention(image, tokens)
    assert att.shape == (7, 2, 2, 9)
    with torch.no_grad():
        seq = torch.cat([model.image_tokens(image), hf.transformer.wte(tokens)], 1)
        theirs = hf(inputs_embeds=seq, output_attentions=True).attentions
    pos = model.answer_positions(tokens)
    for i in range(7):
        for layer in range(2):
            assert (att[i, layer] - theirs[layer][i, :, pos[i]]).abs().max().item() <= TOL64
        assert att[i, :, :, pos[i] + 1:].abs().sum().item() == 0.0
    assert pos[-1].item() == 2  # an empty question: the answer is read at the last image token


def test_fit_trains_it_as_the_other_fusion_models():
    import troikadl as tk

    tk.setup(seed=0)
    data = vqa.mini_vqa(256, seed=1)
    model = PrefixVQA(vocab_size=V, n_prefix=1, d_model=16, heads=2, layers=1)
    history = tk.fit(model, ((data.images, data.questions), data.answers), epochs=2, loss="bce", lr=2e-3,
                     batch_size=128, show_progress=False)
    assert len(history["train_loss"]) == 2 and np.isfinite(history["train_loss"]).all()
    assert tk.predict(model, (data.images[:5], data.questions[:5])).shape == (5, 1)


def test_width_init_draws_fan_in_scaled_weights_and_gpt2_init_keeps_gpts():
    torch.manual_seed(0)
    wide = PrefixVQA(vocab_size=V, d_model=64, heads=4, layers=2)
    gpt2 = PrefixVQA(vocab_size=V, d_model=64, heads=4, layers=2, init="gpt2")
    want = {"tokens.weight": 1 / 8, "positions.weight": 1 / 8, "blocks.0.qkv.weight": 1 / 8,
            "blocks.1.up.weight": 1 / 8, "blocks.0.proj.weight": 1 / 16, "blocks.1.down.weight": 1 / 32}
    for name, std in want.items():  # sample standard deviations of >= 640 draws: within 10 %
        assert abs(dict(wide.lm.named_parameters())[name].std().item() / std - 1) < 0.1, name
        assert abs(dict(gpt2.lm.named_parameters())[name].std().item() / (0.02 if std >= 1 / 8 else 0.01) - 1) < 0.1
    assert wide.lm.blocks[0].qkv.bias.abs().sum() == 0  # biases stay zero
    with pytest.raises(ValueError, match="init"):
        PrefixVQA(vocab_size=V, init="xavier")


@pytest.mark.parametrize("kwargs, error, word", [
    (dict(n_prefix=0), ValueError, "n_prefix"), (dict(n_prefix=2.0), TypeError, "n_prefix"),
    (dict(d_model=10, heads=4), ValueError, "d_model"), (dict(vocab_size=1), ValueError, "vocab_size"),
    (dict(encoder="mlp"), TypeError, "encoder"), (dict(encoder=nn.Flatten(0)), ValueError, "encoder"),
    (dict(hidden=0), ValueError, "hidden"),
])
def test_bad_settings_are_refused_naming_them(kwargs, error, word):
    with pytest.raises(error, match=word):
        PrefixVQA(**{"vocab_size": V, **kwargs})


@pytest.mark.parametrize("image, tokens, error, word", [
    (torch.zeros(2, 63), torch.zeros(2, 6).long(), ValueError, "image"),
    (torch.zeros(2, 64).long(), torch.zeros(2, 6).long(), TypeError, "image"),
    (torch.zeros(2, 64), torch.zeros(2, 5).long(), ValueError, "tokens"),
    (torch.zeros(2, 64), torch.zeros(2, 6), TypeError, "tokens"),
    (torch.zeros(2, 64), torch.full((2, 6), V).long(), ValueError, "tokens"),  # "yes" is not a question word
    (torch.zeros(3, 64), torch.zeros(2, 6).long(), ValueError, "image and tokens"),
])
def test_bad_inputs_are_refused_naming_them(image, tokens, error, word):
    model = PrefixVQA(vocab_size=V, n_prefix=2, d_model=8, heads=2)
    for call in (model, model.answer_attention):
        with pytest.raises(error, match=word):
            call(image, tokens)


# --- the diagram ------------------------------------------------------------------------------------------------

def test_prefix_tokens_draws_the_models_sizes_and_marks_the_answer_position():
    from troikadl.figures import multimodal

    model = PrefixVQA(vocab_size=V, n_prefix=3, d_model=16, heads=2, layers=3, encoder=nn.Linear(64, 10))
    fig = multimodal.prefix_tokens(model, "is it greater than 6 ?")
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert fig.get_figwidth() <= 7.0
    assert "projector → 3 × 16" in texts and "encoder → 10 (frozen)" in texts
    assert any("3 blocks" in t and "3 + 6 positions" in t for t in texts)
    cells = [t for t in ax.texts if t.get_text() in ("img 1", "img 3", "?", "6")]
    assert [t.get_text() for t in sorted(cells, key=lambda t: t.get_position()[0])] == ["img 1", "img 3", "6", "?"]
    import matplotlib.pyplot as plt

    plt.close(fig)
    for question in ("is it greater than 6 ?", "is it odd ?"):  # no padding, two pads after the question
        ax = multimodal.prefix_tokens(model, question).axes[0]
        (mark,) = [p for p in ax.patches if p.get_gid() == "answer-position"]
        question_mark = next(t for t in ax.texts if t.get_text() == "?")
        assert abs(mark.get_x() + mark.get_width() / 2 - question_mark.get_position()[0]) < 1e-9
        assert sum(t.get_text() == "pad" for t in ax.texts) == 6 - len(question.split())
        plt.close(ax.figure)
    with pytest.raises(TypeError, match="model"):
        multimodal.prefix_tokens("model")
    with pytest.raises(ValueError, match="text"):
        multimodal.prefix_tokens(None, "is it blue ?")
