"""Image captioning (chapter 11): the scene generator, BLEU, and the captioner built on chapter 6's decoder."""

import math
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from troikadl.data import scenes as Sc
from troikadl.data import shapes as S
from troikadl.data.translation import BOS, EOS
from troikadl.fusion.captioning import ImageCaptioner, caption_scores, strip_caption
from troikadl.language_model.bleu import bleu, brevity_penalty, modified_precision
from troikadl.transformer.seq2seq import Seq2SeqTransformer

# Papineni et al. (2002), Example 1 and Example 2 (case kept, as in NLTK's documentation of the same example).
CAND1 = "It is a guide to action which ensures that the military always obeys the commands of the party".split()
CAND2 = "It is to insure the troops forever hearing the activity guidebook that party direct".split()
REFS = ["It is a guide to action that ensures that the military will forever heed Party commands".split(),
        "It is the guiding principle which guarantees the military forces always being under the command of the "
        "Party".split(),
        "It is the practical guide for the army always to heed the directions of the party".split()]


def test_bleu_modified_precision_on_the_papers_worked_examples():
    the7 = ["the"] * 7
    assert modified_precision(the7, ["the cat is on the mat".split(), "there is a cat on the mat".split()], 1) == (2, 7)
    assert modified_precision(CAND1, REFS, 1) == (17, 18)
    assert modified_precision(CAND2, REFS, 1) == (8, 14)
    assert modified_precision(CAND1, REFS, 2) == (10, 17)
    assert modified_precision(CAND2, REFS, 2) == (1, 13)


def test_bleu_of_the_papers_candidate_equals_nltks_documented_value():
    # nltk.translate.bleu's docstring: sentence_bleu([reference1, reference2, reference3], hypothesis1) -> 0.5045...
    assert bleu([CAND1], [REFS]) == pytest.approx(0.5045, abs=1e-4)
    assert bleu([CAND2], [REFS]) == 0.0  # no 4-gram matches and no smoothing
    assert 0 < bleu([CAND2], [REFS], smoothing="add-one") < bleu([CAND1], [REFS], smoothing="add-one")


def test_brevity_penalty_uses_the_closest_reference_length():
    assert brevity_penalty(12, 12) == 1.0 and brevity_penalty(13, 12) == 1.0 and brevity_penalty(0, 5) == 0.0
    assert brevity_penalty(10, 12) == pytest.approx(math.exp(1 - 12 / 10), rel=1e-12)
    # the paper: references of 12, 15 and 17 words and a 12-word candidate: the best match length is 12, BP = 1
    cand = list("abcdefghijkl")
    refs = [list("abcdefghijkl"), list("abcdefghijklmno"), list("abcdefghijklmnopq")]
    assert bleu([cand], [refs]) == 1.0
    assert bleu([cand[:10]], [[cand]], max_n=1) == pytest.approx(math.exp(1 - 12 / 10), rel=1e-12)
    # a tie between 9 and 11 words for a 10-word candidate picks the shorter reference: no penalty
    assert bleu([cand[:10]], [[cand[:9], cand[:11]]], max_n=1) == 1.0


def _reference_bleu(cands, refs, max_n, smoothing):
    """Corpus BLEU written differently: n-grams as lists, counts with list.count, lengths by sorting."""
    num, den = [0.0] * max_n, [0.0] * max_n
    c_len = r_len = 0
    for cand, rs in zip(cands, refs):
        c_len += len(cand)
        r_len += sorted(rs, key=lambda r: (abs(len(r) - len(cand)), len(r)))[0].__len__()
        for n in range(1, max_n + 1):
            grams = [cand[i:i + n] for i in range(len(cand) - n + 1)]
            for g in [list(x) for x in {tuple(x) for x in grams}]:
                in_refs = max([r[i:i + n] for i in range(len(r) - n + 1)].count(g) for r in rs)
                num[n - 1] += min(grams.count(g), in_refs)
            den[n - 1] += len(grams)
    if c_len == 0:
        return 0.0
    ps = []
    for n in range(max_n):
        a, b = num[n], den[n]
        if smoothing == "add-one" and n >= 1:
            a, b = a + 1, b + 1
        if smoothing == "epsilon" and a == 0:
            a = 0.1
        if a == 0 or b == 0:
            return 0.0
        ps.append(a / b)
    bp = 1.0 if c_len > r_len else math.exp(1 - r_len / c_len)
    return bp * math.prod(ps) ** (1 / max_n)


