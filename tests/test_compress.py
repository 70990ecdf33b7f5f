"""Chapter 9: pruning masks (vs torch.nn.utils.prune), structured pruning, truncated SVD, distillation loss."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune as tprune

import troikadl as tk
from troikadl.compress import distill, lowrank, measure
from troikadl.compress import prune as P
from troikadl.train import IGNORE


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
    """Pruned weights are exactly zero after fine-tuning and after removing the masks; kept weights trained."""
    tk.setup(0)
    model = _mlp()
    before = [w.detach().clone() for w in P.prunable(model)]
    masks = P.magnitude_masks(P.prunable(model), 0.8)
    P.apply_masks(model, masks)
    X, y = torch.randn(64, 64), torch.randint(0, 10, (64,))
    tk.fit(model, (X, y), epochs=3, loss="cross_entropy", show_progress=False)
    total = sum(w.numel() for w in before)
    assert P.sparsity(model) == round(0.8 * total) / total
    P.remove_masks(model)
    assert not any("parametrizations" in n for n, _ in model.named_parameters())
    for w, w0, m in zip(P.prunable(model), before, masks):
        assert torch.all(w[~m] == 0)
        assert (w[m] - w0[m]).abs().max() > 1e-3  # three Adam steps of about lr = 1e-2 each (measured: 0.03)
    assert P.sparsity(model) == round(0.8 * total) / total


def test_sparsity_of_a_weight_list_and_seeded_random_masks():
    ws = [torch.tensor([[0.0, 1.0], [2.0, 0.0]]), torch.tensor([[0.0, 0.0, 3.0]])]
    assert P.sparsity(ws) == 4 / 7 and P.sparsity(_mlp()) == 0.0
    g = lambda seed: torch.Generator().manual_seed(seed)  # noqa: E731
    a, b, c = (P.random_masks(P.prunable(_mlp()), 0.5, generator=g(seed)) for seed in (0, 0, 1))
    assert all(torch.equal(x, y) for x, y in zip(a, b)) and not any(torch.equal(x, y) for x, y in zip(a, c))


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
@pytest.mark.parametrize("s", [0.25, 0.5, 0.75])
@pytest.mark.parametrize("bias", [True, False])
def test_structured_pruning_equals_torch_ln_structured_on_every_hidden_layer(s, bias):
    """torch.nn.utils.prune.ln_structured (L2 norm of each unit's incoming weights, rows of the original
    layer) chooses the units; the big model with those units' activations zeroed is the small model's function."""
    torch.manual_seed(0)
    sizes = (20, 16, 12, 5)
    layers = [nn.Linear(a, b, bias=bias) for a, b in zip(sizes, sizes[1:])]
    model = nn.Sequential(layers[0], nn.ReLU(), layers[1], nn.ReLU(), layers[2])
    small = P.shrink_mlp(model, s)
    ref = copy.deepcopy(model)
    linears = [m for m in ref if isinstance(m, nn.Linear)]
    keep = []
    for k, layer in enumerate(linears[:-1]):
        norms = torch.linalg.vector_norm(layer.weight, dim=1)
        torch.testing.assert_close(P.unit_norms(model)[k], norms, rtol=0, atol=0)
        tprune.ln_structured(layer, "weight", amount=s, n=2, dim=0)
        keep.append(layer.weight_mask.bool().all(1))
    n_kept = [int(m.sum()) for m in keep]
    assert n_kept == [16 - round(s * 16), 12 - round(s * 12)]
    assert [tuple(m.weight.shape) for m in small if isinstance(m, nn.Linear)] == \
        [(n_kept[0], 20), (n_kept[1], n_kept[0]), (5, n_kept[1])]
    assert all((m.bias is not None) == bias for m in small if isinstance(m, nn.Linear))
    x = torch.randn(7, 20)
    h = x
    for k, layer in enumerate(linears):
        h = layer(h)  # torch's mask zeroes the unit's weights, not its bias: zero its activation instead
        if k < len(linears) - 1:
            h = torch.relu(h) * keep[k]
    torch.testing.assert_close(small(x), h)  # float32 defaults: rtol 1.3e-6, atol 1e-5
    torch.testing.assert_close(P.shrink_mlp(model, 0.0)(x), model(x), rtol=0, atol=0)
    with pytest.raises(TypeError, match="nn.Sequential"):
        P.shrink_mlp(nn.Linear(3, 3), 0.5)


# --- low rank ------------------------------------------------------------------------------------------
# Eckart and Young (1936): among all matrices of rank <= r, U_r S_r V_r^T is closest to W, at Frobenius
# distance sqrt(s_{r+1}^2 + ...) and spectral distance s_{r+1}. A @ B has rank <= r by its shapes, so an
# error equal to that minimum means the approximation is optimal. Tolerances: LAPACK's SVD is backward
# stable, with errors of a few ulps times the size of W; 1e-12 relative to ||W|| in float64 leaves a
# margin of ~1000x, 1e-5 in float32 (ulp 1.2e-7) about 100x.
EY_TOL = {np.float64: 1e-12, np.float32: 1e-5}


def _known_spectrum(m, n, s, seed):
    """W = Q1 diag(s) Q2^T with random orthonormal Q1, Q2: singular values s by construction, no SVD."""
    rng = np.random.default_rng(seed)
    Q1 = np.linalg.qr(rng.normal(size=(m, len(s))))[0]
    Q2 = np.linalg.qr(rng.normal(size=(n, len(s))))[0]
    return Q1 * s @ Q2.T, Q1, Q2


@pytest.mark.parametrize("np_dtype", [np.float64, np.float32])
@pytest.mark.parametrize("as_torch", [False, True])
def test_truncated_svd_is_the_eckart_young_optimum_of_a_known_spectrum(np_dtype, as_torch):
    """Keeping the smallest singular values, or returning zeros, misses the optimum by far more than the tolerance."""
    s = np.array([9.0, 7.0, 5.0, 3.0, 2.0, 1.0])
    W, Q1, Q2 = _known_spectrum(12, 8, s, seed=0)
    Wd = W.astype(np_dtype)
    tol = EY_TOL[np_dtype] * np.linalg.norm(s)
    for r in (1, 2, 3, 5, 6):
        A, B = lowrank.truncated_svd(torch.from_numpy(Wd) if as_torch else Wd, r)
        A, B = (A.numpy(), B.numpy()) if as_torch else (A, B)
        assert A.shape == (12, r) and B.shape == (r, 8) and A.dtype == B.dtype == np_dtype
        approx = A.astype(np.float64) @ B.astype(np.float64)
        assert abs(np.linalg.norm(W - approx) - np.sqrt((s[r:] ** 2).sum())) <= tol, r  # Frobenius
        assert abs(np.linalg.norm(W - approx, 2) - (s[r] if r < len(s) else 0.0)) <= tol, r  # spectral
        # the optimum is unique when s_r > s_{r+1} (here: well separated): U_r S_r V_r^T itself
        np.testing.assert_allclose(approx, Q1[:, :r] * s[:r] @ Q2[:, :r].T, rtol=0, atol=tol)


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 12), n=st.integers(1, 12), data=st.data(), as_torch=st.booleans())
def test_truncated_svd_error_is_the_discarded_singular_values_of_numpys_svd(m, n, data, as_torch):
    r = data.draw(st.integers(1, min(m, n)), label="rank")
    W = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed")).normal(size=(m, n))
    A, B = lowrank.truncated_svd(torch.from_numpy(W) if as_torch else W, r)
    A, B = (A.numpy(), B.numpy()) if as_torch else (A, B)
    assert A.shape == (m, r) and B.shape == (r, n)
    s = np.linalg.svd(W, compute_uv=False)
    tol = EY_TOL[np.float64] * np.linalg.norm(W)
    assert abs(np.linalg.norm(W - A @ B) - np.sqrt((s[r:] ** 2).sum())) <= tol
    assert abs(np.linalg.norm(W - A @ B, 2) - (s[r] if r < len(s) else 0.0)) <= tol
    assert np.linalg.matrix_rank(A @ B) == r  # Gaussian W has full rank: exactly r


@settings(max_examples=40, deadline=None)
@given(n_out=st.integers(1, 300), n_in=st.integers(1, 300))
def test_break_even_rank_is_the_largest_rank_that_saves_weights(n_out, n_in):
    r = lowrank.break_even_rank(n_out, n_in)
    saves = [k for k in range(0, min(n_out, n_in) + 1) if k * (n_in + n_out) < n_in * n_out]  # the definition
    assert r == max(saves)


def test_low_rank_linear_parameter_count_and_output():
    torch.manual_seed(0)
    layer = nn.Linear(256, 128)
    two = lowrank.low_rank_linear(layer, 16)
    assert sum(p.numel() for p in two.parameters()) == 16 * (256 + 128) + 128
    full = lowrank.low_rank_linear(layer, 128)
    x = torch.randn(4, 256)
    torch.testing.assert_close(full(x), layer(x), atol=1e-5, rtol=1e-5)
    assert lowrank.break_even_rank(128, 256) == 85 and 85 * 384 < 128 * 256 <= 86 * 384


@pytest.mark.parametrize("keep_last", [True, False])
def test_factorize_mlp_equals_numpys_truncated_svd_and_keeps_small_layers(keep_last):
    """Layers 6x64 and 40x6 have a side <= 8 and stay dense; 30x40 is factorized; the classifier 10x30 too
    unless keep_last. The function equals a NumPy forward pass with each factorized W replaced by U_8 S_8 V_8^T."""
    model = _mlp(sizes=(64, 6, 40, 30, 10))
    original = copy.deepcopy(model.state_dict())
    f = lowrank.factorize_mlp(model, 8, keep_last=keep_last)
    factorized = [False, False, True, not keep_last]
    linears = [m for m in model if isinstance(m, nn.Linear)]
    new = [m for m in f if isinstance(m, (nn.Linear, nn.Sequential))]
    assert [isinstance(m, nn.Sequential) for m in new] == factorized
    n = sum(8 * (l.in_features + l.out_features) + l.out_features if fz else l.weight.numel() + l.out_features
            for l, fz in zip(linears, factorized))
    assert sum(p.numel() for p in f.parameters()) == n
    x = torch.randn(5, 64)
    h = x.double().numpy()
    for k, (layer, fz) in enumerate(zip(linears, factorized)):
        W = layer.weight.detach().double().numpy()
        if fz:
            U, S, Vh = np.linalg.svd(W, full_matrices=False)
            W = (U[:, :8] * S[:8]) @ Vh[:8]
        h = h @ W.T + layer.bias.detach().double().numpy()
        h = np.maximum(h, 0) if k < 3 else h
    np.testing.assert_allclose(f(x).detach().double().numpy(), h, rtol=0, atol=1e-5)  # float32 layers
    assert all(torch.equal(v, original[k]) for k, v in model.state_dict().items())  # the model is left alone


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
    y = torch.tensor([1, IGNORE, 2, IGNORE, IGNORE, 0])
    loss = distill.distillation_loss(zs, zt, y, T=2.0, alpha=0.5)
    hard = F.cross_entropy(zs[[0, 2, 5]], y[[0, 2, 5]], reduction="sum") / 6  # averaged over all 6 examples
    soft = 4.0 * F.kl_div(F.log_softmax(zs / 2, 1), F.log_softmax(zt / 2, 1), reduction="batchmean", log_target=True)
    torch.testing.assert_close(loss, 0.5 * soft + 0.5 * hard, rtol=1e-12, atol=1e-12)  # float64
    torch.testing.assert_close(distill.distillation_loss(zs, zt, torch.full((6,), IGNORE), T=2.0), soft,
                               rtol=1e-12, atol=1e-12)
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
    """The forward pass stacks the student's and the teacher's logits; d.loss is the distillation loss
    written with torch's kl_div; training lowers it (the student can match a teacher of its own shape)."""
    tk.setup(0)
    student, teacher = nn.Linear(8, 3), nn.Linear(8, 3)
    before = teacher.weight.detach().clone()
    d = distill.Distiller(student, teacher, T=2.0, alpha=0.5)
    assert [n for n, _ in d.named_parameters()] == ["student.weight", "student.bias"]
    X = torch.randn(32, 8)
    y = teacher(X).argmax(1).detach()
    y[::4] = IGNORE  # a quarter unlabelled

    def reference():
        with torch.no_grad():
            zs, zt = student(X), teacher(X)
            soft = 4.0 * F.kl_div(F.log_softmax(zs / 2, 1), F.softmax(zt / 2, 1), reduction="batchmean")
            hard = F.cross_entropy(zs, y, ignore_index=IGNORE, reduction="sum") / len(y)
            return float(0.5 * soft + 0.5 * hard), torch.stack([zs, zt])

    start, out = reference()
    torch.testing.assert_close(d(X), out, rtol=0, atol=0)
    with torch.no_grad():
        assert float(d.loss(d(X), y)) == pytest.approx(start, rel=1e-5)  # float32
    tk.fit(d, (X, y), epochs=30, loss=d.loss, metric=None, lr=0.05, show_progress=False)
    end, _ = reference()
    assert torch.equal(teacher.weight, before)
    assert end < 0.5 * start, (start, end)  # measured: 0.62 -> 0.23


