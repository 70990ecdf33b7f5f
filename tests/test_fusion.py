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
    with pytest.raises(ValueError, match="image_ids must (be a non-empty|not be empty)"):
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
    with pytest.raises(ValueError, match=r"shape must be in|\(shape\) must be"):
        S.captioned_shapes(5, combos=[(9, 0)])


# --- models ----------------------------------------------------------------------------------------------
def _inputs(d, dtype=torch.float32):
    """A VQA set's two model inputs: float pixels and integer token ids."""
    return torch.as_tensor(d.images, dtype=dtype), torch.as_tensor(d.questions)


@pytest.mark.parametrize("name", list(fusion.MODELS))
def test_every_model_gives_one_logit_and_handles_missing_inputs(name):
    torch.manual_seed(0)
    model = fusion.MODELS[name](vocab_size=V).eval()
    image, tokens = _inputs(vqa.mini_vqa(7, seed=0))
    assert model(image, tokens).shape == (7, 1)
    assert torch.isfinite(model(image, torch.zeros_like(tokens))).all()
    with pytest.raises(TypeError, match="tokens must hold integers"):  # token ids are never floats
        model(image, tokens.float())
    with pytest.raises(ValueError, match="image and tokens must hold the same number of examples, got 7 and 6"):
        model(image, tokens[:6])
    with pytest.raises(TypeError, match="takes 1 positional argument"):  # settings are keyword arguments
        fusion.MODELS[name](V)


# Each model's forward pass written again here in NumPy, from the model's own weights, in float64 (so 1e-12).
def _w(layer):
    return layer.weight.detach().numpy(), layer.bias.detach().numpy()


def _lin(x, layer):
    W, b = _w(layer)
    return x @ W.T + b


def _relu(z):
    return np.maximum(z, 0.0)


def _mlp_ref(x, seq):
    """Linear, ReLU, Linear: the package's _mlp."""
    return _lin(_relu(_lin(x, seq[0])), seq[2])


def _mean_of_words(embed, tokens):
    """The average embedding of each question's non-padding tokens (zeros for an empty question), by a loop."""
    E = embed.weight.detach().numpy()
    out = np.zeros((len(tokens), E.shape[1]))
    for i, row in enumerate(tokens):
        words = [t for t in row if t != 0]
        if words:
            out[i] = E[words].mean(axis=0)
    return out


def _image_only_ref(m, img, tokens):
    return _lin(_relu(_mlp_ref(img, m.net[0])), m.net[2])


def _text_only_ref(m, img, tokens):
    return _mlp_ref(_mean_of_words(m.text.embed, tokens), m.head)


def _early_ref(m, img, tokens):
    bag = np.zeros((len(tokens), V))
    for i, row in enumerate(tokens):
        for t in row:
            bag[i, t] += t != 0  # counts of each word; padding is no word
    return _lin(_relu(_mlp_ref(np.concatenate([img, bag], axis=1), m.net[0])), m.net[2])


def _late_ref(m, img, tokens):
    return (_image_only_ref(m.image, img, tokens) + _text_only_ref(m.text, img, tokens)) / 2


def _concat_ref(m, img, tokens):
    f, h = _relu(_lin(img, m.image[0])), _mean_of_words(m.text.embed, tokens)
    return _mlp_ref(np.concatenate([f, h], axis=1), m.head)


