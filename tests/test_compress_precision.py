"""Chapter 10: floating-point formats (vs torch.finfo, torch and NumPy casts) and loss scaling (vs GradScaler)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from troikadl.compress import precision as P

DTYPES = {name: getattr(torch, name) for name in P.FORMATS}
# the integer type of the same width, to read a dtype's bit patterns directly
BITS_AS = {32: torch.int32, 16: torch.int16, 8: torch.uint8}


def _torch_round(x, name):
    return torch.tensor(np.asarray(x, dtype=np.float64)).to(DTYPES[name]).double().numpy()


def _same(a, b):
    """Equal values (NaN equals NaN) and equal signs of the non-NaN values (so -0.0 differs from 0.0)."""
    a, b = np.asarray(a), np.asarray(b)
    keep = ~np.isnan(a)
    return np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a[keep]), np.signbit(b[keep]))


@pytest.mark.parametrize("name", list(P.FORMATS))
def test_format_info_matches_torch_finfo(name):
    f, fi = P.format_info(name), torch.finfo(DTYPES[name])
    assert f.bits == fi.bits
    assert f.eps == fi.eps
    assert f.max == fi.max
    assert f.smallest_normal == fi.smallest_normal == fi.tiny
    assert 10.0 ** -f.decimal_digits == pytest.approx(fi.resolution, rel=1e-12)
    # the smallest subnormal is the bit pattern 0...01; the largest finite one is read back from its pattern
    one = torch.tensor([1], dtype=BITS_AS[f.bits]).view(DTYPES[name])
    assert f.smallest_subnormal == float(one.double())
    top = (2 ** (f.bits - 1) - 1) - ((2 ** f.mantissa_bits) if f.ieee else 1)  # below the inf/NaN patterns
    assert f.max == float(torch.tensor([top], dtype=BITS_AS[f.bits]).view(DTYPES[name]).double())


def test_format_info_numpy_and_layouts():
    assert P.format_info(np.float16).smallest_subnormal == float(np.finfo(np.float16).smallest_subnormal)
    assert P.format_info("float32").smallest_subnormal == float(np.finfo(np.float32).smallest_subnormal)
    assert (P.format_info(torch.bfloat16).exponent_bits, P.format_info("bfloat16").mantissa_bits) == (8, 7)
    assert P.format_info("half") is P.FORMATS["float16"]
    assert P.format_info("float16").decimal_digits == 3 and P.format_info("bfloat16").decimal_digits == 2
    with pytest.raises(ValueError, match="dtype"):
        P.format_info("int8")
    with pytest.raises(TypeError, match="dtype"):
        P.format_info(torch.int8)


EDGE = [0.0, -0.0, 1.0, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 2049.0, 2051.0, 1 / 3,
        65504.0, 65519.0, 65520.0, 70000.0, -70000.0, 2 ** -24, 2 ** -25, 3 * 2 ** -25, 2 ** -26, 6e-8, 1e-8,
        2 ** -149, 2 ** -150, 3 * 2 ** -150, 1e-45, 3.4e38, 3.4028235e38, 1e39, 448.0, 464.0, 480.0, 500.0,
        57344.0, 61440.0, 2 ** -9, 2 ** -10, np.inf, -np.inf, np.nan]


@pytest.mark.parametrize("name", list(P.FORMATS))
def test_round_to_matches_torch_on_edge_values(name):
    with np.errstate(over="ignore"):  # 1e39 becomes inf in float32; torch converts through float32 (see below)
        x = np.array(EDGE + [-v for v in EDGE], dtype=np.float32).astype(np.float64)
    assert _same(P.round_to(x, name), _torch_round(x, name))


@pytest.mark.parametrize("name", list(P.FORMATS))
@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True), min_size=1, max_size=50))
def test_round_to_matches_torch_random(name, values):
    x = np.array(values, dtype=np.float64)
    assert _same(P.round_to(x, name), _torch_round(x, name))


@pytest.mark.parametrize("name", list(P.FORMATS))
def test_round_to_matches_torch_wide_sweep(name):
    """Many magnitudes (overflow, normal, subnormal, underflow), including values halfway between neighbours."""
    rng = np.random.default_rng(1)
    with np.errstate(over="ignore"):
        x = (rng.standard_normal(20000) * np.exp2(rng.uniform(-160, 130, 20000))).astype(np.float32).astype(float)
    f = P.format_info(name)
    k = np.exp2(rng.integers(f.min_exponent - f.mantissa_bits, f.max_exponent + 1, 2000).astype(float))
    halfway = (rng.integers(1, 2 ** f.mantissa_bits, 2000) * 2 + 1) * k * 2.0 ** -(f.mantissa_bits + 1)
    x = np.concatenate([x, halfway, -halfway]).astype(np.float32).astype(np.float64)
    assert _same(P.round_to(x, name), _torch_round(x, name))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=50))
def test_round_to_float16_matches_numpy_on_any_float64(values):
    """NumPy casts float64 to float16 directly (one rounding): our rounding of any float64 agrees with it."""
    x = np.array(values, dtype=np.float64)
    with np.errstate(over="ignore"):
        ref16, ref32 = x.astype(np.float16).astype(np.float64), x.astype(np.float32).astype(np.float64)
    assert _same(P.round_to(x, "float16"), ref16)
    assert _same(P.round_to(x, "float32"), ref32)


def test_round_to_examples_and_torch_double_rounding():
    r = P.round_to
    assert r(1 + 2 ** -11, "float16") == 1.0  # halfway: ties to even
    assert r(1 + 3 * 2 ** -11, "float16") == 1 + 2 ** -9  # halfway, the even neighbour is above
    assert r(2049.0, "float16") == 2048.0 and r(2051.0, "float16") == 2052.0
    assert r(70000.0, "float16") == np.inf and np.isfinite(r(70000.0, "bfloat16"))
    assert r(2 ** -25, "float16") == 0.0 and r(3 * 2 ** -25, "float16") == 2 ** -23  # subnormal steps of 2^-24
    assert r(1 / 3, "bfloat16") == 0xAB / 2 ** 9  # 1.0101010|1010... x 2^-2: 8 significant bits, rounded up
    assert r(1e9, "float8_e4m3fn") == 448.0  # no infinity: saturates
    v = 1 + 2 ** -11 + 2 ** -40  # just above halfway: rounds up, but through float32 it becomes a tie
    assert r(v, "float16") == 1 + 2 ** -10 == float(np.float16(v))
    assert _torch_round([v], "float16")[0] == 1.0  # torch: float64 -> float32 -> float16, rounded twice


def test_round_to_bad_input():
    with pytest.raises(TypeError, match="x"):
        P.round_to("abc", "float16")
    with pytest.raises(ValueError, match="dtype"):
        P.round_to([1.0], "float12")


def _scripted_run(scaler, pattern, step_fn, update_fn, scale_of):
    """One parameter trained with SGD; gradient inf where ``pattern`` is True. Returns scales and steps taken."""
    p = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([p], lr=0.1)
    scales, stepped = [], []
    for bad in pattern:
        opt.zero_grad()
        before = p.detach().clone()
        loss = (p * torch.tensor([1.0, 2.0, float("inf") if bad else 3.0])).sum()
        scaler.scale(loss).backward()
        step_fn(opt)
        update_fn()
        scales.append(scale_of())
        stepped.append(not torch.equal(before, p.detach()))
    return scales, stepped, p.detach()


@pytest.mark.parametrize("interval", [1, 3, 4])
def test_loss_scaler_matches_torch_gradscaler(interval):
    rng = np.random.default_rng(interval)
    pattern = list(rng.random(40) < 0.25) + [False] * 10 + [True, True, False]
    kw = dict(init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5, growth_interval=interval)
    ours = P.LossScaler(**kw)
    ref = torch.amp.GradScaler("cpu", **kw)
    a = _scripted_run(ours, pattern, ours.step, ours.update, ours.get_scale)
    b = _scripted_run(ref, pattern, ref.step, ref.update, ref.get_scale)
    assert a[0] == b[0]
    assert a[1] == b[1] == [not bad for bad in pattern]
    assert torch.allclose(a[2], b[2], rtol=1e-6, atol=0)
    assert ours.skipped == sum(pattern)


def test_loss_scaler_defaults_and_unscale():
    ref, ours = torch.amp.GradScaler("cpu"), P.LossScaler()
    assert ours.get_scale() == ref.get_scale() == 2.0 ** 16
    assert (ours.growth_factor, ours.backoff_factor, ours.growth_interval) == (2.0, 0.5, 2000)
    p = torch.nn.Parameter(torch.tensor([1e-3, -2.0]))
    q = torch.nn.Parameter(torch.tensor(0.5))  # no gradient: skipped
    opt = torch.optim.SGD([p, q], lr=1.0)
    ours.scale((p * torch.tensor([3.0, 5.0])).sum()).backward()
    assert torch.equal(p.grad, torch.tensor([3.0, 5.0]) * 2.0 ** 16)
    assert ours.unscale_(opt) is False
    assert torch.equal(p.grad, torch.tensor([3.0, 5.0]))
    with pytest.raises(RuntimeError, match="unscale_"):
        ours.unscale_(opt)
    assert ours.step(opt) is True and ours.update() == 2.0 ** 16
    with pytest.raises(RuntimeError, match="update"):
        ours.update()


def test_loss_scaler_rescues_float16_gradients():
    """A gradient of 1e-8 underflows to 0 in float16; scaled by 2^16 it survives, and unscaling restores it.

    The loss is float32 (as under autocast): 2^16 itself is past float16's largest finite number."""
    w = torch.nn.Parameter(torch.ones(4, dtype=torch.float16))

    def loss():
        return (w * torch.ones(4, dtype=torch.float16)).float().sum() * 1e-8

    loss().backward()
    assert int((w.grad == 0).sum()) == 4
    w.grad = None
    scaler = P.LossScaler()
    scaler.scale(loss()).backward()
    assert int((w.grad == 0).sum()) == 0
    assert torch.allclose(w.grad.float() / scaler.get_scale(), torch.full((4,), 1e-8), rtol=2e-3)