def test_distiller_is_a_picklable_module_class():
    """A module-level class: ``isinstance`` works, and a pickled copy computes the same outputs and loss
    (with its own copy of the frozen teacher); T and alpha are keyword-only."""
    torch.manual_seed(2)
    d = distill.Distiller(nn.Linear(5, 3), nn.Linear(5, 3), T=3.0, alpha=0.25)
    clone = pickle.loads(pickle.dumps(d))
    assert isinstance(d, distill.Distiller) and isinstance(clone, distill.Distiller) and isinstance(clone, nn.Module)
    assert (clone.T, clone.alpha) == (3.0, 0.25)
    X, y = torch.randn(6, 5), torch.tensor([0, IGNORE, 2, 1, IGNORE, 0])
    with torch.no_grad():
        assert torch.equal(clone(X), d(X))
        assert torch.equal(clone.loss(clone(X), y), d.loss(d(X), y))
    assert [n for n, _ in clone.named_parameters()] == ["student.weight", "student.bias"]
    with pytest.raises(TypeError):
        distill.Distiller(nn.Linear(5, 3), nn.Linear(5, 3), 3.0)


# --- measuring -----------------------------------------------------------------------------------------
def test_saved_bytes_and_sparse_storage():
    model = _mlp(sizes=(64, 256, 256, 10))
    dense = measure.saved_bytes(model)
    n = sum(p.numel() for p in model.parameters())
    assert 4 * n < dense < 4 * n + 4000
    P.apply_masks(model, P.magnitude_masks(P.prunable(model), 0.9))
    P.remove_masks(model)
    assert measure.saved_bytes(model) == pytest.approx(dense, rel=0.01)  # zeros cost as much as any float
    assert measure.saved_bytes(measure.sparse_state_dict(model)) < 0.25 * dense  # about 8 bytes a kept weight
    assert measure.saved_bytes(measure.sparse_state_dict(model, layout="bitmask")) < 0.15 * dense
    assert measure.saved_bytes(model, compress=True) < 0.5 * dense


