import numpy as np
import pytest
import torch

import troikadl as tk


@pytest.fixture()
def moons():
    tk.setup(seed=0)
    return tk.data.moons(n=400, seed=0)


def _mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))


def test_fit_learns_and_records_history(moons):
    model = _mlp()
    h = tk.fit(model, (moons.X_train, moons.y_train), val=(moons.X_test, moons.y_test),
               loss="bce", lr=0.05, epochs=200, batch_size=64)
    assert len(h["train_loss"]) == 200 and "val_acc" in h
    assert h["train_loss"][-1] < 0.5 * h["train_loss"][0]
    assert tk.evaluate(model, moons.X_test, moons.y_test, loss="bce")["acc"] > 0.9
    assert "200 epochs" in repr(h)


def test_fit_names_the_held_out_curves(moons):
    tk.setup(seed=0)
    h = tk.fit(_mlp(), (moons.X_train, moons.y_train), val=(moons.X_test, moons.y_test), val_name="test",
               loss="bce", epochs=3, batch_size=64)
    assert sorted(h.curves) == ["test_acc", "test_loss", "train_acc", "train_loss"]
    tk.setup(seed=0)
    same = tk.fit(_mlp(), (moons.X_train, moons.y_train), val=(moons.X_test, moons.y_test),
                  loss="bce", epochs=3, batch_size=64)
    assert same["val_acc"] == h["test_acc"] and same["val_loss"] == h["test_loss"]
    for bad in ("train", "", "test set", 3):
        with pytest.raises(ValueError, match="val_name must be a name"):
            tk.fit(_mlp(), (moons.X_train, moons.y_train), val=(moons.X_test, moons.y_test), val_name=bad,
                   loss="bce", epochs=1)
    with pytest.raises(TypeError, match=r"val must be a pair \(X, y\)"):
        tk.fit(_mlp(), (moons.X_train, moons.y_train), val=(moons.X_test,), loss="bce", epochs=1)


def test_fit_is_reproducible(moons):
    runs = []
    for _ in range(2):
        tk.setup(seed=0)
        h = tk.fit(_mlp(), (moons.X_train, moons.y_train), loss="bce", epochs=5, batch_size=32)
        runs.append(h["train_loss"])
    assert runs[0] == runs[1]