sentence = st.lists(st.sampled_from("abcd"), min_size=0, max_size=9)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(sentence, st.lists(sentence.filter(len), min_size=1, max_size=3)), min_size=1,
                max_size=4), st.integers(1, 4), st.sampled_from(["none", "add-one", "epsilon"]))
def test_bleu_equals_a_direct_reimplementation(corpus, max_n, smoothing):
    cands, refs = [c for c, _ in corpus], [r for _, r in corpus]
    assert bleu(cands, refs, max_n=max_n, smoothing=smoothing) == pytest.approx(
        _reference_bleu(cands, refs, max_n, smoothing), rel=1e-12, abs=1e-15)


def test_bleu_properties():
    words = "a small red circle at the top left".split()
    assert bleu([words], [[words]]) == 1.0
    shuffled = words[::-1]
    assert modified_precision(shuffled, [words], 1) == (8, 8) and bleu([shuffled], [[words]]) == 0.0
    assert 0 < bleu([words[:7] + ["right"]], [[words]]) < 1
    # corpus BLEU pools the counts: it is not the mean of sentence BLEUs
    pair = ([words, shuffled], [[words], [words]])
    assert bleu(*pair) > 0.0 and bleu(*pair) != (1.0 + 0.0) / 2


# ---------------------------------------------------------------- scenes


def test_scenes_are_deterministic_and_respect_combos():
    a, b = Sc.captioned_scenes(50, seed=3), Sc.captioned_scenes(50, seed=3)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.captions, b.captions)
    only = [(0, 1), (2, 3)]
    d = Sc.captioned_scenes(80, seed=1, combos=only)
    assert set(zip(d.shape.tolist(), d.colour.tolist())) <= set(only)
    assert d.images.shape == (80, 3, 24, 24) and d.captions.shape == (80, Sc.CAPTION_LENGTH)
    assert np.all(d.captions[:, 0] == BOS) and np.all(d.captions[:, -1] == EOS)
    assert d.text(0) == " ".join(Sc.caption_words(d.size[0], d.colour[0], d.shape[0], d.row[0], d.col[0]))
    (x, t_in), t_out = d.teacher_forcing()
    assert np.array_equal(t_in, d.captions[:, :-1]) and np.array_equal(t_out, d.captions[:, 1:])


def test_draw_mask_equals_the_shapes_mask_drawn_on_the_whole_canvas(monkeypatch):
    rng = np.random.default_rng(0)
    cases = [(s, *rng.uniform(7, 17, 2), rng.uniform(3.5, 7.0)) for s in S.SHAPES for _ in range(4)]
    cases += [("circle", 7.0, 7.0, 7.0), ("square", 17.0, 17.0, 7.0), ("cross", 3.5, 20.5, 3.5)]  # at the edges
    ours = [Sc.draw_mask(*c) for c in cases]
    monkeypatch.setattr(S, "SIZE", Sc.SIZE)  # the same function, on a 24x24 grid directly
    for c, m in zip(cases, ours):
        assert np.array_equal(m, S._mask(*c)), c


def test_every_caption_word_can_be_read_off_the_pixels():
    d = Sc.captioned_scenes(400, seed=5)
    rgb = np.array(list(S.COLOURS.values()))
    rgb = rgb / np.linalg.norm(rgb, axis=1, keepdims=True)
    extent_per_radius = {"circle": 2.0, "ring": 2.0, "cross": 2.0, "square": 1.6, "triangle": 1.8}
    for i in range(len(d)):
        img = d.images[i]
        mask = img.max(axis=0) > 0.45
        name = S.SHAPES[d.shape[i]]
        cy, cx, r = *d.centre[i], d.radius[i]
        assert np.array_equal(mask, Sc.draw_mask(name, cy, cx, r)), i
        assert all(not np.array_equal(mask, Sc.draw_mask(o, cy, cx, r)) for o in S.SHAPES if o != name), i
        ys, xs = np.nonzero(mask)
        row = int((ys.min() + ys.max() + 1) / 2 > Sc.SIZE / 2)  # the bounding box's centre, in pixel units
        col = int((xs.min() + xs.max() + 1) / 2 > Sc.SIZE / 2)
        radius = (max(ys.max() - ys.min(), xs.max() - xs.min()) + 1) / extent_per_radius[name]
        size = int(radius > (Sc.RADII["small"][1] + Sc.RADII["large"][0]) / 2)
        mean = img[:, mask].mean(axis=1)
        colour = int(np.argmax(rgb @ (mean / np.linalg.norm(mean))))
        words = Sc.caption_words(size, colour, int(d.shape[i]), row, col)
        assert " ".join(words) == d.text(i), (i, words, d.text(i))