def _biases(model):
    return sum(p.numel() * p.element_size() for n, p in model.named_parameters() if n.endswith("bias"))


@pytest.mark.parametrize("sizes, s", [((64, 256, 256, 10), 0.9), ((7, 5, 3), 0.5), ((9, 4, 2), 0.0)])
def test_sparse_files_hold_exactly_the_formula_bytes(sizes, s):
    """A real CSR writes nnz (4 + 4) + (rows + 1) 4 bytes of buffers (int32 indices); a bitmask
    ceil(rows cols / 8) + 4 nnz; the file adds only its container, a few hundred bytes per buffer."""
    model = _mlp(sizes=sizes)
    if s:
        P.remove_masks(P.apply_masks(model, P.magnitude_masks(P.prunable(model), s)))
    ws = [w.detach() for w in P.prunable(model)]
    nnz = [int((w != 0).sum()) for w in ws]
    csr = sum(nz * 8 + (w.shape[0] + 1) * 4 for w, nz in zip(ws, nnz))
    bitmask = sum(-(-w.numel() // 8) + 4 * nz for w, nz in zip(ws, nnz))
    assert csr == sum(measure.csr_bytes(w.shape[0], nz) for w, nz in zip(ws, nnz))
    assert bitmask == sum(measure.bitmask_bytes(*w.shape, nz) for w, nz in zip(ws, nnz))
    for layout, expected, buffers in (("csr", csr, 3), ("bitmask", bitmask, 2)):
        sd = measure.sparse_state_dict(model, layout=layout)
        assert measure.storage_bytes(sd) == expected + _biases(model), layout
        overhead = measure.saved_bytes(sd) - measure.storage_bytes(sd)
        assert 0 < overhead < 500 * (buffers * len(ws) + len(ws)), (layout, overhead)
        back = measure.dense_state_dict(sd)
        for k, v in model.state_dict().items():
            assert torch.equal(back[k], v), (layout, k)
    # int64 indices: 4 more bytes per kept weight and per row pointer
    sd64 = measure.sparse_state_dict(model, index_dtype=torch.int64)
    assert measure.storage_bytes(sd64) == sum(measure.csr_bytes(w.shape[0], nz, index_bytes=8)
                                               for w, nz in zip(ws, nnz)) + _biases(model)


def test_torch_csr_view_writes_the_whole_index_buffer():
    """The reason to clone: to_sparse_csr()'s column indices are a view of a 2 x nnz int64 buffer."""
    w = torch.tensor([[0.0, 1.0, 0.0], [2.0, 0.0, 3.0]])
    naive = {"w": w.to_sparse_csr()}
    if tuple(int(n) for n in torch.__version__.split(".")[:2]) >= (2, 13):  # measured: 2.13 shares the buffer, 2.6 does not
        assert measure.storage_bytes(naive) >= 3 * 4 + 2 * 3 * 8 + 3 * 8  # values, 2 x nnz int64, row pointers
    layer = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(w)
    assert measure.storage_bytes(measure.sparse_state_dict(layer)) == measure.csr_bytes(2, 3) == 3 * 8 + 3 * 4


def test_sparse_values_keep_their_dtype():
    model = _mlp(sizes=(6, 5, 3)).double()
    P.remove_masks(P.apply_masks(model, P.magnitude_masks(P.prunable(model), 0.5)))
    for layout in ("csr", "bitmask", "coo"):
        back = measure.dense_state_dict(measure.sparse_state_dict(model, layout=layout))
        assert all(back[k].dtype == torch.float64 and torch.equal(back[k], v) for k, v in model.state_dict().items())
    ws = P.prunable(model)
    assert measure.storage_bytes(measure.sparse_state_dict(model)) == \
        sum(measure.csr_bytes(w.shape[0], int((w != 0).sum()), value_bytes=8) for w in ws) + _biases(model)


def test_latency_has_a_median_and_quartiles_and_restores_threads():
    before = torch.get_num_threads()
    t = measure.latency(lambda: torch.ones(10).sum(), repeats=9, warmup=1)
    assert len(t.times) == 9 and torch.get_num_threads() == before
    assert 0 < t.q1 <= t.median <= t.q3 < 0.1 and t.iqr == t.q3 - t.q1
    assert t.median == sorted(t.times)[4] and t.q1 == sorted(t.times)[2] and t.q3 == sorted(t.times)[6]
    slow, fast = measure.Timing((4.0, 5.0, 6.0)), measure.Timing((1.0, 2.0, 3.0))
    assert measure.speedup(slow, fast) == (2.5, 4.5 / 2.5, 5.5 / 1.5)
    assert "ms (IQR" in str(t)


# --- every transform keeps dtype and device ----------------------------------------------------------------
DTYPES = st.sampled_from([torch.float32, torch.float64])
TOL = {torch.float32: 1e-4, torch.float64: 1e-10}


@settings(max_examples=30, deadline=None)
@given(n_in=st.integers(1, 12), n_out=st.integers(1, 12), data=st.data(), dtype=DTYPES, bias=st.booleans())
def test_low_rank_linear_keeps_dtype_and_equals_numpys_truncated_svd(n_in, n_out, data, dtype, bias):
    rank = data.draw(st.integers(1, min(n_in, n_out)), label="rank")
    torch.manual_seed(n_in * 13 + n_out)
    layer = nn.Linear(n_in, n_out, bias=bias, dtype=dtype)
    two = lowrank.low_rank_linear(layer, rank)
    assert all(p.dtype == dtype and p.device == layer.weight.device for p in two.parameters())
    W = layer.weight.detach().double().numpy()
    U, S, Vh = np.linalg.svd(W, full_matrices=False)
    x = torch.randn(3, n_in, dtype=dtype)
    ref = x.double().numpy() @ ((U[:, :rank] * S[:rank]) @ Vh[:rank]).T
    if bias:
        ref = ref + layer.bias.detach().double().numpy()
    out = two(x)
    assert out.dtype == dtype
    np.testing.assert_allclose(out.detach().double().numpy(), ref, atol=TOL[dtype] * (1 + np.abs(ref).max()))


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64])
def test_truncated_svd_keeps_numpy_and_torch_dtypes(np_dtype):
    W = np.random.default_rng(0).normal(size=(6, 4)).astype(np_dtype)
    assert all(a.dtype == np_dtype for a in lowrank.truncated_svd(W, 2))
    assert all(a.dtype == torch.from_numpy(W).dtype for a in lowrank.truncated_svd(torch.from_numpy(W), 2))
    assert all(a.dtype == np.float64 for a in lowrank.truncated_svd(W.astype(int), 2))