def _film_ref(m, img, tokens):
    H = m.film.out_features // 2
    g = _lin(_mean_of_words(m.text.embed, tokens), m.film)
    gamma, beta = g[:, :H], g[:, H:]
    return _mlp_ref(_relu((1 + gamma) * _relu(_lin(img, m.image[0])) + beta), m.head)


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _cross_attention_ref(m, img, tokens):
    """Patches by explicit loops (patch 4r + c holds pixels (2r, 2c), (2r, 2c+1), (2r+1, 2c), (2r+1, 2c+1)),
    multi-head attention from nn.MultiheadAttention's packed weights, masked mean pooling, the head."""
    n, hidden, heads = len(img), m.patch.out_features, m.attend.num_heads
    pix = img.reshape(n, 8, 8)
    P = np.array([[[pix[k, 2 * r + i, 2 * c + j] for i in (0, 1) for j in (0, 1)] for r in range(4) for c in range(4)]
                  for k in range(n)])
    kv = _relu(_lin(P, m.patch)) + m.patch_pos.detach().numpy()
    q = m.embed.weight.detach().numpy()[tokens] + m.token_pos.detach().numpy()
    Wq, Wk, Wv = np.split(m.attend.in_proj_weight.detach().numpy(), 3)
    bq, bk, bv = np.split(m.attend.in_proj_bias.detach().numpy(), 3)
    Q, K, Vv = q @ Wq.T + bq, kv @ Wk.T + bk, kv @ Wv.T + bv
    d = hidden // heads
    outs, weights = [], []
    for h in range(heads):
        s = slice(h * d, (h + 1) * d)
        A = _softmax(Q[..., s] @ K[..., s].transpose(0, 2, 1) / np.sqrt(d))
        outs.append(A @ Vv[..., s])
        weights.append(A)
    out = _lin(np.concatenate(outs, axis=-1), m.attend.out_proj)
    keep = (tokens != 0)[..., None].astype(float)
    pooled = np.concatenate([(out * keep).sum(1), (q * keep).sum(1)], axis=1) / np.maximum(keep.sum(1), 1.0)
    return _mlp_ref(pooled, m.head), np.mean(weights, axis=0)


_REFERENCES = {fusion.models.ImageOnly: _image_only_ref, fusion.models.TextOnly: _text_only_ref,
               fusion.models.EarlyFusion: _early_ref, fusion.models.LateFusion: _late_ref,
               fusion.models.ConcatFusion: _concat_ref, fusion.models.FiLMFusion: _film_ref,
               fusion.models.CrossAttentionFusion: lambda m, img, tokens: _cross_attention_ref(m, img, tokens)[0]}


def _batch_with_missing_inputs():
    d = vqa.mini_vqa(9, seed=5)
    images, questions = d.images.copy(), d.questions.copy()
    images[1] = 0.0      # a missing image
    questions[2] = 0     # a missing question
    questions[3, 1:] = 0  # a one-word question
    return images, questions


@pytest.mark.parametrize("name", list(fusion.MODELS))
def test_every_model_equals_its_forward_pass_written_in_numpy(name):
    cls = fusion.MODELS[name]
    torch.manual_seed(1)
    model = (cls(vocab_size=V, hidden=8, heads=2) if cls is fusion.models.CrossAttentionFusion
             else cls(vocab_size=V, hidden=6))
    model = model.double().eval()
    with torch.no_grad():  # random, larger weights than at initialization, so that every term shows
        for p in model.parameters():
            p.normal_(0.0, 0.5)
    images, questions = _batch_with_missing_inputs()
    with torch.no_grad():
        out = model(torch.as_tensor(images), torch.as_tensor(questions)).numpy()
    np.testing.assert_allclose(out, _REFERENCES[cls](model, images, questions), atol=1e-12, rtol=0)


def test_cross_attention_weights_are_the_head_average_over_the_16_patches():
    torch.manual_seed(2)
    model = fusion.models.CrossAttentionFusion(vocab_size=V, hidden=8, heads=2).double().eval()
    images, questions = _batch_with_missing_inputs()
    with torch.no_grad():
        logit, weights = model(torch.as_tensor(images), torch.as_tensor(questions), need_weights=True)
    ref_logit, ref_weights = _cross_attention_ref(model, images, questions)
    assert weights.shape == (9, 6, 16)  # (batch, question tokens, image patches)
    np.testing.assert_allclose(weights.numpy(), ref_weights, atol=1e-12, rtol=0)
    np.testing.assert_allclose(logit.numpy(), ref_logit, atol=1e-12, rtol=0)


