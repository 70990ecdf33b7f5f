"""Graphs drawn from data: the engine's computational graph (chapter 2) and the course map (the intro).

:func:`graph_of` reads the graph that :class:`troikadl.autograd.Tensor` records (each tensor's parents and
operation) into plain nodes and edges; :func:`computational_graph` draws it, forward values in the nodes
and, along every edge, the gradient that flows back. :func:`layered_layout` places any small directed
acyclic graph in columns, inputs on the left, so :func:`course_map` reuses it for the chapters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable, Mapping, Sequence

import numpy as np

from ..validate import check_float, check_instance, check_str
from .style import MAX_WIDTH, arrow, box, canvas, note

__all__ = ["GraphNode", "graph_of", "layered_layout", "transitive_reduction", "computational_graph", "course_map",
           "OP_SYMBOLS"]

#: How each operation of the engine is written in the diagram.
OP_SYMBOLS = {"add": "+", "mul": "×", "matmul": "@", "tanh": "tanh", "relu": "ReLU", "sigmoid": "σ",
              "sum": "sum", "mean": "mean", "log_softmax": "log softmax"}


@dataclass(frozen=True)
class GraphNode:
    """One tensor of a recorded graph: its name, the operation that made it ("" for an input), value and grad."""

    key: int
    name: str
    op: str
    value: np.ndarray
    grad: np.ndarray | None
    parents: tuple[int, ...]


def graph_of(root: Any, names: Mapping[str, Any] | None = None) -> list[GraphNode]:
    """The graph that produced ``root`` (a :class:`~troikadl.autograd.Tensor`), inputs first.

    ``names`` maps a label to a tensor of the graph (``{"w": w, "L": L}``); other tensors are named by their
    operation, inputs that are constants by their value. Values and gradients are the tensors' own arrays.
    """
    from ..autograd import Tensor

    if not isinstance(root, Tensor):
        raise TypeError(f"root must be a troikadl.autograd.Tensor, got {type(root).__name__}")
    names = dict(check_instance(names, "names", Mapping, "a mapping {label: tensor}") if names is not None else {})
    for label, t in names.items():
        check_str(label, "names key", nonempty=True)
        if not isinstance(t, Tensor):
            raise TypeError(f"names[{label!r}] must be a Tensor of the graph, got {type(t).__name__}")
    label_of = {id(t): label for label, t in names.items()}
    order: list[Any] = []
    seen: set[int] = set()

    def visit(t: Any) -> None:
        if id(t) not in seen:
            seen.add(id(t))
            for p in t._parents:
                visit(p)
            order.append(t)

    visit(root)
    missing = set(label_of) - seen
    if missing:
        raise ValueError(f"names {sorted(label_of[k] for k in missing)} are not tensors of root's graph")
    nodes = []
    for t in order:
        op = t._op
        if id(t) in label_of:
            name = label_of[id(t)]
        elif op:
            name = op.split()[0]
        else:
            name = _fmt(t.data)
        nodes.append(GraphNode(id(t), name, op, t.data, t.grad, tuple(id(p) for p in t._parents)))
    return nodes


def layered_layout(parents: Mapping[Hashable, Sequence[Hashable]]) -> dict[Hashable, tuple[int, int]]:
    """Place a directed acyclic graph in columns: ``{node: (column, row)}``.

    ``parents`` maps every node to the nodes it is computed from (or builds on). A node's column is one more
    than its parents' deepest, except that an input (no parents) sits just left of its first user, so that
    edges stay short. Rows are ordered from the last column back, each node near the mean row of its users.
    """
    nodes = list(check_instance(parents, "parents", Mapping, "a mapping {node: [parents]}"))
    for n, ps in parents.items():
        for p in ps:
            if p not in parents:
                raise ValueError(f"parents: {p!r}, a parent of {n!r}, is not a node of the graph")
    col: dict[Hashable, int] = {}

    def depth(n: Hashable, stack: tuple = ()) -> int:
        if n in stack:
            raise ValueError(f"parents: the graph has a cycle through {n!r}")
        if n not in col:
            col[n] = 1 + max((depth(p, stack + (n,)) for p in parents[n]), default=-1)
        return col[n]

    for n in nodes:
        depth(n)
    children: dict[Hashable, list[Hashable]] = {n: [] for n in nodes}
    for n, ps in parents.items():
        for p in ps:
            children[p].append(n)
    for n in sorted(nodes, key=lambda n: -col[n]):  # as late as possible: just left of the first user
        if children[n]:
            col[n] = min(col[c] for c in children[n]) - 1
    columns = sorted(set(col.values()))
    rows = {n: float(i) for i, n in enumerate(nodes)}
    for sweep in range(8):  # barycentre sweeps, alternately by inputs and by users (Sugiyama's heuristic)
        near = parents if sweep % 2 == 0 else children
        for c in (columns if sweep % 2 == 0 else columns[::-1]):
            members = [n for n in nodes if col[n] == c]
            key = {n: (float(np.mean([rows[k] for k in near[n]])) if near[n] else rows[n], rows[n])
                   for n in members}
            for i, n in enumerate(sorted(members, key=lambda n: key[n])):
                rows[n] = float(i)
    return {n: (col[n], int(rows[n])) for n in nodes}


def _fmt(a: Any) -> str:
    a = np.asarray(a)
    if a.size == 1:
        v = float(a.reshape(()))
        return f"{v:.3g}" if v != 0 else "0"
    return "×".join(map(str, a.shape))


def _positions(layout: Mapping[Hashable, tuple[int, int]], width: float, height: float, margin: float,
               top: float = 0.0) -> dict[Hashable, tuple[float, float]]:
    ncol = max(c for c, _ in layout.values()) + 1
    per_col = {c: sum(1 for cc, _ in layout.values() if cc == c) for c in range(ncol)}
    dx = (width - 2 * margin) / max(ncol - 1, 1)
    most = max(per_col.values())
    dy = (height - 2 * margin - top) / max(most - 1, 1)
    mid = (height - top) / 2
    return {n: (margin + c * dx, mid + ((per_col[c] - 1) / 2 - r) * dy) for n, (c, r) in layout.items()}


def computational_graph(root: Any, names: Mapping[str, Any] | None = None, *, width: float = MAX_WIDTH,
                        height: float = 3.6) -> Any:
    """Draw the graph that computed ``root``: each node with its value and gradient, forward and backward.

    Solid arrows carry values forward, from inputs to ``root``; under each, a dashed red arrow carries the
    gradient of ``root`` with respect to the arrow's source back, labelled with that gradient (run
    ``root.backward()`` first; without it the gradients are left out). Returns the figure.
    """
    width, height = check_float(width, "width", min=0.5, max=MAX_WIDTH), check_float(height, "height", min=0.3, max=12)
    nodes = graph_of(root, names)
    by_key = {n.key: n for n in nodes}
    pos = _positions(layered_layout({n.key: n.parents for n in nodes}), width, height, margin=0.55, top=0.35)
    w, h = 0.92, 0.62
    fig, ax = canvas(width, height)
    for n in nodes:
        role = "out" if n.key == nodes[-1].key else ("param" if not n.op and n.grad is not None and n.name.isalpha()
                                                          else ("data" if not n.op else "op"))
        x, y = pos[n.key]
        box(ax, x, y, w=w, h=h, role=role)
        head = f"{OP_SYMBOLS.get(n.op.split()[0], n.op)}" if n.op else "input"
        if n.op.startswith("pow"):
            head = f"^{n.op.split()[1]}"
        note(ax, x, y + 0.19, f"{n.name}  [{head}]" if n.op else n.name, size=8.5, fontweight="bold")
        note(ax, x, y + 0.0, f"= {_fmt(n.value)}", size=8.5)
        if n.grad is not None:
            note(ax, x, y - 0.19, f"grad {_fmt(n.grad)}", size=8.5, color="#c0392b")
    for n in nodes:
        for p in n.parents:
            (x0, y0), (x1, y1) = pos[p], pos[n.key]
            start, end = (x0 + w / 2, y0 + 0.06), (x1 - w / 2, y1 + 0.06)
            arrow(ax, start, end, kind="forward", lw=1.0)
            if by_key[p].grad is not None:
                arrow(ax, (end[0], end[1] - 0.16), (start[0], start[1] - 0.16), kind="backward", lw=1.0)
    note(ax, 0.1, height - 0.15, "forward: values  →", ha="left", size=8.5)
    note(ax, width / 2, height - 0.15, "←  backward: gradients of the output (grad)", ha="left", size=8.5,
         color="#c0392b")
    return fig


def transitive_reduction(parents: Mapping[Hashable, Sequence[Hashable]]) -> dict[Hashable, list[Hashable]]:
    """``parents`` without the edges that a longer path implies: ``p -> n`` goes if ``n`` reaches ``p`` otherwise."""
    parents = {k: list(v) for k, v in check_instance(parents, "parents", Mapping, "a mapping").items()}
    for n, ps in parents.items():
        for p in ps:
            if p not in parents:
                raise ValueError(f"parents: {p!r}, a parent of {n!r}, is not a node of the graph")

    def ancestors(n: Hashable, seen: set | None = None) -> set:
        seen = set() if seen is None else seen
        for p in parents[n]:
            if p not in seen:
                seen.add(p)
                ancestors(p, seen)
        return seen

    cyclic = [n for n in parents if n in ancestors(n)]
    if cyclic:
        raise ValueError(f"parents: the graph has a cycle through {cyclic[0]!r}")
    return {n: [p for p in ps if not any(p in ancestors(q) for q in ps if q != p)] for n, ps in parents.items()}


def course_map(prerequisites: Mapping[str, Sequence[str]], titles: Mapping[str, str] | None = None, *,
               width: float = MAX_WIDTH, height: float = 3.0) -> Any:
    """Draw which chapter builds on which: ``prerequisites`` maps a chapter id to the ids it builds on.

    Only direct prerequisites are drawn (:func:`transitive_reduction`): an arrow that a path of other
    arrows implies is left out. ``titles`` gives each box's short label (default: the id). The book's intro
    draws it from the same mapping as its learning-path table. Returns the figure.
    """
    if not isinstance(prerequisites, Mapping) or not prerequisites:
        raise TypeError("prerequisites must be a non-empty mapping {chapter: [chapters it builds on]}")
    titles = dict(check_instance(titles, "titles", Mapping, "a mapping {chapter: label}") if titles is not None else {})
    width, height = check_float(width, "width", min=0.5, max=MAX_WIDTH), check_float(height, "height", min=0.3, max=12)
    try:
        direct = transitive_reduction(prerequisites)
        layout = layered_layout(direct)
    except ValueError as exc:
        raise ValueError(f"prerequisites: {str(exc).removeprefix('parents: ')}") from None
    pos = _positions(layout, width, height, margin=0.6)
    fig, ax = canvas(width, height)
    w, h = 1.05, 0.5
    for chapter, (x, y) in pos.items():
        box(ax, x, y, titles.get(chapter, str(chapter)), w=w, h=h, role="data", size=8.5)
    for chapter, before in direct.items():
        for p in before:
            (x0, y0), (x1, y1) = pos[p], pos[chapter]
            arrow(ax, (x0 + w / 2, y0), (x1 - w / 2, y1), kind="forward", lw=1.0)
    return fig
