import numpy as np
import pytest
import torch

import troikadl as tk


@pytest.fixture()
def moons():
    tk.setup(seed=0)
    return tk.data.moons(n_samples=400, seed=0)


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
    model = TokenEncoder(vocab=5, length=6, d_model=16, heads=2, layers=1, d_ff=32)
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