@settings(max_examples=20, deadline=None)
@given(h1=st.integers(4, 10), h2=st.integers(4, 10), s=st.sampled_from([0.0, 0.25, 0.5, 0.75]), dtype=DTYPES)
def test_model_transforms_keep_dtype(h1, h2, s, dtype):
    torch.manual_seed(h1 * 11 + h2)
    model = tk.cnn.mlp([5, h1, h2, 3]).to(dtype)
    x = torch.randn(4, 5, dtype=dtype)
    small = P.shrink_mlp(model, s)
    fact = lowrank.factorize_mlp(model, 1, keep_last=False)
    masked = P.apply_masks(copy.deepcopy(model), P.random_masks(P.prunable(model), s))
    for m in (small, fact, masked):
        assert {p.dtype for p in m.parameters()} == {dtype} and m(x).dtype == dtype
    if s == 0.0:  # nothing removed: the same function
        torch.testing.assert_close(small(x), model(x), atol=TOL[dtype], rtol=TOL[dtype])
        torch.testing.assert_close(masked(x), model(x), atol=TOL[dtype], rtol=TOL[dtype])
    assert P.sparsity(masked) == pytest.approx(
        sum(round(s * w.numel()) for w in P.prunable(model)) / sum(w.numel() for w in P.prunable(model)))


