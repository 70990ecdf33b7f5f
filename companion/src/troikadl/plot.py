"""The plots the chapters share: learning curves and 2-D decision boundaries (from chapter 1 on)."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from .validate import (as_features, as_float_array, as_labels, check_callable, check_float, check_int,
                       check_same_length, check_str)

__all__ = ["learning_curves", "decision_boundary", "paths_on_contours"]


def _axes(ax: Any) -> Any:
    import matplotlib.pyplot as plt

    return ax if ax is not None else plt.subplots()[1]


def learning_curves(histories: Any, key: str = "loss", *, ax: Any = None, logy: bool = False,
                    title: str | None = None) -> Any:
    """Plot ``train_<key>`` (solid) and each held-out ``<name>_<key>`` (dashed) per epoch. Chapter 1.

    The held-out curves keep the name :func:`~troikadl.fit` gave them (``val_acc``, ``test_acc``, ...), so
    the legend says which set was measured. ``histories`` is one :class:`~troikadl.train.History` (or
    dict of curves), or a mapping ``{label: history}`` to compare runs in one plot. Returns the axes.
    """
    check_str(key, "key", nonempty=True)
    ax = _axes(ax)
    if hasattr(histories, "curves") or (isinstance(histories, Mapping) and
                                        any(isinstance(v, (list, tuple)) for v in histories.values())):
        histories = {"": histories}
    if not isinstance(histories, Mapping) or not histories:
        raise TypeError("histories must be a History, a dict of curves, or {label: History}")
    for i, (label, h) in enumerate(histories.items()):
        curves = h.curves if hasattr(h, "curves") else h
        held_out = sorted(name[:-len(key) - 1] for name in curves
                          if name.endswith(f"_{key}") and name != f"train_{key}")
        splits = (["train"] if f"train_{key}" in curves else []) + held_out
        if not splits:
            raise ValueError(f"history {label!r} has no train_{key} or val_{key} (or test_{key}); "
                             f"it has {sorted(curves)}")
        for split in splits:
            ys = curves[f"{split}_{key}"]
            ax.plot(np.arange(1, len(ys) + 1), ys, "-" if split == "train" else "--", color=f"C{i}",
                    label=f"{label} {split}".strip())
    ax.set_xlabel("epoch")
    ax.set_ylabel(key)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


def decision_boundary(predict: Callable[[np.ndarray], Any], X: Any, y: Any, *, ax: Any = None,
                      title: str | None = None, resolution: int = 200, margin: float = 0.5,
                      probability: bool = False) -> Any:
    """Shade the regions a 2-D binary classifier assigns to each class, and scatter the points.

    Taught in chapter 1. ``predict`` maps an (n, 2) float array to n labels in {0, 1} (or, with
    ``probability=True``, to n probabilities of class 1, drawn as a colour gradient).
    """
    check_callable(predict, "predict", "a function from an (n, 2) array to n labels or probabilities")
    X, y = as_features(X, "X", n_features=2), as_labels(y, "y", allowed=(0, 1))
    check_same_length(X=X, y=y)
    check_int(resolution, "resolution", min=2)
    margin = check_float(margin, "margin", min=0)
    ax = _axes(ax)
    (x0, y0), (x1, y1) = X.min(0) - margin, X.max(0) + margin
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    grid = np.c_[gx.ravel(), gy.ravel()]
    z = np.asarray(predict(grid), dtype=float).reshape(gx.shape)
    if probability:
        ax.contourf(gx, gy, z, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.35)
        ax.contour(gx, gy, z, levels=[0.5], colors="k", linewidths=1)
    else:
        ax.contourf(gx, gy, z, levels=[-0.5, 0.5, 1.5], colors=["C0", "C3"], alpha=0.25)
    for cls, marker in ((0, "o"), (1, "^")):
        pts = X[y == cls]
        ax.scatter(pts[:, 0], pts[:, 1], s=12, marker=marker, color="C0" if cls == 0 else "C3",
                   edgecolor="k", linewidth=0.3, label=f"class {cls}")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    ax.legend(loc="lower right")
    return ax


def paths_on_contours(land: Any, paths: Mapping[str, np.ndarray], *, ax: Any = None, levels: int = 30,
                      title: str | None = None) -> Any:
    """Draw optimizer paths over the log-spaced contours of a 2-D landscape (chapter 3)."""
    if not all(hasattr(land, a) for a in ("f", "box", "start", "minimum", "name")):
        raise TypeError(f"land must be a Landscape such as tk.landscapes.VALLEY, got {type(land).__name__}")
    if not isinstance(paths, Mapping):
        raise TypeError(f"paths must be a dict {{label: path of shape (steps, 2)}}, got {type(paths).__name__}")
    paths = {label: as_float_array(path, f"paths[{label!r}]", ndim=2, finite=False) for label, path in paths.items()}
    for label, path in paths.items():  # a diverging path may hold inf or NaN: matplotlib skips those points
        if path.shape[1] != 2:
            raise ValueError(f"paths[{label!r}] must have shape (steps, 2), got {path.shape}")
    check_int(levels, "levels", min=1)
    ax = _axes(ax)
    x0, x1, y0, y1 = land.box
    gx, gy = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
    z = np.vectorize(lambda a, b: land.f(np.array([a, b])))(gx, gy)
    ax.contour(gx, gy, np.log10(z + 1e-3), levels=levels, cmap="Greys", linewidths=0.6)
    for i, (label, path) in enumerate(paths.items()):
        ax.plot(path[:, 0], path[:, 1], "-", color=f"C{i}", lw=1.2, label=label)
    ax.plot(*land.start, "ko", ms=5)
    ax.plot(*land.minimum, "k*", ms=12)
    ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="$x$", ylabel="$y$", title=title or land.name)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8)
    return ax
