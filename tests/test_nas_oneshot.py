"""Chapter 8: the weight-sharing (one-shot) supernet, and the DARTS-derived network re-trained stand-alone."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import troikadl as tk
from troikadl.nas import benchmark, darts, oneshot

F64 = dict(rtol=1e-12, atol=1e-12)  # float64: a convolution's sums in another order differ by ~1e-16 relative


def _bench_data():
    """The benchmark's split, loaded here from its stored settings with the one digits loader."""
    s = benchmark.SETTINGS
    return tk.data.digits(seed=s["data_seed"], test_size=s["test_size"], val_size=s["val_size"], images=True)


def _random_supernet(seed=0, **kwargs):
    """A float64 supernet with every weight and bias random (biases are not left at their small init)."""
    torch.manual_seed(seed)
    net = oneshot.OneShotSupernet(**kwargs).double()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.3)
    return net


def _masked_full_network(net, arch):
    """The widest, largest-kernel ``build_cnn`` network (width 32, kernel 5, the same depth and skip) holding
    the supernet's *full* weights with everything outside ``arch`` set to zero: output channels beyond the
    width, input channels beyond it, kernel taps outside the centre k x k, projection rows beyond the width.
    The extra channels then stay zero through every block, so this network must compute ``arch``'s logits.
    Written here from the definition, without the supernet's slicing."""
    w, k, cin = arch["width"], arch["kernel"], net.in_channels
    full = benchmark.build_cnn({**arch, "width": 32, "kernel": 5}, in_channels=cin, n_classes=net.head.out_features,
                               side=net.side).double()
    r = k // 2
    with torch.no_grad():
        for i in range(arch["depth"]):
            conv, block = net.convs[i], full[i]
            mask = torch.zeros_like(conv.weight)
            mask[:w, :(cin if i == 0 else w), 2 - r:2 + r + 1, 2 - r:2 + r + 1] = 1.0
            block.conv.weight.copy_(conv.weight * mask)
            block.conv.bias.copy_(torch.where(torch.arange(32) < w, conv.bias, torch.zeros_like(conv.bias)))
            if i == 0 and arch["skip"]:  # full has a 1x1 projection (cin != 32) where arch may have an identity
                proj = block.shortcut
                if cin == w:
                    proj.weight.zero_()
                    proj.bias.zero_()
                    proj.weight[torch.arange(w), torch.arange(w), 0, 0] = 1.0
                else:
                    proj.weight.copy_(net.project.weight * (torch.arange(32) < w).double()[:, None, None, None])
                    proj.bias.copy_(torch.where(torch.arange(32) < w, net.project.bias, torch.zeros(32).double()))
        full[-1].weight.copy_(net.head.weight)
        full[-1].bias.copy_(net.head.bias)
    return full


# --- the sub-space -------------------------------------------------------------------------------------
def test_the_supernet_holds_every_relu_architecture_of_the_benchmark_once():
    relu = [a for a in benchmark.SPACE if a["activation"] == "relu"]
    assert list(oneshot.ARCHS) == relu and len(relu) == 3 * 4 * 3 * 2 == 72
    assert [benchmark.SPACE[i] for i in oneshot.INDICES] == relu
    assert oneshot.INDICES.dtype == np.int64 and len(set(oneshot.INDICES.tolist())) == 72


# --- weight sharing: a sub-network is build_cnn with sliced weights -------------------------------------
def test_every_sub_network_is_build_cnn_with_the_sliced_weights_float64():
    net = _random_supernet(0)
    x = torch.randn(5, 1, 8, 8, dtype=torch.float64)
    for arch in oneshot.ARCHS:
        expected = _masked_full_network(net, arch)(x)
        torch.testing.assert_close(net(x, arch), expected, **F64, msg=str(arch))
        alone = net.extract(arch)
        assert isinstance(alone, torch.nn.Sequential) and alone[-1].weight.dtype == torch.float64
        assert sum(p.numel() for p in alone.parameters()) == benchmark.arch_parameters(arch)
        torch.testing.assert_close(alone(x), expected, **F64, msg=str(arch))