def test_transforms_keep_the_device():
    """The meta device (shapes and dtypes, no values) stands in for an accelerator on a CPU-only machine:
    a transform that creates a tensor without ``device=`` (or moves one with ``.cpu()``) fails here."""
    model = tk.cnn.mlp([6, 8, 8, 3]).to("meta")
    x = torch.empty(2, 6, device="meta")
    on_meta = lambda m: {p.device.type for p in m.parameters()} | {b.device.type for b in m.buffers()} == {"meta"}  # noqa: E731
    assert on_meta(lowrank.low_rank_linear(model[0], 2)) and on_meta(lowrank.factorize_mlp(model, 2))
    assert on_meta(P.shrink_mlp(model, 0.5)) and P.shrink_mlp(model, 0.5)(x).device.type == "meta"
    for masks in (P.magnitude_masks(P.prunable(model), 0.5), P.magnitude_masks(P.prunable(model), 0.5, scope="layer"),
                  P.random_masks(P.prunable(model), 0.5)):
        assert all(m.device.type == "meta" and m.dtype == torch.bool for m in masks)
    masked = P.apply_masks(copy.deepcopy(model), P.random_masks(P.prunable(model), 0.5))
    assert on_meta(masked) and masked(x).device.type == "meta"
    z = torch.empty(4, 10, device="meta")
    assert distill.distillation_loss(z, z, torch.zeros(4, dtype=torch.long, device="meta")).device.type == "meta"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_distillation_loss_has_the_students_dtype(dtype):
    zs, zt = torch.randn(5, 4, dtype=dtype), torch.randn(5, 4, dtype=torch.float64)
    assert distill.distillation_loss(zs, zt, torch.tensor([0, 1, 2, 3, IGNORE])).dtype == dtype


