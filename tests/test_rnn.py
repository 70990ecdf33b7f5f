"""RNN and LSTM cells from scratch against PyTorch and Keras, weight maps, clipping, the adding problem."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import troikadl as tk
from troikadl import rnn


def _x(seed=0, n=3, T=7, D=4):
    return np.random.default_rng(seed).normal(size=(n, T, D))


@pytest.mark.parametrize("gates", [1, 4])
def test_forward_equals_torch(gates):
    torch.manual_seed(0)
    module = (torch.nn.LSTM if gates == 4 else torch.nn.RNN)(4, 5, batch_first=True, dtype=torch.float64)
    w = rnn.from_torch(module)
    x = _x()
    h0 = np.random.default_rng(1).normal(size=(3, 5))
    if gates == 4:
        c0 = np.random.default_rng(2).normal(size=(3, 5))
        ours, (h, c) = rnn.lstm_forward(x, w, h0, c0)
        theirs, (ht, ct) = module(torch.as_tensor(x), (torch.as_tensor(h0)[None], torch.as_tensor(c0)[None]))
        assert np.abs(c - ct[0].detach().numpy()).max() <= 1e-12
    else:
        ours, h = rnn.rnn_forward(x, w, h0)
        theirs, ht = module(torch.as_tensor(x), torch.as_tensor(h0)[None])
    assert np.abs(ours - theirs.detach().numpy()).max() <= 1e-12
    assert np.abs(h - ht[0].detach().numpy()).max() <= 1e-12


@pytest.mark.parametrize("gates", [1, 4])
def test_to_torch_computes_what_an_independently_built_torch_module_computes(gates):
    """``to_torch(w)`` against a module built here from the same arrays, with the bias split in two as
    PyTorch allows (only b_ih + b_hh matters), and against our forward pass; float64, so 1e-12."""
    w = rnn.Weights.random(3, 6, gates, seed=3)
    module = (torch.nn.LSTM if gates == 4 else torch.nn.RNN)(3, 6, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.as_tensor(w.W_ih))
        module.weight_hh_l0.copy_(torch.as_tensor(w.W_hh))
        module.bias_ih_l0.copy_(torch.as_tensor(0.3 * w.b))
        module.bias_hh_l0.copy_(torch.as_tensor(0.7 * w.b))
    x = torch.as_tensor(_x(seed=8, D=3))
    converted = rnn.to_torch(w)
    assert isinstance(converted, type(module)) and converted.batch_first
    with torch.no_grad():
        expected, ours_t = module(x)[0].numpy(), converted(x)[0].numpy()
    np.testing.assert_allclose(ours_t, expected, atol=1e-12, rtol=0)
    ours = (rnn.lstm_forward if gates == 4 else rnn.rnn_forward)(x.numpy(), w)[0]
    np.testing.assert_allclose(ours, expected, atol=1e-12, rtol=0)
    single = rnn.to_torch(w, dtype=torch.float32)  # the dtype option: float32 weights, float32 accuracy
    assert all(p.dtype == torch.float32 for p in single.parameters())
    with torch.no_grad():
        np.testing.assert_allclose(single(x.float())[0].numpy(), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell, n_in, n_out", [("RNN", 1, 1), ("LSTM", 1, 1), ("RNN", 3, 4), ("LSTM", 2, 5),
                                               ("GRU", 1, 1), ("GRU", 2, 3)])
def test_sequence_model_equals_its_recurrence_then_a_readout_of_the_last_state(cell, n_in, n_out):
    """SequenceModel against the same computation written here: our NumPy recurrence (checked against
    torch above) on the model's own weights, then ``h_T W^T + b`` with its readout's weights."""
    torch.manual_seed(0)
    model = rnn.SequenceModel(cell, n_in, 5, n_out)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # torch's default dtype, like the chapters
    x = _x(seed=9, n=4, T=6, D=n_in)
    w = rnn.from_torch(model.recurrent)
    forward = {"RNN": rnn.rnn_forward, "GRU": rnn.gru_forward, "LSTM": rnn.lstm_forward}[cell]
    h_last = forward(x, w)[0][:, -1]
    W, b = (p.detach().double().numpy() for p in (model.readout.weight, model.readout.bias))
    expected = h_last @ W.T + b
    expected = expected[:, 0] if n_out == 1 else expected  # one output: squeezed to (batch,)
    with torch.no_grad():
        out32 = model(torch.as_tensor(x, dtype=torch.float32)).numpy()
        out64 = model.double()(torch.as_tensor(x)).numpy()
    assert out64.shape == expected.shape == ((4,) if n_out == 1 else (4, n_out))
    np.testing.assert_allclose(out64, expected, atol=1e-12, rtol=0)
    np.testing.assert_allclose(out32, expected, atol=1e-5, rtol=0)
    if n_in == 1:  # (batch, time) is one feature per step
        with torch.no_grad():
            np.testing.assert_array_equal(model(torch.as_tensor(x[..., 0])).numpy(), out64)


@pytest.mark.parametrize("cell", ["RNN", "GRU", "LSTM"])
def test_sequence_model_is_a_picklable_module_initialised_like_torch_layers_built_in_order(cell):
    """A module-level class (isinstance, pickle); from one seed it holds what ``nn.RNN``/``nn.LSTM`` then
    ``nn.Linear``, built here in that order, hold, and draws as many numbers from torch's generator."""
    torch.manual_seed(5)
    model = rnn.SequenceModel(cell, 3, 6, 2)
    after = torch.random.get_rng_state()
    torch.manual_seed(5)
    recurrent = getattr(torch.nn, cell)(3, 6, batch_first=True)
    readout = torch.nn.Linear(6, 2)
    assert torch.equal(torch.random.get_rng_state(), after)
    expected = {**{f"recurrent.{k}": v for k, v in recurrent.state_dict().items()},
                **{f"readout.{k}": v for k, v in readout.state_dict().items()}}
    state = model.state_dict()
    assert list(state) == list(expected)
    assert all(torch.equal(state[k], expected[k]) for k in expected)
    x = torch.as_tensor(_x(seed=11, n=4, T=5, D=3), dtype=torch.float32)
    with torch.no_grad():
        np.testing.assert_array_equal(model(x).numpy(), readout(recurrent(x)[0][:, -1]).numpy())
    clone = pickle.loads(pickle.dumps(model))
    assert isinstance(model, rnn.SequenceModel) and isinstance(clone, rnn.SequenceModel)
    assert isinstance(clone, torch.nn.Module) and type(rnn.SequenceModel(cell, 1, 2, 1)) is rnn.SequenceModel
    with torch.no_grad():
        np.testing.assert_array_equal(clone(x).numpy(), model(x).numpy())


