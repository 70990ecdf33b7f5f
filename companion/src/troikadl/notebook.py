"""Helpers for reading the package from a notebook, and for checking what a chapter needs installed."""

from __future__ import annotations

import inspect
import re
from typing import Any

__all__ = ["show_source", "require"]


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


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version.split("+")[0])[:3])


def _optional_requirements() -> dict[str, tuple[str, str]]:
    """Distribution name -> (lower bound, extra) for troika-dl's optional extras, from its metadata."""
    from importlib import metadata

    out = {}
    for req in metadata.requires("troika-dl") or []:
        m = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][^,;\s]*)\s*;.*extra\s*==\s*['\"]([\w-]+)['\"]", req)
        if m:
            out[m.group(1).lower()] = (m.group(2), m.group(3))
    return out


def require(*packages: str) -> list[str]:
    """Check that the optional packages a chapter needs are installed; print the one command that adds any missing.

    ``packages`` are distribution names from troika-dl's optional extras (``tf``, ``bert``), e.g.
    ``tk.require("tensorflow", "keras")``. A package counts as installed when a distribution providing
    its module is, at the lower bound of the extra or newer (``tensorflow-cpu`` provides ``tensorflow``).
    Cell 1 of a chapter calls it, so that a missing package shows there, not deep inside a later cell.
    Returns the missing requirements (``[]`` when everything is there).
    """
    from importlib import metadata

    known = _optional_requirements()
    for p in packages:
        if not isinstance(p, str) or p.lower() not in known:
            raise ValueError(f"packages must name packages of troika-dl's optional extras "
                             f"({', '.join(sorted(known)) or 'none found: is troika-dl installed?'}), got {p!r}")
    providers = metadata.packages_distributions()
    missing = []
    for p in packages:
        low, _ = known[p.lower()]
        dists = providers.get(p.lower().replace("-", "_"), [])
        versions = [_release(metadata.version(d)) for d in dists]
        if not versions or max(versions) < _release(low):
            missing.append(f"{p}>={low}")
    if missing:
        extras = sorted({known[m.split(">=")[0].lower()][1] for m in missing})
        print(f"This chapter needs {', '.join(missing)} (optional extra {', '.join(repr(e) for e in extras)} "
              f"of troika-dl), not installed here: the cells that use it will fail. Install it with\n"
              f"    %pip install {' '.join(repr(m) for m in missing)}\nthen restart the kernel (Colab: Runtime > "
              f"Restart session) and run the chapter again.")
    return missing
