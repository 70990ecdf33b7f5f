"""MNIST-1D (Greydanus, 2020), generated locally: 1-D signals of length 40, ten classes.

Introduced in chapter 4. The ``mnist1d`` package can also *download* a pickled copy; we never do:
:func:`mnist1d` always calls its generator, which takes a few seconds and is cached per process.
"""

from __future__ import annotations

import functools
import random

import numpy as np

from ..validate import check_int, check_positive
from .tabular import Split

__all__ = ["mnist1d"]


@functools.lru_cache(maxsize=4)
def _generate(n: int, seed: int) -> dict[str, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = n, seed  # the mnist1d package's own names
    np_state, py_state = np.random.get_state(), random.getstate()
    try:  # make_dataset reseeds NumPy's and Python's global generators: give the caller theirs back
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {k: data[k] for k in ("x", "y", "x_test", "y_test")}


def mnist1d(*, n: int = 5000, seed: int = 42) -> Split:
    """The MNIST-1D benchmark, ``n`` examples: 80% train / 20% test (4000 / 1000 by default), standardized signals.

    ``seed`` is the generator's (42 reproduces the published data set's recipe). Arrays are float32
    inputs of shape (n, 40) and int64 labels.
    """
    check_positive(n, "n", integer=True)
    if n < 10:
        raise ValueError(f"n must be at least 10 (one per class), got {n}")
    check_int(seed, "seed", min=0, max=2**32 - 1)
    d = _generate(int(n), int(seed))
    return Split(d["x"].astype(np.float32), d["y"].astype(np.int64), d["x_test"].astype(np.float32),
                 d["y_test"].astype(np.int64), feature_names=[f"t{i}" for i in range(d["x"].shape[1])],
                 target_names=[str(i) for i in range(10)])