def test_weights_random_takes_its_seed_by_keyword_only():
    """``Weights.random(n_in, hidden, gates, *, seed)``: a positional seed is refused, a keyword one is used."""
    with pytest.raises(TypeError):
        rnn.Weights.random(4, 5, 1, 3)
    r = np.random.default_rng(3)  # PyTorch's init, U(-1/sqrt(H), 1/sqrt(H)), drawn W_ih, W_hh, b in order
    k = 1 / np.sqrt(5)
    w = rnn.Weights.random(4, 5, 1, seed=3)
    for got, shape in ((w.W_ih, (5, 4)), (w.W_hh, (5, 5)), (w.b, (5,))):
        np.testing.assert_array_equal(got, r.uniform(-k, k, shape))


@pytest.mark.tf
@pytest.mark.parametrize("gates", [1, 4])
def test_forward_equals_keras(gates):
    tk.import_tf()
    w = rnn.Weights.random(4, 5, gates, seed=4)
    layer = rnn.to_keras(w)
    x = _x(seed=5)
    ours = (rnn.lstm_forward if gates == 4 else rnn.rnn_forward)(x, w)[0]
    assert np.abs(ours - layer(x).numpy()).max() <= 1e-12  # from_keras: test_random_keras_layers_equal_ours


def test_clip_grad_norm_equals_torch():
    rng = np.random.default_rng(6)
    grads = [rng.normal(size=(3, 4)), rng.normal(size=5)]
    params = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = torch.as_tensor(g.copy())
    norm_t = torch.nn.utils.clip_grad_norm_(params, 1.0)
    clipped, norm = rnn.clip_grad_norm(grads, 1.0)
    assert norm == pytest.approx(float(norm_t), rel=1e-12)
    for c, p in zip(clipped, params):
        np.testing.assert_allclose(c, p.grad.numpy(), rtol=1e-12)
    small, _ = rnn.clip_grad_norm([g * 1e-3 for g in grads], 1.0)
    np.testing.assert_allclose(small[0], grads[0] * 1e-3)
    with pytest.raises(ValueError, match="max_norm must be > 0"):
        rnn.clip_grad_norm(grads, 0)


