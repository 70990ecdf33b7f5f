"""Chapter 8: zero-cost proxies (synflow, grad_norm, NASWOT) and the rank correlation that judges them.

Expected values come from formulas written out here (a two-layer network's synaptic flow, the softmax
regression's gradient, Hamming distances pair by pair) and from scipy.stats (Spearman, Kendall's tau-b).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from torch import nn

import troikadl as tk
from troikadl.nas import SearchSpace, benchmark, proxies

RTOL64 = 1e-12      # float64 arithmetic, a few hundred terms
RTOL32 = 1e-6       # float32 gradients summed in another order
LOGDET_RTOL = 1e-9  # log-determinant of an integer matrix, two float64 routes

SUB = SearchSpace({"depth": [1, 2], "width": [4, 8], "kernel": [1, 3], "activation": ["relu", "tanh"],
                   "skip": [False, True]})


def _bench_data():
    s = benchmark.SETTINGS
    return tk.data.digits(seed=s["data_seed"], test_size=s["test_size"], val_size=s["val_size"], images=True)


def _cnn(arch, seed=0, dtype=torch.float32):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return benchmark.build_cnn(arch).to(dtype)


def _images(n, seed=0):
    return torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# --- synflow ---------------------------------------------------------------------------------------------
def _two_layer(bias, relu, dtype=torch.float64):
    rng = np.random.default_rng(3)
    net = nn.Sequential(nn.Linear(3, 4, bias=bias), *([nn.ReLU()] if relu else []), nn.Linear(4, 2, bias=bias))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.as_tensor(rng.normal(size=tuple(p.shape))))
    return net.to(dtype)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_synflow_equals_the_flow_of_a_two_layer_network_written_out(bias, relu, dtype):
    """R = 1^T (|W2| (|W1| u + |b1|) + |b2|) with u = ones: dR/dW2[k, j] = h_j, dR/dW1[j, i] = g_j u_i with
    g = |W2|^T 1, dR/db1 = g, dR/db2 = 1. Everything is nonnegative, so the ReLU (if any) is the identity."""
    net = _two_layer(bias, relu, dtype)
    layers = [m for m in net if isinstance(m, nn.Linear)]
    A1, A2 = (np.abs(m.weight.detach().double().numpy()) for m in layers)
    c1, c2 = ((np.abs(m.bias.detach().double().numpy()) if bias else np.zeros(m.out_features)) for m in layers)
    u = np.ones(3)
    h = A1 @ u + c1
    g = A2.T @ np.ones(2)
    expected = (A2 * h[None, :]).sum() + c2.sum() + (A1 * np.outer(g, u)).sum() + (c1 * g).sum()
    before = copy.deepcopy(net.state_dict())
    assert proxies.synflow(net, (3,)) == pytest.approx(expected, rel=RTOL64)
    for k, v in net.state_dict().items():  # the model is left as it was: weights, signs, dtype, gradients
        assert v.dtype == dtype and torch.equal(v, before[k]), k
    assert all(p.grad is None for p in net.parameters())


def _rescaled(model, block, c):
    """A float64 copy of a plain ReLU CNN with block ``block``'s conv (weights and bias) times ``c`` and the next
    layer's weights (the next block's conv, or the classifier after pooling) divided by ``c``."""
    m = copy.deepcopy(model).double()
    blocks = [b for b in m if isinstance(b, benchmark.Block)]
    nxt = blocks[block + 1].conv if block + 1 < len(blocks) else m[-1]
    with torch.no_grad():
        blocks[block].conv.weight.mul_(c)
        blocks[block].conv.bias.mul_(c)
        nxt.weight.div_(c)
    return m


@settings(max_examples=12, deadline=None)
@given(depth=st.sampled_from([1, 2, 3]), width=st.sampled_from([4, 8, 16]), kernel=st.sampled_from([1, 3, 5]),
       which=st.integers(0, 2), c=st.floats(0.05, 20.0), seed=st.integers(0, 50))
def test_synflow_is_unchanged_when_a_relu_layer_is_scaled_up_and_the_next_down(depth, width, kernel, which, c,
                                                                                seed):
    arch = {"depth": depth, "width": width, "kernel": kernel, "activation": "relu", "skip": False}
    model = _cnn(arch, seed, torch.float64)
    block = which % depth
    base = proxies.synflow(model, (1, 8, 8))
    assert proxies.synflow(_rescaled(model, block, c), (1, 8, 8)) == pytest.approx(base, rel=1e-10)
    if abs(math.log(c)) > 0.1:  # the test can see a change: scaling one layer alone changes the flow
        alone = copy.deepcopy(model)
        with torch.no_grad():
            [b for b in alone if isinstance(b, benchmark.Block)][block].conv.weight.mul_(c)
        assert abs(proxies.synflow(alone, (1, 8, 8)) / base - 1) > 1e-3


def test_synflow_of_a_tanh_network_is_not_conserved_by_rescaling():
    """The invariance above comes from ReLU's positive homogeneity; tanh has none."""
    arch = {"depth": 2, "width": 8, "kernel": 3, "activation": "tanh", "skip": False}
    model = _cnn(arch, 1, torch.float64)
    base = proxies.synflow(model, (1, 8, 8))
    assert abs(proxies.synflow(_rescaled(model, 0, 5.0), (1, 8, 8)) / base - 1) > 1e-3


