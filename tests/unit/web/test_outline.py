"""Mind-map transforms: the flat graph for the map island and the Markdown outline."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from schema.derived import MindmapNode
from web.outline import escape_markdown, to_graph, to_markdown

TREE = MindmapNode(
    label="Root",
    children=[
        MindmapNode(
            label="Stars",
            children=[
                MindmapNode(label="A", url="https://a.example/1", weight_ms=60_000),
                MindmapNode(label="B", url="https://a.example/2", weight_ms=30_000),
            ],
        ),
        MindmapNode(label="Money", weight_ms=5_000, children=[MindmapNode(label="C", url="u")]),
    ],
)


def test_inner_nodes_weigh_their_subtree_unless_weighted_themselves() -> None:
    nodes = {n.id: n for n in to_graph(TREE).nodes}
    assert nodes["n0.0"].weight_ms == 90_000 and nodes["n0.0"].pages == 2
    assert nodes["n0.1"].weight_ms == 5_000
    assert nodes["n0"].weight_ms == 95_000 and nodes["n0"].pages == 3
    assert nodes["n0.0.1"].parent == "n0.0" and nodes["n0.0.1"].depth == 2


def test_markdown_outline_nests_topics_and_links_pages() -> None:
    assert to_markdown(TREE) == (
        "# Root\n\n"
        "- Stars — 1.5 min\n"
        "  - [A](<https://a.example/1>) — 1.0 min\n"
        "  - [B](<https://a.example/2>) — 0.5 min\n"
        "- Money — 0.1 min\n"
        "  - C (u)\n"  # not an http(s) URL: text, not a link
    )


def test_markdown_links_only_web_urls() -> None:
    leaves = [
        MindmapNode(label="run", url="javascript:alert(document.cookie)"),
        MindmapNode(label="data", url="data:text/html,<b>hi</b>"),
        MindmapNode(label="file", url="file:///etc/passwd"),
        MindmapNode(label="web", url="https://ok.example/a"),
    ]
    md = to_markdown(MindmapNode(label="r", children=[MindmapNode(label="t", children=leaves)]))
    assert md.count("](") == 1 and "[web](<https://ok.example/a>)" in md
    assert "run (javascript:alert\\(document\\.cookie\\))" in md
    assert "<b>" not in md and "file:///etc/passwd" in md


def test_markdown_neutralizes_markup_and_link_tricks_in_labels() -> None:
    evil = MindmapNode(
        label="x",
        children=[
            MindmapNode(label="<script>alert(1)</script>\n# not a heading", url="https://e/>)<"),
        ],
    )
    md = to_markdown(evil)
    assert "<script>" not in md and "\\<script\\>" in md
    assert "\n# not" not in md
    assert "(<https://e/)>)" in md  # the url cannot close the autolink early


labels = st.text(max_size=30)
trees = st.recursive(
    st.builds(
        MindmapNode,
        label=labels,
        url=st.just("https://x.example/p"),
        weight_ms=st.integers(0, 10**6),
    ),
    lambda kids: st.builds(MindmapNode, label=labels, children=st.lists(kids, max_size=4)),
    max_leaves=25,
)


@given(trees)
def test_graph_is_a_tree_over_every_node(root: MindmapNode) -> None:
    graph = to_graph(root)
    ids = [n.id for n in graph.nodes]
    assert len(ids) == len(set(ids)) and ids[0] == "n0"
    assert len(graph.edges) == len(ids) - 1
    assert {e.target for e in graph.edges} == set(ids[1:])
    assert graph.nodes[0].weight_ms >= 0


@given(st.text())
def test_escaped_labels_stay_on_one_line(label: str) -> None:
    escaped = escape_markdown(label)
    assert "\n" not in escaped and "\r" not in escaped