def test_clear_errors():
    w = rnn.Weights.random(4, 5, 4)
    with pytest.raises(ValueError, match="x must be 3-D"):
        rnn.lstm_forward(np.ones((3, 4)), w)
    with pytest.raises(ValueError, match="x must have 4 features per time step"):
        rnn.lstm_forward(np.ones((3, 2, 6)), w)
    with pytest.raises(ValueError, match=r"h0 must have shape \(batch, hidden\) = \(3, 5\)"):
        rnn.lstm_forward(_x(), w, h0=np.zeros((3, 4)))
    with pytest.raises(ValueError, match="weights must have 1 gate"):
        rnn.rnn_forward(_x(), w)


@given(cell=st.sampled_from(["tanh", "relu", "LSTM"]), n_in=st.integers(1, 4), hidden=st.integers(1, 5),
       bias=st.booleans(), batch_first=st.booleans(), dropout=st.sampled_from([0.0, 0.5]),
       n=st.integers(1, 3), T=st.integers(1, 6), with_state=st.booleans(), seed=st.integers(0, 2**31 - 1))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_configurations_equal_torch(cell, n_in, hidden, bias, batch_first, dropout, n, T, with_state, seed):
    """One layer, one direction, any size, bias or not, either layout; dropout acts only between layers."""
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # PyTorch warns that dropout needs num_layers > 1
        if cell == "LSTM":
            module = torch.nn.LSTM(n_in, hidden, bias=bias, batch_first=batch_first, dropout=dropout,
                                   dtype=torch.float64)
        else:
            module = torch.nn.RNN(n_in, hidden, nonlinearity=cell, bias=bias, batch_first=batch_first,
                                  dropout=dropout, dtype=torch.float64)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.8)
    module.train()  # dropout, if any, must not act in a single layer
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, T, n_in))
    h0, c0 = (r.normal(size=(n, hidden)) if with_state else None for _ in range(2))
    w = rnn.from_torch(module)
    assert w.nonlinearity == ("tanh" if cell == "LSTM" else cell)
    tx = torch.as_tensor(x if batch_first else x.transpose(1, 0, 2))
    state = [torch.as_tensor(s)[None] for s in (h0, c0) if s is not None]
    if cell == "LSTM":
        ours, (h, c) = rnn.lstm_forward(x, w, h0, c0)
        theirs, (ht, ct) = module(tx, tuple(state) or None)
        np.testing.assert_allclose(c, ct[0].detach().numpy(), rtol=1e-10, atol=1e-12)
    else:
        ours, h = rnn.rnn_forward(x, w, h0)
        theirs, ht = module(tx, state[0] if state else None)
    theirs = theirs.detach().numpy()
    theirs = theirs if batch_first else theirs.transpose(1, 0, 2)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h, ht[0].detach().numpy(), rtol=1e-10, atol=1e-12)


def test_to_torch_keeps_the_relu():
    w = rnn.Weights.random(3, 4, 1, seed=2)
    w = rnn.Weights(w.W_ih * 3, w.W_hh, w.b, "relu")
    module = rnn.to_torch(w)
    assert module.nonlinearity == "relu"
    x = _x(seed=3, D=3)
    np.testing.assert_allclose(rnn.rnn_forward(x, w)[0], module(torch.as_tensor(x))[0].detach().numpy(),
                               rtol=1e-12, atol=1e-14)
    assert (rnn.rnn_forward(x, w)[0] == 0).any()  # the relu does cut: tanh would give no exact zeros


@pytest.mark.parametrize("module, error, match", [
    (torch.nn.Linear(2, 3), TypeError, "module must be a torch.nn.RNN, torch.nn.GRU or torch.nn.LSTM, got Linear"),
    (torch.nn.GRU(2, 3, num_layers=3), ValueError, "num_layers=3 is not supported"),
    (torch.nn.LSTM(2, 3, num_layers=2), ValueError, "num_layers=2 is not supported"),
    (torch.nn.RNN(2, 3, bidirectional=True), ValueError, "bidirectional=True is not supported"),
    (torch.nn.LSTM(2, 3, proj_size=2), ValueError, "proj_size=2 is not supported"),
])
def test_from_torch_rejects_what_it_does_not_model(module, error, match):
    with pytest.raises(error, match=match):
        rnn.from_torch(module)