def test_vqa_indexing_selects_the_same_examples_from_every_array():
    d = vqa.mini_vqa(12, seed=0)
    for idx in ([4, 0, 11, -1], np.array([2, 2]), np.arange(12) % 3 == 0, slice(2, 9, 3), [], np.array([7])):
        sub = d[idx]
        rows = np.arange(12)[idx]
        assert isinstance(sub, vqa.VQA) and len(sub) == len(rows)
        for field in ("images", "questions", "answers", "digits", "templates"):
            np.testing.assert_array_equal(getattr(sub, field), getattr(d, field)[rows])
        assert sub.texts == [d.texts[i] for i in rows]
    assert "0 examples" in repr(d[[]])
    with pytest.raises(TypeError, match=r"idx must be a slice.*d\[\[i\]\]"):
        d[3]
    with pytest.raises(TypeError, match="idx must be a slice"):
        d[np.array([0.0, 1.0])]
    with pytest.raises(ValueError, match=r"boolean mask, must have one entry per example \(12\), got 11"):
        d[np.ones(11, dtype=bool)]
    with pytest.raises(IndexError):
        d[[12]]


def _interaction(model, x1, q1, x2, q2):
    """f(x1, q1) + f(x2, q2) - f(x1, q2) - f(x2, q1): zero for every additive model."""
    with torch.no_grad():
        return model(x1, q1) + model(x2, q2) - model(x1, q2) - model(x2, q1)


class _NonlinearLate(torch.nn.Module):
    """Late fusion with a learned nonlinear (multiplicative) combiner of the two branches' outputs u, v:
    a linear function of [u, v, u * v]."""

    def __init__(self, width):
        super().__init__()
        self.image, self.text = fusion.models.ImageOnly(vocab_size=V), fusion.models.TextOnly(vocab_size=V)
        self.image.net[-1] = torch.nn.Linear(128, width)  # each branch outputs `width` numbers
        self.text.head[-1] = torch.nn.Linear(128, width)
        self.combine = torch.nn.Linear(3 * width, 1)

    def forward(self, image, tokens):
        u, v = self.image(image, tokens), self.text(image, tokens)
        return self.combine(torch.cat([u, v, u * v], dim=1))


def test_additive_late_fusion_cannot_express_an_interaction_but_a_nonlinear_combiner_can():
    """The chapter's statement: the sum of per-modality scores has no interaction, whatever its weights;
    a nonlinear combiner of per-modality outputs, or feature fusion, has one."""
    d = vqa.mini_vqa(64, seed=1)
    x, q = _inputs(d, torch.float64)
    halves = x[:32], q[:32], x[32:], q[32:]
    for seed in range(3):
        torch.manual_seed(seed)
        late = fusion.models.LateFusion(vocab_size=V).double().eval()
        torch.testing.assert_close(_interaction(late, *halves), torch.zeros(32, 1, dtype=torch.float64),
                                   atol=1e-12, rtol=0)
        for model in (_NonlinearLate(1), _NonlinearLate(4), fusion.models.ConcatFusion(vocab_size=V)):
            assert _interaction(model.double().eval(), *halves).abs().max() > 1e-6, type(model).__name__


def test_modality_dropout_hides_one_input_in_training_only():
    seen = []

    class Spy(torch.nn.Module):
        def forward(self, image, tokens):
            seen.append((image.clone(), tokens.clone()))
            return image[:, :1]

    md = fusion.ModalityDropout(Spy(), p=0.3)
    x, q = _inputs(vqa.mini_vqa(4000, seed=0))
    md.train()
    md(x, q)
    image, tokens = seen[-1]
    no_img = (image == 0).all(1)
    no_q = (tokens == 0).all(1)
    assert not (no_img & no_q).any()
    assert abs(no_img.float().mean() - 0.3) < 0.03 and abs(no_q.float().mean() - 0.3) < 0.03
    kept = ~no_img & ~no_q  # an example that keeps both inputs keeps them unchanged
    assert torch.equal(image[kept], x[kept]) and torch.equal(tokens[kept], q[kept])
    assert torch.equal(image[no_q], x[no_q]) and torch.equal(tokens[no_img], q[no_img])
    assert tokens.dtype == torch.int64  # the token ids stay integers
    md.eval()
    md(x, q)
    assert torch.equal(seen[-1][0], x) and torch.equal(seen[-1][1], q)
    with pytest.raises(ValueError, match=r"p must be in \[0, 0.5\)"):
        fusion.ModalityDropout(Spy(), p=0.5)