@settings(max_examples=12, deadline=None)
@given(j=st.integers(0, 71), in_channels=st.sampled_from([1, 3, 4, 8]), side=st.sampled_from([4, 6, 8]),
       n_classes=st.integers(2, 5), seed=st.integers(0, 10))
def test_sub_networks_match_for_other_inputs_sizes_and_classes(j, in_channels, side, n_classes, seed):
    """Other input channels (4 and 8 equal a width: the first skip is then an identity), sides and classes."""
    net = _random_supernet(seed, in_channels=in_channels, n_classes=n_classes, side=side)
    arch = oneshot.ARCHS[j]
    x = torch.randn(3, in_channels, side, side, dtype=torch.float64)
    expected = _masked_full_network(net, arch)(x)
    torch.testing.assert_close(net(x, arch), expected, **F64)
    torch.testing.assert_close(net.extract(arch)(x), expected, **F64)
    torch.testing.assert_close(net.extract({**arch, "skip": True})(x), _masked_full_network(
        net, {**arch, "skip": True})(x), **F64)


def test_extract_copies_the_weights_and_keeps_the_callers_random_stream():
    net = _random_supernet(1)
    arch = {"depth": 2, "width": 8, "kernel": 3, "activation": "relu", "skip": True}
    torch.manual_seed(5)
    before = torch.get_rng_state()
    alone = net.extract(arch)
    assert torch.equal(torch.get_rng_state(), before)
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64)
    reference = net(x, arch).detach().clone()
    with torch.no_grad():
        for p in alone.parameters():
            p.add_(1.0)
    torch.testing.assert_close(net(x, arch), reference, rtol=0, atol=0)


def test_gradients_reach_only_the_slices_on_the_path():
    net = _random_supernet(2)
    arch = {"depth": 1, "width": 4, "kernel": 3, "activation": "relu", "skip": False}
    net(torch.randn(4, 1, 8, 8, dtype=torch.float64), arch).pow(2).sum().backward()
    g = net.convs[0].weight.grad
    assert g[:4, :, 1:4, 1:4].abs().sum() > 0
    outside = g.clone()
    outside[:4, :, 1:4, 1:4] = 0
    assert outside.abs().sum() == 0
    assert net.convs[1].weight.grad is None and net.project.weight.grad is None
    assert net.head.weight.grad[:, 4 * 16:].abs().sum() == 0 and net.head.weight.grad[:, :4 * 16].abs().sum() > 0


# --- training by uniform single-path sampling ----------------------------------------------------------
@pytest.fixture(scope="module")
def data():
    return _bench_data()


