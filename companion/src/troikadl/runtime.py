"""Runtime conventions: seeding, device, threads, quiet TensorFlow, plot style, progress bars, timing.

Introduced in chapter 1; every chapter starts with it.
Every chapter starts with ``rt = tk.setup(seed=0)``. Environment variables let a reader, the tests or CI
override what it chooses, without editing the notebook:

``TROIKA_SEED``     overrides the seed passed to :func:`setup` (used to check asserts on several seeds).
``TROIKA_DEVICE``   forces the device (``cpu``, ``cuda``, ``cuda:1``, ``mps``).
``TROIKA_THREADS``  forces the number of CPU threads.
``TROIKA_QUIET``    hides progress bars (also hidden when ``CI`` is set).

Threads: on a 2-core machine 2 threads double matmul speed when the machine is idle, but with two
notebooks side by side 1 thread each was 3-30x faster than 2 each. So each notebook gets
``cores // notebooks running at once`` threads; pytest-xdist puts ``PYTEST_XDIST_WORKER_COUNT`` in the
kernel's environment, and a reader running one notebook alone gets every core.
"""

from __future__ import annotations

import os
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from .validate import check_int, check_instance

__all__ = ["Runtime", "setup", "current", "choose_device", "torchrun_device", "choose_threads", "seed_everything",
           "import_tf", "load_triton_first", "quiet", "progress", "Timer"]

# TensorFlow reads these when it is imported: set them as early as the package is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


@dataclass
class Runtime:
    """What :func:`setup` chose. ``rt.device`` is a ``torch.device``; ``rt.rng`` a seeded NumPy generator."""

    seed: int
    device: Any
    threads: int
    started: float = field(default_factory=time.perf_counter)
    rng: np.random.Generator = field(default_factory=np.random.default_rng)

    def elapsed(self) -> float:
        """Seconds since :func:`setup` was called."""
        return time.perf_counter() - self.started

    def _versions(self) -> str:
        import torch

        return f"torch {torch.__version__}, numpy {np.__version__}, Python {sys.version.split()[0]}"

    def __repr__(self) -> str:
        return f"Runtime(seed={self.seed}, device={self.device}, threads={self.threads}, {self._versions()})"

    def _repr_pretty_(self, p, cycle: bool) -> None:  # the last line of each chapter's setup cell
        """In notebooks: the settings on one line, the versions on the next (narrow enough for the book)."""
        p.text(f"Runtime(seed={self.seed}, device={self.device}, threads={self.threads})\n{self._versions()}")


_CURRENT: Runtime | None = None


def current() -> Runtime:
    """The :class:`Runtime` of the last :func:`setup` call (calls ``setup(0)`` if there was none)."""
    return _CURRENT if _CURRENT is not None else setup(0)


def quiet() -> bool:
    """True when progress bars should be hidden: under CI, in book builds and tests (``TROIKA_QUIET``)."""
    return any(os.environ.get(v, "").strip().lower() not in ("", "0", "false", "no")
               for v in ("CI", "TROIKA_QUIET"))