@pytest.mark.tf
def test_keras_twin_of_concat_fusion():
    tk.setup(0)
    torch.manual_seed(0)
    model = fusion.models.ConcatFusion(vocab_size=V, hidden=16).eval()
    with torch.no_grad():  # weights away from initialization, so that every copied tensor matters
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    tk.import_tf()
    k = fusion.models.concat_fusion_keras(vocab_size=V, hidden=16)
    assert fusion.models.copy_to_keras(model, k) is None
    d = vqa.mini_vqa(50, seed=0)
    images, questions = d.images.astype(np.float32), d.questions.copy()
    questions[:5] = 0  # some questions missing
    with torch.no_grad():
        ref = model(torch.as_tensor(images), torch.as_tensor(questions)).numpy()
    np.testing.assert_allclose(k.predict([images, questions], verbose=0), ref, atol=1e-5)  # float32
    for other, differs in ((fusion.models.concat_fusion_keras(vocab_size=V + 1, hidden=16), "'embed'"),
                           (fusion.models.concat_fusion_keras(vocab_size=V, hidden=8), "'image'")):
        with pytest.raises(ValueError, match=f"keras_model's layer {differs} must have weights of shape"):
            fusion.models.copy_to_keras(model, other)


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
    model = fusion.ClipModel(vocab_size=len(S.CAPTION_VOCAB))
    tk.fit(model, ((data.images, data.captions), np.zeros(len(data))), epochs=4, loss=fusion.clip_loss, metric=None,
           lr=3e-3, batch_size=128, show_progress=False)
    gallery = np.stack([S.caption_tokens(s, c) for s in range(len(S.SHAPES)) for c in range(len(S.COLOURS))])
    test = S.captioned_shapes(300, seed=9)
    with torch.no_grad():
        sim = (model.encode_images(torch.as_tensor(test.images, dtype=torch.float32))
               @ model.encode_captions(torch.as_tensor(gallery)).T).numpy()
    assert fusion.recall_at_k(sim, test.combo, 1) > 0.5  # chance is 1/30
    with pytest.raises(ValueError, match="text must be 'tokens' or 'caption'"):
        fusion.ClipModel(vocab_size=5, text="chars")


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


# --- bad input ------------------------------------------------------------------------------------------------
_D = vqa.mini_vqa(4, seed=0)
_X, _Q = _inputs(_D)


def _with_token(token):
    q = _Q.clone()
    q[0, 0] = token
    return q