# --- grad_norm -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
def test_grad_norm_equals_the_softmax_regression_gradient_written_out(bias):
    """For logits Z = X W^T + b, the mean cross-entropy's gradient is dZ = (softmax(Z) - onehot(y)) / n,
    dW = dZ^T X, db = the column sums of dZ."""
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(7, 5)), np.array([0, 2, 1, 1, 2, 0, 2])
    model = nn.Linear(5, 3, bias=bias).double()
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(rng.normal(size=(3, 5))))
        if bias:
            model.bias.copy_(torch.as_tensor(rng.normal(size=3)))
    W = model.weight.detach().numpy()
    Z = X @ W.T + (model.bias.detach().numpy() if bias else 0)
    P = np.exp(Z - Z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    dZ = (P - np.eye(3)[y]) / len(X)
    expected = math.sqrt((dZ.T @ X).ravel() @ (dZ.T @ X).ravel() + (dZ.sum(0) @ dZ.sum(0) if bias else 0.0))
    assert proxies.grad_norm(model, X, y) == pytest.approx(expected, rel=RTOL64)
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("index", [0, 37, 101, 143])
def test_grad_norm_of_a_benchmark_cnn_equals_torchs_backward(index):
    """The norm of every parameter's gradient after ``loss.backward()``, on float32 CNNs of the space; the
    model's own gradients are not touched by grad_norm."""
    model = _cnn(benchmark.SPACE[index], seed=index)
    X = _images(10, seed=index)
    y = torch.arange(10) % 10
    value = proxies.grad_norm(model, X.numpy(), y.numpy())
    assert all(p.grad is None for p in model.parameters())
    nn.functional.cross_entropy(model(X.float()), y).backward()
    expected = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in model.parameters()))
    assert value == pytest.approx(expected, rel=RTOL32)


# --- NASWOT ----------------------------------------------------------------------------------------------
def _codes_by_hand(model, X):
    """Each block's pre-activation is its convolution's output: one bit per unit, 1 where it is positive."""
    bits, x = [], X
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, benchmark.Block):
                bits.append((layer.conv(x) > 0).flatten(1))
            x = layer(x)
    return torch.cat(bits, 1).numpy().astype(np.int64)


def _naswot_by_hand(model, X):
    codes = _codes_by_hand(model, X)
    n, units = codes.shape
    K = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            K[i, j] = units - np.count_nonzero(codes[i] != codes[j])
    return math.log(np.linalg.det(K))


@pytest.mark.parametrize("index", [0, 5, 42, 77, 100, 143])
def test_naswot_equals_the_log_determinant_of_hamming_agreements_counted_pair_by_pair(index):
    arch = benchmark.SPACE[index]
    model = _cnn(arch, seed=index, dtype=torch.float64)
    X = _images(16, seed=index)
    value = proxies.naswot(model, X)
    assert value == pytest.approx(_naswot_by_hand(model, X), rel=LOGDET_RTOL), arch
    assert all(not m._forward_pre_hooks for m in model.modules()), "naswot must remove its hooks"


def test_naswot_codes_a_tanh_unit_by_the_sign_of_its_pre_activation():
    """With one activation layer, a tanh CNN has the codes, hence the score, of the ReLU CNN with its weights."""
    tanh = _cnn({"depth": 1, "width": 8, "kernel": 3, "activation": "tanh", "skip": True}, seed=2)
    relu = _cnn({"depth": 1, "width": 8, "kernel": 3, "activation": "relu", "skip": True}, seed=3)
    relu.load_state_dict(tanh.state_dict())
    X = _images(20, seed=1)
    assert proxies.naswot(tanh, X) == proxies.naswot(relu, X)


def test_naswot_is_minus_infinity_when_two_inputs_share_a_code():
    model = _cnn(benchmark.SPACE[60], seed=0)
    X = _images(6)
    X[3] = X[1]
    assert proxies.naswot(model, X) == -math.inf