def test_train_supernet_repeats_with_its_seed_and_keeps_the_callers_stream(data):
    tk.setup(0)
    runs = []
    for global_seed in (11, 12):
        torch.manual_seed(global_seed)
        before = torch.get_rng_state()
        runs.append(oneshot.train_supernet(data, epochs=1, seed=3))
        assert torch.equal(torch.get_rng_state(), before), "train_supernet changed torch's global generator"
    a, b = runs
    steps = -(-len(data.y_train) // 64)
    assert a.sampled.shape == (steps,) and a.sampled.min() >= 0 and a.sampled.max() < 72
    np.testing.assert_array_equal(a.sampled, b.sampled)
    np.testing.assert_array_equal(a.val_acc, b.val_acc)
    assert a.val_acc.shape == (72,) and np.all((a.val_acc >= 0) & (a.val_acc <= 1))
    other = oneshot.train_supernet(data, epochs=1, seed=4)
    assert not np.array_equal(other.sampled, a.sampled)


def test_inherited_accuracy_is_the_extracted_networks_accuracy(data):
    tk.setup(0)
    held = tk.data.Split(data.X_train, data.y_train, None, None, X_val=data.X_val, y_val=data.y_val)
    r = oneshot.train_supernet(held, epochs=2, seed=0)  # no test split needed
    for j in (0, 17, 40, 71):
        pred = tk.predict(r.model.extract(oneshot.ARCHS[j]), data.X_val).argmax(1)
        assert r.val_acc[j] == pytest.approx(float((pred == data.y_val).mean()), abs=1 / 360 + 1e-12)
    assert r.val_acc.mean() > 0.2, r.val_acc  # chance is 0.1; two epochs of shared training give 0.35 (seed 0)


# --- the DARTS-derived network, re-trained stand-alone --------------------------------------------------
def test_derived_network_is_the_benchmarks_cnn_for_two_3x3_convolutions():
    arch = {"depth": 3, "width": 8, "kernel": 3, "activation": "relu", "skip": False}
    torch.manual_seed(7)
    derived = darts.derived_network(["conv 3x3", "conv 3x3"], channels=8)
    torch.manual_seed(7)
    cnn = benchmark.build_cnn(arch)
    a, b = list(derived.parameters()), list(cnn.parameters())
    assert [p.shape for p in a] == [p.shape for p in b] and all(torch.equal(p, q) for p, q in zip(a, b))
    x = torch.randn(3, 1, 8, 8)
    torch.testing.assert_close(derived(x), cnn(x), rtol=0, atol=0)


@pytest.mark.parametrize("ops", [["conv 5x5", "skip"], ["max pool 3x3", "conv 3x3"], ["skip"]])
def test_derived_network_has_the_parameters_of_its_operations(ops):
    c = 6
    per_op = {"conv 3x3": c * c * 9 + c, "conv 5x5": c * c * 25 + c, "max pool 3x3": 0, "skip": 0}
    net = darts.derived_network(ops, channels=c, n_classes=4, side=6)
    expected = (1 * c * 9 + c) + sum(per_op[o] for o in ops) + (c * 3 * 3 * 4 + 4)
    assert sum(p.numel() for p in net.parameters()) == expected
    assert net(torch.zeros(2, 1, 6, 6)).shape == (2, 4)


def test_retrain_derived_is_the_benchmarks_recipe(data, table):
    """Two 3x3 convolutions after the stem are the table's depth-3, width-8, kernel-3 ReLU network: re-training
    with the same seed must give train_architecture's row exactly (same process), and the shipped table's."""
    arch = {"depth": 3, "width": 8, "kernel": 3, "activation": "relu", "skip": False}
    torch.manual_seed(1)
    before = torch.get_rng_state()
    row = darts.retrain_derived(["conv 3x3", "conv 3x3"], seed=0, data=data)
    assert torch.equal(torch.get_rng_state(), before)
    reference = benchmark.train_architecture(arch, seed=0, data=data)
    assert (row["val_acc"], row["test_acc"], row["params"]) == (reference["val_acc"], reference["test_acc"],
                                                                 reference["params"])
    i = benchmark.SPACE.index(arch)
    assert abs(row["val_acc"] - table.val[i, table.seeds.index(0)]) <= 0.005
    assert abs(row["test_acc"] - table.test[i, table.seeds.index(0)]) <= 0.005
    assert row["derived"] == ["conv 3x3", "conv 3x3"] and row["seconds"] > 0


@pytest.fixture(scope="module")
def table():
    return benchmark.Table.load()


def test_retrain_derived_depends_on_the_seed_and_settings(data):
    one = darts.retrain_derived(["conv 5x5", "skip"], seed=0, data=data, settings={"epochs": 1})
    again = darts.retrain_derived(["conv 5x5", "skip"], seed=0, data=data, settings={"epochs": 1})
    other = darts.retrain_derived(["conv 5x5", "skip"], seed=1, data=data, settings={"epochs": 1})
    assert {k: v for k, v in one.items() if k != "seconds"} == {k: v for k, v in again.items() if k != "seconds"}
    assert (one["val_acc"], one["test_acc"]) != (other["val_acc"], other["test_acc"])


# --- bad input and conventions -------------------------------------------------------------------------
TANH = {"depth": 1, "width": 4, "kernel": 3, "activation": "tanh", "skip": False}
RELU = {**TANH, "activation": "relu"}


@pytest.mark.parametrize("call, error, match", [
    (lambda: oneshot.OneShotSupernet()(torch.zeros(1, 1, 8, 8), TANH), ValueError, "activation'\\] must be 'relu'"),
    (lambda: oneshot.OneShotSupernet()(torch.zeros(1, 1, 8, 8), {**RELU, "width": 5}), ValueError, "width"),
    (lambda: oneshot.OneShotSupernet()(torch.zeros(1, 1, 6, 6), RELU), ValueError, "x must be a tensor of images"),
    (lambda: oneshot.OneShotSupernet()(np.zeros((1, 1, 8, 8)), RELU), TypeError, "x must be a torch tensor"),
    (lambda: oneshot.OneShotSupernet().extract(TANH), ValueError, "must be 'relu'"),
    (lambda: oneshot.OneShotSupernet(side=1), ValueError, "side must be >= 2"),
    (lambda: oneshot.OneShotSupernet(in_channels=1.0), TypeError, "in_channels must be an integer"),
    (lambda: oneshot.inherited_accuracy("net", np.zeros((2, 1, 8, 8)), [0, 1]), TypeError, "model must be"),
    (lambda: oneshot.inherited_accuracy(oneshot.OneShotSupernet(), np.zeros((2, 8, 8)), [0, 1]), ValueError,
     "X must be 4-D"),
    (lambda: oneshot.inherited_accuracy(oneshot.OneShotSupernet(), np.zeros((2, 1, 8, 8)), [0]), ValueError,
     "y must have one label per sample"),
    (lambda: oneshot.inherited_accuracy(oneshot.OneShotSupernet(), np.zeros((2, 1, 8, 8)), [0, 10]), ValueError,
     "y must only hold labels"),
    (lambda: oneshot.train_supernet((1, 2)), TypeError, "data must have X_train"),
    (lambda: oneshot.train_supernet(epochs=0), ValueError, "epochs must be > 0"),
    (lambda: oneshot.train_supernet(lr=-1.0), ValueError, "lr must be > 0"),
    (lambda: oneshot.train_supernet(seed=-1), ValueError, "seed must be >= 0"),
    (lambda: darts.derived_network("skip"), TypeError, "derived must be a list of operation names"),
    (lambda: darts.derived_network([]), ValueError, "derived must name at least one"),
    (lambda: darts.derived_network(["conv 7x7"]), ValueError, "derived must hold operation names"),
    (lambda: darts.derived_network(["skip", "zero"]), ValueError, "derived must not hold 'zero'"),
    (lambda: darts.derived_network(["skip"], channels=0), ValueError, "channels must be > 0"),
    (lambda: darts.retrain_derived(["skip"], seed=1.0), TypeError, "seed must be an integer"),
    (lambda: darts.retrain_derived(["skip"], seed=0, settings={"epoch": 1}), ValueError, "unknown"),
    (lambda: darts.retrain_derived(["skip"], seed=0, data=tk.data.Split(
        np.zeros((2, 1, 8, 8)), np.zeros(2, int), None, None, X_val=np.zeros((2, 1, 8, 8)), y_val=np.zeros(2, int))),
     TypeError, "data must have X_test"),
])
def test_bad_input_is_refused_with_a_message_naming_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_seed_parameters_are_keyword_only_and_the_models_pickle():
    import pickle

    for fn in (oneshot.train_supernet, darts.retrain_derived):
        assert inspect.signature(fn).parameters["seed"].kind is inspect.Parameter.KEYWORD_ONLY
    net = _random_supernet(3)
    copy = pickle.loads(pickle.dumps(net))
    assert type(copy) is oneshot.OneShotSupernet
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(copy(x, oneshot.ARCHS[5]), net(x, oneshot.ARCHS[5]), rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.bool, torch.int64, torch.complex64])
def test_the_supernet_refuses_images_that_are_not_floating_point(dtype):
    from troikadl.nas import oneshot

    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = oneshot.OneShotSupernet()
    with pytest.raises(TypeError, match="x must be a floating-point"):
        net(torch.zeros(2, 1, 8, 8, dtype=dtype), oneshot.ARCHS[0])
