"""Terminal rendering of a plan: the resource tree and a summary (rich)."""

from __future__ import annotations

import os
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from aiinfra.cost import describe_quota
from aiinfra.plan.engine import STACK_TYPE, ProgramRun

PIPED_WIDTH = 140
"""Columns of a plan piped into a file or a CI log without COLUMNS set: rich's default of 80 wraps every
machine type and dollar range of the cost table onto several lines."""


class _PlanConsole(Console):
    def on_broken_pipe(self) -> None:
        """rich exits 1 when the reader goes away (`plan | head`); the CLI treats that as success."""
        raise BrokenPipeError


def plan_console() -> Console:
    """A terminal's own width; piped, `PIPED_WIDTH` unless COLUMNS says otherwise."""
    console = _PlanConsole()
    if console.is_terminal or "COLUMNS" in os.environ:
        return console
    return _PlanConsole(width=PIPED_WIDTH)


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
    if document.get("cost"):
        render_cost(document["cost"], console)


def _usd(value: float, estimate: bool = False) -> str:
    return f"{'~' if estimate else ''}${value:,.2f}"


def _rate(value: float) -> str:
    """A unit price at its own precision, at least cents: $0.10, $0.045, $0.023."""
    return f"${value:.2f}" if value == round(value, 2) else f"${value:g}"


def _span(figures: dict[str, float], estimate: bool = False) -> str:
    """A {min, max} figure as "$a – $b", or one amount when both ends agree."""
    low, high = _usd(figures["min"], estimate), _usd(figures["max"], estimate)
    return low if low == high else f"{low} – {high}"


def render_cost(cost: dict[str, Any], console: Console) -> None:
    """The plan JSON's `cost`: per cluster and pool, lakes, the total, teams; `~` marks estimates."""
    hours = cost["hours_per_month"]
    clusters = Table(title="Cost at min – max nodes (list prices, USD; ~ estimate)", title_justify="left")
    clusters.add_column("cluster / pool")
    clusters.add_column("machine")
    clusters.add_column("nodes", justify="right")
    clusters.add_column("$/h", justify="right", no_wrap=True)
    clusters.add_column("$/month", justify="right", no_wrap=True)
    for cluster in cost["clusters"]:
        estimate = any(p["estimate"] for p in cluster["pools"])
        name = f"[bold]{cluster['name']}[/]"
        clusters.add_row(
            name, cluster["cloud"], "", _span(cluster["hourly"], estimate), _span(cluster["monthly"], estimate)
        )
        for item in cluster["fixed"]:
            hourly = item["usd_per_hour"]
            clusters.add_row(f"  {item['item']}", "", "", _rate(hourly), _usd(hourly * hours), style="dim")
        for pool in cluster["pools"]:
            machine = pool["machine_type"] or f"owned {pool['accelerator']}"
            nodes = f"{pool['nodes']['min']}–{pool['nodes']['max']}"
            mark = pool["estimate"]
            clusters.add_row(
                f"  {pool['name']}", machine, nodes, _span(pool["hourly"], mark), _span(pool["monthly"], mark)
            )
        clusters.rows[-1].end_section = True
    console.print(clusters)
    if cost["lakes"]:
        lakes = Table(title="Lakes (storage)", title_justify="left")
        for column in ("lake", "cloud", "stored TiB", "$/GiB-month", "$/month"):
            lakes.add_column(column, justify="left" if column in ("lake", "cloud") else "right")
        for lake in cost["lakes"]:
            stored = "not set" if lake["stored_tib"] is None else f"{lake['stored_tib']:,g}"
            price = "owned" if lake["usd_per_gib_month"] is None else _rate(lake["usd_per_gib_month"])
            lakes.add_row(lake["name"], lake["cloud"], stored, price, _usd(lake["monthly"]))
        console.print(lakes)
    total, mark = cost["total"], cost["estimate"]
    console.print(f"[bold]Total:[/] {_span(total['hourly'], mark)} per hour, {_span(total['monthly'], mark)} per month")
    if cost["teams"]:
        # A title wider than the table would wrap to its width.
        console.print("[bold]Teams:[/] their quota in use on every cluster that has it (a share of the pools above)")
        teams = Table()
        for column in ("team", "quota", "$/h max", "$/month max"):
            teams.add_column(column, justify="right" if "$" in column else "left")
        for team in cost["teams"]:
            quota = ", ".join(describe_quota(q) for q in team["quotas"]) or "none"
            mark = team["estimate"]
            teams.add_row(team["team"], quota, _usd(team["hourly"]["max"], mark), _usd(team["monthly"]["max"], mark))
        console.print(teams)
    for note in cost["notes"]:
        console.print(f"[dim]note: {note}[/]")
