"""Initialization scales against torch.nn.init and Keras initializers (exactly where a number is exposed,
statistically on large samples otherwise), and the signal-propagation measurement against the variance recursion."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from troikadl import initialization as ini

GAIN_TOL = 1e-15       # calculate_gain is a closed formula: equal to rounding
STD_RTOL = 0.01        # sample std of >= 1e5 draws: its relative standard error is <= 0.3% (normal), 0.2% (uniform)
BOUND_RTOL = 1e-3      # the largest |w| of >= 1e5 uniform draws lies within 1e-4 of the bound with prob. > 1 - e^-10
KS_P = 1e-3            # two-sample Kolmogorov-Smirnov: reject the "same distribution" only below this p-value
SHAPES = [(300, 500), (800, 200)]   # (fan_in, fan_out), unequal so that swapping them shows


def _ks_p(a: np.ndarray, b: np.ndarray) -> float:
    stats = pytest.importorskip("scipy.stats")
    return float(stats.ks_2samp(np.ravel(a), np.ravel(b)).pvalue)


def _torch_init(fn, fan_in: int, fan_out: int, seed: int = 0, **kw) -> np.ndarray:
    w = torch.empty(fan_out, fan_in, dtype=torch.float64)   # torch's Linear layout: (out, in)
    fn(w, generator=torch.Generator().manual_seed(seed), **kw)
    return w.numpy().T                                          # back to (fan_in, fan_out)


@pytest.mark.parametrize("activation, slope", [("linear", 0.01), ("sigmoid", 0.01), ("tanh", 0.01),
                                               ("relu", 0.01), ("leaky_relu", 0.01), ("leaky_relu", 0.2),
                                               ("leaky_relu", 0.0)])
def test_gain_equals_torch(activation, slope):
    expected = torch.nn.init.calculate_gain(activation, slope if activation == "leaky_relu" else None)
    assert abs(ini.gain(activation, slope) - expected) <= GAIN_TOL


def test_stds_equal_the_papers_formulas():
    assert ini.xavier_std(300, 500) == pytest.approx(math.sqrt(2 / 800), rel=1e-15)
    assert ini.xavier_std(300, 500, gain=5 / 3) == pytest.approx(5 / 3 * math.sqrt(2 / 800), rel=1e-15)
    assert ini.he_std(300) == pytest.approx(math.sqrt(2 / 300), rel=1e-15)
    assert ini.he_std(300, gain=1.0) == pytest.approx(1 / math.sqrt(300), rel=1e-15)


@pytest.mark.parametrize("fan_in, fan_out", SHAPES)
@pytest.mark.parametrize("g", [1.0, 5 / 3])
def test_xavier_equals_torch(fan_in, fan_out, g):
    rng = np.random.default_rng(1)
    ours_u, ours_n = ini.xavier_uniform(fan_in, fan_out, g, rng=rng), ini.xavier_normal(fan_in, fan_out, g, rng=rng)
    torch_u = _torch_init(torch.nn.init.xavier_uniform_, fan_in, fan_out, gain=g)
    torch_n = _torch_init(torch.nn.init.xavier_normal_, fan_in, fan_out, gain=g)
    bound = g * math.sqrt(6 / (fan_in + fan_out))               # Glorot & Bengio (2010), eq. 16, times the gain
    for w in (ours_u, torch_u):
        assert w.shape == (fan_in, fan_out)
        assert bound * (1 - BOUND_RTOL) <= np.abs(w).max() <= bound
    assert np.std(ours_n) == pytest.approx(np.std(torch_n), rel=2 * STD_RTOL)
    assert np.std(torch_n) == pytest.approx(g * math.sqrt(2 / (fan_in + fan_out)), rel=STD_RTOL)
    assert _ks_p(ours_u, torch_u) > KS_P and _ks_p(ours_n, torch_n) > KS_P


@pytest.mark.parametrize("fan_in, fan_out", SHAPES)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nonlinearity, a", [("relu", 0.0), ("leaky_relu", 0.0), ("leaky_relu", 0.2),
                                             ("tanh", 0.0)])
def test_he_equals_torch_kaiming(fan_in, fan_out, mode, nonlinearity, a):
    g = ini.gain(nonlinearity, a)
    fan = fan_in if mode == "fan_in" else fan_out
    rng = np.random.default_rng(2)
    ours_u = ini.he_uniform(fan_in, fan_out, g, mode=mode, rng=rng)
    ours_n = ini.he_normal(fan_in, fan_out, g, mode=mode, rng=rng)
    kw = dict(a=a, mode=mode, nonlinearity=nonlinearity)
    torch_u = _torch_init(torch.nn.init.kaiming_uniform_, fan_in, fan_out, **kw)
    torch_n = _torch_init(torch.nn.init.kaiming_normal_, fan_in, fan_out, **kw)
    bound = g * math.sqrt(3 / fan)
    for w in (ours_u, torch_u):
        assert bound * (1 - BOUND_RTOL) <= np.abs(w).max() <= bound
    assert np.std(torch_n) == pytest.approx(g / math.sqrt(fan), rel=STD_RTOL)
    assert np.std(ours_n) == pytest.approx(g / math.sqrt(fan), rel=STD_RTOL)
    assert _ks_p(ours_u, torch_u) > KS_P and _ks_p(ours_n, torch_n) > KS_P


def test_torch_kaiming_defaults_are_he_for_relu():
    """kaiming_uniform_'s defaults (a=0, fan_in, leaky_relu) give gain sqrt(2): He's bound sqrt(6 / fan_in)."""
    w = _torch_init(torch.nn.init.kaiming_uniform_, 400, 100)
    ours = ini.he_uniform(400, 100, rng=np.random.default_rng(0))
    assert math.sqrt(6 / 400) * (1 - BOUND_RTOL) <= np.abs(w).max() <= math.sqrt(6 / 400)
    assert _ks_p(ours, w) > KS_P


@pytest.mark.tf
@pytest.mark.parametrize("fan_in, fan_out", SHAPES)
def test_equal_keras_initializers(fan_in, fan_out):
    import keras

    def draw(cls):
        return np.asarray(keras.ops.convert_to_numpy(cls(seed=3)((fan_in, fan_out), dtype="float64")))

    rng = np.random.default_rng(3)
    glorot_b, he_b = math.sqrt(6 / (fan_in + fan_out)), math.sqrt(6 / fan_in)
    # uniform: the same bounds, the same distribution
    for cls, ours, bound in (
            (keras.initializers.GlorotUniform, ini.xavier_uniform(fan_in, fan_out, rng=rng), glorot_b),
            (keras.initializers.HeUniform, ini.he_uniform(fan_in, fan_out, rng=rng), he_b)):
        w = draw(cls)
        assert w.shape == (fan_in, fan_out) and bound * (1 - BOUND_RTOL) <= np.abs(w).max() <= bound
        assert _ks_p(ours, w) > KS_P, cls.__name__
    # normal: Keras draws a normal cut at 2 standard deviations, rescaled to keep the requested std
    for cls, ours, std in (
            (keras.initializers.GlorotNormal, ini.xavier_normal(fan_in, fan_out, truncated=True, rng=rng),
             math.sqrt(2 / (fan_in + fan_out))),
            (keras.initializers.HeNormal, ini.he_normal(fan_in, fan_out, truncated=True, rng=rng),
             math.sqrt(2 / fan_in))):
        w = draw(cls)
        cut = 2 * std / ini.TRUNCATED_STD
        assert np.abs(w).max() <= cut * (1 + 1e-12) and np.abs(ours).max() <= cut * (1 + 1e-12)
        assert np.std(w) == pytest.approx(std, rel=STD_RTOL) and np.std(ours) == pytest.approx(std, rel=STD_RTOL)
        assert _ks_p(ours, w) > KS_P, cls.__name__
        # and a plain (untruncated) normal is a different distribution: the test can tell them apart
        plain = ini.xavier_normal(fan_in, fan_out, rng=rng) if cls is keras.initializers.GlorotNormal else \
            ini.he_normal(fan_in, fan_out, rng=rng)
        assert _ks_p(plain, w) < KS_P, cls.__name__


def test_truncated_constant_is_the_std_of_a_cut_normal():
    stats = pytest.importorskip("scipy.stats")
    assert ini.TRUNCATED_STD == pytest.approx(stats.truncnorm(-2, 2).std(), rel=1e-12)


@settings(max_examples=20, deadline=None)
@given(fan_in=st.integers(1, 40), fan_out=st.integers(1, 40), mode=st.sampled_from(["fan_in", "fan_out"]),
       truncated=st.booleans())
def test_shapes_and_bounds_on_random_fans(fan_in, fan_out, mode, truncated):
    rng = np.random.default_rng(fan_in * 100 + fan_out)
    fan = fan_in if mode == "fan_in" else fan_out
    for w, bound in ((ini.xavier_uniform(fan_in, fan_out, rng=rng), math.sqrt(6 / (fan_in + fan_out))),
                     (ini.he_uniform(fan_in, fan_out, mode=mode, rng=rng), math.sqrt(6 / fan)),
                     (ini.he_normal(fan_in, fan_out, mode=mode, truncated=True, rng=rng),
                      2 * math.sqrt(2 / fan) / ini.TRUNCATED_STD)):
        assert w.shape == (fan_in, fan_out) and w.dtype == np.float64 and np.abs(w).max() <= bound


def test_samplers_use_the_generator_they_are_given():
    a = ini.he_normal(5, 4, rng=np.random.default_rng(7))
    b = ini.he_normal(5, 4, rng=np.random.default_rng(7))
    c = ini.he_normal(5, 4, rng=np.random.default_rng(8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


# --- signal_propagation against the variance recursion ------------------------------------------------

WIDTH, N = 512, 512
RECURSION_RTOL = 0.1   # a std estimated from 512 x 512 correlated samples, through at most 4 layers


@pytest.mark.parametrize("c", [1.0, math.sqrt(2.0), 2.0])
def test_relu_forward_and_backward_follow_the_recursion(c):
    """z_1 ~ N(0, c^2) and z_l ~ N(0, c^2 E[a_{l-1}^2]) with E[relu(z)^2] = Var(z)/2; the output's gradient is r/n."""
    depth = 4
    out = ini.signal_propagation(WIDTH, depth, "relu", c / math.sqrt(WIDTH), n=N, seed=0)
    var_z = c ** 2                                              # E[x^2] = 1 for standard-normal inputs
    for layer in range(depth):
        # std of relu(z) for z ~ N(0, v): E[a^2] - E[a]^2 = v/2 - v/(2 pi)
        assert out["activation_std"][layer] == pytest.approx(math.sqrt(var_z * (0.5 - 0.5 / math.pi)),
                                                             rel=RECURSION_RTOL)
        var_z *= c ** 2 / 2
    # the last layer's backward signal is r/n times relu' (0 or 1 with probability 1/2): std sqrt(1/2)/n
    assert out["backward_std"][-1] == pytest.approx(math.sqrt(0.5) / N, rel=RECURSION_RTOL)
    # each layer back multiplies the backward variance by fan_out * std^2 * P(z > 0) = c^2 / 2
    ratio = out["backward_std"][0] / out["backward_std"][-1]
    assert ratio == pytest.approx((c ** 2 / 2) ** ((depth - 1) / 2), rel=2 * RECURSION_RTOL)


