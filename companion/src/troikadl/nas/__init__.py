"""Neural architecture search (chapter 8): search spaces, a tabular benchmark, search strategies, DARTS.

``space`` defines a search space as a product of option sets; ``benchmark`` builds and loads the shipped
table of every CNN of a small space trained on digits; ``search`` holds random search, regularized
evolution and Optuna's TPE, and the simulated comparison; ``analysis`` the Pareto front, the
optimism of a score the choice was made on (with its confidence interval), and confidence intervals for
the difference between two strategies; ``darts`` a differentiable supernet trained live.
Importing this package is cheap: its modules are imported on first use (``benchmark`` and ``darts`` define
PyTorch models and import torch; ``search`` imports Optuna inside ``tpe_search``).
"""

from __future__ import annotations

import importlib
from typing import Any

from .space import SearchSpace

__all__ = ["SearchSpace", "analysis", "benchmark", "darts", "search"]
_SUBMODULES = ("analysis", "benchmark", "darts", "search")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'troikadl.nas' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SUBMODULES))
