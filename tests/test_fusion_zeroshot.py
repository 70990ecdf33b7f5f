"""CLIP completed (chapter 11): prompt templates, padding-aware token means, the learned temperature, the
prompt ensemble and zero-shot prediction, in-batch false negatives (the InfoNCE floor, multi-positive losses).

References are written differently from the package: loops over rows and templates, ``F.cross_entropy`` with
probability targets (PyTorch), Hugging Face's CLIP loss, a direct optimisation of a tiny batch.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from troikadl.data import shapes as S
from troikadl.fusion import contrastive as C
from troikadl.fusion import zeroshot as Z

# --- prompt templates in the data ---------------------------------------------------------------------------


def test_templates_keep_the_images_and_the_3_token_ids():
    plain, templated = S.captioned_shapes(50, seed=4), S.captioned_shapes(50, seed=4, templates=[0, 1, 2, 3])
    assert np.array_equal(plain.images, templated.images) and np.array_equal(plain.combo, templated.combo)
    assert S.PROMPT_VOCAB[:len(S.CAPTION_VOCAB)] == S.CAPTION_VOCAB and S.PROMPT_VOCAB[S.PAD_ID] == "<pad>"
    assert templated.captions.shape == (50, S.PROMPT_LENGTH) and set(templated.template) == {0, 1, 2, 3}
    for i in range(50):  # each caption reads as its template filled in with the image's colour and shape
        words = S.TEMPLATES[templated.template[i]].format(colour=list(S.COLOURS)[templated.colour[i]],
                                                          shape=S.SHAPES[templated.shape[i]])
        assert templated.text(i) == words
    assert plain.text(0) == "a " + list(S.COLOURS)[plain.colour[0]] + " " + S.SHAPES[plain.shape[0]]
    assert np.array_equal(S.prompt_tokens(2, 3, 0)[:3], S.caption_tokens(2, 3))  # template 0 is the 3-token caption
    assert set(S.captioned_shapes(40, seed=1, templates=[3]).template) == {3}


def test_prompt_tokens_and_class_prompts():
    assert S.prompt_tokens(0, 0, 3).tolist() == [15, 7, 13, 1, S.PAD_ID]  # the circle is red
    assert S.prompt_tokens(0, 0, 0, length=3).tolist() == [0, 1, 7]
    grid = S.class_prompts([(0, 1), (4, 5)], [1, 2])
    assert grid.shape == (2, 2, S.PROMPT_LENGTH)
    assert grid[1, 0].tolist() == S.prompt_tokens(4, 5, 1).tolist()
    assert S.class_prompts([(0, 0)]).shape == (1, len(S.TEMPLATES), S.PROMPT_LENGTH)


# --- padding-aware token mean -------------------------------------------------------------------------------


def _masked_mean_reference(model, captions, pad):
    """Row by row: the mean of the embeddings of the tokens that are not padding, then the projection."""
    out = []
    for row in captions.tolist():
        vectors = [model.embed.weight[t] for t in row if t != pad]
        out.append(model.text(torch.stack(vectors).sum(0) / len(vectors)))
    return F.normalize(torch.stack(out), dim=1)


@settings(max_examples=30, deadline=None)
@given(vocab=st.integers(3, 12), dim=st.integers(1, 9), length=st.integers(1, 7), n=st.integers(1, 6),
       seed=st.integers(0, 10_000), double=st.booleans())
def test_padded_token_mean_equals_a_masked_mean_reference(vocab, dim, length, n, seed, double):
    torch.manual_seed(seed)
    pad = seed % vocab
    model = C.ClipModel(vocab_size=vocab, dim=dim, pad_id=pad)
    if double:
        model = model.double()
    caps = torch.randint(0, vocab, (n, length), generator=torch.Generator().manual_seed(seed))
    caps[:, 0] = (pad + 1) % vocab  # every caption keeps at least one real token; padding may sit anywhere else
    with torch.no_grad():
        torch.testing.assert_close(model.encode_captions(caps), _masked_mean_reference(model, caps, pad))


def test_padding_changes_nothing_and_gets_no_gradient():
    torch.manual_seed(0)
    plain = C.ClipModel(vocab_size=len(S.PROMPT_VOCAB), dim=8)
    padded = C.ClipModel(vocab_size=len(S.PROMPT_VOCAB), dim=8, pad_id=S.PAD_ID)
    padded.load_state_dict(plain.state_dict())
    three = torch.as_tensor(np.stack([S.caption_tokens(s, c) for s, c in [(0, 1), (3, 4)]]))
    five = torch.cat([three, torch.full((2, 2), S.PAD_ID)], dim=1)
    torch.testing.assert_close(padded.encode_captions(five), plain.encode_captions(three))
    torch.testing.assert_close(padded.encode_captions(three), plain.encode_captions(three))
    padded.encode_captions(five).sum().backward()
    assert torch.count_nonzero(padded.embed.weight.grad[S.PAD_ID]) == 0
    assert torch.count_nonzero(padded.embed.weight.grad[three.flatten()]) > 0


# --- temperature ------------------------------------------------------------------------------------------


def test_temperature_starts_where_asked_and_is_clipped_below():
    assert float(C.ClipModel(vocab_size=12).temperature.detach()) == pytest.approx(0.1)  # the chapter's default
    assert float(C.ClipModel(vocab_size=12, init_temperature=0.07).temperature.detach()) == pytest.approx(0.07)
    model = C.ClipModel(vocab_size=12, dim=4)
    with torch.no_grad():
        model.log_temperature.fill_(math.log(1e-3))
    assert float(model.temperature.detach()) == pytest.approx(0.01)  # CLIP: the logits are scaled by at most 100
    model.temperature.backward()
    assert float(model.log_temperature.grad) == 0.0
    free = C.ClipModel(vocab_size=12, min_temperature=None)
    with torch.no_grad():
        free.log_temperature.fill_(math.log(1e-3))
    assert float(free.temperature.detach()) == pytest.approx(1e-3)


# --- prompt ensemble and zero-shot prediction -------------------------------------------------------------


def _ensemble_loop(prompt_emb):
    """Class by class, template by template, in NumPy float64."""
    p = np.asarray(prompt_emb, dtype=float)
    out = []
    for c in range(p.shape[0]):
        total = np.zeros(p.shape[2])
        for t in range(p.shape[1]):
            total += p[c, t] / math.sqrt(sum(v * v for v in p[c, t]))
        mean = total / p.shape[1]
        out.append(mean / np.linalg.norm(mean))
    return np.array(out)


@settings(max_examples=40, deadline=None)
@given(classes=st.integers(1, 6), templates=st.integers(1, 5), dim=st.integers(2, 8), seed=st.integers(0, 10_000))
def test_prompt_ensemble_equals_a_loop(classes, templates, dim, seed):
    r = np.random.default_rng(seed)
    p = r.normal(size=(classes, templates, dim)) * r.uniform(0.1, 10, size=(classes, templates, 1))
    got = Z.ensemble_embeddings(torch.tensor(p))
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), _ensemble_loop(p), rtol=1e-12, atol=1e-12)
    img = r.normal(size=(7, dim))
    ref = np.array([int(np.argmax([x @ c / np.linalg.norm(x) for c in _ensemble_loop(p)])) for x in img])
    assert Z.zero_shot_predict(torch.tensor(img), got).tolist() == ref.tolist()


def test_class_embeddings_encode_each_prompt_like_one_at_a_time():
    torch.manual_seed(1)
    model = C.ClipModel(vocab_size=len(S.PROMPT_VOCAB), dim=6, pad_id=S.PAD_ID)
    prompts = S.class_prompts([(0, 1), (2, 3), (4, 0)], [0, 1, 3])
    with torch.no_grad():
        one_by_one = torch.stack([torch.stack([model.encode_captions(torch.as_tensor(prompts[c, t:t + 1]))[0]
                                               for t in range(3)]) for c in range(3)])
    torch.testing.assert_close(Z.class_embeddings(model.encode_captions, prompts),
                               torch.as_tensor(_ensemble_loop(one_by_one.numpy()), dtype=torch.float32))
    single = Z.class_embeddings(model.encode_captions, prompts[:, :1])  # one template: its own embedding
    torch.testing.assert_close(single, one_by_one[:, 0])


def test_zero_shot_predict_finds_the_nearest_class_whatever_the_lengths():
    r = np.random.default_rng(0)
    classes = F.normalize(torch.tensor(r.normal(size=(5, 16))), dim=1)
    labels = torch.tensor(r.integers(0, 5, 40))
    images = (classes[labels] + 0.05 * torch.tensor(r.normal(size=(40, 16)))) * torch.tensor(r.uniform(0.1, 9, (40, 1)))
    assert torch.equal(Z.zero_shot_predict(images, classes), labels)
    lengths = torch.tensor([[10.0], [0.1], [0.1], [0.1], [0.1]])  # cosine: the lengths of the classes do not count
    assert torch.equal(Z.zero_shot_predict(images, lengths * classes), labels)
    assert Z.zero_shot_predict(images[:0], classes).shape == (0,)


# --- in-batch false negatives ----------------------------------------------------------------------------


def _soft_reference(logits, groups):
    """PyTorch's cross-entropy with probability targets, over rows and over columns."""
    g = torch.as_tensor(groups)
    same = (g[:, None] == g[None, :]).to(logits.dtype)
    target = same / same.sum(1, keepdim=True)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target.T)) / 2


