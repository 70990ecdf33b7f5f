"""The figure system (style primitives, graphs drawn from data) and the browser check's figure rules."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from troikadl.autograd import Tensor  # noqa: E402
from troikadl.figures import graph, style  # noqa: E402
from troikadl.report import PREREQUISITES, SHORT_TITLES  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import browser_check  # noqa: E402


def texts(fig) -> list:
    return [t for ax in fig.axes for t in ax.texts]


# --- style ------------------------------------------------------------------------------------------------

def test_canvas_is_in_inches_and_refuses_a_diagram_wider_than_the_column():
    fig, ax = style.canvas(5, 2)
    assert tuple(fig.get_size_inches()) == (5, 2) and ax.get_xlim() == (0, 5) and ax.get_ylim() == (0, 2)
    with pytest.raises(ValueError, match="width"):
        style.canvas(style.MAX_WIDTH + 0.5, 2)
    with pytest.raises(TypeError, match="height"):
        style.canvas(3, "2")


def test_box_edges_and_bad_roles_and_shapes():
    fig, ax = style.canvas(3, 2)
    b = style.box(ax, 1.5, 1.0, "x", w=1.0, h=0.5, role="param")
    assert (b.left, b.right, b.top, b.bottom) == ((1.0, 1.0), (2.0, 1.0), (1.5, 1.25), (1.5, 0.75))
    patch = ax.patches[-1]
    assert matplotlib.colors.to_hex(patch.get_facecolor()) == style.COLORS["param"]
    with pytest.raises(ValueError, match="role"):
        style.box(ax, 1, 1, role="weights")
    with pytest.raises(ValueError, match="shape"):
        style.box(ax, 1, 1, shape="hexagon")
    with pytest.raises(ValueError, match="kind"):
        style.arrow(ax, (0, 0), (1, 1), kind="sideways")


def test_cells_draws_one_square_per_entry_with_its_value():
    fig, ax = style.canvas(3, 2)
    values = np.arange(6).reshape(2, 3)
    roles = np.array([["data", "muted", "data"], ["focus", "data", "data"]], dtype=object)
    bbox = style.cells(ax, 0.2, 1.8, values, cell=0.4, role=roles)
    assert len(ax.patches) == 6 and [t.get_text() for t in ax.texts] == [str(v) for v in range(6)]
    assert bbox.w == pytest.approx(1.2) and bbox.h == pytest.approx(0.8)
    assert matplotlib.colors.to_hex(ax.patches[1].get_facecolor()) == style.COLORS["muted"]
    with pytest.raises(ValueError, match="values"):
        style.cells(ax, 0, 0, np.zeros((2, 2, 2)))


# --- the computational graph of chapter 2 ----------------------------------------------------------------

def neuron_example():
    """Section 2.1's example: L = (tanh(w x + b) - y)^2, with w = 0.8, b = -0.3, x = 1.5, y = 0.2."""
    w, b = Tensor(np.array(0.8)), Tensor(np.array(-0.3))
    u = w * 1.5
    z = u + b
    a = z.tanh()
    L = (a - 0.2) ** 2
    L.backward()
    return dict(w=w, b=b, u=u, z=z, a=a, L=L)


def by_hand():
    """(value, dL/dvalue) of every node of the example, derived by hand (the engine writes a - y as a + (-1) y)."""
    w, b, x, y = 0.8, -0.3, 1.5, 0.2
    u = w * x
    z = u + b
    a = np.tanh(z)
    d = a - y
    dL_dd = 2 * d
    dL_dz = dL_dd * (1 - a ** 2)
    return {"w": (w, dL_dz * x), "x": (x, dL_dz * w), "u": (u, dL_dz), "b": (b, dL_dz), "z": (z, dL_dz),
            "a": (a, dL_dd), "y": (y, -dL_dd), "-1": (-1.0, dL_dd * y), "-y": (-y, dL_dd), "d": (d, dL_dd),
            "L": (d ** 2, 1.0)}


def drawn_nodes(fig) -> list[tuple[float, float]]:
    """(value, grad) read back from the drawn graph: each box's '= v' and 'grad g' lines."""
    by_x: dict = {}
    for t in texts(fig):
        s = t.get_text()
        if s.startswith("= ") or s.startswith("grad "):
            x, y = t.get_position()
            key = (round(x, 3), round(y - (0.0 if s.startswith("= ") else -0.19), 3))
            by_x.setdefault(key, {})["v" if s.startswith("= ") else "g"] = float(s.split()[-1])
    return sorted((d["v"], d["g"]) for d in by_x.values())