def test_tanh_is_linear_for_tiny_weights():
    """With tiny weights tanh(z) ~ z: each layer multiplies the std by c exactly as a linear network."""
    c = 0.1
    out = ini.signal_propagation(WIDTH, 3, "tanh", c / math.sqrt(WIDTH), n=N, seed=1)
    assert out["activation_std"] == pytest.approx([c ** (k + 1) for k in range(3)], rel=RECURSION_RTOL)


def test_weight_gradient_matches_autograd_of_an_independent_net():
    """grad_std is the std of dL/dW_l: rebuild the same network in float64 NumPy and backpropagate by hand."""
    width, depth, n, std, seed = 16, 3, 8, 0.3, 4
    out = ini.signal_propagation(width, depth, "tanh", std, n=n, seed=seed)
    g = torch.Generator().manual_seed(seed)                    # the documented draw order: x, W_1..W_depth, r
    x = torch.randn(n, width, generator=g).double().numpy()
    Ws = [(torch.randn(width, width, generator=g) * std).double().numpy() for _ in range(depth)]
    r = torch.randn(n, width, generator=g).double().numpy()
    acts = [x]
    for W in Ws:
        acts.append(np.tanh(acts[-1] @ W))
    delta = r / n * (1 - acts[-1] ** 2)
    grads = []
    for layer in range(depth - 1, -1, -1):
        grads.insert(0, acts[layer].T @ delta)
        delta = (delta @ Ws[layer].T) * (1 - acts[layer] ** 2)
    assert out["grad_std"] == pytest.approx([np.std(gw, ddof=1) for gw in grads], rel=1e-4)   # float32 run


@pytest.mark.parametrize("sampler", [ini.xavier_normal, ini.he_normal])
def test_truncated_samples_keep_the_requested_std(sampler):
    w = sampler(400, 300, truncated=True, rng=np.random.default_rng(5))
    std = ini.xavier_std(400, 300) if sampler is ini.xavier_normal else ini.he_std(400)
    assert np.std(w) == pytest.approx(std, rel=STD_RTOL) and np.abs(w).max() <= 2 * std / ini.TRUNCATED_STD