# --- the T^2 factor ----------------------------------------------------------------------------------------
def test_soft_term_gradient_and_hintons_high_temperature_expansion():
    """Per example the gradient of T^2 KL with respect to z_s is T (p_s - p_t); without the T^2 it is
    (p_s - p_t) / T, which for zero-mean logits and a high T is about (z_s - z_t) / (N T^2)."""
    torch.manual_seed(3)
    B, N = 4, 10
    zs = torch.randn(B, N, dtype=torch.float64)
    zt = torch.randn(B, N, dtype=torch.float64)
    zs, zt = zs - zs.mean(1, keepdim=True), zt - zt.mean(1, keepdim=True)
    scaled = []
    for T in (1.0, 5.0, 50.0, 500.0):
        z = zs.clone().requires_grad_(True)
        distill.distillation_loss(z, zt, T=T).backward()
        ps, pt = torch.softmax(zs / T, 1), torch.softmax(zt / T, 1)
        torch.testing.assert_close(z.grad, T * (ps - pt) / B, atol=1e-14, rtol=1e-10)
        unscaled = z.grad / T**2  # the KL term alone
        approx = (zs - zt) / (N * T**2 * B)
        rel = float((unscaled - approx).norm() / approx.norm())
        scaled.append((T, rel, float(z.grad.norm())))
    rels = [r for _, r, _ in scaled]
    assert rels[0] > 0.1 and rels[2] < 0.01 and rels[3] < 0.001  # the expansion's error shrinks like 1 / T
    # with the T^2, the gradient's size stops depending on T (it tends to |z_s - z_t| / (N B))
    limit = float((zs - zt).norm() / (N * B))
    assert all(abs(g / limit - 1) < 0.01 for T, _, g in scaled if T >= 50)


