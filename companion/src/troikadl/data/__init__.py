"""Data sets the course uses, all offline: scikit-learn's bundled sets and seeded generators.

Nothing here downloads: scikit-learn's ``fetch_*`` functions are never used.
"""

from .mnist1d import mnist1d
from .sequences import adding_problem, token_task
from .scenes import captioned_scenes
from .shapes import captioned_shapes
from .translation import number_words
from .tabular import Split, breast_cancer, digits, moons, split_and_scale
from .vqa import mini_vqa

__all__ = ["Split", "adding_problem", "breast_cancer", "digits", "mini_vqa", "mnist1d", "moons", "captioned_scenes",
           "captioned_shapes", "number_words", "split_and_scale", "token_task"]