# --- scoring the space -----------------------------------------------------------------------------------
def test_proxy_scores_are_the_proxies_of_the_tables_initial_weights():
    data = _bench_data()
    torch.manual_seed(7)
    before = torch.get_rng_state()
    scores = proxies.proxy_scores(SUB, data, seed=1, batch_size=32)
    assert torch.equal(torch.get_rng_state(), before), "proxy_scores changed torch's global generator"
    assert set(scores) == {"synflow", "grad_norm", "naswot", "params"}
    assert all(v.shape == (SUB.size,) and np.all(np.isfinite(v)) for v in scores.values())
    np.testing.assert_array_equal(scores["params"], [benchmark.arch_parameters(a) for a in SUB])
    for i in (0, 13, 31):  # the weights train_architecture(arch, seed=1) starts from: manual_seed, then build_cnn
        torch.manual_seed(1)
        model = benchmark.build_cnn(SUB[i])
        assert scores["synflow"][i] == proxies.synflow(model, (1, 8, 8))
        assert scores["grad_norm"][i] == proxies.grad_norm(model, data.X_train[:32], data.y_train[:32])
        assert scores["naswot"][i] == proxies.naswot(model, data.X_train[:32])
    again = proxies.proxy_scores(SUB, data, seed=1, batch_size=32, proxies=("naswot",))
    assert set(again) == {"naswot", "params"} and np.array_equal(again["naswot"], scores["naswot"])
    other = proxies.proxy_scores(SUB, data, seed=2, batch_size=32, proxies=("synflow",))
    assert not np.array_equal(other["synflow"], scores["synflow"]), "the seed must matter"


# --- rank correlation ------------------------------------------------------------------------------------
tied = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=4, max_size=40).filter(
    lambda p: len({a for a, _ in p}) > 1 and len({b for _, b in p}) > 1)


@settings(max_examples=40, deadline=None)
@given(pairs=tied)
def test_rank_correlation_equals_scipy_on_data_with_ties(pairs):
    x, y = np.array(pairs, dtype=float).T
    rho = stats.spearmanr(x, y)[0]
    tau = stats.kendalltau(x, y)[0]  # tau-b, scipy's default
    assert proxies.rank_correlation(x, y, n_boot=200).estimate == pytest.approx(rho, rel=RTOL64, abs=RTOL64)
    assert proxies.rank_correlation(x, y, method="kendall", n_boot=200).estimate == pytest.approx(
        tau, rel=RTOL64, abs=RTOL64)


@pytest.mark.parametrize("method, scipy_fn", [("spearman", stats.spearmanr), ("kendall", stats.kendalltau)])
def test_the_bootstrap_interval_is_the_documented_percentile_interval(method, scipy_fn):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 8, 30).astype(float)
    y = x + rng.integers(0, 6, 30)
    idx = np.random.default_rng(4).integers(30, size=(300, 30))  # the resampling the docstring promises
    boot = np.array([scipy_fn(x[i], y[i])[0] for i in idx])
    low, high = np.quantile(boot[np.isfinite(boot)], [0.05, 0.95])
    got = proxies.rank_correlation(x, y, method=method, n_boot=300, seed=4, level=0.9)
    assert got.low == pytest.approx(low, abs=RTOL64) and got.high == pytest.approx(high, abs=RTOL64)
    assert got == proxies.rank_correlation(x, y, method=method, n_boot=300, seed=4, level=0.9)
    assert got != proxies.rank_correlation(x, y, method=method, n_boot=300, seed=5, level=0.9)


@pytest.mark.parametrize("method, population", [("spearman", lambda r: 6 / math.pi * math.asin(r / 2)),
                                                ("kendall", lambda r: 2 / math.pi * math.asin(r))])
def test_the_bootstrap_interval_covers_the_population_correlation_about_95_percent_of_the_time(method, population):
    """Bivariate normal data with correlation 0.6, where Spearman's and Kendall's population values are known
    in closed form: (6 / pi) asin(r / 2) and (2 / pi) asin(r). 200 samples: 0.95 has a binomial standard error
    of 0.015; the percentile bootstrap undercovers a little at n = 80, hence a lower bound 4 errors below."""
    rng, r, hits = np.random.default_rng(11), 0.6, 0
    for rep in range(200):
        x, e = rng.normal(size=(2, 80))
        y = r * x + math.sqrt(1 - r * r) * e
        iv = proxies.rank_correlation(x, y, method=method, n_boot=400, seed=rep)
        assert iv.low <= iv.estimate <= iv.high
        hits += iv.low <= population(r) <= iv.high
    assert 0.89 <= hits / 200 <= 0.995, hits