# ---------------------------------------------------------------- the captioner


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    return ImageCaptioner(len(Sc.VOCAB), Sc.CAPTION_LENGTH, **kw).eval()


@pytest.fixture(scope="module")
def data():
    d = Sc.captioned_scenes(6, seed=2)
    return torch.tensor(d.images, dtype=torch.float32), torch.tensor(d.captions)


def test_memory_is_a_grid_of_patches_in_row_major_order(data):
    x, _ = data
    m = _model(grid=4, d_model=32)
    memory, pad = m.encode(x)
    assert memory.shape == (6, 16, 32) and pad.shape == (6, 16) and not bool(pad.any())
    y = x.clone()
    y[:, :, 12:, :12] = torch.rand_like(y[:, :, 12:, :12])  # repaint the bottom-left quadrant
    moved = (m.encode(y)[0] - memory).abs().amax(dim=(0, 2))
    assert moved[3] == 0 and moved[0] == 0  # patches (0, 3) and (0, 0) see only the top of the image
    assert moved[12] > 0  # patch (3, 0) sits in the bottom-left corner
    assert torch.allclose(m.positions().reshape(4, 4, 32)[1, 2], m.rows.weight[1] + m.cols.weight[2])


def test_decoder_is_chapter_6s_decoder_given_the_same_memory(data):
    x, caps = data
    m = _model(dec_layers=2)
    ref = Seq2SeqTransformer(5, len(Sc.VOCAB), 4, Sc.CAPTION_LENGTH, d_model=32, heads=4, d_ff=64, enc_layers=1,
                             dec_layers=2).eval()
    missing, unexpected = ref.load_state_dict(m.state_dict(), strict=False)
    assert all(k.startswith(("src_", "encoder.")) for k in missing)
    assert all(k.startswith(("cnn.", "patch.", "rows.", "cols.")) for k in unexpected)
    memory, pad = m.encode(x)
    with torch.no_grad():
        assert torch.equal(m(x, caps[:, :-1]), ref.decode(memory, pad, caps[:, :-1]))


def test_decoding_is_causal_and_trains_the_image_encoder(data):
    x, caps = data
    m = _model()
    out = m(x, caps[:, :-1])
    changed = caps[:, :-1].clone()
    changed[:, 5] = (changed[:, 5] + 1) % len(Sc.VOCAB)
    out2 = m(x, changed)
    assert torch.equal(out[:, :5], out2[:, :5]) and not torch.allclose(out[:, 5:], out2[:, 5:])
    out.sum().backward()
    assert m.cnn[0].weight.grad is not None and m.cnn[0].weight.grad.abs().sum() > 0


def test_cross_attention_maps_equal_a_direct_softmax_and_sum_to_one(data):
    x, caps = data
    m = _model()
    maps = m.cross_attention_maps(x, caps[:, :-1])
    assert len(maps) == 1 and maps[0].shape == (6, 4, 9, 16)
    assert torch.allclose(maps[0].sum(-1), torch.ones(6, 4, 9), atol=1e-6)
    with torch.no_grad():  # the first layer's cross-attention written out: pre-norm, one causal self-attention
        layer, memory = m.decoder[0], m.encode(x)[0]
        h = m.tgt_tokens(caps[:, :-1]) + m.tgt_positions.weight[:9]
        a = layer.norm1(h)
        h = h + layer.self_attn(a, a, a, attn_mask=torch.ones(9, 9, dtype=torch.bool).triu(1))[0]
        w_q, w_k, _ = layer.multihead_attn.in_proj_weight.chunk(3)
        b_q, b_k, _ = layer.multihead_attn.in_proj_bias.chunk(3)
        q = (layer.norm2(h) @ w_q.T + b_q).reshape(6, 9, 4, 8).transpose(1, 2)
        k = (memory @ w_k.T + b_k).reshape(6, 16, 4, 8).transpose(1, 2)
        want = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(8), dim=-1)
    assert torch.allclose(maps[0], want, atol=1e-5)


def test_greedy_captions_and_float64(data):
    x, _ = data
    m = _model().double()
    out = m.greedy_decode(x.double(), Sc.CAPTION_LENGTH)
    assert out.shape[0] == 6 and out.shape[1] <= Sc.CAPTION_LENGTH and bool((out[:, 0] == BOS).all())
    assert m.encode(x)[0].dtype == torch.float64


class _Fixed(ImageCaptioner):
    """Always predicts the same caption, whatever the image: logits favour ``fixed[t + 1]`` at position t."""

    def __init__(self, fixed):
        super().__init__(len(Sc.VOCAB), Sc.CAPTION_LENGTH)
        self.fixed = torch.as_tensor(fixed)

    def decode(self, memory, src_pad, tgt_in):
        n = tgt_in.shape[1]
        return torch.nn.functional.one_hot(self.fixed[1:n + 1], len(Sc.VOCAB)).float().expand(len(memory), n, -1)


