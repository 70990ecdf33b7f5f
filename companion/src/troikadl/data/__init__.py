"""Data sets the course uses, all offline: scikit-learn's bundled sets and seeded generators.

Nothing here downloads: scikit-learn's ``fetch_*`` functions are never used.
"""

from .tabular import Split, breast_cancer, moons, split_and_scale

__all__ = ["Split", "breast_cancer", "moons", "split_and_scale"]