# --- bad input -------------------------------------------------------------------------------------------
def _lin():
    with torch.random.fork_rng():
        return nn.Linear(3, 2)


@pytest.mark.parametrize("call, error, match", [
    (lambda: proxies.synflow("net", (3,)), TypeError, "model must be a torch.nn.Module"),
    (lambda: proxies.synflow(_lin(), 3), TypeError, "input_shape must be a list or tuple"),
    (lambda: proxies.synflow(_lin(), (0,)), ValueError, r"input_shape\[0\] must be >= 1"),
    (lambda: proxies.synflow(_lin(), (4,)), ValueError, "input_shape of shape"),
    (lambda: proxies.synflow(nn.ReLU(), (3,)), ValueError, "model must have trainable parameters"),
    (lambda: proxies.grad_norm(_lin(), np.zeros((4, 3)), [0, 1, 2, 0]),
     ValueError, r"y must hold labels in \[0, 2\)"),
    (lambda: proxies.grad_norm(_lin(), np.zeros((4, 3)), [0, 1, 1]), ValueError, "X and y must have the same number"),
    (lambda: proxies.grad_norm(_lin(), np.zeros((4, 5)), [0, 1, 1, 0]), ValueError, "X of shape"),
    (lambda: proxies.grad_norm(_lin(), np.full((4, 3), np.nan), [0, 1, 1, 0]), ValueError, "X must be finite"),
    (lambda: proxies.grad_norm(_lin(), np.zeros(3), [0]), ValueError, "X must be"),
    (lambda: proxies.naswot(_lin(), np.zeros((4, 3))), ValueError, "model must contain nn.ReLU or nn.Tanh"),
    (lambda: proxies.naswot(_cnn(benchmark.SPACE[0]), np.zeros((0, 1, 8, 8))), ValueError, "X must not be empty"),
    (lambda: proxies.naswot(None, np.zeros((2, 1, 8, 8))), TypeError, "model must be a torch.nn.Module"),
    (lambda: proxies.proxy_scores(benchmark.SPACE, _bench_data(), seed=0, proxies=("zen",)), ValueError,
     r"proxies\[0\] must be one of"),
    (lambda: proxies.proxy_scores(benchmark.SPACE, _bench_data(), seed=0, proxies="naswot"), TypeError,
     "proxies must be a list of strings"),
    (lambda: proxies.proxy_scores(benchmark.SPACE, _bench_data(), seed=0, proxies=("naswot", "naswot")),
     ValueError, "proxies must not repeat"),
    (lambda: proxies.proxy_scores(benchmark.SPACE, _bench_data(), seed=0, batch_size=5000), ValueError,
     "batch_size must be <="),
    (lambda: proxies.proxy_scores(benchmark.SPACE, _bench_data(), seed=-1), ValueError, "seed must be >= 0"),
    (lambda: proxies.proxy_scores(SearchSpace({"depth": [1, 4], "width": [4, 8], "kernel": [1, 3],
                                               "activation": ["relu", "tanh"], "skip": [False, True]}),
                                  _bench_data(), seed=0), ValueError, "space must hold architectures"),
    (lambda: proxies.proxy_scores([benchmark.SPACE[0]], _bench_data(), seed=0), TypeError, "space must be a"),
    (lambda: proxies.proxy_scores(benchmark.SPACE, (1, 2), seed=0), TypeError, "data must be a"),
    (lambda: proxies.rank_correlation([1, 2, 3], [1, 2]), ValueError, "x and y must have the same length"),
    (lambda: proxies.rank_correlation([1, 2], [1, 2]), ValueError, "at least 3 pairs"),
    (lambda: proxies.rank_correlation([1, 1, 1], [1, 2, 3]), ValueError, "x must not be constant"),
    (lambda: proxies.rank_correlation([1, 2, 3], [1, 2, 3], method="pearson"), ValueError, "method must be one of"),
    (lambda: proxies.rank_correlation([1, 2, 3], [1, 2, 3], n_boot=1), ValueError, "n_boot must be >= 2"),
    (lambda: proxies.rank_correlation([1, 2, 3], [1, 2, 3], level=1.0), ValueError, "level must be in"),
    (lambda: proxies.rank_correlation([1, 2, 3], [1, 2, 3], seed=0.5), TypeError, "seed must be an integer"),
    (lambda: proxies.rank_correlation([1, 2, np.nan], [1, 2, 3]), ValueError, "x must be finite"),
])
def test_bad_input_is_refused_with_a_message_naming_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()