@pytest.mark.parametrize("call, error, match", [
    (lambda: fusion.models.ConcatFusion(vocab_size=V)(torch.full((4, 64), float("nan")), _Q), ValueError,
     "image must be finite"),
    (lambda: fusion.models.ConcatFusion(vocab_size=V)(_X, _with_token(-1)), ValueError, rf"token ids in \[0, {V}\)"),
    (lambda: fusion.ModalityDropout(fusion.models.ConcatFusion(vocab_size=V))(_X, _with_token(-1)), ValueError,
     "token ids >= 0"),
    (lambda: fusion.models.ImageOnly(vocab_size=V)(_X.reshape(4, 8, 8), _Q), ValueError, "image must be 2-D"),
    (lambda: fusion.models.ImageOnly(vocab_size=V)(_X.numpy(), _Q), TypeError, "image must be a torch tensor"),
    (lambda: fusion.models.TextOnly(vocab_size=V)(_X, _Q.numpy()), TypeError, "tokens must be a torch tensor"),
    (lambda: fusion.models.ConcatFusion(vocab_size=V)(_X, _with_token(V)), ValueError, rf"token ids in \[0, {V}\)"),
    (lambda: fusion.models.EarlyFusion(vocab_size=V)(_X[:, :60], _Q), ValueError,
     r"image must have shape \(batch, 64\)"),
    (lambda: fusion.models.EarlyFusion(vocab_size=V)(_X, _Q[:, :5]), ValueError,
     r"tokens must have shape \(batch, 6\)"),
    (lambda: fusion.models.FiLMFusion(vocab_size=V, hidden=0), ValueError, "hidden must be >= 1"),
    (lambda: fusion.models.ImageOnly(vocab_size=float(V)), TypeError, "vocab_size must be an integer"),
    (lambda: fusion.models.CrossAttentionFusion(vocab_size=V, hidden=63, heads=2), ValueError,
     "hidden must be divisible by heads"),
    (lambda: fusion.ModalityDropout(fusion.models.ConcatFusion(vocab_size=V), p=float("nan")), ValueError,
     "p must be finite"),
    (lambda: fusion.ModalityDropout(fusion.models.ConcatFusion(vocab_size=V), p="0.1"), TypeError,
     "p must be a number"),
    (lambda: fusion.ModalityDropout(lambda x: x, p=0.1), TypeError, "model must be a torch.nn.Module"),
    (lambda: fusion.info_nce(np.ones((4, 3)), torch.ones(4, 3)), TypeError, "image_emb must be a torch tensor"),
    (lambda: fusion.info_nce(torch.ones(4, 3), torch.ones(4, 3, dtype=torch.long)), TypeError,
     "text_emb must be a floating-point tensor"),
    (lambda: fusion.info_nce(torch.ones(4, 3), torch.full((4, 3), float("nan"))), ValueError,
     "text_emb must be finite"),
    (lambda: fusion.info_nce(torch.ones(4, 3), torch.ones(4, 3), float("nan")), ValueError,
     "temperature must be finite"),
    (lambda: fusion.info_nce(torch.ones(4, 3), torch.ones(4, 3), -0.1), ValueError, "temperature must be > 0"),
    (lambda: fusion.info_nce(torch.ones(4, 3), torch.ones(4, 3), "0.1"), TypeError, "temperature must be a number"),
    (lambda: fusion.info_nce(torch.ones(0, 3), torch.ones(0, 3)), ValueError, "at least one pair"),
    (lambda: fusion.clip_loss(torch.zeros(3, 4)), ValueError, r"logits must be a square \(B, B\)"),
    (lambda: fusion.ClipModel(vocab_size=len(S.CAPTION_VOCAB), dim=0), ValueError, "dim must be >= 1"),
    (lambda: fusion.ClipModel(vocab_size=4)(torch.zeros(2, 3, 16, 16), torch.zeros(3, 3, dtype=torch.long)),
     ValueError, "images and captions must hold the same number of pairs, got 2 and 3"),
    (lambda: fusion.ClipModel(vocab_size=4)(torch.zeros(2, 771), torch.zeros(2, 3, dtype=torch.long)), ValueError,
     r"images must be \(n, 3, 16, 16\)"),
    (lambda: fusion.ClipModel(vocab_size=4).encode_captions(torch.tensor([[1, 2, 4]])), ValueError,
     r"token ids in \[0, 4\)"),
    (lambda: fusion.ClipModel(vocab_size=4).encode_captions(torch.tensor([[1.0, 2.0, 3.0]])), TypeError,
     "captions must hold integers"),
    (lambda: fusion.ClipModel(vocab_size=4).encode_images(torch.zeros(2, 3, 8, 8)), ValueError,
     r"images must be \(n, 3, 16, 16\)"),
    (lambda: fusion.recall_at_k(np.eye(3), np.arange(3), 1.0), TypeError, "k must be an integer"),
    (lambda: fusion.recall_at_k(np.eye(3), np.array([0, 1, 3]), 1), ValueError, r"targets must be gallery indices"),
    (lambda: fusion.recall_at_k(np.eye(3), np.array([0.0, 1.0, 2.0]), 1), TypeError, "targets must hold integer"),
    (lambda: fusion.recall_at_k(np.full((3, 3), np.nan), np.arange(3), 1), ValueError, "similarity must be finite"),
])
def test_bad_input_is_refused_with_a_message_naming_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_a_learned_temperature_tensor_is_accepted_and_keeps_its_gradient():
    t = torch.tensor(0.2, requires_grad=True)
    a, b = torch.randn(5, 3, generator=torch.Generator().manual_seed(0)), torch.randn(5, 3)
    fusion.info_nce(a, b, t).backward()
    assert t.grad is not None and torch.isfinite(t.grad)
