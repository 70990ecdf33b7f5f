"""Helpers for reading the package from a notebook."""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["show_source"]


def show_source(obj: Any) -> Any:
    """Show the source of a package function or class, highlighted, in the notebook.

    Chapters teach the package's code by showing it, so there is one copy of each idea: the tested one.
    Outside a notebook it returns the source as a string.
    """
    try:
        src = inspect.getsource(obj)
    except (TypeError, OSError) as exc:
        raise TypeError(f"obj must be a function, class or module with source, got {obj!r}") from exc
    try:
        from IPython import get_ipython
        from IPython.display import Code
    except ImportError:  # pragma: no cover
        return src
    if get_ipython() is None:
        return src
    return Code(src, language="python")
