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


def _python(code, tmp_path, extra_path=None):
    import os
    import subprocess
    import sys

    env = dict(os.environ, TROIKA_QUIET="1")
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def fake_triton(tmp_path):
    """A stand-in `triton` package that records whether TensorFlow was already loaded when it was imported."""
    pkg = tmp_path / "fake" / "triton"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("import sys\nAFTER_TENSORFLOW = 'tensorflow' in sys.modules\n")
    return pkg.parent


@pytest.mark.tf
def test_setup_and_import_tf_load_triton_before_tensorflow(tmp_path, fake_triton):
    """Chapters 4-6 aborted in Colab when triton (loaded by torch.optim) came after TensorFlow (issue #22)."""
    first = _python("import sys, troikadl as tk\ntk.setup(seed=0)\nprint('triton' in sys.modules)\n"
                    "tf = tk.import_tf()\nimport triton\nprint(triton.AFTER_TENSORFLOW)", tmp_path, fake_triton)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == ["True", "False"], first.stdout
    direct = _python("import troikadl as tk\ntf = tk.import_tf()\nimport triton\nprint(triton.AFTER_TENSORFLOW)",
                     tmp_path, fake_triton)
    assert direct.returncode == 0 and direct.stdout.split() == ["False"], direct.stdout + direct.stderr


@pytest.mark.tf
def test_tensorflow_imported_first_gets_a_warning_not_an_abort(tmp_path, fake_triton):
    run = _python("import sys, warnings\nimport tensorflow\nimport troikadl as tk\n"
                  "with warnings.catch_warnings(record=True) as caught:\n    warnings.simplefilter('always')\n"
                  "    tk.setup(seed=0)\nours = [w for w in caught if w.category is RuntimeWarning and 'triton' in str(w.message)]\n"
                  "print('warned' if ours else 'silent', any('import_tf' in str(w.message) for w in ours))\n"
                  "print('triton' in sys.modules)", tmp_path, fake_triton)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["warned", "True", "False"], run.stdout
    without = _python("import sys, troikadl as tk\nprint(tk.runtime.load_triton_first(), 'triton' in sys.modules)",
                      tmp_path)
    import importlib.util

    if importlib.util.find_spec("triton") is None:
        assert without.stdout.split() == ["False", "False"], without.stdout + without.stderr


@pytest.mark.tf
def test_torch_optimizer_after_tensorflow_with_the_real_triton(tmp_path):
    """Runs only where torch brings triton and TensorFlow is installed: the Colab-like environment
    (`make test-colab`). Without load_triton_first this process aborts with LLVM's 'inconsistency in
    registered CommandLine options'."""
    import importlib.util

    if importlib.util.find_spec("triton") is None or importlib.util.find_spec("tensorflow") is None:
        pytest.skip("needs torch's regular build (with triton) and TensorFlow, as in Colab")
    run = _python("import torch, troikadl as tk\nrt = tk.setup(seed=0)\ntf = tk.import_tf()\nimport keras\n"
                  "p = torch.nn.Parameter(torch.zeros(3))\ntorch.optim.Adam([p], lr=0.1)\n"
                  "torch.optim.SGD([p], lr=0.1, momentum=0.9)\nprint('survived')", tmp_path)
    assert run.returncode == 0 and run.stdout.strip() == "survived", (run.returncode, run.stderr[-2000:])


def test_timer_measures_the_wall_time_of_its_block():
    """test_timer above passes with a Timer that measures nothing; this one needs the sleeps to be timed."""
    import time

    with tk.Timer() as outer:
        with tk.Timer() as inner:
            time.sleep(0.05)
        time.sleep(0.05)
    assert 0.04 < inner.seconds < 1.0  # sleep waits at least 0.05 s; 1 s leaves room for a busy machine
    assert inner.seconds + 0.04 < outer.seconds < 2.0  # the outer block holds both sleeps
    before = inner.seconds
    time.sleep(0.02)
    assert inner.seconds == before, "the time is fixed when the block ends"
    assert repr(inner) == f"Timer({before:.3f} s)"
    with inner:  # reused: times the new block only
        pass
    assert inner.seconds < 0.04


def test_torchrun_device_gives_each_process_a_gpu_or_all_the_cpu(monkeypatch):
    """One GPU cannot serve two NCCL processes (seen on the course's first GPU run): fall back to the CPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for gpus, world, rank, expected in [(1, 2, 1, "cpu"), (2, 2, 1, "cuda:1"), (8, 2, 0, "cuda:0"), (1, 1, 0, "cuda:0")]:
        monkeypatch.setattr(torch.cuda, "device_count", lambda gpus=gpus: gpus)
        env = {"LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": str(world)}
        assert str(runtime.torchrun_device(env)) == expected, (gpus, world, rank)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert str(runtime.torchrun_device({"LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})) == "cpu"
    with pytest.raises(ValueError, match="LOCAL_RANK"):
        runtime.torchrun_device({"LOCAL_RANK": "first"})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_bptt_windows_stay_on_the_device_of_their_stream():
    from troikadl.language_model import bptt_batches

    ids = torch.arange(40, device="cuda") % 7
    assert all(x.device == ids.device and y.device == ids.device for x, y in bptt_batches(ids, 2, 5))
