"""Submodules imported on first use (PEP 562), so that importing a package stays light."""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Mapping


def lazy_submodules(package: str, names: tuple[str, ...], attributes: Mapping[str, str] | None = None,
                    ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of ``package``, importing ``names`` when first used.

    ``attributes`` maps names re-exported by the package to the submodule that defines them; the submodule is
    imported when one of them is first used. A submodule that is also a command (``python -m package.module``)
    must be imported this way: runpy warns when the package's ``__init__`` has already imported it.
    """
    attributes = dict(attributes or {})

    def __getattr__(name: str) -> Any:  # noqa: N807 (the module hook's own name)
        if name in names:
            return importlib.import_module(f".{name}", package)  # also binds it on the package
        if name in attributes:
            value = getattr(importlib.import_module(f".{attributes[name]}", package), name)
            setattr(sys.modules[package], name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:  # noqa: N807
        return sorted(set(vars(sys.modules[package])) | set(names) | set(attributes))

    return __getattr__, __dir__