def _mask_reference(logits, groups):
    """Row by row: own term over (own + every column of another group); the same for columns."""
    lg, g = logits.tolist(), list(groups)
    total = 0.0
    for mat in (lg, [list(col) for col in zip(*lg)]):
        for i, row in enumerate(mat):
            denom = math.exp(row[i]) + sum(math.exp(v) for j, v in enumerate(row) if g[j] != g[i])
            total += -(row[i] - math.log(denom))
    return total / (2 * len(lg))


@settings(max_examples=40, deadline=None)
@given(b=st.integers(1, 9), n_groups=st.integers(1, 5), seed=st.integers(0, 10_000))
def test_multi_positive_losses_equal_their_references(b, n_groups, seed):
    r = np.random.default_rng(seed)
    logits = torch.tensor(r.normal(size=(b, b)) * 3, requires_grad=True)
    groups = r.integers(0, n_groups, b)
    soft = C.multi_positive_loss(logits, groups)
    ref = _soft_reference(logits, groups)
    torch.testing.assert_close(soft, ref, rtol=1e-12, atol=1e-12)
    g1, = torch.autograd.grad(soft, logits)
    g2, = torch.autograd.grad(ref, logits)
    torch.testing.assert_close(g1, g2, rtol=1e-10, atol=1e-12)
    assert float(C.multi_positive_loss(logits, groups, mode="mask").detach()) == pytest.approx(
        _mask_reference(logits.detach(), groups), rel=1e-10)