def test_caption_scores_by_hand():
    d = Sc.captioned_scenes(4, seed=0)
    ref = torch.tensor(d.captions)
    fixed = ref[0]
    scores = caption_scores(_Fixed(fixed), d.images[:1].repeat(4, 0), fixed.repeat(4, 1))
    assert scores == {"exact": 1.0, "token": 1.0, "teacher_forced": 1.0, "bleu": 1.0}
    wrong = fixed.clone().repeat(2, 1)
    wrong[1, 8] = Sc.VOCAB.encode(["left" if Sc.VOCAB.tokens[int(fixed[8])] == "right" else "right"])[0]
    scores = caption_scores(_Fixed(fixed), d.images[:2], wrong)
    words = [Sc.VOCAB.tokens[i] for i in strip_caption(fixed)]
    other = [Sc.VOCAB.tokens[i] for i in strip_caption(wrong[1])]
    assert scores["exact"] == 0.5 and scores["token"] == pytest.approx(17 / 18)
    # BLEU by hand: 2 x (9 - n) n-grams of each order, of which the wrong last word spoils exactly one; BP = 1
    p = [(2 * (9 - n) - 1) / (2 * (9 - n)) for n in range(1, 5)]  # 15/16, 13/14, 11/12, 9/10
    assert scores["bleu"] == pytest.approx(math.prod(p) ** 0.25, rel=1e-12)
    assert bleu([words, words], [[words], [other]]) == pytest.approx(scores["bleu"], rel=1e-12)


@pytest.mark.parametrize("call, error, match", [
    (lambda: ImageCaptioner(len(Sc.VOCAB), 10)(torch.zeros(2, 3, 16, 16), torch.ones(2, 3, dtype=torch.long)),
     ValueError, "images must be"),
    (lambda: ImageCaptioner(len(Sc.VOCAB), 10).encode([[0.0]]), TypeError, "images must be"),
    (lambda: ImageCaptioner(len(Sc.VOCAB), 10).greedy_decode(torch.zeros(0, 3, 24, 24), 5), ValueError, "batch"),
    (lambda: ImageCaptioner(len(Sc.VOCAB), 10, grid=8, image_size=12), ValueError, "image_size"),
    (lambda: caption_scores(Seq2SeqTransformer(5, 5, 2, 2), torch.zeros(1, 3, 24, 24), torch.ones(1, 2)),
     TypeError, "ImageCaptioner"),
    (lambda: caption_scores(ImageCaptioner(len(Sc.VOCAB), 10), torch.zeros(2, 3, 24, 24),
                            torch.full((2, 3), 3)), ValueError, "<bos>"),
    (lambda: bleu(["a cat"], [[["a", "cat"]]]), TypeError, "candidates"),
    (lambda: bleu([["a"]], [[["a"]], [["b"]]]), ValueError, "references"),
    (lambda: bleu([["a"]], [[]]), ValueError, "references"),
    (lambda: bleu([["a"]], [[["a"]]], smoothing="laplace"), ValueError, "smoothing"),
    (lambda: bleu([["a"]], [[["a"]]], max_n=0), ValueError, "max_n"),
    (lambda: brevity_penalty(-1, 3), ValueError, "candidate_length"),
    (lambda: Sc.captioned_scenes(0), ValueError, "n"),
    (lambda: Sc.captioned_scenes(3, combos=[(9, 0)]), ValueError, "combos"),
    (lambda: Sc.draw_mask("hexagon", 10, 10, 4), ValueError, "shape"),
    (lambda: Sc.draw_mask("circle", 2, 10, 4), ValueError, "cy"),
    (lambda: Sc.caption_words(2, 0, 0, 0, 0), ValueError, "size"),
])
def test_bad_input_is_refused_with_a_message_naming_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.slow
def test_a_short_training_run_learns_to_caption():
    import troikadl as tk

    tk.setup(seed=0, threads=1)
    train, test = Sc.captioned_scenes(1500, seed=1), Sc.captioned_scenes(300, seed=2)
    m = _model()
    tk.fit(m, train.teacher_forcing(), epochs=4, loss="cross_entropy", metric=None, lr=6e-3, batch_size=64)
    scores = caption_scores(m.cpu(), test.images, test.captions)
    assert scores["token"] > 0.8 and scores["bleu"] > 0.4, scores  # untrained: both near 0
