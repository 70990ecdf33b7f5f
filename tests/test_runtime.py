import numpy as np
import pytest
import torch

import troikadl as tk
from troikadl import runtime


def test_threads_divide_cores_among_running_notebooks():
    assert runtime.choose_threads({}, cores=2) == 2
    assert runtime.choose_threads({"PYTEST_XDIST_WORKER_COUNT": "2"}, cores=2) == 1
    assert runtime.choose_threads({"PYTEST_XDIST_WORKER_COUNT": "4"}, cores=2) == 1
    assert runtime.choose_threads({"PYTEST_XDIST_WORKER_COUNT": "2"}, cores=8) == 4
    assert runtime.choose_threads({"TROIKA_THREADS": "3"}, cores=2) == 3
    with pytest.raises(ValueError, match="TROIKA_THREADS"):
        runtime.choose_threads({"TROIKA_THREADS": "0"}, cores=2)


def test_device_choice_and_override():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert runtime.choose_device({}).type == expected
    assert runtime.choose_device({"TROIKA_DEVICE": "cpu"}).type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            runtime.choose_device({"TROIKA_DEVICE": "cuda"})


def test_setup_seeds_everything_reproducibly(monkeypatch):
    monkeypatch.delenv("TROIKA_SEED", raising=False)
    rt = tk.setup(seed=3)
    a = (np.random.rand(), torch.rand(1).item(), rt.rng.random())
    rt = tk.setup(seed=3)
    b = (np.random.rand(), torch.rand(1).item(), rt.rng.random())
    assert a == b
    assert rt.seed == 3 and tk.current() is rt
    assert "seed=3" in repr(rt)
    from IPython.lib.pretty import pretty

    shown = pretty(rt).splitlines()
    assert len(shown) == 2 and "seed=3" in shown[0] and shown[1].startswith("torch ")
    assert max(map(len, shown)) <= 70, "short enough for the book's code column"


def test_seed_env_overrides(monkeypatch):
    monkeypatch.setenv("TROIKA_SEED", "2")
    assert tk.setup(seed=0).seed == 2


@pytest.mark.parametrize("bad, exc, words", [(-1, ValueError, "seed must be >= 0"), (1.5, TypeError, "seed must be an integer"),
                                             ("0", TypeError, "seed must be an integer"),
                                             (True, TypeError, "seed must be an integer")])
def test_setup_rejects_bad_seed(bad, exc, words, monkeypatch):
    monkeypatch.delenv("TROIKA_SEED", raising=False)
    with pytest.raises(exc, match=words):
        tk.setup(seed=bad)


def test_quiet(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("TROIKA_QUIET", raising=False)
    assert not runtime.quiet()
    monkeypatch.setenv("CI", "true")
    assert runtime.quiet()
    assert runtime.progress(range(3)).disable


def test_timer():
    with tk.Timer() as t:
        sum(range(1000))
    assert 0 <= t.seconds < 1


def test_tensorflow_is_not_imported_by_the_package():
    import subprocess
    import sys

    code = "import sys, troikadl; troikadl.setup(0); print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_setup_again_keeps_the_start_time(monkeypatch):
    monkeypatch.delenv("TROIKA_SEED", raising=False)
    first = tk.setup(seed=0)
    again = tk.setup(seed=5)
    assert again.started == first.started and again.seed == 5