def test_the_drawn_graph_has_the_engines_nodes_values_and_gradients():
    t = neuron_example()
    fig = graph.computational_graph(t["L"], t)
    want = sorted(by_hand().values())
    got = drawn_nodes(fig)
    assert len(got) == len(want) == 11
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=2e-3, atol=1e-3)  # drawn with 3 digits
    names = {t.get_text().split()[0] for t in texts(fig) if t.get_fontweight() == "bold"}
    assert {"w", "b", "u", "z", "a", "L"} <= names
    assert len([p for p in fig.axes[0].patches if getattr(p, "get_linestyle", lambda: "")() == "--"]) == 10


def test_graph_of_reads_the_engines_own_tensors_inputs_first():
    t = neuron_example()
    nodes = graph.graph_of(t["L"], t)
    assert nodes[-1].name == "L" and nodes[-1].op.startswith("pow")
    position = {n.key: i for i, n in enumerate(nodes)}
    assert all(position[p] < position[n.key] for n in nodes for p in n.parents)
    w = next(n for n in nodes if n.name == "w")
    assert w.value is t["w"].data and w.grad is t["w"].grad


def test_without_backward_the_graph_shows_no_gradients():
    w = Tensor(np.array(2.0))
    fig = graph.computational_graph((w * 3.0).tanh(), {"w": w})
    assert not [t for t in texts(fig) if t.get_text().startswith("grad ")]


def test_graph_of_refuses_what_is_not_its_graph():
    t = neuron_example()
    with pytest.raises(TypeError, match="root"):
        graph.graph_of(np.array(1.0))
    with pytest.raises(ValueError, match="names"):
        graph.graph_of(t["u"], {"L": t["L"]})
    with pytest.raises(TypeError, match="names"):
        graph.graph_of(t["L"], {"w": 0.8})


# --- layouts ----------------------------------------------------------------------------------------------

dags = st.integers(2, 9).flatmap(lambda n: st.lists(st.lists(st.booleans(), min_size=n, max_size=n),
                                                     min_size=n, max_size=n))


def as_parents(adj) -> dict:
    n = len(adj)
    return {i: [j for j in range(i) if adj[i][j]] for i in range(n)}


def reaches(parents, n, p) -> bool:
    return any(q == p or reaches(parents, q, p) for q in parents[n])


@settings(max_examples=60, deadline=None)
@given(dags)
def test_layout_puts_every_input_left_of_its_users_in_distinct_places(adj):
    parents = as_parents(adj)
    layout = graph.layered_layout(parents)
    assert all(layout[p][0] < layout[n][0] for n, ps in parents.items() for p in ps)
    assert len(set(layout.values())) == len(parents)


@settings(max_examples=60, deadline=None)
@given(dags)
def test_transitive_reduction_keeps_reachability_and_nothing_more(adj):
    parents = as_parents(adj)
    reduced = graph.transitive_reduction(parents)
    for n in parents:
        for p in parents:
            assert reaches(parents, n, p) == reaches(reduced, n, p)
        for p in reduced[n]:  # every kept edge is needed
            without = {**reduced, n: [q for q in reduced[n] if q != p]}
            assert not reaches(without, n, p)


def test_layout_refuses_cycles_and_unknown_parents():
    with pytest.raises(ValueError, match="cycle"):
        graph.layered_layout({"a": ["b"], "b": ["a"]})
    with pytest.raises(ValueError, match="not a node"):
        graph.layered_layout({"a": ["z"]})
    with pytest.raises(ValueError, match="parents: the graph has a cycle"):
        graph.transitive_reduction({"a": ["c"], "b": ["a"], "c": ["b"]})


def test_course_map_draws_every_chapter_and_only_direct_prerequisites():
    fig = graph.course_map(PREREQUISITES, SHORT_TITLES)
    assert {t.get_text() for t in texts(fig)} == set(SHORT_TITLES.values())
    arrows = [p for p in fig.axes[0].patches if type(p).__name__ == "FancyArrowPatch"]
    direct = graph.transitive_reduction(PREREQUISITES)
    assert len(arrows) == sum(map(len, direct.values())) == len(PREREQUISITES) - 1  # a tree today
    assert "03_optimizers" not in direct["08_nas"] and direct["08_nas"] == ["04_cnn"]
    assert fig.get_size_inches()[0] <= style.MAX_WIDTH
    with pytest.raises(TypeError, match="prerequisites"):
        graph.course_map({})


# --- the browser check's rules (no browser needed) --------------------------------------------------------

def page(images=(), math=(), tables=()):
    return {"column": 752, "tables": list(tables), "math": list(math), "images": list(images)}


