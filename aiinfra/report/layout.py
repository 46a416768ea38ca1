"""A deterministic left-to-right layered tree layout for the resource graph.

Each depth is a column, each leaf a row; a parent sits midway between its first and last child. Rows
and columns are disjoint, so no two boxes overlap, and the same tree always lays out the same way."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

from aiinfra.plan.engine import Recorded

LEAF_LIMIT = 8
"""Leaf nodes shown per parent; beyond it the rest fold into one "+N resources" node."""
LABEL_CHARS = 34
"""Labels are cut to this many characters (the full text is the node's tooltip)."""
CHAR_W = 6.7
"""Advance of one character of the graph's 11px monospace font."""
PAD_X = 10
BOX_H = 34
ROW_PITCH = 40
COLUMN_GAP = 44


@dataclass(frozen=True)
class Node:
    key: str
    """The URN, or the parent's URN + "#more" for a folded group."""
    kind: str
    """component | cloud | kubernetes | provider | group"""
    type_label: str
    name: str
    title: str
    """Tooltip: the full type token and name, or what a group holds."""
    children: tuple[Node, ...] = ()
    mark: str | None = None
    """Policy status of the resource: blocking | advisory | waived."""


@dataclass(frozen=True)
class Box:
    node: Node
    x: float
    y: float
    w: float
    h: float
    depth: int


@dataclass(frozen=True)
class Layout:
    boxes: tuple[Box, ...]
    edges: tuple[tuple[Box, Box], ...]
    width: float
    height: float


def kind_of(r: Recorded) -> str:
    if r.type.startswith("pulumi:providers:"):
        return "provider"
    if not r.custom:
        return "component"
    return "kubernetes" if r.type.startswith("kubernetes:") else "cloud"


PACKAGE_LABELS = {"kubernetes": "k8s", "azure-native": "azure"}


def type_label(token: str) -> str:
    """`aws:eks/cluster:Cluster` → `aws:Cluster`; `pulumi:providers:aws` → `provider:aws`."""
    package, _, rest = token.partition(":")
    if package == "pulumi" and rest.startswith("providers:"):
        return f"provider:{rest.removeprefix('providers:')}"
    return f"{PACKAGE_LABELS.get(package, package)}:{rest.rsplit(':', 1)[-1]}"


def clip(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build_tree(
    resources: list[Recorded], root_urn: str, marks: dict[str, str] | None = None, leaf_limit: int = LEAF_LIMIT
) -> Node:
    """The component tree under `root_urn` (by `parent` links), in the plan's order. A parent's leaves of
    one type become one node; beyond `leaf_limit` such leaf nodes the rest fold into one "+N resources"
    node. Marked (violating) leaves always stay single and visible."""
    marks = marks or {}
    children: dict[str | None, list[Recorded]] = {}
    by_urn = {}
    for r in resources:
        children.setdefault(r.parent, []).append(r)
        by_urn[r.urn] = r

    def single(r: Recorded) -> Node:
        return Node(
            key=r.urn,
            kind=kind_of(r),
            type_label=type_label(r.type),
            name=r.name,
            title=f"{r.type}\n{r.name}",
            children=tuple(kids_of(r)),
            mark=marks.get(r.urn),
        )

    def kids_of(r: Recorded) -> list[Node]:
        entries: list[Recorded | list[Recorded]] = []
        same_type: dict[str, list[Recorded]] = {}
        for k in children.get(r.urn, []):
            if k.urn in children or k.urn in marks:
                entries.append(k)
            elif k.type in same_type:
                same_type[k.type].append(k)
            else:
                entries.append(same_type.setdefault(k.type, [k]))
        leaf_groups = [e for e in entries if isinstance(e, list)]
        folded = leaf_groups[leaf_limit - 1 :] if len(leaf_groups) > leaf_limit else []
        nodes = [
            single(e) if isinstance(e, Recorded) else single(e[0]) if len(e) == 1 else _same_type(e)
            for e in entries
            if not any(e is f for f in folded)
        ]
        if folded:
            hidden = [k for group in folded for k in group]
            counts = Counter(type_label(k.type).split(":", 1)[1] for k in hidden)
            nodes.append(
                Node(
                    key=f"{r.urn}#more",
                    kind="group",
                    type_label=f"+{len(hidden)} resources",
                    name=", ".join(f"{n}× {t}" for t, n in counts.items()),
                    title="\n".join(f"{type_label(k.type)} {k.name}" for k in hidden),
                )
            )
        return nodes

    return single(by_urn[root_urn])


def _same_type(leaves: list[Recorded]) -> Node:
    """Leaves of one type under one parent as one node: `k8s:NetworkPolicy ×4` and the ends of their names."""
    first = leaves[0]
    names = [r.name for r in leaves]
    cut = os.path.commonprefix(names).rfind("-") + 1  # noqa: RUF071 (names, not paths)
    return Node(
        key=f"{first.urn}#{len(leaves)}",
        kind=kind_of(first),
        type_label=f"{type_label(first.type)} ×{len(leaves)}",
        name=", ".join(name[cut:] for name in names),
        title="\n".join([first.type, *names]),
    )


def _width(node: Node) -> float:
    return max(len(clip(node.type_label)), len(clip(node.name))) * CHAR_W + 2 * PAD_X


def layout(root: Node) -> Layout:
    columns: dict[int, float] = {}

    def measure(node: Node, depth: int) -> None:
        columns[depth] = max(columns.get(depth, 0.0), _width(node))
        for child in node.children:
            measure(child, depth + 1)

    measure(root, 0)
    x_of = [0.0]
    for depth in range(1, len(columns)):
        x_of.append(x_of[-1] + columns[depth - 1] + COLUMN_GAP)
    boxes: list[Box] = []
    edges: list[tuple[Box, Box]] = []
    next_row = [0]

    def place(node: Node, depth: int) -> Box:
        placed = [place(child, depth + 1) for child in node.children]
        if placed:
            y = (placed[0].y + placed[-1].y) / 2
        else:
            y = next_row[0] * ROW_PITCH
            next_row[0] += 1
        box = Box(node, x_of[depth], y, columns[depth], BOX_H, depth)
        boxes.append(box)
        edges.extend((box, child) for child in placed)
        return box

    place(root, 0)
    width = x_of[-1] + columns[len(columns) - 1]
    height = (next_row[0] - 1) * ROW_PITCH + BOX_H
    return Layout(tuple(boxes), tuple(edges), width, height)
