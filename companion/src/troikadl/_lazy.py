"""Submodules imported on first use (PEP 562), so that importing a package stays light."""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable


def lazy_submodules(package: str, names: tuple[str, ...]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of ``package``, importing ``names`` when first used."""

    def __getattr__(name: str) -> Any:  # noqa: N807 (the module hook's own name)
        if name in names:
            return importlib.import_module(f".{name}", package)  # also binds it on the package
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:  # noqa: N807
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