def test_multi_positive_losses_with_distinct_groups_are_clip_loss():
    r = np.random.default_rng(3)
    logits = torch.tensor(r.normal(size=(6, 6)), dtype=torch.float32)
    for mode in ("soft", "mask"):
        torch.testing.assert_close(C.multi_positive_loss(logits, np.arange(6), mode=mode), C.clip_loss(logits))
    modeling_clip = pytest.importorskip("transformers.models.clip.modeling_clip")
    torch.testing.assert_close(C.multi_positive_loss(logits, np.arange(6)),
                               modeling_clip.image_text_contrastive_loss(logits))
    # Hugging Face's CLIP starts from CLIP's temperature 0.07 (its logit scale, log(1 / 0.07)), as init_temperature
    hf = modeling_clip.CLIPConfig().logit_scale_init_value
    assert float(C.ClipModel(vocab_size=12, init_temperature=0.07).log_temperature) == pytest.approx(-hf, abs=1e-4)


def test_soft_positives_change_nothing_when_the_duplicates_are_exact():
    # identical captions embed identically: their columns are equal, and the soft loss is clip_loss exactly
    r = np.random.default_rng(4)
    groups = np.array([0, 1, 0, 2, 1, 0])
    images, captions = torch.tensor(r.normal(size=(6, 5))), torch.tensor(r.normal(size=(3, 5)))[groups]
    logits = images @ captions.T / 0.3
    torch.testing.assert_close(C.multi_positive_loss(logits, groups), C.clip_loss(logits), rtol=1e-12, atol=1e-12)
    assert float(C.multi_positive_loss(logits, groups, mode="mask")) < float(C.clip_loss(logits))


