"""The vision transformer (troikadl.vit) against PyTorch's unfold and Conv2d and Hugging Face's ViT, and its diagram."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from troikadl import vit  # noqa: E402
from troikadl.figures import vision  # noqa: E402
from figure_checks import assert_fits, texts  # noqa: E402

TOL = {torch.float32: 1e-5, torch.float64: 1e-10}


def numpy_patches(x: np.ndarray, p: int) -> np.ndarray:
    """Reference: cut each image with explicit slices, patch rows outer, patch columns inner, channel-first."""
    B, C, H, W = x.shape
    out = [[x[b, :, r * p:(r + 1) * p, c * p:(c + 1) * p].reshape(-1) for r in range(H // p) for c in range(W // p)]
           for b in range(B)]
    return np.array(out)


def perturb(model: torch.nn.Module, seed: int) -> None:
    """Random values in every parameter, LayerNorm scales and shifts included (so that a swapped norm shows)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), B=st.integers(1, 3), C=st.integers(1, 3), p=st.integers(1, 4),
       rows=st.integers(1, 3), cols=st.integers(1, 3), double=st.booleans())
def test_patchify_equals_unfold_and_slices(seed, B, C, p, rows, cols, double):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(B, C, rows * p, cols * p, generator=gen, dtype=torch.float64 if double else torch.float32)
    got = vit.patchify(x, p)
    assert got.shape == (B, rows * cols, C * p * p) and got.dtype == x.dtype
    assert torch.equal(got, F.unfold(x, p, stride=p).transpose(1, 2))      # a pure rearrangement: exactly equal
    np.testing.assert_array_equal(got.numpy(), numpy_patches(x.numpy(), p))


def test_patchify_order_on_a_labelled_image():
    x = torch.arange(2 * 4 * 6, dtype=torch.float64).reshape(1, 2, 4, 6)     # value = (c * 4 + i) * 6 + j
    got = vit.patchify(x, 2)[0]
    # patch 1 is patch-row 0, patch-column 1: rows 0-1, columns 2-3; channel 0 first, then channel 1
    assert got[1].tolist() == [2, 3, 8, 9, 26, 27, 32, 33]
    assert got[3].tolist() == [12, 13, 18, 19, 36, 37, 42, 43]                 # patch-row 1, column 0


@pytest.mark.parametrize("C,p,bias", [(1, 2, True), (1, 4, False), (3, 2, False), (3, 4, True), (2, 1, True)])
def test_patch_embedding_is_a_strided_convolution(C, p, bias):
    torch.manual_seed(0)
    emb = vit.PatchEmbedding(image_size=8, patch=p, channels=C, d_model=5, cls=False, positions=False,
                             bias=bias).double()
    x = torch.randn(3, C, 8, 8, dtype=torch.float64)
    conv = F.conv2d(x, emb.proj.weight.reshape(5, C, p, p), emb.proj.bias, stride=p)   # weights laid out here
    want = conv.flatten(2).transpose(1, 2)
    torch.testing.assert_close(emb(x), want, atol=1e-12, rtol=0)
    module = emb.as_conv2d()
    assert isinstance(module, torch.nn.Conv2d) and module.stride == (p, p) and module.kernel_size == (p, p)
    assert (module.bias is None) == (not bias) and module.weight.dtype == torch.float64
    torch.testing.assert_close(module(x).flatten(2).transpose(1, 2), want, atol=1e-12, rtol=0)


def test_patch_embedding_adds_cls_and_positions():
    torch.manual_seed(1)
    emb = vit.PatchEmbedding(image_size=8, patch=4, channels=1, d_model=6).double()
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64)
    tokens = x.unfold(2, 4, 4).unfold(3, 4, 4).reshape(2, 4, 16) @ emb.proj.weight.T + emb.proj.bias
    want = torch.cat([emb.cls_token.expand(2, 1, 6), tokens], 1) + emb.pos
    torch.testing.assert_close(emb(x), want, atol=1e-12, rtol=0)
    assert emb.cls_token.shape == (1, 1, 6) and emb.pos.shape == (1, 5, 6)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), C=st.integers(1, 3), p=st.sampled_from([1, 2, 4]), D=st.integers(1, 12),
       positions=st.booleans(), double=st.booleans())