_W1, _W4 = rnn.Weights.random(4, 5, 1), rnn.Weights.random(4, 5, 4)
_BAD = [
    (lambda: rnn.Weights(np.ones((5, 4)), np.ones((5, 4)), np.ones(5)), ValueError, "W_hh must have shape"),
    (lambda: rnn.Weights(np.ones((5, 4)), np.ones((5, 5)), np.ones(4)), ValueError, r"b shape \(5,\)"),
    (lambda: rnn.Weights(_W1.W_ih, _W1.W_hh, _W1.b, "sigmoid"), ValueError, "nonlinearity must be 'tanh' or 'relu'"),
    (lambda: rnn.Weights(_W4.W_ih, _W4.W_hh, _W4.b, "relu"), ValueError, "an LSTM or GRU: 'tanh'"),
    (lambda: rnn.Weights(_W1.W_ih + 0j, _W1.W_hh, _W1.b), TypeError, "W_ih must hold real numbers"),
    (lambda: rnn.Weights.random(4, 5, gates=2), ValueError, "gates must be 1 .* or 4"),
    (lambda: rnn.Weights.random(4, 0), ValueError, "hidden must be > 0"),
    (lambda: rnn.Weights.random(2.5, 3), TypeError, "n_in must be an integer"),
    (lambda: rnn.rnn_cell(np.ones((2, 3, 4)), np.zeros((2, 5)), _W1), ValueError, "x must be 2-D"),
    (lambda: rnn.rnn_cell(np.ones((2, 4)), np.zeros((3, 5)), _W1), ValueError, r"h must have shape \(batch, hidden\)"),
    (lambda: rnn.rnn_cell(np.ones((2, 4)), np.zeros((2, 5)), _W4), ValueError, "weights must have 1 gate"),
    (lambda: rnn.lstm_cell(np.ones((2, 4)), np.zeros((2, 5)), np.zeros((2, 4)), _W4), ValueError,
     r"c must have shape \(batch, hidden\) = \(2, 5\)"),
    (lambda: rnn.rnn_forward(np.ones((2, 0, 4)), _W1), ValueError, "time >= 1"),
    (lambda: rnn.rnn_forward(np.ones((2, 3, 4)) * 1j, _W1), TypeError, "x must hold real numbers"),
    (lambda: rnn.rnn_forward(np.full((2, 3, 4), np.nan), _W1), ValueError, "x must be finite"),
    (lambda: rnn.rnn_forward(_x(), "weights"), TypeError, "w must be rnn.Weights"),
    (lambda: rnn.to_torch("weights"), TypeError, "w must be rnn.Weights"),
    (lambda: rnn.to_torch(_W1, dtype=torch.int64), TypeError, "dtype must be a floating torch.dtype"),
    (lambda: rnn.clip_grad_norm(np.ones(3), 1.0), TypeError, "grads must be a list or tuple"),
    (lambda: rnn.clip_grad_norm([np.ones(3), np.array([np.nan])], 1.0), ValueError, r"grads\[1\] must be finite"),
    (lambda: rnn.clip_grad_norm([np.ones(3)], float("nan")), ValueError, "max_norm must be > 0"),
    (lambda: rnn.clip_grad_norm([np.ones(3)], "1"), TypeError, "max_norm must be a number"),
    (lambda: rnn.SequenceModel("Transformer", 1, 4, 1), ValueError, "cell must be 'RNN', 'GRU' or 'LSTM'"),
    (lambda: rnn.SequenceModel("RNN", 1, 0, 1), ValueError, "hidden must be > 0"),
    (lambda: rnn.SequenceModel("RNN", 1, 4, 1.5), TypeError, "n_out must be an integer"),
    (lambda: rnn.SequenceModel("RNN", 2, 4, 1)(torch.zeros(3, 5)), ValueError, r"x must be \(batch, time, 2\)"),
    (lambda: rnn.SequenceModel("LSTM", 1, 4, 1)(torch.zeros(3, 5, dtype=torch.long)), TypeError,
     "x must be a floating-point torch tensor"),
    (lambda: rnn.SequenceModel("LSTM", 1, 4, 1)(torch.full((3, 5), float("nan"))), ValueError, "x must be finite"),
    (lambda: rnn.Weights.random(4, 5, seed=-1), ValueError, "seed must be >= 0"),
]


