"""Chapter 9: pruning masks (vs torch.nn.utils.prune), structured pruning, truncated SVD, distillation loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune as tprune

import troikadl as tk
from troikadl.compress import distill, lowrank, measure
from troikadl.compress import prune as P


def _mlp(seed=0, sizes=(64, 48, 32, 10)):
    torch.manual_seed(seed)
    return tk.cnn.mlp(list(sizes))


# --- unstructured masks --------------------------------------------------------------------------------
@pytest.mark.parametrize("s", [0.0, 0.1, 0.5, 0.8, 0.97])
@pytest.mark.parametrize("scope", ["global", "layer"])
def test_mask_sparsity_is_exact(s, scope):
    ws = P.prunable(_mlp())
    masks = P.magnitude_masks(ws, s, scope=scope)
    if scope == "global":
        total = sum(w.numel() for w in ws)
        assert sum(int((~m).sum()) for m in masks) == round(s * total)
    else:
        for w, m in zip(ws, masks):
            assert int((~m).sum()) == round(s * w.numel())


def test_masks_remove_the_smallest_magnitudes():
    ws = P.prunable(_mlp())
    masks = P.magnitude_masks(ws, 0.6)
    kept = torch.cat([w.detach().abs()[m] for w, m in zip(ws, masks)])
    gone = torch.cat([w.detach().abs()[~m] for w, m in zip(ws, masks)])
    assert gone.max() <= kept.min()


def test_ties_still_give_the_exact_count():
    w = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 2.0, 0.0]])
    (m,) = P.magnitude_masks([w], 0.5)
    assert int((~m).sum()) == 4 and not m[1, 3]


@pytest.mark.parametrize("s", [0.3, 0.8, 0.95])
def test_global_and_layer_masks_equal_torch_prune(s):
    ours_g = P.magnitude_masks(P.prunable(_mlp()), s, scope="global")
    model = _mlp()
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    tprune.global_unstructured([(m, "weight") for m in layers], pruning_method=tprune.L1Unstructured, amount=s)
    for ours, m in zip(ours_g, layers):
        assert torch.equal(ours, m.weight_mask.bool())
    ours_l = P.magnitude_masks(P.prunable(_mlp()), s, scope="layer")
    model = _mlp()
    for ours, m in zip(ours_l, [m for m in model.modules() if isinstance(m, nn.Linear)]):
        tprune.l1_unstructured(m, "weight", amount=s)
        assert torch.equal(ours, m.weight_mask.bool())


def test_applied_masks_survive_training_and_removal():
    tk.setup(0)
    model = _mlp()
    masks = P.magnitude_masks(P.prunable(model), 0.8)
    P.apply_masks(model, masks)
    X, y = torch.randn(64, 64), torch.randint(0, 10, (64,))
    tk.fit(model, (X, y), epochs=3, loss="cross_entropy", show_progress=False)
    assert abs(P.sparsity(model) - 0.8) < 1e-3
    P.remove_masks(model)
    assert abs(P.sparsity(model) - 0.8) < 1e-3
    assert not any("parametrizations" in n for n, _ in model.named_parameters())


def test_random_masks_have_the_sparsity_but_not_the_magnitude_order():
    ws = P.prunable(_mlp())
    masks = P.random_masks(ws, 0.5, generator=torch.Generator().manual_seed(0))
    for w, m in zip(ws, masks):
        assert int((~m).sum()) == round(0.5 * w.numel())
    gone = torch.cat([w.detach().abs()[~m] for w, m in zip(ws, masks)])
    kept = torch.cat([w.detach().abs()[m] for w, m in zip(ws, masks)])
    assert gone.max() > kept.min()


@pytest.mark.parametrize("bad, error", [(1.0, ValueError), (-0.1, ValueError), (float("nan"), ValueError),
                                        ("0.5", TypeError), (True, TypeError)])
def test_bad_sparsity_is_refused(bad, error):
    with pytest.raises(error, match="sparsity"):
        P.magnitude_masks(P.prunable(_mlp()), bad)


def test_bad_masks_are_refused():
    model = _mlp()
    with pytest.raises(ValueError, match="one mask per nn.Linear layer"):
        P.apply_masks(model, P.magnitude_masks(P.prunable(model), 0.5)[:2])
    with pytest.raises(ValueError, match="scope must be"):
        P.magnitude_masks(P.prunable(model), 0.5, scope="row")
    with pytest.raises(ValueError, match="no nn.Linear"):
        P.prunable(nn.Sequential(nn.ReLU()))


# --- structured pruning --------------------------------------------------------------------------------
def test_structured_pruning_removes_whole_units_and_keeps_the_function_of_the_rest():
    model = _mlp()
    small = P.shrink_mlp(model, 0.5)
    sizes = [m.weight.shape for m in small if isinstance(m, nn.Linear)]
    assert sizes == [(24, 64), (16, 24), (10, 16)]
    # equal to the big model with those units' outputs zeroed (hidden units dropped = their activations 0)
    norms = P.unit_norms(model)
    keep = [torch.sort(torch.argsort(n, descending=True)[:len(n) // 2]).values for n in norms]
    x = torch.randn(5, 64)
    h = x
    linears = [m for m in model if isinstance(m, nn.Linear)]
    for k, layer in enumerate(linears):
        h = layer(h)
        if k < len(linears) - 1:
            mask = torch.zeros(h.shape[1])
            mask[keep[k]] = 1
            h = torch.relu(h) * mask
    torch.testing.assert_close(small(x), h)
    with pytest.raises(TypeError, match="nn.Sequential"):
        P.shrink_mlp(nn.Linear(3, 3), 0.5)


def test_structured_pruning_matches_torch_ln_structured_on_the_first_layer():
    model = _mlp()
    first = model[0]
    tprune.ln_structured(first, "weight", amount=0.25, n=2, dim=0)
    kept_torch = first.weight_mask.bool().all(1).nonzero().flatten()
    small = P.shrink_mlp(_mlp(), 0.25)
    w0 = _mlp()[0].weight.detach()
    torch.testing.assert_close(small[0].weight, w0[kept_torch])


# --- low rank ------------------------------------------------------------------------------------------
def test_truncated_svd_error_is_the_discarded_singular_values():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(40, 30))
    s = np.linalg.svd(W, compute_uv=False)
    for r in (1, 5, 29, 30):
        A, B = lowrank.truncated_svd(W, r)
        assert A.shape == (40, r) and B.shape == (r, 30)
        np.testing.assert_allclose(np.linalg.norm(W - A @ B), np.sqrt((s[r:] ** 2).sum()), atol=1e-10)
        assert np.linalg.matrix_rank(A @ B) == r


def test_truncated_svd_beats_other_rank_r_approximations():
    rng = np.random.default_rng(1)
    W = rng.normal(size=(20, 20))
    A, B = lowrank.truncated_svd(W, 4)
    best = np.linalg.norm(W - A @ B)
    for _ in range(20):
        P_, Q = rng.normal(size=(20, 4)), rng.normal(size=(4, 20))
        assert np.linalg.norm(W - P_ @ Q) > best


def test_low_rank_linear_parameter_count_and_output():
    torch.manual_seed(0)
    layer = nn.Linear(256, 128)
    two = lowrank.low_rank_linear(layer, 16)
    assert sum(p.numel() for p in two.parameters()) == 16 * (256 + 128) + 128
    full = lowrank.low_rank_linear(layer, 128)
    x = torch.randn(4, 256)
    torch.testing.assert_close(full(x), layer(x), atol=1e-5, rtol=1e-5)
    assert lowrank.break_even_rank(128, 256) == 85 and 85 * 384 < 128 * 256 <= 86 * 384


def test_factorize_mlp_keeps_the_classifier_and_small_layers():
    model = _mlp(sizes=(64, 256, 256, 10))
    f = lowrank.factorize_mlp(model, 16)
    n = sum(p.numel() for p in f.parameters())
    assert n == 16 * (64 + 256) + 256 + 16 * (256 + 256) + 256 + 256 * 10 + 10
    assert isinstance(f[-1], nn.Linear) and f[-1].weight.shape == (10, 256)


@pytest.mark.parametrize("rank, error", [(0, ValueError), (31, ValueError), (2.0, TypeError)])
def test_bad_ranks_are_refused(rank, error):
    with pytest.raises(error, match=r"rank must be"):
        lowrank.truncated_svd(np.ones((40, 30)), rank)


def test_rank_larger_than_the_matrix_names_the_limit():
    with pytest.raises(ValueError, match=r"between 1 and min\(10, 3\) = 3"):
        lowrank.low_rank_linear(nn.Linear(3, 10), 4)


# --- distillation --------------------------------------------------------------------------------------
def test_distillation_loss_equals_a_direct_computation_and_torch_kl_div():
    torch.manual_seed(0)
    zs, zt = torch.randn(8, 10, dtype=torch.float64), torch.randn(8, 10, dtype=torch.float64)
    y = torch.randint(0, 10, (8,))
    T, a = 3.0, 0.7
    pt, ps = F.softmax(zt / T, 1), F.softmax(zs / T, 1)
    direct = (pt * (pt.log() - ps.log())).sum(1).mean() * T * T
    kl = F.kl_div(F.log_softmax(zs / T, 1), F.log_softmax(zt / T, 1), reduction="batchmean", log_target=True)
    torch.testing.assert_close(distill.distillation_loss(zs, zt, T=T), direct)
    torch.testing.assert_close(distill.distillation_loss(zs, zt, T=T), kl * T * T)
    torch.testing.assert_close(distill.distillation_loss(zs, zt, y, T=T, alpha=a),
                               a * direct + (1 - a) * F.cross_entropy(zs, y))


def test_distillation_loss_with_unlabelled_examples_and_its_gradient():
    torch.manual_seed(1)
    zs = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    zt = torch.randn(6, 4, dtype=torch.float64)
    y = torch.tensor([1, distill.IGNORE, 2, distill.IGNORE, distill.IGNORE, 0])
    loss = distill.distillation_loss(zs, zt, y, T=2.0, alpha=0.5)
    hard = F.cross_entropy(zs[[0, 2, 5]], y[[0, 2, 5]], reduction="sum") / 6
    torch.testing.assert_close(loss, 0.5 * distill.distillation_loss(zs, zt, T=2.0) + 0.5 * hard)
    assert distill.distillation_loss(zs, zt, torch.full((6,), distill.IGNORE), T=2.0) == \
        distill.distillation_loss(zs, zt, T=2.0)
    # the soft term's gradient is (p_s - p_t) * T / batch: zero when the student matches the teacher
    z = zt.clone().requires_grad_(True)
    distill.distillation_loss(z, zt, T=5.0).backward()
    assert z.grad.abs().max() < 1e-12
    assert torch.autograd.gradcheck(lambda s: distill.distillation_loss(s, zt, y, T=2.0, alpha=0.5), (zs,))


def test_distillation_loss_refuses_mismatched_inputs():
    with pytest.raises(ValueError, match="same shape"):
        distill.distillation_loss(torch.zeros(4, 10), torch.zeros(5, 10))
    with pytest.raises(ValueError, match="labels must have shape"):
        distill.distillation_loss(torch.zeros(4, 10), torch.zeros(4, 10), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="T must be > 0"):
        distill.distillation_loss(torch.zeros(4, 10), torch.zeros(4, 10), T=0)
    with pytest.raises(TypeError, match="teacher must be a torch.nn.Module"):
        distill.Distiller(nn.Linear(2, 2), lambda x: x)


def test_distiller_trains_only_the_student():
    tk.setup(0)
    student, teacher = nn.Linear(8, 3), nn.Linear(8, 3)
    before = teacher.weight.detach().clone()
    d = distill.Distiller(student, teacher, T=2.0, alpha=0.5)
    assert [n for n, _ in d.named_parameters()] == ["student.weight", "student.bias"]
    X, y = torch.randn(32, 8), torch.randint(0, 3, (32,))
    h = tk.fit(d, (X, y), epochs=30, loss=d.loss, metric=None, lr=0.05, show_progress=False)
    assert torch.equal(teacher.weight, before) and h["train_loss"][-1] < h["train_loss"][0]


# --- measuring -----------------------------------------------------------------------------------------
def test_saved_bytes_and_sparse_storage():
    model = _mlp(sizes=(64, 256, 256, 10))
    dense = measure.saved_bytes(model)
    n = sum(p.numel() for p in model.parameters())
    assert 4 * n < dense < 4 * n + 4000
    P.apply_masks(model, P.magnitude_masks(P.prunable(model), 0.9))
    P.remove_masks(model)
    assert measure.saved_bytes(model) == pytest.approx(dense, rel=0.01)  # zeros cost as much as any float
    assert measure.saved_bytes(measure.sparse_state_dict(model)) < 0.6 * dense  # about 20 bytes a kept weight
    assert measure.saved_bytes(model, compress=True) < 0.5 * dense


def test_latency_is_a_positive_median_and_restores_threads():
    before = torch.get_num_threads()
    t = measure.latency(lambda: torch.ones(10).sum(), repeats=5, warmup=1)
    assert 0 < t < 0.1 and torch.get_num_threads() == before
    with pytest.raises(ValueError, match="repeats"):
        measure.latency(lambda: None, repeats=0)


# --- against TensorFlow --------------------------------------------------------------------------------
@pytest.mark.tf
def test_truncated_svd_equals_tensorflows():
    tf = tk.import_tf()
    W = np.random.default_rng(3).normal(size=(40, 30))
    s, u, v = (t.numpy() for t in tf.linalg.svd(tf.constant(W)))
    for r in (1, 7, 30):
        A, B = lowrank.truncated_svd(W, r)
        np.testing.assert_allclose(A @ B, (u[:, :r] * s[:r]) @ v[:, :r].T, atol=1e-10)


@pytest.mark.tf
def test_distillation_loss_equals_keras_kl_divergence():
    tk.import_tf()
    import keras

    torch.manual_seed(2)
    zs, zt = torch.randn(8, 10, dtype=torch.float64), torch.randn(8, 10, dtype=torch.float64)
    for T in (1.0, 4.0):
        pt, ps = F.softmax(zt / T, 1).numpy(), F.softmax(zs / T, 1).numpy()
        ref = float(keras.losses.KLDivergence()(pt, ps)) * T * T  # batch mean of sum p_t log(p_t / p_s)
        assert float(distill.distillation_loss(zs, zt, T=T)) == pytest.approx(ref, rel=1e-5)
