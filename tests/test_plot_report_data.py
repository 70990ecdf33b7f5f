import json

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import troikadl as tk  # noqa: E402
from troikadl.report import load_results, status_markdown  # noqa: E402


def test_decision_boundary_and_learning_curves():
    s = tk.data.moons(n=200, seed=0)
    ax = tk.plot.decision_boundary(lambda g: (g[:, 1] > 0).astype(int), s.X_test, s.y_test, title="t")
    assert ax.get_title() == "t"
    h = tk.History()
    for i in range(3):
        h.log(train_loss=1 / (i + 1), val_loss=1.5 / (i + 1))
    ax = tk.plot.learning_curves({"a": h, "b": h.curves}, "loss", logy=True)
    assert len(ax.lines) == 4
    h = tk.History()
    h.log(train_acc=0.5, val_acc=0.6, test_acc=0.7)
    ax = tk.plot.learning_curves(h, "acc")
    assert [line.get_label() for line in ax.lines] == ["train", "test", "val"]
    assert [line.get_linestyle() for line in ax.lines] == ["-", "--", "--"]
    ax = tk.plot.learning_curves({"run": {"test_acc": [0.1, 0.2]}}, "acc")
    assert [line.get_label() for line in ax.lines] == ["run test"]
    plt.close("all")


def test_plot_errors():
    with pytest.raises(ValueError, match="X must have 2 columns"):
        tk.plot.decision_boundary(lambda g: g[:, 0], np.ones((5, 3)), [0, 1, 0, 1, 0])
    with pytest.raises(ValueError, match="X and y must have the same number of samples"):
        tk.plot.decision_boundary(lambda g: g[:, 0], np.ones((5, 2)), [0, 1])
    with pytest.raises(ValueError, match="has no train_acc"):
        tk.plot.learning_curves({"train_loss": [1.0]}, "acc")
    plt.close("all")


def test_report_writes_when_asked(tmp_path, monkeypatch, capsys):
    tk.setup(seed=1)
    monkeypatch.delenv("TROIKA_RESULTS_DIR", raising=False)
    tk.report("01_neuron", acc=np.float64(0.9))
    assert not list(tmp_path.iterdir())
    assert "acc" in capsys.readouterr().out
    monkeypatch.setenv("TROIKA_RESULTS_DIR", str(tmp_path))
    tk.report("01_neuron", budget_s=1e9, acc=0.9, ok=True)  # the runtime counts from the first setup
    rec = json.loads((tmp_path / "01_neuron.json").read_text())
    assert rec["numbers"] == {"acc": 0.9, "ok": True} and rec["budget_s"] == 1e9 and rec["seed"] == 1
    table = status_markdown(load_results(tmp_path), [("01_neuron", "One"), ("02_backprop", "Two")])
    assert "| One |" in table and "within budget" in table and "not run" in table
    rec["runtime_s"], rec["budget_s"] = 61, 60
    assert "over budget" in status_markdown({"01_neuron": rec}, [("01_neuron", "One")])


def test_report_errors():
    with pytest.raises(ValueError, match="chapter must look like"):
        tk.report("neuron", acc=1.0)
    with pytest.raises(ValueError, match="at least one headline number"):
        tk.report("01_neuron")
    with pytest.raises(TypeError, match="acc must be a number, a boolean or a string"):
        tk.report("01_neuron", acc=[1.0])


def test_breast_cancer_split_is_stratified_and_scaled_on_train_only():
    s = tk.data.breast_cancer(seed=0)
    assert s.X_train.shape == (426, 30) and s.X_test.shape == (143, 30)
    np.testing.assert_allclose(s.X_train.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(s.X_train.std(0), 1, atol=1e-12)
    assert abs(s.X_test.mean()) > 1e-6            # the test part was not used to fit the scaler
    p_train, p_test = s.y_train.mean(), s.y_test.mean()
    assert abs(p_train - p_test) < 0.01
    again = tk.data.breast_cancer(seed=0)
    assert np.array_equal(s.X_test, again.X_test)
    assert not np.array_equal(s.X_test, tk.data.breast_cancer(seed=1).X_test)


def test_moons_and_errors():
    s = tk.data.moons(n=1000, noise=0.2, seed=0)
    assert s.X_train.shape == (750, 2) and set(np.unique(s.y_test)) == {0, 1}
    with pytest.raises(ValueError, match="n must be > 0"):
        tk.data.moons(n=0)
    with pytest.raises(ValueError, match="test_size must be in"):
        tk.data.split_and_scale(np.ones((10, 2)), np.arange(10) % 2, test_size=1.5)


def test_show_source_outside_notebook():
    src = tk.show_source(tk.neuron.sigmoid)
    assert "def sigmoid" in src
    with pytest.raises(TypeError, match="obj must be"):
        tk.show_source(3)


def test_paths_on_contours_and_descend():
    from troikadl.landscapes import ROSENBROCK, VALLEY, descend
    from troikadl.optim import SGD

    path, steps = descend(lambda ps: SGD(ps, lr=0.03), VALLEY, steps=2000)
    assert steps is not None and path.shape[1] == 2 and VALLEY.f(path[-1]) < 1e-3
    path, steps = descend(lambda ps: SGD(ps, lr=0.1), ROSENBROCK, steps=50)
    assert steps is None  # diverges: lr far too large for the steep walls
    ax = tk.plot.paths_on_contours(VALLEY, {"sgd": path[:3]})
    assert len(ax.get_legend().get_texts()) == 1
    with pytest.raises(ValueError, match="must have shape \\(steps, 2\\)"):
        tk.plot.paths_on_contours(VALLEY, {"bad": np.ones((3, 3))})
    with pytest.raises(ValueError, match=r"paths\['bad'\] must be 2-D"):
        tk.plot.paths_on_contours(VALLEY, {"bad": np.ones(3)})
    with pytest.raises(ValueError, match="start must have 2 coordinates"):
        descend(lambda ps: SGD(ps, lr=0.1), VALLEY, start=[1.0, 2.0, 3.0])
    plt.close("all")