def image(**kw):
    return {"src": "../_images/x.png", "alt": "A line plot of the loss against the epoch.", "natural": 700,
            "shown": 700, "figure": True, "caption": "The loss.", **kw}


def test_figure_rules_pass_a_good_page_and_name_each_fault():
    ok = browser_check.figure_problems(Path("/nowhere"), "chapters/99_x.html", page([image()]), executed=False)
    assert ok == []
    cases = {"wider than the text column": page(math=[(40, "the formula")]),
             "table is 5 px": page(tables=[5]),
             "shown at 75%": page([image(natural=1000, shown=752)]),
             "not a sentence": page([image(alt="../_images/x.png")]),
             "empty caption": page([image(caption="")]),
             "no figure caption": page([image(figure=False, caption="")])}
    for fault, sizes in cases.items():
        problems = browser_check.figure_problems(Path("/nowhere"), "chapters/99_x.html", sizes, executed=True)
        assert any(fault in p for p in problems), (fault, problems)


def test_declared_figures_count_captioned_cells_and_markdown_figures(tmp_path):
    nb = {"cells": [{"cell_type": "code", "metadata": {"mystnb": {"figure": {"caption": "c"}}}},
                    {"cell_type": "code", "metadata": {"mystnb": {"image": {"alt": "a b c d"}}}},
                    {"cell_type": "markdown", "metadata": {}}]}
    (tmp_path / "a.ipynb").write_text(json.dumps(nb))
    (tmp_path / "b.md").write_text("```{figure} x.png\n:alt: x\n```\n{troika-course-map}\n")
    assert browser_check.declared_figures(tmp_path / "a.ipynb") == 1
    assert browser_check.declared_figures(tmp_path / "b.md") == 2


def test_a_blank_image_is_caught_and_a_diagram_is_not(tmp_path):
    plt.imsave(tmp_path / "blank.png", np.ones((50, 80, 3)))
    fig = graph.course_map(PREREQUISITES, SHORT_TITLES)
    fig.savefig(tmp_path / "map.png", dpi=50)
    assert browser_check.is_blank(tmp_path / "blank.png") and not browser_check.is_blank(tmp_path / "map.png")


def test_every_chapter_declares_its_figures_with_alt_text():
    """Each figure cell has a caption and an alt sentence; every diagram of the issue is in its chapter."""
    root = Path(__file__).resolve().parents[1]
    want = {"01_neuron": ["networks.neuron", "networks.perceptron_update", "layers.dense_network"],
            "02_backprop": ["graph.computational_graph"],
            "03_optimizers": ["layers.dense_network"],
            "04_cnn": ["convolution.conv_sliding", "convolution.max_pooling", "convolution.shape_trace",
                       "blocks.depthwise_separable", "blocks.residual_block"],
            "05_rnn": ["networks.rnn_unrolled", "networks.lstm_cell", "recurrent.gru_cell",
                       "recurrent.stacked_bidirectional"],
            "06_attention": ["attention.scaled_dot_product_attention", "attention.multi_head_attention",
                             "attention.encoder_block", "decoder.decoder_block", "decoder.kv_cache",
                             "decoder.encoder_decoder"],
            "07_bert": ["bert.bert_inputs", "bert.masking", "bert.pretraining_losses", "tokenizers.subword_merges"],
            "08_nas": ["search.search_loop", "search.darts_mixed_op", "search.two_halves", "supernet.supernet"],
            "09_compression": ["compression.pruning_masks", "compression.low_rank", "sparsity.channel_pruning",
                               "sparsity.nm_pattern", "sparsity.imp_loop"],
            "10_quantization": ["compression.quantization_grid", "formats.float_formats", "lowbit.groupwise",
                                "lowbit.llm_int8"],
            "11_fusion": ["fusion.fusion_kinds", "fusion.clip_similarity", "vision.patch_embedding",
                          "multimodal.prefix_tokens"],
            "12_scale": ["scale.training_flops", "scale.sharding"]}
    for chapter, diagrams in want.items():
        cells = json.loads((root / "chapters" / f"{chapter}.ipynb").read_text())["cells"]
        figure_cells = [c for c in cells if c["cell_type"] == "code" and c["metadata"].get("mystnb", {}).get("figure")]
        sources = ["".join(c["source"]) for c in figure_cells]
        for d in diagrams:
            assert any(f"tk.figures.{d}(" in s for s in sources), f"{chapter}: no figure cell draws {d}"
        for c in figure_cells:
            meta = c["metadata"]["mystnb"]
            assert meta["figure"].get("caption") and re.match(r"fig-", meta["figure"].get("name", "")), chapter
            assert len(meta.get("image", {}).get("alt", "").split()) >= 6, f"{chapter}: a figure lacks alt text"