# --- bad input ----------------------------------------------------------------------------------------------
_W = [torch.randn(4, 3)]
_NAN = [torch.tensor([[1.0, float("nan")], [0.5, 2.0]])]
_Z = torch.zeros(4, 10)
BAD_CALLS = [
    # (call, error, the message names the argument and what was expected)
    (lambda: P.magnitude_masks(_NAN, 0.5), ValueError, r"weights\[0\] must be finite"),
    (lambda: P.magnitude_masks([np.ones((2, 2))], 0.5), TypeError, r"weights\[0\] must be a torch tensor"),
    (lambda: P.magnitude_masks([torch.ones(2, 2, dtype=torch.long)], 0.5), TypeError, "floating-point"),
    (lambda: P.magnitude_masks(torch.ones(2, 2), 0.5), ValueError, "weights must be a non-empty list"),
    (lambda: P.magnitude_masks([], 0.5), ValueError, "weights must be a non-empty list"),
    (lambda: P.magnitude_masks(_W, 1.5), ValueError, r"sparsity must be in \[0(\.0)?, 1(\.0)?\)"),
    (lambda: P.random_masks(_W, -0.2), ValueError, r"sparsity must be in \[0(\.0)?, 1(\.0)?\)"),
    (lambda: P.random_masks(_NAN, 0.2), ValueError, "must be finite"),
    (lambda: P.apply_masks(_mlp(sizes=(3, 4)), [torch.ones(4, 3)]), TypeError, r"masks\[0\] must be a boolean"),
    (lambda: P.apply_masks(_mlp(sizes=(3, 4)), [3]), TypeError, r"masks\[0\] must be a boolean"),
    (lambda: P.random_masks(_W, 0.5, generator=3), TypeError, "generator must be a torch.Generator"),
    (lambda: P.sparsity("model"), TypeError, "model_or_weights must be"),
    (lambda: lowrank.truncated_svd(np.ones((0, 4)), 1), ValueError, "W must have at least one row"),
    (lambda: distill.distillation_loss(_Z, _Z, np.array(["a"] * 4)), TypeError, "labels must hold integer"),
    (lambda: P.apply_masks(_mlp(sizes=(3, 4)), [torch.ones(3, 4, dtype=torch.bool)]), ValueError, r"shape \(4, 3\)"),
    (lambda: P.apply_masks(_mlp(sizes=(3, 4)), torch.ones(4, 3, dtype=torch.bool)), ValueError, "masks must be a list"),
    (lambda: P.shrink_mlp(_mlp(sizes=(3, 4, 2)), 1.0), ValueError, r"sparsity must be in \[0(\.0)?, 1(\.0)?\)"),
    (lambda: P.shrink_mlp(_mlp(sizes=(3, 2, 2)), 0.75), ValueError, "would remove every unit"),
    (lambda: P.sparsity([]), ValueError, "weights must be a non-empty list"),
    (lambda: P.prunable("model"), TypeError, "model must be a torch.nn.Module"),
    (lambda: lowrank.truncated_svd(np.array([[1.0, np.nan]]), 1), ValueError, "W must be finite"),
    (lambda: lowrank.truncated_svd(torch.ones(2, 2, 2), 1), ValueError, "W must be 2-D"),
    (lambda: lowrank.truncated_svd(torch.ones(2, 2, dtype=torch.int64), 1), TypeError, "W must be a floating"),
    (lambda: lowrank.truncated_svd(np.ones((4, 3)), -1), ValueError, r"rank must be between 1 and min\(4, 3\)"),
    (lambda: lowrank.low_rank_linear(nn.Linear(5, 4), 2.5), TypeError, "rank must be an integer"),
    (lambda: lowrank.low_rank_linear(nn.Conv1d(2, 2, 1), 1), TypeError, "layer must be an nn.Linear"),
    (lambda: lowrank.factorize_mlp(_mlp(), 0), ValueError, "rank must be >= 1"),
    (lambda: lowrank.factorize_mlp(_mlp(), 1.5), TypeError, "rank must be an integer"),
    (lambda: lowrank.factorize_mlp(_mlp(), 2, keep_last="no"), TypeError, "keep_last must be True or False"),
    (lambda: lowrank.break_even_rank(0, 5), ValueError, "n_out must be >= 1"),
    (lambda: lowrank.break_even_rank(4, 2.5), TypeError, "n_in must be an integer"),
    (lambda: distill.distillation_loss(_Z, _Z, torch.zeros(4)), TypeError, "labels must hold integer"),
    (lambda: distill.distillation_loss(_Z, _Z, torch.tensor([0, 1, 10, -1])), ValueError,
     r"labels must be in \[0, 10\) or IGNORE = -100, got \[-1, 10\]"),
    (lambda: distill.distillation_loss(_Z[0], _Z[0]), ValueError, "student_logits must be 2-D"),
    (lambda: distill.distillation_loss(_Z.long(), _Z), TypeError, "student_logits must be a floating"),
    (lambda: distill.distillation_loss(_Z, _Z.clone().fill_(float("nan"))), ValueError, "teacher_logits must be finite"),
    (lambda: distill.distillation_loss(_Z, _Z, T=-2.0), ValueError, "T must be > 0"),
    (lambda: distill.distillation_loss(_Z, _Z, alpha=1.5), ValueError, r"alpha must be in \[0(\.0)?, 1(\.0)?\]"),
    (lambda: distill.Distiller(nn.Linear(2, 2), nn.Linear(2, 2), T=float("nan")), ValueError, "T must be > 0"),
    (lambda: measure.latency(lambda: None, repeats=2.5), TypeError, "repeats must be an integer"),
    (lambda: measure.latency(lambda: None, warmup=-1), ValueError, "warmup must be >= 0"),
    (lambda: measure.latency("f"), TypeError, "fn must be callable"),
    (lambda: measure.speedup(1.0, 2.0), TypeError, "slow must be a Timing"),
    (lambda: measure.csr_bytes(-1, 3), ValueError, "rows must be >= 0"),
    (lambda: measure.csr_bytes(4, 3, index_bytes=0), ValueError, "index_bytes must be > 0"),
    (lambda: measure.bitmask_bytes(2, 2, 5), ValueError, "nnz must be at most rows \\* cols = 4"),
    (lambda: measure.sparse_state_dict(_mlp(), layout="csc"), ValueError, "layout must be one of"),
    (lambda: measure.sparse_state_dict(_mlp(), index_dtype=torch.int16), TypeError, "index_dtype must be"),
    (lambda: measure.sparse_state_dict({"w": torch.ones(2, 2)}), TypeError, "model must be a torch.nn.Module"),
]


@pytest.mark.parametrize("k", range(len(BAD_CALLS)))
def test_bad_input_is_refused_with_a_message_naming_the_argument(k):
    call, error, message = BAD_CALLS[k]
    with pytest.raises(error, match=message):
        call()


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
