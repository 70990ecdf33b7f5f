"""Data sets the course uses, all offline: scikit-learn's bundled sets and seeded generators.

Nothing here downloads: scikit-learn's ``fetch_*`` functions are never used.
"""

from .mnist1d import mnist1d
from .sequences import adding_problem, token_task
from .tabular import Split, breast_cancer, digits, moons, split_and_scale

__all__ = ["Split", "adding_problem", "breast_cancer", "digits", "mnist1d", "moons", "split_and_scale", "token_task"]
