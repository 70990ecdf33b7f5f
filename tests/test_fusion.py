"""Chapter 11: the generators, fusion models, the InfoNCE loss, recall@k and modality dropout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import troikadl as tk
from troikadl import fusion
from troikadl.data import shapes as S
from troikadl.data import vqa

V = len(vqa.VOCAB)


# --- generators ---------------------------------------------------------------------------------------------
def test_mini_vqa_is_deterministic_balanced_and_consistent():
    a, b = vqa.mini_vqa(500, seed=3), vqa.mini_vqa(500, seed=3)
    np.testing.assert_array_equal(a.questions, b.questions)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(vqa.mini_vqa(500, seed=4).questions, a.questions)
    for i in range(len(a)):  # every answer is what the question says about the digit
        name = str(a.templates[i])
        words = a.texts[i].split()
        k = int(words[-2]) if words[-2].isdigit() else None
        assert vqa.TEMPLATES[name][1](int(a.digits[i]), k) == bool(a.answers[i])
    big = vqa.mini_vqa(6000, seed=0)
    assert abs(big.answers.mean() - 0.5) < 0.03
    for q in set(big.texts):  # each question is answered yes about half of the time
        sel = np.array([t == q for t in big.texts])
        assert abs(big.answers[sel].mean() - 0.5) < 0.2, q


def test_mini_vqa_uses_only_the_given_images():
    ids = np.arange(100)
    from sklearn.datasets import load_digits

    d = vqa.mini_vqa(300, seed=0, image_ids=ids)
    pool = load_digits().data[ids] / 16
    assert all(any(np.array_equal(x, p) for p in pool) for x in d.images[:20])
    with pytest.raises(ValueError, match="image_ids must be a non-empty"):
        vqa.mini_vqa(10, image_ids=np.array([], dtype=int))
    with pytest.raises(ValueError, match="at most 6 words from VOCAB"):
        vqa.encode_question("is it a cat ?")


def test_shapes_are_deterministic_and_respect_combos():
    a, b = S.captioned_shapes(200, seed=5), S.captioned_shapes(200, seed=5)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.images.shape == (200, 3, 16, 16) and a.images.min() >= 0 and a.images.max() <= 1
    only = [(0, 1), (2, 3)]
    c = S.captioned_shapes(100, seed=0, combos=only)
    assert set(zip(c.shape.tolist(), c.colour.tolist())) == set(only)
    assert c.text(0).startswith("a ") and c.text(0).split()[1] in S.COLOURS
    with pytest.raises(ValueError, match="shape must be in"):
        S.captioned_shapes(5, combos=[(9, 0)])


# --- packing and models ----------------------------------------------------------------------------------
def test_pack_refuses_mismatched_batches():
    d = vqa.mini_vqa(10, seed=0)
    with pytest.raises(ValueError, match="same number of examples, got 10 and 9"):
        fusion.pack(d.images, d.questions[:9])
    with pytest.raises(ValueError, match="must be integer token ids"):
        fusion.pack(d.images, d.questions.astype(float))
    with pytest.raises(ValueError, match="images and captions must hold the same number"):
        fusion.pack_pairs(np.zeros((4, 3, 16, 16)), np.zeros((3, 3), dtype=int))
    x = torch.as_tensor(fusion.pack(d.images, d.questions))
    img, tok = fusion.unpack(x)
    assert torch.equal(tok, torch.as_tensor(d.questions)) and torch.allclose(img, torch.as_tensor(d.images).float())


@pytest.mark.parametrize("name", list(fusion.MODELS))
def test_every_model_gives_one_logit_and_handles_missing_inputs(name):
    torch.manual_seed(0)
    model = fusion.MODELS[name](V).eval()
    d = vqa.mini_vqa(7, seed=0)
    x = torch.as_tensor(fusion.pack(d.images, d.questions))
    assert model(x).shape == (7, 1)
    empty = x.clone()
    empty[:, fusion.models.IMAGE_DIM:] = 0
    assert torch.isfinite(model(empty)).all()


def test_late_fusion_cannot_express_an_interaction():
    """f(x1, q1) + f(x2, q2) = f(x1, q2) + f(x2, q1) for any late-fusion model (its logit is additive)."""
    torch.manual_seed(0)
    model = fusion.models.LateFusion(V).eval()
    d = vqa.mini_vqa(2, seed=1)
    x = torch.as_tensor(fusion.pack(d.images, d.questions))
    swapped = torch.as_tensor(fusion.pack(d.images, d.questions[::-1].copy()))
    torch.testing.assert_close(model(x).sum(), model(swapped).sum())
    concat = fusion.models.ConcatFusion(V).eval()
    with torch.no_grad():
        assert abs(float(concat(x).sum() - concat(swapped).sum())) > 1e-6


def test_modality_dropout_hides_one_input_in_training_only():
    seen = []

    class Spy(torch.nn.Module):
        def forward(self, x):
            seen.append(x.clone())
            return x[:, :1]

    md = fusion.ModalityDropout(Spy(), p=0.3)
    d = vqa.mini_vqa(4000, seed=0)
    x = torch.as_tensor(fusion.pack(d.images, d.questions))
    md.train()
    md(x)
    out = seen[-1]
    no_img = (out[:, :64] == 0).all(1)
    no_q = (out[:, 64:] == 0).all(1)
    assert not (no_img & no_q).any()
    assert abs(no_img.float().mean() - 0.3) < 0.03 and abs(no_q.float().mean() - 0.3) < 0.03
    md.eval()
    md(x)
    assert torch.equal(seen[-1], x)
    with pytest.raises(ValueError, match=r"p must be in \[0, 0.5\)"):
        fusion.ModalityDropout(Spy(), p=0.5)


@pytest.mark.tf
def test_keras_twin_of_concat_fusion():
    tk.setup(0)
    torch.manual_seed(0)
    model = fusion.models.ConcatFusion(V, hidden=16).eval()
    tk.import_tf()
    k = fusion.models.concat_fusion_keras(V, hidden=16)
    fusion.models.copy_concat_fusion_to_keras(model, k)
    d = vqa.mini_vqa(50, seed=0)
    X = fusion.pack(d.images, d.questions)
    X[:5, 64:] = 0  # some questions missing
    np.testing.assert_allclose(k.predict(X, verbose=0), tk.predict(model, X), atol=1e-5)


# --- contrastive learning -----------------------------------------------------------------------------------
def _direct_info_nce(a, b, t):
    a, b = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    s = a @ b.T / t
    n = len(s)
    rows = -sum(torch.log(torch.exp(s[i, i]) / torch.exp(s[i]).sum()) for i in range(n)) / n
    cols = -sum(torch.log(torch.exp(s[i, i]) / torch.exp(s[:, i]).sum()) for i in range(n)) / n
    return (rows + cols) / 2


def test_info_nce_equals_a_direct_computation_and_is_symmetric():
    torch.manual_seed(0)
    a, b = torch.randn(6, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    for t in (0.05, 0.3, 2.0):
        torch.testing.assert_close(fusion.info_nce(a, b, t), _direct_info_nce(a, b, t))
        torch.testing.assert_close(fusion.info_nce(a, b, t), fusion.info_nce(b, a, t))  # swapping the modalities
    perm = torch.randperm(6)
    torch.testing.assert_close(fusion.info_nce(a[perm], b[perm], 0.3), fusion.info_nce(a, b, 0.3))
    torch.testing.assert_close(fusion.info_nce(3 * a, b, 0.3), fusion.info_nce(a, b, 0.3))  # scale-free
    logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / 0.3
    torch.testing.assert_close(fusion.clip_loss(logits), fusion.info_nce(a, b, 0.3))


def test_info_nce_refuses_mismatched_batches():
    with pytest.raises(ValueError, match="same number of pairs, got 4 images and 5 captions"):
        fusion.info_nce(torch.zeros(4, 3), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="same dimension"):
        fusion.info_nce(torch.ones(4, 3), torch.ones(4, 2))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        fusion.info_nce(torch.ones(4, 3), torch.ones(4, 3), 0.0)


def test_recall_at_k_with_ties_and_errors():
    s = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]])
    assert fusion.recall_at_k(s, np.array([0, 0, 1]), 1) == pytest.approx(2 / 3)
    assert fusion.recall_at_k(s, np.array([0, 0, 1]), 2) == 1.0
    assert fusion.recall_at_k(np.eye(4), np.arange(4), 1) == 1.0
    with pytest.raises(ValueError, match="k must be between 1 and the gallery size 2"):
        fusion.recall_at_k(s, np.array([0, 0, 1]), 3)
    with pytest.raises(ValueError, match="targets"):
        fusion.recall_at_k(s, np.array([0, 1]), 1)


def test_clip_model_learns_to_retrieve_quickly():
    tk.setup(0)
    torch.manual_seed(0)
    data = S.captioned_shapes(1200, seed=0)
    model = fusion.ClipModel(len(S.CAPTION_VOCAB))
    X = fusion.pack_pairs(data.images, data.captions)
    tk.fit(model, (X, np.zeros(len(X))), epochs=4, loss=fusion.clip_loss, metric=None, lr=3e-3, batch_size=128,
           show_progress=False)
    gallery = np.stack([S.caption_tokens(s, c) for s in range(len(S.SHAPES)) for c in range(len(S.COLOURS))])
    test = S.captioned_shapes(300, seed=9)
    with torch.no_grad():
        sim = (model.encode_images(torch.as_tensor(test.images, dtype=torch.float32))
               @ model.encode_captions(torch.as_tensor(gallery, dtype=torch.float32)).T).numpy()
    assert fusion.recall_at_k(sim, test.combo, 1) > 0.5  # chance is 1/30
    with pytest.raises(ValueError, match="text must be 'tokens' or 'caption'"):
        fusion.ClipModel(5, text="chars")


@pytest.mark.tf
def test_info_nce_equals_a_tensorflow_computation():
    tf = tk.import_tf()
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(7, 5)), rng.normal(size=(7, 5))
    logits = tf.linalg.l2_normalize(a, axis=1) @ tf.transpose(tf.linalg.l2_normalize(b, axis=1)) / 0.2
    target = tf.range(7)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits
    ref = float((tf.reduce_mean(ce(target, logits)) + tf.reduce_mean(ce(target, tf.transpose(logits)))) / 2)
    assert float(fusion.info_nce(torch.tensor(a), torch.tensor(b), 0.2)) == pytest.approx(ref, rel=1e-12)
