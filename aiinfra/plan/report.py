"""Terminal rendering of a plan: the resource tree and a summary (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.tree import Tree

from aiinfra.plan.engine import STACK_TYPE, ProgramRun


def render(run: ProgramRun, document: dict[str, Any], console: Console) -> None:
    children: dict[str | None, list] = {}
    for r in run.resources:
        children.setdefault(r.parent, []).append(r)
    root = next(r for r in run.resources if r.type == STACK_TYPE)
    tree = Tree(f"[bold]{root.type}[/] {root.name}")

    def add(node: Tree, urn: str) -> None:
        for child in children.get(urn, []):
            style = "cyan" if child.type.startswith("aiinfra:") else ("dim" if not child.custom else "")
            label = (
                f"[green]+[/] [{style}]{child.type}[/] {child.name}"
                if style
                else f"[green]+[/] {child.type} {child.name}"
            )
            add(node.add(label), child.urn)

    add(tree, root.urn)
    console.print(tree)
    for d in document["diagnostics"]:
        colour = {"warning": "yellow", "error": "red"}.get(d["severity"], "white")
        console.print(f"[{colour}]{d['severity']}[/]: {d['message']}")
    summary = document["changeSummary"]
    console.print(f"\n[bold]Resources:[/] [green]+ {summary.get('create', 0)} to create[/]")