def test_patch_embedding_equals_hugging_face(seed, C, p, D, positions, double):
    torch.manual_seed(seed)
    dtype = torch.float64 if double else torch.float32
    emb = vit.PatchEmbedding(image_size=8, patch=p, channels=C, d_model=D, positions=positions).to(dtype)
    hf = vit.to_hf_vit_embeddings(emb)
    x = torch.randn(2, C, 8, 8, dtype=dtype)
    with torch.no_grad():
        torch.testing.assert_close(hf(x), emb(x), atol=TOL[dtype], rtol=0)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), C=st.integers(1, 3), p=st.sampled_from([2, 4]), heads=st.integers(1, 3),
       d_head=st.integers(1, 6), layers=st.integers(1, 3), d_ff=st.integers(1, 20), classes=st.integers(1, 5),
       double=st.booleans())
def test_whole_vit_equals_hugging_face(seed, C, p, heads, d_head, layers, d_ff, classes, double):
    torch.manual_seed(seed)
    dtype = torch.float64 if double else torch.float32
    model = vit.ViT(image_size=8, patch=p, channels=C, d_model=heads * d_head, heads=heads, layers=layers, d_ff=d_ff,
                    n_classes=classes).to(dtype)
    perturb(model, seed)
    hf = vit.to_hf_vit(model)
    x = torch.randn(3, C, 8, 8, dtype=dtype)
    with torch.no_grad():
        torch.testing.assert_close(hf(pixel_values=x).logits, model.eval()(x), atol=TOL[dtype] * 10, rtol=0)


def test_hugging_face_gets_our_layer_norm_epsilon():
    torch.manual_seed(0)
    model = vit.ViT(image_size=4, patch=2, d_model=4, heads=1, layers=1, d_ff=4, eps=0.3).double().eval()
    x = torch.randn(2, 1, 4, 4, dtype=torch.float64)
    hf = vit.to_hf_vit(model)
    assert hf.config.layer_norm_eps == 0.3
    with torch.no_grad():
        torch.testing.assert_close(hf(pixel_values=x).logits, model(x), atol=1e-10, rtol=0)


def test_attention_equals_hugging_face_and_is_a_distribution():
    torch.manual_seed(3)
    model = vit.ViT(image_size=8, patch=2, d_model=12, heads=3, layers=2, d_ff=8).double().eval()
    perturb(model, 3)
    hf = vit.to_hf_vit(model)
    hf.set_attn_implementation("eager")                          # sdpa does not return the weights
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        theirs = hf(pixel_values=x, output_attentions=True).attentions
    for layer in (0, 1, -1):
        ours = model.attention(x, layer)
        assert ours.shape == (2, 3, 17, 17)
        torch.testing.assert_close(ours.sum(-1), torch.ones(2, 3, 17, dtype=torch.float64))
        # Hugging Face's eager attention takes its softmax in float32: about 1e-7 apart in float64
        torch.testing.assert_close(ours, theirs[layer], atol=1e-6, rtol=0)


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_without_positions_it_is_a_bag_of_patches(pool):
    torch.manual_seed(0)
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64)
    swap = x.clone()                                             # exchange patch (0, 0) and patch (1, 1) of 4x4
    swap[..., :4, :4], swap[..., 4:, 4:] = x[..., 4:, 4:], x[..., :4, :4]
    bag = vit.ViT(patch=4, d_model=8, heads=2, layers=2, d_ff=8, pool=pool, positions=False).double().eval()
    torch.testing.assert_close(bag(swap), bag(x), atol=1e-10, rtol=0)
    seen = vit.ViT(patch=4, d_model=8, heads=2, layers=2, d_ff=8, pool=pool).double().eval()
    perturb(seen, 0)
    assert (seen(swap) - seen(x)).abs().max() > 1e-3
    assert (bag.embed.cls_token is None) == (pool == "mean")