def choose_threads(environ: dict[str, str] | None = None, cores: int | None = None) -> int:
    """Threads for this process: ``TROIKA_THREADS``, else cores divided by the notebooks running at once."""
    env = os.environ if environ is None else check_instance(environ, "environ", Mapping, "a dict of environment variables")
    if cores is not None:
        check_int(cores, "cores", min=1)
    if env.get("TROIKA_THREADS"):
        value = str(env["TROIKA_THREADS"]).strip()
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"TROIKA_THREADS must be a whole number >= 1, got {value!r}")
        return int(value)
    if cores is None:
        cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                 else (os.cpu_count() or 1))
    running = max(1, int(env.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1))
    return max(1, cores // running)


def choose_device(environ: dict[str, str] | None = None) -> Any:
    """``TROIKA_DEVICE`` if set, else CUDA if available, else CPU. Returns a ``torch.device``."""
    import torch

    env = os.environ if environ is None else check_instance(environ, "environ", Mapping, "a dict of environment variables")
    name = str(env.get("TROIKA_DEVICE", "")).strip()
    if name:
        try:
            dev = torch.device(name)
        except RuntimeError:
            raise ValueError(f"TROIKA_DEVICE (or setup's device) must name a torch device such as 'cpu', 'cuda', "
                             f"'cuda:1' or 'mps', got {name!r}") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"TROIKA_DEVICE={name!r} but CUDA is not available here")
        return dev
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def torchrun_device(environ: dict[str, str] | None = None) -> Any:
    """The device of one process started by ``torchrun``: ``cuda:LOCAL_RANK`` when the node has a GPU for each
    of its ``LOCAL_WORLD_SIZE`` processes, else the CPU (use the ``gloo`` backend there: NCCL cannot put two
    processes on one GPU). Returns a ``torch.device``."""
    import torch

    env = os.environ if environ is None else check_instance(environ, "environ", Mapping, "a dict of environment variables")
    try:
        local_rank, local_world = int(env.get("LOCAL_RANK", 0)), int(env.get("LOCAL_WORLD_SIZE", 1))
    except ValueError:
        raise ValueError(f"LOCAL_RANK and LOCAL_WORLD_SIZE must be integers, got {env.get('LOCAL_RANK')!r} and "
                         f"{env.get('LOCAL_WORLD_SIZE')!r}") from None
    if torch.cuda.is_available() and torch.cuda.device_count() >= local_world:
        return torch.device(f"cuda:{local_rank}")
    return torch.device("cpu")


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy, torch (and TensorFlow if it is imported). Returns a fresh NumPy generator."""
    import torch

    check_int(seed, "seed", min=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].random.set_seed(seed)
    return np.random.default_rng(seed)


def _set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:  # can only be set once, before any parallel work; harmless after
        pass
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass


def _plot_style() -> None:
    import matplotlib as mpl

    mpl.rcParams.update({
        "figure.figsize": (6.4, 4.0), "figure.dpi": 100, "savefig.dpi": 120,
        "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
        "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 9, "legend.frameon": False,
        "image.cmap": "viridis",
    })


def setup(seed: int = 0, *, device: str | None = None, threads: int | None = None) -> Runtime:
    """Prepare a chapter's run: seed everything, choose the device and threads, set the plot style.

    Calling it again (to reseed) keeps the start time of the first call, which :func:`troikadl.report`
    uses as the chapter's runtime.

    Taught in chapter 1. ``TROIKA_SEED``, ``TROIKA_DEVICE`` and ``TROIKA_THREADS`` override the
    arguments (see the module docstring). On a GPU it turns TF32 matmuls off so that float32 results
    stay close enough for the chapters' equality checks. Where torch brings triton (Colab), it loads it
    now, so that TensorFlow can be imported later (see :func:`load_triton_first`).
    """
    global _CURRENT
    import torch

    check_int(seed, "seed", min=0)  # the arguments are checked even where the environment overrides them
    if device is not None and not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda', got {type(device).__name__}")
    if threads is not None:
        check_int(threads, "threads", min=1)
    if os.environ.get("TROIKA_SEED"):
        value = os.environ["TROIKA_SEED"].strip()
        if not value.isdigit():
            raise ValueError(f"TROIKA_SEED must be a non-negative whole number, got {value!r}")
        seed = int(value)
    env = dict(os.environ)
    if device is not None and not env.get("TROIKA_DEVICE"):
        env["TROIKA_DEVICE"] = device
    if threads is not None and not env.get("TROIKA_THREADS"):
        env["TROIKA_THREADS"] = str(threads)
    n_threads = choose_threads(env)
    dev = choose_device(env)
    _set_threads(n_threads)
    load_triton_first()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    _plot_style()
    rng = seed_everything(int(seed))
    started = _CURRENT.started if _CURRENT is not None else time.perf_counter()  # runtime counts from the first call
    _CURRENT = Runtime(seed=int(seed), device=dev, threads=n_threads, rng=rng, started=started)
    return _CURRENT


def load_triton_first() -> bool:
    """Load triton, torch's compiler back end, before TensorFlow, so that the two can share a process.

    PyTorch's regular build (Colab's) brings triton, and triton and TensorFlow each carry their own copy
    of LLVM. When triton is loaded *after* TensorFlow, its LLVM registers its command-line options a
    second time and the process aborts ("LLVM ERROR: inconsistency in registered CommandLine options").
    That happens as soon as a torch optimizer is built, since ``torch.optim`` imports ``torch._dynamo``,
    which imports triton. Loaded first, it does not (measured with torch 2.15, triton 3.9 and
    TensorFlow 2.21). :func:`setup` calls this; loading triton takes about 0.1 s.

    Returns True when triton is loaded, False when it is not installed (the course's CPU wheel of torch
    has none) or when TensorFlow was imported first, in which case loading it would abort the process:
    it warns then, with the way out.
    """
    import importlib.util
    import warnings

    if "triton" in sys.modules:
        return True
    if importlib.util.find_spec("triton") is None:
        return False
    if "tensorflow" in sys.modules:
        warnings.warn("TensorFlow was imported before triton (which torch loads when it builds an optimizer or "
                      "compiles): the process would abort then. Restart the runtime and import TensorFlow with "
                      "`tf = tk.import_tf()` after `tk.setup(...)`.", RuntimeWarning, stacklevel=3)
        return False
    import triton  # noqa: F401  (for its side effect: its LLVM is loaded before TensorFlow's)

    return True


def import_tf() -> Any:
    """Import TensorFlow quietly and configure it like torch (threads, seed, GPU memory, no TF32).

    Import it only in the section that needs it: it takes 8-14 s on the course's 2-core machine.
    Returns the ``tensorflow`` module; ``import keras`` afterwards gives Keras 3. Where torch brings
    triton (Colab), :func:`setup` (called here if it was not yet) has loaded it first (see
    :func:`load_triton_first`).
    """
    rt = current()
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
    first = "tensorflow" not in sys.modules
    import tensorflow as tf

    if first:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(rt.threads)
            tf.config.threading.set_inter_op_parallelism_threads(rt.threads)
        except RuntimeError:  # already initialized
            pass
        for gpu in tf.config.list_physical_devices("GPU"):
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:
                pass
        tf.config.experimental.enable_tensor_float_32_execution(False)
        tf.get_logger().setLevel("ERROR")
    tf.random.set_seed(rt.seed)
    return tf


def progress(iterable: Iterable[Any] | None = None, **kwargs: Any) -> Any:
    """A ``tqdm.auto`` progress bar, hidden under CI and in book builds (see :func:`quiet`)."""
    from tqdm.auto import tqdm

    kwargs.setdefault("disable", quiet())
    kwargs.setdefault("leave", False)
    return tqdm(iterable, **kwargs)


class Timer:
    """Measure wall time: ``with tk.Timer() as t: ...`` then ``t.seconds``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __enter__(self) -> "Timer":
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = time.perf_counter() - self._start

    def __repr__(self) -> str:
        return f"Timer({self.seconds:.3f} s)"

