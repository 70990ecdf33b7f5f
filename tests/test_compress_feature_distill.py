"""Chapter 9: feature distillation (FitNets' hints, DistilBERT's cosine loss) beside response distillation.

References: torch's ``F.mse_loss`` and ``F.cosine_embedding_loss`` (target +1), Keras's losses, and the
FeatureDistiller's loss written again here with ``nn.Sequential`` slicing and ``F.kl_div``.
"""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import troikadl as tk
from troikadl.compress import distill
from troikadl.train import IGNORE

TOL = {"rtol": 0, "atol": 1e-12}  # float64 throughout


def _mlp(sizes, seed, dtype=torch.float32):
    torch.manual_seed(seed)
    return tk.cnn.mlp(list(sizes)).to(dtype)


# --- the feature loss ----------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 9), width=st.integers(1, 40), extra=st.sampled_from([(), (3,), (2, 4)]),
       seed=st.integers(0, 10_000), scale=st.sampled_from([1e-3, 1.0, 50.0]))
def test_feature_loss_equals_torch_mse_and_cosine_embedding_loss(batch, width, extra, seed, scale):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(batch, width, *extra, generator=g, dtype=torch.float64) * scale
    t = torch.randn(batch, width, *extra, generator=g, dtype=torch.float64)
    torch.testing.assert_close(distill.feature_loss(s, t), F.mse_loss(s, t), **TOL)
    s2, t2 = s.reshape(batch, -1), t.reshape(batch, -1)
    ref = F.cosine_embedding_loss(s2, t2, torch.ones(batch, dtype=torch.float64))
    torch.testing.assert_close(distill.feature_loss(s, t, kind="cosine"), ref, **TOL)


