"""Chapter 9: filter (channel) pruning of a CNN (vs torch's ln_structured and a hook-masked reference), and
N:M sparsity (vs torch.ao.pruning.WeightNormSparsifier and a per-group reference)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils import prune as tprune

import troikadl as tk
from troikadl.architectures import conv_macs
from troikadl.compress import channels as C
from troikadl.compress import nm as NM
from troikadl.compress import prune as P


def _cnn(c=(6, 8), hidden=12, pool=True, bias=True, bn=False, seed=0, dtype=torch.float64):
    """A lenet-like CNN written out layer by layer (optionally with BatchNorm2d in eval mode, random statistics)."""
    torch.manual_seed(seed)
    layers = []
    for cin, cout in ((1, c[0]), (c[0], c[1])):
        layers.append(nn.Conv2d(cin, cout, 3, padding=1, bias=bias))
        if bn:
            b = nn.BatchNorm2d(cout)
            with torch.no_grad():
                b.weight.uniform_(0.5, 1.5), b.bias.normal_(), b.running_mean.normal_(), b.running_var.uniform_(0.5, 2)
            layers.append(b)
        layers += [nn.ReLU()] + ([nn.MaxPool2d(2)] if pool else [])
    side = 2 if pool else 8
    layers += [nn.Flatten(), nn.Linear(c[1] * side * side, hidden), nn.ReLU(), nn.Linear(hidden, 10)]
    return nn.Sequential(*layers).to(dtype).eval()


def _hook_reference(model, keeps, x):
    """The full model with each removed feature map zeroed by forward hooks on every layer that carries it."""
    hooks, keep = [], None
    for i, m in enumerate(model):
        if isinstance(m, nn.Conv2d):
            keep = keeps[sum(isinstance(l, nn.Conv2d) for l in model[:i])]
        if isinstance(m, nn.Flatten):
            break
        hooks.append(m.register_forward_hook(lambda mod, inp, out, k=keep: out * k.to(out.dtype).view(1, -1, 1, 1)))
    try:
        with torch.no_grad():
            return model(x)
    finally:
        for h in hooks:
            h.remove()


def _x(n=7, seed=1, dtype=torch.float64):
    return torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --- channel pruning ----------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(c1=st.integers(1, 9), c2=st.integers(1, 9), pool=st.booleans(), bias=st.booleans(), bn=st.booleans(),
       fraction=st.floats(0.0, 0.95), criterion=st.sampled_from(C.CRITERIA), seed=st.integers(0, 50))
def test_smaller_network_equals_masked_and_hooked_full_network(c1, c2, pool, bias, bn, fraction, criterion, seed):
    model = _cnn((c1, c2), pool=pool, bias=bias, bn=bn, seed=seed)
    keeps = C.channel_masks(model, fraction, criterion=criterion)
    small = C.prune_channels(model, fraction, criterion=criterion)
    x = _x(seed=seed)
    with torch.no_grad():
        out_small, out_masked = small(x), C.mask_channels(model, fraction, criterion=criterion)(x)
    assert torch.allclose(out_small, out_masked, atol=1e-12, rtol=0)
    assert torch.allclose(out_small, _hook_reference(model, keeps, x), atol=1e-12, rtol=0)
    assert [m.out_channels for m in small if isinstance(m, nn.Conv2d)] == [int(k.sum()) for k in keeps]


@pytest.mark.parametrize("fraction", [0.25, 0.3, 0.5, 0.75])
@pytest.mark.parametrize("criterion, n", [("l1", 1), ("l2", 2)])
def test_chosen_channels_equal_torch_ln_structured(fraction, criterion, n):
    model = tk.cnn.lenet(channels=(32, 64), hidden=128)
    keeps = C.channel_masks(model, fraction, criterion=criterion)
    small = C.prune_channels(model, fraction, criterion=criterion)
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    small_convs = [m for m in small if isinstance(m, nn.Conv2d)]
    prev = None
    for conv, keep, sconv in zip(convs, keeps, small_convs):
        ref = copy.deepcopy(conv)
        tprune.ln_structured(ref, "weight", amount=fraction, n=n, dim=0)
        torch_keep = ref.weight_mask.flatten(1).all(dim=1)
        assert ref.weight_mask.flatten(1).any(dim=1).equal(torch_keep)  # whole filters
        assert torch.equal(keep, torch_keep)
        kept_w = ref.weight.detach()[torch_keep]  # torch's pruned weight, zero rows dropped
        assert torch.equal(sconv.weight.detach(), kept_w if prev is None else kept_w[:, prev])
        prev = torch_keep


def test_norms_equal_a_loop_reference():
    model = _cnn((5, 7), seed=3)
    for conv, l1, l2 in zip([m for m in model if isinstance(m, nn.Conv2d)], C.channel_norms(model),
                            C.channel_norms(model, criterion="l2")):
        w = conv.weight.detach().numpy()
        assert np.allclose(l1.numpy(), [np.abs(w[j]).sum() for j in range(len(w))], rtol=1e-12)
        assert np.allclose(l2.numpy(), [math.sqrt((w[j] ** 2).sum()) for j in range(len(w))], rtol=1e-12)


@pytest.mark.parametrize("pool", [True, False])
@pytest.mark.parametrize("fraction", [0.0, 0.5, 0.75])
def test_parameter_count_and_macs_formulas(pool, fraction):
    c1, c2, h = 32, 64, 128
    small = C.prune_channels(tk.cnn.lenet(channels=(c1, c2), hidden=h, pool=pool), fraction)
    k1, k2 = c1 - round(fraction * c1), c2 - round(fraction * c2)
    s = 2 if pool else 8
    expected = (9 * k1 + k1) + (9 * k1 * k2 + k2) + (k2 * s * s * h + h) + (h * 10 + 10)
    assert tk.cnn.count_parameters(small) == expected
    mid = 4 if pool else 8
    assert C.macs(small, (1, 8, 8)) == (conv_macs(1, k1, 3, 8) + conv_macs(k1, k2, 3, mid)
                                        + k2 * s * s * h + h * 10)


def test_fraction_zero_is_an_equal_copy_and_the_original_is_untouched():
    model = _cnn(bn=True, bias=False)
    before = copy.deepcopy(model.state_dict())
    small = C.prune_channels(model, 0.0)
    for (k, a), (k2, b) in zip(model.state_dict().items(), small.state_dict().items()):
        assert k == k2 and torch.equal(a, b) and a.data_ptr() != b.data_ptr()
    C.prune_channels(model, 0.6), C.mask_channels(model, 0.6)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_bias_false_batchnorm_and_modes_are_kept():
    model = _cnn(bn=True, bias=False).train()
    small = C.prune_channels(model, 0.5)
    assert small.training and all(m.bias is None for m in small if isinstance(m, nn.Conv2d))
    bn_old, bn_new = model[1], small[1]
    keep = C.channel_masks(model, 0.5)[0]
    assert torch.equal(bn_new.running_mean, bn_old.running_mean[keep])
    assert torch.equal(bn_new.running_var, bn_old.running_var[keep]) and bn_new.eps == bn_old.eps
    small.eval(), model.eval()
    x = _x()
    assert torch.allclose(small(x), _hook_reference(model, C.channel_masks(model, 0.5), x), atol=1e-12, rtol=0)


def test_keeps_at_least_one_channel_and_float32_trains():
    model = _cnn((4, 3), dtype=torch.float32)
    small = C.prune_channels(model, 0.99)
    assert [m.out_channels for m in small if isinstance(m, nn.Conv2d)] == [1, 1]
    assert small[0].weight.dtype == torch.float32
    loss = small(_x(dtype=torch.float32)).square().mean()
    loss.backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in small.parameters())


def test_masks_argument_overrides_fraction():
    model = _cnn((4, 4))
    masks = [torch.tensor([True, False, True, False]), torch.tensor([False, False, False, True])]
    small = C.prune_channels(model, 0.0, masks=masks)
    assert torch.equal(small[0].weight, model[0].weight[[0, 2]])
    assert torch.equal(small[3].weight, model[3].weight[[3]][:, [0, 2]])
    assert torch.equal(small[7].weight, model[7].weight[:, 12:16])  # channel 3 owns columns 12..15 (2 x 2 map)


@pytest.mark.parametrize("make, kwargs, err, name", [
    (lambda: _cnn(), dict(fraction=1.0), ValueError, "fraction"),
    (lambda: _cnn(), dict(fraction="half"), TypeError, "fraction"),
    (lambda: _cnn(), dict(fraction=0.5, criterion="l3"), ValueError, "criterion"),
    (lambda: nn.Linear(3, 3), dict(fraction=0.5), TypeError, "model"),
    (lambda: "cnn", dict(fraction=0.5), TypeError, "model"),
    (lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), dict(fraction=0.5), ValueError, "Conv2d"),
    (lambda: nn.Sequential(nn.Conv2d(1, 4, 3, groups=1), nn.Conv2d(4, 4, 3, groups=2), nn.Flatten(),
                           nn.Linear(64, 2)), dict(fraction=0.5), ValueError, "groups"),
    (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()), dict(fraction=0.5), ValueError, "Linear"),
    (lambda: nn.Sequential(nn.Conv2d(1, 3, 3), nn.Flatten(), nn.Linear(10, 2)), dict(fraction=0.5),
     ValueError, "in_features"),
    (lambda: _cnn((4, 4)), dict(fraction=0.0, masks=[torch.ones(4, dtype=torch.bool)]), ValueError, "masks"),
    (lambda: _cnn((4, 4)), dict(fraction=0.0, masks=[torch.ones(4), torch.ones(4)]), ValueError, "masks"),
    (lambda: _cnn((4, 4)), dict(fraction=0.0, masks=[torch.ones(4, dtype=torch.bool),
                                                     torch.zeros(4, dtype=torch.bool)]), ValueError, "masks"),
])
def test_channel_pruning_bad_input(make, kwargs, err, name):
    for fn in (C.prune_channels, C.mask_channels):
        with pytest.raises(err, match=name):
            fn(make(), **kwargs)


def test_macs_bad_input():
    with pytest.raises(TypeError, match="input_shape"):
        C.macs(_cnn(), 8)
    with pytest.raises(TypeError, match="model"):
        C.macs("cnn", (1, 8, 8))


# --- N:M sparsity --------------------------------------------------------------------------------------------
def _torch_ao_mask(w, zeros=2, m=4):
    from torch.ao.pruning import WeightNormSparsifier

    layer = nn.Sequential(nn.Linear(w.shape[1], w.shape[0], bias=False, dtype=w.dtype))
    with torch.no_grad():
        layer[0].weight.copy_(w)
    sp = WeightNormSparsifier(sparsity_level=1.0, sparse_block_shape=(1, m), zeros_per_block=zeros)
    sp.prepare(layer, config=[{"tensor_fqn": "0.weight"}])
    sp.step()
    return layer[0].parametrizations.weight[0].mask.bool()


def _group_reference(w, n, m):
    """Per row and group, in NumPy: keep the indices of the n largest |w| (no ties in random data)."""
    a = np.abs(w.detach().reshape(w.shape[0], -1).numpy())
    keep = np.zeros(a.shape, dtype=bool)
    for r in range(a.shape[0]):
        for g0 in range(0, a.shape[1], m):
            top = sorted(range(m), key=lambda j: -a[r, g0 + j])[:n]
            keep[r, [g0 + j for j in top]] = True
    return keep.reshape(tuple(w.shape))


@settings(max_examples=20, deadline=None)
@given(rows=st.integers(1, 12), groups=st.integers(1, 6), n=st.sampled_from([1, 2, 3]), seed=st.integers(0, 99))
def test_nm_masks_equal_torch_ao_weight_norm_sparsifier(rows, groups, n, seed):
    w = torch.randn(rows, 4 * groups, generator=torch.Generator().manual_seed(seed))
    (mask,) = NM.nm_masks([w], n=n, m=4)
    assert torch.equal(mask, _torch_ao_mask(w, zeros=4 - n, m=4))


@pytest.mark.parametrize("shape, n, m", [((5, 8), 2, 4), ((3, 12), 1, 2), ((4, 16), 4, 8), ((6, 2, 3, 2), 2, 4),
                                         ((8, 1, 3, 3), 1, 3), ((3, 8), 0, 4), ((3, 8), 4, 4)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_nm_masks_equal_a_group_reference_and_properties(shape, n, m, dtype):
    w = torch.randn(shape, generator=torch.Generator().manual_seed(7), dtype=dtype)
    (mask,) = NM.nm_masks([w], n=n, m=m)
    assert mask.shape == w.shape and mask.dtype == torch.bool
    assert np.array_equal(mask.numpy(), _group_reference(w, n, m))
    g, kept = w.reshape(shape[0], -1, m).abs(), mask.reshape(shape[0], -1, m)
    assert (kept.sum(-1) == n).all()
    if 0 < n < m:  # every kept |w| is at least every dropped |w| of its group
        assert (g.masked_fill(~kept, math.inf).amin(-1) >= g.masked_fill(kept, -math.inf).amax(-1)).all()
    assert NM.is_nm_sparse(w * mask, n=n, m=m)


def test_nm_ties_keep_the_earlier_weights_and_is_nm_sparse_detects_violations():
    (mask,) = NM.nm_masks([torch.ones(2, 8)])
    assert torch.equal(mask[0], torch.tensor([True, True, False, False] * 2))
    w = torch.tensor([[1.0, 2.0, 0.0, 0.0, 1.0, 0.0, 0.0, 3.0]])
    assert NM.is_nm_sparse(w) and not NM.is_nm_sparse(w, n=1, m=4)
    w[0, 5] = 0.5
    assert not NM.is_nm_sparse(w)  # the second group now holds three nonzeros


def test_nm_masks_train_with_apply_masks_and_stay_two_four():
    torch.manual_seed(0)
    model = tk.cnn.mlp([64, 32, 16, 10])
    P.apply_masks(model, NM.nm_masks(P.prunable(model)))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(16, 64)).square().mean().backward()
        opt.step()
    P.remove_masks(model)
    assert all(NM.is_nm_sparse(w) for w in P.prunable(model))
    assert P.sparsity(model) == pytest.approx(0.5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="to_sparse_semi_structured needs CUDA (checked: CPU raises)")
def test_nm_mask_is_accepted_by_semi_structured_sparse_tensors():  # pragma: no cover - GPU only
    from torch.sparse import to_sparse_semi_structured

    w = torch.randn(128, 128, dtype=torch.float16, device="cuda")
    dense = w * NM.nm_masks([w])[0]
    assert torch.equal(to_sparse_semi_structured(dense).to_dense(), dense)


@pytest.mark.parametrize("rows, cols, n, m, vb, expected", [
    (256, 64, 2, 4, 2, 256 * 64 // 2 * 2 + 256 * 64 // 2 * 2 // 8),  # 8192 kept fp16 values + 2 bits each
    (4, 4, 2, 4, 2, 8 * 2 + 2),  # 8 values, 16 bits of indices
    (1, 8, 1, 8, 4, 4 + 1),  # one value, 3 bits -> 1 byte
    (2, 6, 1, 2, 4, 6 * 4 + 1)])  # six values, one bit each -> 1 byte
def test_nm_compressed_bytes(rows, cols, n, m, vb, expected):
    assert NM.nm_compressed_bytes(rows, cols, n, m, vb) == expected


def test_two_four_fp16_is_nine_sixteenths_of_dense():
    assert NM.nm_compressed_bytes(1024, 1024) / (1024 * 1024 * 2) == 9 / 16


@pytest.mark.parametrize("call, err, name", [
    (lambda: NM.nm_masks([torch.randn(3, 6)]), ValueError, "divisible"),
    (lambda: NM.nm_masks([torch.randn(3, 8)], n=5, m=4), ValueError, "n"),
    (lambda: NM.nm_masks([torch.randn(3, 8)], n=2, m=0), ValueError, "m"),
    (lambda: NM.nm_masks([torch.randn(8)]), ValueError, "weights"),
    (lambda: NM.nm_masks([torch.ones(3, 8, dtype=torch.int64)]), TypeError, "weights"),
    (lambda: NM.nm_masks(torch.randn(3, 8)), ValueError, "weights"),
    (lambda: NM.nm_masks([]), ValueError, "weights"),
    (lambda: NM.nm_masks([torch.full((2, 4), math.nan)]), ValueError, "weights"),
    (lambda: NM.nm_masks([torch.randn(3, 8)], n=2.0), TypeError, "n"),
    (lambda: NM.is_nm_sparse(np.zeros((2, 4))), TypeError, "weight"),
    (lambda: NM.nm_compressed_bytes(4, 6), ValueError, "cols"),
    (lambda: NM.nm_compressed_bytes(0, 8), ValueError, "rows"),
    (lambda: NM.nm_compressed_bytes(4, 8, value_bytes=0), ValueError, "value_bytes"),
])
def test_nm_bad_input(call, err, name):
    with pytest.raises(err, match=name):
        call()
