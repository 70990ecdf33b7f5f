"""Neural architecture search (chapter 8): search spaces, a tabular benchmark, search strategies, DARTS.

``space`` defines a search space as a product of option sets; ``benchmark`` builds and loads the shipped
table of every CNN of a small space trained on digits; ``search`` holds random search, regularized
evolution and Optuna's TPE, and the simulated comparison; ``analysis`` the Pareto front, the
optimism of a score the choice was made on (with its confidence interval), and confidence intervals for
the difference between two strategies; ``darts`` a differentiable supernet trained live (and its derived
cell re-trained stand-alone); ``networks`` the benchmark's CNNs and what they cost (FLOPs, latency);
``proxies`` zero-cost proxies scored at initialization and rank correlations with intervals;
``multifidelity`` successive halving and Hyperband on the table's learning curves; ``oneshot`` a
weight-sharing supernet over part of the space.
Importing this package is cheap: its modules are imported on first use (``benchmark``, ``networks``,
``proxies``, ``oneshot`` and ``darts`` import torch; ``search`` imports Optuna inside ``tpe_search``).
"""

from __future__ import annotations

from .._lazy import lazy_submodules
from .space import SearchSpace

__all__ = ["SearchSpace", "analysis", "benchmark", "darts", "multifidelity", "networks", "oneshot", "proxies",
           "search"]
_SUBMODULES = ("analysis", "benchmark", "darts", "multifidelity", "networks", "oneshot", "proxies", "search")

__getattr__, __dir__ = lazy_submodules(__name__, _SUBMODULES)