def test_cosine_feature_loss_edge_cases():
    """Parallel vectors cost 0 whatever their lengths, opposite ones 2, orthogonal ones 1; a zero vector has
    cosine 0 (as in torch's cosine_embedding_loss)."""
    t = torch.tensor([[1.0, 2.0, 3.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
    s = torch.stack([5 * t[0], -t[1], torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64), torch.zeros(3).double()])
    per_row = [0.0, 2.0, 1.0, 1.0]
    for i, want in enumerate(per_row):  # abs 1e-11: the 1e-12 added to each squared length (torch's eps)
        assert float(distill.feature_loss(s[i:i + 1], t[i:i + 1], kind="cosine")) == pytest.approx(want, abs=1e-11)
    ref = F.cosine_embedding_loss(s, t, torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(distill.feature_loss(s, t, kind="cosine"), ref, **TOL)


@pytest.mark.parametrize("kind", ["mse", "cosine"])
def test_feature_loss_gradient_and_teacher_side(kind):
    """gradcheck on the student side; nothing flows into the teacher's features; float32 teacher features are
    cast to the student's dtype."""
    torch.manual_seed(0)
    s = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    t = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: distill.feature_loss(a, t, kind=kind), (s,))
    distill.feature_loss(s, t, kind=kind).backward()
    assert t.grad is None and s.grad is not None
    assert distill.feature_loss(s, t.float(), kind=kind).dtype == torch.float64


@pytest.mark.tf
def test_feature_loss_equals_keras_losses():
    tk.import_tf()
    import keras

    torch.manual_seed(3)
    s, t = torch.randn(8, 12, dtype=torch.float64), torch.randn(8, 12, dtype=torch.float64)
    mse = float(keras.losses.MeanSquaredError()(t.numpy(), s.numpy()))
    neg_cos = float(keras.losses.CosineSimilarity(axis=1)(t.numpy(), s.numpy()))  # minus the batch-mean cosine
    assert float(distill.feature_loss(s, t)) == pytest.approx(mse, rel=1e-6)
    assert float(distill.feature_loss(s, t, kind="cosine")) == pytest.approx(1 + neg_cos, rel=1e-6)


# --- the FeatureDistiller ------------------------------------------------------------------------------
def _reference(student, teacher, reg, X, y, *, s_layer, t_layer, beta, kind, T, alpha):
    """The loss written again: Sequential slicing for the features, F.kl_div / F.cross_entropy / torch losses."""
    zs, zt = student(X), teacher(X).detach()
    hs, ht = reg(student[:s_layer + 1](X)), teacher[:t_layer + 1](X).detach()
    soft = T * T * F.kl_div(F.log_softmax(zs / T, 1), F.softmax(zt / T, 1), reduction="batchmean")
    if (y != IGNORE).any():
        hard = F.cross_entropy(zs, y, ignore_index=IGNORE, reduction="sum") / len(y)
        response = alpha * soft + (1 - alpha) * hard
    else:
        response = soft
    if kind == "mse":
        feat = F.mse_loss(hs, ht)
    else:
        feat = F.cosine_embedding_loss(hs, ht, torch.ones(len(X), dtype=hs.dtype))
    return response + beta * feat, (zs, zt, hs, ht)


@pytest.mark.parametrize("kind", ["mse", "cosine"])
@pytest.mark.parametrize("labels", ["all", "some", "none"])
def test_feature_distiller_loss_equals_a_direct_computation_float64(kind, labels):
    """Student 12-6-4 (hint: its ReLU, layer 1) against teacher 12-20-16-4 (its last ReLU, layer 3)."""
    student, teacher = _mlp([12, 6, 4], 1, torch.float64), _mlp([12, 20, 16, 4], 2, torch.float64)
    torch.manual_seed(3)
    d = distill.FeatureDistiller(student, teacher, student_layer=1, teacher_layer=3, kind=kind, beta=0.7,
                                 T=3.0, alpha=0.6)
    assert isinstance(d.regressor, nn.Linear) and d.regressor.weight.shape == (16, 6)
    X = torch.randn(10, 12, dtype=torch.float64)
    y = torch.arange(10) % 4
    if labels == "some":
        y[::3] = IGNORE
    elif labels == "none":
        y[:] = IGNORE
    want, parts = _reference(student, teacher, d.regressor, X, y, s_layer=1, t_layer=3, beta=0.7, kind=kind,
                             T=3.0, alpha=0.6)
    out = d(X)
    assert out.shape == (10, 4 + 4 + 16 + 16)
    for got, ref in zip(d.split(out), parts):
        torch.testing.assert_close(got, ref, **TOL)
    torch.testing.assert_close(d.loss(out, y), want, **TOL)


def test_beta_zero_is_distillers_loss_exactly():
    student, teacher = _mlp([12, 6, 4], 1), _mlp([12, 20, 16, 4], 2)
    X, y = torch.randn(16, 12), torch.arange(16) % 4
    y[1::2] = IGNORE
    plain = distill.Distiller(student, teacher, T=2.5, alpha=0.3)
    feat = distill.FeatureDistiller(student, teacher, beta=0.0, T=2.5, alpha=0.3)
    assert torch.equal(feat.loss(feat(X), y), plain.loss(plain(X), y))
    with_hint = distill.FeatureDistiller(student, teacher, beta=1.0, T=2.5, alpha=0.3)
    with torch.no_grad():
        assert float(with_hint.loss(with_hint(X), y)) > float(plain.loss(plain(X), y))  # a mismatch costs something


def test_gradients_reach_student_and_regressor_not_teacher():
    student, teacher = _mlp([12, 6, 4], 1), _mlp([12, 20, 16, 4], 2)
    t_before = copy.deepcopy(teacher.state_dict())
    d = distill.FeatureDistiller(student, teacher)
    assert sorted(n.split(".")[0] for n, _ in d.named_parameters()) == ["regressor"] * 2 + ["student"] * 4
    X, y = torch.randn(32, 12), torch.arange(32) % 4
    y[::2] = IGNORE
    out = d(X)
    d.loss(out, y).backward()
    for name, p in d.named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name
    assert all(p.grad is None for p in teacher.parameters())
    # the student's first layer gets gradient from the feature term alone, too
    student.zero_grad()
    d.regressor.zero_grad()
    only = distill.FeatureDistiller(student, teacher, beta=1.0)
    only.regressor = d.regressor
    o = only(X)
    distill.feature_loss(only.split(o)[2], only.split(o)[3]).backward()
    last = student[2].weight.grad  # None, or zeros reached through the concatenated output
    assert float(student[0].weight.grad.abs().sum()) > 0 and (last is None or not last.any())
    s_before, r_before = copy.deepcopy(student.state_dict()), copy.deepcopy(d.regressor.state_dict())
    tk.setup(0)
    tk.fit(d, (X, y), epochs=1, loss=d.loss, metric=None, lr=1e-2, batch_size=32, show_progress=False)
    assert all(torch.equal(v, teacher.state_dict()[k]) for k, v in t_before.items())
    assert all(not torch.equal(v, student.state_dict()[k]) for k, v in s_before.items())
    assert all(not torch.equal(v, d.regressor.state_dict()[k]) for k, v in r_before.items())


def test_fitting_with_unlabelled_examples_lowers_both_terms():
    """Half the labels IGNORE: tk.fit runs, and the feature term and the whole loss both fall."""
    tk.setup(0)
    student, teacher = _mlp([12, 6, 4], 1), _mlp([12, 20, 16, 4], 2)
    d = distill.FeatureDistiller(student, teacher, beta=1.0)
    X = torch.randn(64, 12)
    y = teacher(X).argmax(1).detach()
    y[::2] = IGNORE
    with torch.no_grad():
        out = d(X)
        loss0, feat0 = float(d.loss(out, y)), float(distill.feature_loss(*d.split(out)[2:]))
    tk.fit(d, (X, y), epochs=60, loss=d.loss, metric=None, lr=1e-2, batch_size=32, show_progress=False)
    with torch.no_grad():
        out = d(X)
        loss1, feat1 = float(d.loss(out, y)), float(distill.feature_loss(*d.split(out)[2:]))
    assert loss1 < 0.5 * loss0 and feat1 < 0.5 * feat0, (loss0, loss1, feat0, feat1)


def test_regressor_choices():
    """auto: none when the widths agree (DistilBERT), a Linear when they differ (FitNets); linear: always one;
    a module of one's own is used as given; predict works on the wrapped model."""
    same = distill.FeatureDistiller(_mlp([12, 16, 4], 0), _mlp([12, 20, 16, 4], 1), kind="cosine")
    assert isinstance(same.regressor, nn.Identity)
    forced = distill.FeatureDistiller(_mlp([12, 16, 4], 0), _mlp([12, 20, 16, 4], 1), regressor="linear")
    assert isinstance(forced.regressor, nn.Linear) and forced.regressor.weight.shape == (16, 16)
    mine = nn.Sequential(nn.Linear(6, 16), nn.ReLU())
    own = distill.FeatureDistiller(_mlp([12, 6, 4], 0), _mlp([12, 20, 16, 4], 1), regressor=mine)
    assert own.regressor is mine
    assert tk.predict(own, torch.randn(5, 12)).shape == (5, 40)
    first = distill.FeatureDistiller(_mlp([12, 6, 4], 0), _mlp([12, 20, 16, 4], 1), student_layer=0,
                                     teacher_layer=0)  # pre-activation features, layer 0 on both sides
    assert first.regressor.weight.shape == (20, 6)


def test_feature_distiller_pickles():
    torch.manual_seed(0)
    d = distill.FeatureDistiller(_mlp([5, 4, 3], 0), _mlp([5, 8, 3], 1), beta=0.5, T=3.0, alpha=0.25)
    X, y = torch.randn(6, 5), torch.tensor([0, IGNORE, 2, 1, IGNORE, 0])
    clone = pickle.loads(pickle.dumps(d))
    with torch.no_grad():
        assert torch.equal(clone(X), d(X)) and torch.equal(clone.loss(clone(X), y), d.loss(d(X), y))


# --- bad input -----------------------------------------------------------------------------------------
_S, _T = _mlp([12, 6, 4], 0), _mlp([12, 20, 16, 4], 1)
_Z = torch.zeros(4, 6)


@pytest.mark.parametrize("call, error, match", [
    (lambda: distill.feature_loss(_Z, torch.zeros(4, 5)), ValueError, "same shape"),
    (lambda: distill.feature_loss(_Z[0], _Z[0]), ValueError, "same shape"),
    (lambda: distill.feature_loss(_Z.long(), _Z), TypeError, "student_features must be a floating"),
    (lambda: distill.feature_loss(_Z, _Z.numpy()), TypeError, "teacher_features must be a torch tensor"),
    (lambda: distill.feature_loss(_Z, _Z.clone().fill_(float("nan"))), ValueError, "teacher_features must be finite"),
    (lambda: distill.feature_loss(_Z, _Z, kind="l1"), ValueError, "kind"),
    (lambda: distill.FeatureDistiller(nn.Linear(12, 4), _T), TypeError, "student must be a torch.nn.Sequential"),
    (lambda: distill.FeatureDistiller(_S, lambda x: x), TypeError, "teacher must be a torch.nn.Sequential"),
    (lambda: distill.FeatureDistiller(_S, _T, student_layer=3), ValueError, "student_layer must be <= 2"),
    (lambda: distill.FeatureDistiller(_S, _T, teacher_layer=-6), ValueError, "teacher_layer must be >= -5"),
    (lambda: distill.FeatureDistiller(_S, _T, teacher_layer=1.0), TypeError, "teacher_layer must be an integer"),
    (lambda: distill.FeatureDistiller(_S, _T, regressor=None), ValueError, r"width 6 .*width 16 "),
    (lambda: distill.FeatureDistiller(_S, _T, regressor="conv"), ValueError, "regressor"),
    (lambda: distill.FeatureDistiller(_S, _T, kind="l2"), ValueError, "kind"),
    (lambda: distill.FeatureDistiller(_S, _T, beta=-1.0), ValueError, "beta must be >= 0"),
    (lambda: distill.FeatureDistiller(_S, _T, T=0.0), ValueError, "T must be > 0"),
    (lambda: distill.FeatureDistiller(_S, _T, alpha=1.5), ValueError, "alpha"),
    (lambda: distill.FeatureDistiller(nn.Sequential(nn.ReLU(), nn.Linear(12, 4)), _T, student_layer=0), ValueError,
     "no nn.Linear at or before layer 0"),
    (lambda: distill.FeatureDistiller(_S, _T, regressor=nn.Linear(6, 15))(torch.zeros(3, 12)), ValueError,
     r"regressed student features \(3, 15\)"),
    (lambda: distill.FeatureDistiller(_S, _T).split(torch.zeros(3, 40)), ValueError, "forward pass"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_split_refuses_an_output_of_the_wrong_width():
    d = distill.FeatureDistiller(_S, _T)
    d(torch.zeros(2, 12))
    with pytest.raises(ValueError, match="out must have 2 x"):
        d.split(torch.zeros(2, 41))