def test_infonce_floor_formula():
    assert C.infonce_floor([0, 1, 2]) == 0.0
    assert C.infonce_floor(np.array([4, 4, 4, 4])) == pytest.approx(math.log(4))
    groups = np.array([0, 1, 0, 2, 1, 0])  # sum over groups of m log m, over the batch size
    assert C.infonce_floor(groups) == pytest.approx((3 * math.log(3) + 2 * math.log(2)) / 6)
    assert C.infonce_floor(torch.tensor(groups)) == C.infonce_floor(groups)


def _batch_embeddings(groups, dim=8, seed=0):
    """Free image embeddings, and one free caption embedding per group (copies of a caption embed equally)."""
    torch.manual_seed(seed)
    n_groups = int(max(groups)) + 1
    return (torch.randn(len(groups), dim, dtype=torch.float64, requires_grad=True),
            torch.randn(n_groups, dim, dtype=torch.float64, requires_grad=True),
            torch.tensor(0.0, dtype=torch.float64, requires_grad=True))


@pytest.mark.parametrize("groups", [[0, 0, 1, 2, 2, 2], [0, 1, 2, 3], [0, 0, 0, 0, 1]])
def test_the_floor_is_approached_and_never_crossed(groups):
    floor = C.infonce_floor(groups)
    # constructive: groups on orthogonal axes, each image on its caption, temperature -> 0
    axes = torch.eye(8, dtype=torch.float64)[torch.tensor(groups)]
    for tau in (0.1, 0.01, 1e-3):
        gap = float(C.info_nce(axes, axes, tau)) - floor
        assert gap >= -1e-12
    assert gap < 1e-9
    # optimisation from random embeddings: the loss falls to the floor and never below it
    img, cap, log_scale = _batch_embeddings(groups)
    opt = torch.optim.Adam([img, cap, log_scale], lr=0.05)
    losses = []
    for _ in range(300):
        loss = C.info_nce(img, cap[torch.tensor(groups)], torch.exp(-log_scale))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert min(losses) >= floor - 1e-9
    assert losses[-1] - floor < 0.02


def test_the_masked_loss_has_no_floor_and_the_soft_loss_keeps_it():
    groups = [0, 0, 1, 2, 2, 2]
    axes = torch.eye(8, dtype=torch.float64)[torch.tensor(groups)]
    logits = axes @ axes.T / 1e-3
    assert float(C.multi_positive_loss(logits, groups, mode="mask")) < 1e-9
    assert float(C.multi_positive_loss(logits, groups)) == pytest.approx(C.infonce_floor(groups), abs=1e-9)