def test_mean_pool_reads_the_average_token():
    torch.manual_seed(0)
    model = vit.ViT(patch=2, d_model=8, heads=2, layers=1, d_ff=8, pool="mean").double().eval()
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64)
    h = model.embed(x)
    blk = model.blocks[0]
    a = blk.norm1(h)
    h = h + blk.self_attn(a, a, a, need_weights=False)[0]
    h = h + blk.linear2(F.gelu(blk.linear1(blk.norm2(h))))
    want = model.head(F.layer_norm(h, (8,), model.norm.weight, model.norm.bias, 1e-5).mean(1))
    assert h.shape[1] == 16
    torch.testing.assert_close(model(x), want, atol=1e-10, rtol=0)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = vit.ViT(patch=2, d_model=8, heads=2, layers=2, d_ff=16, n_classes=3)
    perturb(model, 1)
    F.cross_entropy(model(torch.randn(4, 1, 8, 8)), torch.tensor([0, 1, 2, 0])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_vit_learns_a_little_with_fit():
    import troikadl as tk

    tk.setup(seed=0, threads=1)
    d = tk.data.digits(seed=0, images=True)
    model = vit.ViT(patch=4, d_model=16, heads=2, layers=1, d_ff=32)
    tk.fit(model, (d.X_train[:400], d.y_train[:400]), loss="cross_entropy", lr=3e-3, epochs=8, batch_size=64,
           show_progress=False)
    assert tk.evaluate(model, d.X_test, d.y_test)["acc"] > 0.6                  # chance: 0.1


def test_bad_input():
    x = torch.randn(2, 1, 8, 8)
    with pytest.raises(ValueError, match="patch"):
        vit.patchify(x, 3)
    with pytest.raises(ValueError, match="patch"):
        vit.patchify(torch.randn(1, 1, 8, 6), 4)
    with pytest.raises(TypeError, match="images"):
        vit.patchify(torch.ones(2, 1, 8, 8, dtype=torch.int64), 2)
    with pytest.raises(ValueError, match="images"):
        vit.patchify(torch.randn(1, 8, 8), 2)
    with pytest.raises(TypeError, match="patch"):
        vit.patchify(x, 2.0)
    with pytest.raises(ValueError, match="patch"):
        vit.PatchEmbedding(image_size=8, patch=3)
    model = vit.ViT(patch=2, d_model=8, heads=2, layers=1, d_ff=8)
    with pytest.raises(ValueError, match=r"images must be \(batch, 1, 8, 8\)"):
        model(torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match="images"):
        model(torch.randn(2, 1, 12, 12))
    with pytest.raises(TypeError, match="images"):
        model(torch.ones(2, 1, 8, 8, dtype=torch.uint8))
    with pytest.raises(TypeError, match="images"):
        model(np.zeros((2, 1, 8, 8)))
    with pytest.raises(ValueError, match="d_model"):
        vit.ViT(d_model=10, heads=4)
    with pytest.raises(ValueError, match="pool"):
        vit.ViT(pool="max")
    with pytest.raises(ValueError, match="eps"):
        vit.ViT(eps=0.0)
    with pytest.raises(ValueError, match="layer"):
        model.attention(x, layer=1)
    with pytest.raises(ValueError, match="CLS"):
        vit.to_hf_vit_embeddings(vit.PatchEmbedding(image_size=8, patch=2, cls=False))
    with pytest.raises(ValueError, match="bias"):
        vit.to_hf_vit_embeddings(vit.PatchEmbedding(image_size=8, patch=2, bias=False))
    with pytest.raises(TypeError, match="embedding"):
        vit.to_hf_vit_embeddings(model)
    with pytest.raises(ValueError, match="pool"):
        vit.to_hf_vit(vit.ViT(pool="mean"))
    with pytest.raises(TypeError, match="model"):
        vit.to_hf_vit(torch.nn.Linear(2, 2))


def drawn(fig, gid):
    return next(im for im in fig.axes[0].images if im.get_gid() == gid)


@pytest.mark.parametrize("shape,p", [((8, 8), 2), ((1, 8, 8), 4), ((3, 16, 16), 4), ((1, 4, 8), 2)])
def test_patch_embedding_figure_shows_patchify(shape, p):
    rng = np.random.default_rng(0)
    img = rng.random(shape)
    fig = vision.patch_embedding(img, p, d_model=16)
    assert_fits(fig)
    chw = img if img.ndim == 3 else img[None]
    ref = numpy_patches(chw[None], p)[0]
    N = ref.shape[0]
    lefts = []
    for n in range(N):
        im = drawn(fig, f"patch {n + 1}")
        arr = np.asarray(im.get_array())
        want = ref[n].reshape(chw.shape[0], p, p)
        want = want[0] if chw.shape[0] == 1 else want.transpose(1, 2, 0)
        np.testing.assert_allclose(arr, want, atol=1e-12)
        lefts.append(im.get_extent()[0])
    assert lefts == sorted(lefts)                                # drawn left to right in patchify's order
    assert not any(im.get_gid() == f"patch {N + 1}" for im in fig.axes[0].images)
    words = texts(fig)
    assert f"one linear map $E$: {chw.shape[0] * p * p} values → 16 (the same for every patch)" in words
    assert "CLS" in words and any(f"{N + 1} tokens in" in w for w in words)


def test_patch_embedding_figure_bad_input():
    with pytest.raises(ValueError, match="patch"):
        vision.patch_embedding(np.zeros((8, 8)), 3)
    with pytest.raises(ValueError, match="patch"):
        vision.patch_embedding(np.zeros((8, 8)), 1)               # 64 patches: too many to draw
    with pytest.raises(ValueError, match="image"):
        vision.patch_embedding(np.zeros((2, 8, 8)), 2)
    with pytest.raises(ValueError, match="image"):
        vision.patch_embedding(np.zeros(8), 2)
