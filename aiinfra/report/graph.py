"""The resource graph of one component (a cluster, a lake) as inline SVG."""

from __future__ import annotations

from html import escape

from aiinfra.report.layout import BOX_H, PAD_X, Layout, Node, clip

KINDS = {
    "component": "aiinfra / Pulumi component",
    "cloud": "cloud resource",
    "kubernetes": "Kubernetes object",
    "provider": "provider",
    "group": "folded leaf resources",
}
MARKS = {"blocking": "mandatory violation", "advisory": "advisory violation", "waived": "waived violation"}
MARGIN = 8


def _node(box_x: float, box_y: float, w: float, node: Node) -> str:
    classes = f"kind-{node.kind}" + (f" mark-{node.mark}" if node.mark else "")
    title = node.title + (f"\n{MARKS[node.mark]}" if node.mark else "")
    return (
        f'<g class="node"><title>{escape(title)}</title>'
        f'<rect class="{classes}" x="{box_x:.1f}" y="{box_y:.1f}" width="{w:.1f}" height="{BOX_H}" rx="5"/>'
        f'<text class="type" x="{box_x + PAD_X:.1f}" y="{box_y + 14:.1f}">{escape(clip(node.type_label))}</text>'
        f'<text class="name" x="{box_x + PAD_X:.1f}" y="{box_y + 27:.1f}">{escape(clip(node.name))}</text></g>'
    )


def graph_svg(graph: Layout, *, title: str, css_class: str) -> str:
    """`graph` drawn with a margin; edges are curves from a parent's right side to its child's left."""
    edges = "".join(
        f'<path d="M{p.x + p.w + MARGIN:.1f},{p.y + BOX_H / 2 + MARGIN:.1f} '
        f"C{(p.x + p.w + c.x) / 2 + MARGIN:.1f},{p.y + BOX_H / 2 + MARGIN:.1f} "
        f"{(p.x + p.w + c.x) / 2 + MARGIN:.1f},{c.y + BOX_H / 2 + MARGIN:.1f} "
        f'{c.x + MARGIN:.1f},{c.y + BOX_H / 2 + MARGIN:.1f}"/>'
        for p, c in graph.edges
    )
    nodes = "".join(_node(b.x + MARGIN, b.y + MARGIN, b.w, b.node) for b in graph.boxes)
    width, height = graph.width + 2 * MARGIN, graph.height + 2 * MARGIN
    return (
        f'<svg class="graph {css_class}" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<g class="edges">{edges}</g>{nodes}</svg>'
    )


def legend() -> str:
    """The key to the graphs' colours and marks, as HTML."""
    swatch = "".join(
        f'<span class="key"><svg width="22" height="14"><rect class="kind-{k}" x="1" y="1" width="20" height="12" '
        f'rx="3"/></svg>{escape(label)}</span>'
        for k, label in KINDS.items()
    )
    marks = "".join(
        f'<span class="key"><svg width="22" height="14"><rect class="kind-cloud mark-{k}" x="1.5" y="1.5" '
        f'width="19" height="11" rx="3"/></svg>{escape(label)}</span>'
        for k, label in MARKS.items()
    )
    return f'<p class="legend">{swatch}{marks}</p>'
