"""Pure mind-map transforms: Markdown outline export and the graph the map island draws.

The mind map arrives as a tree of :class:`schema.derived.MindmapNode`. Labels come from
AI output about arbitrary web pages, so they are treated as untrusted text: the Markdown
export escapes Markdown syntax, and the graph is handed to the browser as JSON (the
island sets text, never HTML).
"""

from __future__ import annotations

import re

import msgspec

from mindhit.links import web_href
from schema.derived import MindmapNode

__all__ = ["GraphEdge", "GraphNode", "MindmapGraph", "to_graph", "to_markdown"]

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")


class GraphNode(msgspec.Struct, frozen=True, kw_only=True):
    """A node for the map island: id, parent, depth, label, dwell and (for pages) url.

    ``summary`` is a subtopic's one-sentence summary (shown when the branch is selected).
    """

    id: str
    label: str
    depth: int
    weight_ms: int
    parent: str | None = None
    url: str = ""
    why: str = ""
    pages: int = 0
    summary: str = ""


class GraphEdge(msgspec.Struct, frozen=True, kw_only=True):
    """A parent → child edge."""

    source: str
    target: str


class MindmapGraph(msgspec.Struct, frozen=True, kw_only=True):
    """The whole map as flat nodes and edges (ids are the node's path, e.g. ``n0.2.1``)."""

    nodes: list[GraphNode]
    edges: list[GraphEdge]


def _weight(node: MindmapNode) -> int:
    if node.weight_ms or not node.children:
        return max(0, node.weight_ms)
    return sum(_weight(child) for child in node.children)


def _pages(node: MindmapNode) -> int:
    if not node.children:
        return 1 if node.url else 0
    return sum(_pages(child) for child in node.children)


def to_graph(root: MindmapNode) -> MindmapGraph:
    """Flatten the tree depth-first; a node without its own weight gets its subtree's sum."""
    nodes: list[GraphNode] = []
    edges: list[GraphEdge] = []
    stack: list[tuple[MindmapNode, str, str | None, int]] = [(root, "n0", None, 0)]
    while stack:
        node, node_id, parent, depth = stack.pop()
        nodes.append(
            GraphNode(
                id=node_id,
                label=node.label,
                depth=depth,
                weight_ms=_weight(node),
                parent=parent,
                url=node.url,
                why=node.why,
                pages=_pages(node),
                summary=node.summary,
            )
        )
        if parent is not None:
            edges.append(GraphEdge(source=parent, target=node_id))
        for index in range(len(node.children) - 1, -1, -1):
            stack.append((node.children[index], f"{node_id}.{index}", node_id, depth + 1))
    return MindmapGraph(nodes=nodes, edges=edges)


def escape_markdown(text: str) -> str:
    """Escape Markdown syntax and flatten newlines so a label stays one plain line."""
    flat = " ".join(text.split())
    return _MD_SPECIAL.sub(r"\\\1", flat)


def _minutes(ms: int) -> str:
    return f"{ms / 60000:.1f} min" if ms else ""


def _page_text(label: str, url: str) -> str:
    href = web_href(url)
    if href:
        return f"[{label}](<{href.replace('<', '').replace('>', '')}>)"
    return f"{label} ({escape_markdown(url[:200])})" if url else label


def to_markdown(root: MindmapNode, *, title: str = "") -> str:
    """The map as a Markdown outline: a heading, then one nested bullet per node.

    Page leaves with an http(s) URL become links (``<url>`` link destinations, with
    ``<``/``>`` stripped from the URL); any other URL (``javascript:``, ``data:``…) is
    written after the label as escaped text, never as a link. Each line carries the
    dwell time in minutes.
    """
    lines = [f"# {escape_markdown(title or root.label)}", ""]

    def walk(node: MindmapNode, depth: int) -> None:
        label = escape_markdown(node.label) or "(untitled)"
        weight = _minutes(_weight(node))
        text = _page_text(label, node.url)
        suffix = f" — {weight}" if weight else ""
        lines.append(f"{'  ' * depth}- {text}{suffix}")
        for child in node.children:
            walk(child, depth + 1)

    for child in root.children:
        walk(child, 0)
    if not root.children:
        walk(root, 0)
    return "\n".join(lines) + "\n"