@pytest.mark.parametrize("kwargs,exc", [({"init_scale": 0.0}, ValueError), ({"init_scale": "big"}, TypeError),
                                        ({"growth_factor": 1.0}, ValueError), ({"backoff_factor": 1.0}, ValueError),
                                        ({"backoff_factor": 0.0}, ValueError), ({"growth_interval": 0}, ValueError),
                                        ({"growth_interval": 2.5}, TypeError)])
def test_loss_scaler_bad_input(kwargs, exc):
    with pytest.raises(exc, match=next(iter(kwargs))):
        P.LossScaler(**kwargs)


def test_loss_scaler_bad_arguments():
    s = P.LossScaler()
    with pytest.raises(TypeError, match="loss"):
        s.scale(1.0)
    with pytest.raises(TypeError, match="optimizer"):
        s.step([torch.zeros(1)])


@pytest.mark.tf
@pytest.mark.parametrize("name", ["float16", "bfloat16"])
def test_round_to_matches_tensorflow_casts(name):
    """TensorFlow's casts from float32 (edge values and a wide sweep, halfway points included) give our rounding."""
    import tensorflow as tf

    rng = np.random.default_rng(2)
    with np.errstate(over="ignore"):
        sweep = (rng.standard_normal(5000) * np.exp2(rng.uniform(-150, 130, 5000))).astype(np.float32)
        x = np.concatenate([np.array(EDGE + [-v for v in EDGE], dtype=np.float32), sweep]).astype(np.float64)
    theirs = tf.cast(tf.cast(tf.constant(x.astype(np.float32)), getattr(tf, name)), tf.float64).numpy()
    ours = P.round_to(x, name)
    if name == "bfloat16":  # TensorFlow's bfloat16 cast flushes subnormal results to zero (torch's keeps them)
        sub = (np.abs(ours) < P.format_info(name).smallest_normal) & (ours != 0)
        assert sub.sum() > 50 and np.all(theirs[sub] == 0)
        keep = ~sub
        x, ours, theirs = x[keep], ours[keep], theirs[keep]
    finite = ~np.isnan(x)  # TensorFlow, like torch, may drop the sign of a NaN
    assert np.array_equal(ours[finite], theirs[finite]) and np.array_equal(np.signbit(ours[finite]),
                                                                           np.signbit(theirs[finite]))
    assert np.isnan(ours[~finite]).all() and np.isnan(theirs[~finite]).all()


def test_autocast_equals_the_model_under_torch_autocast():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    x = torch.randn(5, 8)
    wrapped = P.Autocast(model)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ref = model(x)
    out = wrapped(x)
    assert ref.dtype == torch.bfloat16 and out.dtype == torch.float32
    assert torch.equal(out, ref.float()) and not torch.equal(out, model(x))  # computed in bfloat16, returned in float32
    out.sum().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())
    with pytest.raises(TypeError, match="model"):
        P.Autocast("a model")
    with pytest.raises(ValueError, match="dtype"):
        P.Autocast(model, dtype=torch.float32)