# --- bad input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("call, error, message", [
    (lambda: C.ClipModel(vocab_size=12, pad_id=12), ValueError, "pad_id must be <= 11"),
    (lambda: C.ClipModel(vocab_size=12, pad_id=1.0), TypeError, "pad_id must be an integer"),
    (lambda: C.ClipModel(vocab_size=12, text="caption", pad_id=3), ValueError, "pad_id applies to text='tokens'"),
    (lambda: C.ClipModel(vocab_size=12, init_temperature=0.0), ValueError, "init_temperature must be > 0"),
    (lambda: C.ClipModel(vocab_size=12, min_temperature=0.5), ValueError, "min_temperature must be in"),
    (lambda: C.ClipModel(vocab_size=12, pad_id=11).encode_captions(torch.tensor([[1, 11], [11, 11]])), ValueError,
     "at least one token that is not padding"),
    (lambda: C.ClipModel(vocab_size=12, pad_id=11).encode_captions(torch.zeros(2, 0, dtype=torch.long)), ValueError,
     "at least one token per caption"),
    (lambda: C.ClipModel(vocab_size=12).encode_captions(torch.tensor([[1, 2, 3, 4]])), ValueError,
     r"captions must be \(n, 3\)"),
    (lambda: C.multi_positive_loss(torch.zeros(3, 3), [0, 1]), ValueError, "groups must hold one group id per pair"),
    (lambda: C.multi_positive_loss(torch.zeros(3, 3), [0, 1, 0.5]), ValueError, "groups must hold whole numbers"),
    (lambda: C.multi_positive_loss(torch.zeros(3, 3), [0, 1, 2], mode="hard"), ValueError, "mode must be"),
    (lambda: C.multi_positive_loss(torch.zeros(3, 4), [0, 1, 2]), ValueError, "logits must be a square"),
    (lambda: C.multi_positive_loss(np.zeros((3, 3)), [0, 1, 2]), TypeError, "logits must be a torch tensor"),
    (lambda: C.infonce_floor([]), ValueError, "groups must not be empty"),
    (lambda: C.infonce_floor([[0, 1]]), ValueError, "groups must be 1-D"),
    (lambda: C.infonce_floor(["a", "b"]), TypeError, "groups must hold numbers"),
    (lambda: Z.ensemble_embeddings(torch.zeros(2, 3)), ValueError, "prompt_emb must be a non-empty"),
    (lambda: Z.ensemble_embeddings(torch.zeros(2, 1, 3)), ValueError, "prompt_emb must not hold a zero vector"),
    (lambda: Z.ensemble_embeddings(torch.tensor([[[1.0, 0.0], [-1.0, 0.0]]])), ValueError, "templates cancel out"),
    (lambda: Z.ensemble_embeddings(torch.ones(2, 2, 3, dtype=torch.long)), TypeError, "prompt_emb must be a floating"),
    (lambda: Z.class_embeddings("model", np.zeros((2, 2, 3), dtype=int)), TypeError, "encode_text must be"),
    (lambda: Z.class_embeddings(lambda t: t.float(), np.zeros((2, 3), dtype=int)), ValueError, "prompts must be 3-D"),
    (lambda: Z.class_embeddings(lambda t: t.float(), np.zeros((2, 3, 1)) + 0.5), TypeError,
     "prompts must hold integers"),
    (lambda: Z.class_embeddings(lambda t: t[:1].float(), np.ones((2, 3, 2), dtype=int)), ValueError,
     "encode_text must return one embedding per prompt"),
    (lambda: Z.zero_shot_predict(torch.ones(2, 3), torch.ones(4, 2)), ValueError, "same dimension"),
    (lambda: Z.zero_shot_predict(torch.ones(2, 3), torch.ones(0, 3)), ValueError, "class_emb must hold at least one"),
    (lambda: Z.zero_shot_predict(np.ones((2, 3)), torch.ones(4, 3)), TypeError, "image_emb must be a torch tensor"),
    (lambda: S.prompt_tokens(0, 0, 4), ValueError, "template must be <= 3"),
    (lambda: S.prompt_tokens(0, 0, 1, length=4), ValueError, "length must be >= 5"),
    (lambda: S.class_prompts([(0, 9)]), ValueError, r"pairs\[0\]\[1\] \(colour\) must be <= 5"),
    (lambda: S.class_prompts([(0, 1)], []), ValueError, "templates must list at least one"),
    (lambda: S.captioned_shapes(3, templates="01"), TypeError, "templates must be a list"),
    (lambda: S.captioned_shapes(3, templates=[0, 1.0]), TypeError, r"templates\[1\] must be an integer"),
])
def test_bad_input_is_refused_naming_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()