@pytest.mark.parametrize("call, error, match", _BAD, ids=[m for _, _, m in _BAD])
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_adding_problem():
    X, y = tk.data.adding_problem(500, 20, seed=1)
    assert X.shape == (500, 20, 2) and y.shape == (500,)
    assert (X[:, :, 1].sum(1) == 2).all()
    np.testing.assert_allclose(y, (X[:, :, 0] * X[:, :, 1]).sum(1), rtol=1e-6)
    assert abs(np.mean((y - 1) ** 2) - 1 / 6) < 0.03
    X2, _ = tk.data.adding_problem(500, 20, seed=1)
    assert np.array_equal(X, X2)
    with pytest.raises(ValueError, match="length must be at least 2"):
        tk.data.adding_problem(5, 1)


@pytest.mark.tf
def test_clip_grad_norm_equals_tensorflow():
    tf = tk.import_tf()
    rng = np.random.default_rng(7)
    grads = [rng.normal(size=(3, 4)), rng.normal(size=5)]
    clipped_tf, norm_tf = tf.clip_by_global_norm([tf.constant(g) for g in grads], 1.0)
    clipped, norm = rnn.clip_grad_norm(grads, 1.0)
    assert norm == pytest.approx(float(norm_tf), rel=1e-12)
    for c, t in zip(clipped, clipped_tf):
        np.testing.assert_allclose(c, t.numpy(), rtol=1e-5)  # torch and ours add 1e-6 to the norm; TF does not


@pytest.mark.tf
@given(kind=st.sampled_from(["tanh", "relu", "LSTM"]), use_bias=st.booleans(), n_in=st.integers(1, 3),
       hidden=st.integers(1, 4), seed=st.integers(0, 2**31 - 1))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_keras_layers_equal_ours(kind, use_bias, n_in, hidden, seed):
    """Keras layers with random weights, read by from_keras; and back through to_keras."""
    tk.import_tf()
    import keras

    if kind == "LSTM":
        layer = keras.layers.LSTM(hidden, use_bias=use_bias, return_sequences=True, dtype="float64")
    else:
        layer = keras.layers.SimpleRNN(hidden, activation=kind, use_bias=use_bias, return_sequences=True,
                                       dtype="float64")
    layer.build((None, None, n_in))
    r = np.random.default_rng(seed)
    layer.set_weights([r.normal(size=a.shape) for a in layer.get_weights()])
    w = rnn.from_keras(layer)
    x = r.normal(size=(2, 5, n_in))
    ours = (rnn.lstm_forward if kind == "LSTM" else rnn.rnn_forward)(x, w)[0]
    np.testing.assert_allclose(ours, layer(x).numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours, rnn.to_keras(w)(x).numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.tf
def test_from_keras_rejects_what_it_does_not_model():
    tk.import_tf()
    import keras

    def built(layer):
        layer.build((None, None, 2))
        return layer

    with pytest.raises(TypeError, match="layer must be a keras.layers.SimpleRNN, GRU or LSTM, got Dense"):
        rnn.from_keras(built(keras.layers.Dense(3)))
    with pytest.raises(ValueError, match="recurrent_activation='sigmoid'"):
        rnn.from_keras(built(keras.layers.LSTM(3, recurrent_activation="hard_sigmoid")))
    with pytest.raises(ValueError, match="recurrent_activation='sigmoid'"):
        rnn.from_keras(built(keras.layers.GRU(3, recurrent_activation="hard_sigmoid")))
    with pytest.raises(ValueError, match="SimpleRNN activation must be 'tanh' or 'relu', got 'sigmoid'"):
        rnn.from_keras(built(keras.layers.SimpleRNN(3, activation="sigmoid")))
    with pytest.raises(ValueError, match="go_backwards=True is not supported"):
        rnn.from_keras(built(keras.layers.SimpleRNN(3, go_backwards=True)))