def test_fit_cross_entropy_and_mse():
    tk.setup(seed=0)
    X = np.random.default_rng(0).normal(size=(120, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)
    model = torch.nn.Sequential(torch.nn.Linear(3, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
    h = tk.fit(model, (X, y), loss="cross_entropy", lr=0.02, epochs=100)
    assert h.last("train_acc") > 0.9
    reg = torch.nn.Linear(3, 1)
    h = tk.fit(reg, (X, X @ np.array([1.0, -2.0, 0.5], dtype=np.float32)), loss="mse", lr=0.1,
               epochs=200, metric=None)
    assert h.last("train_loss") < 1e-3 and "train_acc" not in h


def test_fit_errors(moons):
    data = (moons.X_train, moons.y_train)
    with pytest.raises(ValueError, match="loss must be one of"):
        tk.fit(_mlp(), data, loss="hinge", epochs=1)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        tk.fit(_mlp(), data, loss="bce", epochs=0)
    with pytest.raises(TypeError, match=r"train must be a pair \(X, y\)"):
        tk.fit(_mlp(), moons.X_train, loss="bce", epochs=1)
    with pytest.raises(ValueError, match="same number of samples"):
        tk.fit(_mlp(), (moons.X_train, moons.y_train[:-1]), loss="bce", epochs=1)


def test_accuracy_forms():
    y = np.array([0, 1, 1, 0])
    assert tk.accuracy(y, np.array([-1.0, 2.0, 0.5, 0.1])) == 0.75        # logits, threshold 0
    assert tk.accuracy(y, np.array([[2, 1], [0, 3], [1, 0], [5, 1.0]])) == 0.75  # class scores
    assert tk.accuracy(y, np.array([0, 1, 1, 0])) == 1.0                  # labels
    with pytest.raises(ValueError, match="one row per label"):
        tk.accuracy(y, np.zeros(3))


def test_fit_with_per_token_labels_and_clipping():
    from troikadl.transformer import TokenEncoder

    tk.setup(seed=0)
    X, y = tk.data.token_task(512, 6, 5, "reverse", seed=0)
    model = TokenEncoder(vocab_size=5, length=6, d_model=16, heads=2, layers=1, d_ff=32)
    h = tk.fit(model, (X, y), loss="cross_entropy", lr=3e-3, epochs=8, batch_size=64, clip_norm=1.0)
    assert "grad_norm_max" in h and h.last("train_acc") > 2 * h["train_acc"][0]  # learns per-token labels
    scores = np.zeros((2, 3, 4))
    scores[..., 1] = 1.0
    assert tk.accuracy(np.ones((2, 3), dtype=int), scores) == 1.0
    with pytest.raises(ValueError, match="clip_norm must be > 0"):
        tk.fit(model, (X, y), loss="cross_entropy", epochs=1, clip_norm=0.0)
    with pytest.raises(ValueError, match="ids must be"):
        model(torch.zeros(2, 7, dtype=torch.long))


def _adam_steps_by_hand(model, X, y, lr, steps):
    """Full-batch BCE training with torch.optim.Adam written out in the test: the reference for fit's lr."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(model(X).reshape(-1), y).backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


def test_fit_uses_lr_for_adam_and_a_given_optimizer_as_it_is(moons):
    X, y = torch.as_tensor(moons.X_train, dtype=torch.float32), torch.as_tensor(moons.y_train, dtype=torch.float32)
    for lr, kwargs in ((0.05, {"lr": 0.05}), (1e-2, {})):  # no lr: Adam with the documented default 1e-2
        ours = _mlp()
        tk.fit(ours, (moons.X_train, moons.y_train), loss="bce", epochs=3, show_progress=False, **kwargs)
        expected = _adam_steps_by_hand(_mlp(), X, y, lr, 3)
        for a, b in zip(ours.parameters(), expected):
            torch.testing.assert_close(a.detach().cpu(), b, atol=1e-6, rtol=0)  # float32, 3 identical steps
    ours = _mlp()
    sgd = torch.optim.SGD(ours.parameters(), lr=0.3)  # the optimizer's own learning rate is used
    tk.fit(ours, (moons.X_train, moons.y_train), loss="bce", epochs=1, optimizer=sgd, show_progress=False)
    ref = _mlp()
    torch.nn.functional.binary_cross_entropy_with_logits(ref(X).reshape(-1), y).backward()
    for a, b in zip(ours.parameters(), ref.parameters()):
        torch.testing.assert_close(a.detach().cpu(), (b - 0.3 * b.grad).detach(), atol=1e-6, rtol=0)


def test_fit_refuses_lr_together_with_an_optimizer(moons):
    data = (moons.X_train, moons.y_train)
    model = _mlp()
    for lr in (1e-3, 1e-2):  # even the default's value: an lr given explicitly would be ignored
        with pytest.raises(ValueError, match="lr must not be given with an optimizer"):
            tk.fit(model, data, loss="bce", epochs=1, lr=lr, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer"):
        tk.fit(model, data, loss="bce", epochs=1, optimizer="adam")
    with pytest.raises(ValueError, match="optimizer must be built on the model's parameters"):
        tk.fit(model, data, loss="bce", epochs=1, optimizer=torch.optim.SGD(_mlp().parameters(), lr=0.1))
    with pytest.raises(ValueError, match="lr must be > 0"):
        tk.fit(model, data, loss="bce", epochs=1, lr=0.0)


def test_fit_records_accuracy_only_for_classification_losses(moons):
    X = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    target = X @ np.array([1.0, -2.0, 0.5], dtype=np.float32)
    torch.manual_seed(0)
    h = tk.fit(torch.nn.Linear(3, 1), (X, target), val=(X, target), loss="mse", epochs=2, show_progress=False)
    assert sorted(h.curves) == ["train_loss", "val_loss"]  # no meaningless accuracy by default
    with pytest.raises(ValueError, match="metric='accuracy' needs a classification loss"):
        tk.fit(torch.nn.Linear(3, 1), (X, target), loss="mse", epochs=1, metric="accuracy")
    assert sorted(tk.evaluate(torch.nn.Linear(3, 1), X, target, loss="mse")) == ["loss"]
    data, val = (moons.X_train, moons.y_train), (moons.X_test, moons.y_test)
    h = tk.fit(_mlp(), data, val=val, loss="bce", epochs=2, show_progress=False)
    assert sorted(h.curves) == ["train_acc", "train_loss", "val_acc", "val_loss"]
    bce = lambda out, y: torch.nn.functional.binary_cross_entropy_with_logits(out.reshape(-1), y.float())  # noqa: E731
    assert sorted(tk.fit(_mlp(), data, loss=bce, epochs=1, show_progress=False).curves) == ["train_loss"]
    before = tk.predict(_mlp(), moons.X_train).reshape(-1)  # one full batch: scored before its one step
    h = tk.fit(_mlp(), data, loss=bce, epochs=1, metric="accuracy", show_progress=False)  # asked for: recorded
    assert h["train_acc"] == [pytest.approx(np.mean((before > 0) == moons.y_train), abs=1e-12)]
    with pytest.raises(ValueError, match="metric must be one of"):
        tk.fit(_mlp(), data, loss="bce", epochs=1, metric="f1")


# --- several inputs: a tuple of arrays, each batched with the same indices -----------------------------------
class _TwoInputs(torch.nn.Module):
    """Pixels (floats) and token ids (integers): an embedding of the ids next to a linear map of the floats."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed, self.linear = torch.nn.Embedding(7, 3), torch.nn.Linear(4, 3)
        self.head = torch.nn.Linear(3, 1)
        self.seen = []  # the dtypes of each call's inputs

    def forward(self, x, ids):
        self.seen.append((x.dtype, ids.dtype))
        return self.head(torch.tanh(self.linear(x) + self.embed(ids).mean(1)))


def _two_inputs_data(n=50):
    rng = np.random.default_rng(0)
    X, ids = rng.normal(size=(n, 4)), rng.integers(0, 7, size=(n, 5))  # float64 and int64
    y = ((X[:, 0] > 0) ^ (ids[:, 0] > 3)).astype(np.int64)
    return X, ids, y


def _fit_by_hand(model, inputs, y, *, epochs, batch_size, lr, seed):
    """fit's documented loop written out in the test: Adam, BCE, one torch.randperm per epoch from a generator
    seeded with ``seed``, each input indexed by the same rows, the model called with every input."""
    inputs = [torch.as_tensor(x) for x in inputs]
    inputs = [x.float() if x.is_floating_point() else x for x in inputs]
    y = torch.as_tensor(y).float()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=gen)
        for start in range(0, len(y), batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad()
            out = model(*[x[idx] for x in inputs])
            torch.nn.functional.binary_cross_entropy_with_logits(out.reshape(-1), y[idx]).backward()
            opt.step()
    return [p.detach().clone() for p in model.parameters()]


def test_fit_on_a_tuple_of_inputs_equals_the_training_written_by_hand():
    X, ids, y = _two_inputs_data()
    ours = _TwoInputs()
    tk.fit(ours, ((X, ids), y), loss="bce", lr=0.05, epochs=3, batch_size=16, seed=3, show_progress=False)
    expected = _fit_by_hand(_TwoInputs(), (X, ids), y, epochs=3, batch_size=16, lr=0.05, seed=3)
    for a, b in zip(ours.parameters(), expected):
        torch.testing.assert_close(a.detach().cpu(), b, atol=1e-6, rtol=0)  # float32, the same 12 steps
    assert set(ours.seen) == {(torch.float32, torch.int64)}  # floats in torch's default dtype, ids stay int64


def test_fit_on_one_tensor_still_shuffles_as_before():
    """One tensor of inputs: the same single torch.randperm per epoch, so every chapter's numbers stay."""
    X, _, y = _two_inputs_data()
    ours, ref = torch.nn.Linear(4, 1), torch.nn.Linear(4, 1)
    ref.load_state_dict(ours.state_dict())
    tk.fit(ours, (X, y), loss="bce", lr=0.05, epochs=3, batch_size=16, seed=5, show_progress=False)
    expected = _fit_by_hand(ref, (X,), y, epochs=3, batch_size=16, lr=0.05, seed=5)
    for a, b in zip(ours.parameters(), expected):
        torch.testing.assert_close(a.detach().cpu(), b, atol=1e-6, rtol=0)


def test_predict_and_evaluate_take_a_tuple_and_keep_token_ids_integer():
    X, ids, y = _two_inputs_data(30)
    model = _TwoInputs()
    with torch.no_grad():
        ref = model(torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(ids)).numpy()
    np.testing.assert_allclose(tk.predict(model, (X, ids), batch_size=7), ref, atol=1e-6, rtol=0)  # 5 batches
    logits = torch.as_tensor(ref).reshape(-1)
    expected_loss = float(torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.as_tensor(y).float()))
    res = tk.evaluate(model, (X, ids), y, loss="bce")
    assert res["loss"] == pytest.approx(expected_loss, abs=1e-6)
    assert res["acc"] == pytest.approx(np.mean((ref.reshape(-1) > 0) == y), abs=1e-12)
    assert set(model.seen) == {(torch.float32, torch.int64)}
    model.double().seen.clear()  # predict gives float inputs the model's own dtype
    tk.predict(model, (X, ids))
    assert model.seen == [(torch.float64, torch.int64)]


def test_a_tuple_of_inputs_of_different_lengths_is_refused():
    X, ids, y = _two_inputs_data(20)
    model = _TwoInputs()
    with pytest.raises(ValueError, match=r"train\[0\]\[0\] \(inputs\) and train\[0\]\[1\] \(inputs\) must have the "
                                         r"same number of samples: .* has 20, .* has 19"):
        tk.fit(model, ((X, ids[:-1]), y[:-1]), loss="bce", epochs=1, show_progress=False)
    with pytest.raises(ValueError, match=r"val\[0\]\[0\] \(inputs\) and val\[0\]\[1\] \(inputs\) must have the same"):
        tk.fit(model, ((X, ids), y), val=((X[:-1], ids), y), loss="bce", epochs=1, show_progress=False)
    with pytest.raises(ValueError, match=r"train\[0\] \(inputs\) and train\[1\] \(targets\) must have the same"):
        tk.fit(model, ((X, ids), y[:-1]), loss="bce", epochs=1, show_progress=False)
    with pytest.raises(ValueError, match=r"X\[0\] and X\[1\] must have the same number of samples"):
        tk.predict(model, (X[:-2], ids))
    with pytest.raises(ValueError, match=r"X\[0\] and X\[1\] must have the same number of samples"):
        tk.evaluate(model, (X, ids[:-2]), y, loss="bce")
    with pytest.raises(ValueError, match="X must be one array or a tuple of arrays"):
        tk.predict(model, ())
    with pytest.raises(ValueError, match=r"X\[1\] must hold one row per example, got a single number"):
        tk.predict(model, (X, np.int64(3)))
    with pytest.raises(TypeError, match=r"train\[0\]\[1\] \(inputs\) must hold real numbers"):
        tk.fit(model, ((X, ids.astype(complex)), y), loss="bce", epochs=1, show_progress=False)
