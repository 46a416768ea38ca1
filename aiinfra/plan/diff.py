"""Two plan documents (`aiinfra plan --json`) compared: resources added, removed and changed (by URN),
the policy violation delta and the cost delta; rendered for a terminal (rich) or as a pull-request
comment (Markdown). Everything here is a pure function of the two documents, so the output is the
same every time for the same pair."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aiinfra.plan.engine import resource_label

STACK_GROUP = "(stack)"
OPS = {"added": "+", "changed": "~", "removed": "-"}
SHORT_VALUE = 40
"""Changed input values up to this many characters (as compact JSON) are shown before → after."""
MAX_LEAVES = 3
"""More changed values than this under one input key show as just the key."""
COLLAPSE_ROWS = 10
"""Markdown groups with more rows than this are folded into <details>."""
BOUNDS = ("min", "max")
PERIODS = ("hourly", "monthly")


def is_plan_document(document: Any) -> bool:
    """Shaped like `aiinfra plan --json` output: steps, each with a URN."""
    steps = document.get("steps") if isinstance(document, dict) else None
    return isinstance(steps, list) and all(isinstance(s, dict) and isinstance(s.get("urn"), str) for s in steps)


def _states(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """URN → newState of every resource the plan would have (steps without a new state are deletes)."""
    return {s["urn"]: s["newState"] for s in document["steps"] if isinstance(s.get("newState"), dict)}


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def _group(urn: str, states: dict[str, dict[str, Any]]) -> str:
    """The top-level component (a child of the stack) the resource belongs to, as `Type name`:
    `Cluster dev-aws`, `DataLake lake-aws`; the stack itself and resources right under it are
    `(stack)`."""
    current = urn
    while True:
        parent = states[current].get("parent")
        if not parent or parent not in states:
            return STACK_GROUP
        if not states[parent].get("parent"):
            if states[current].get("custom"):
                return STACK_GROUP
            return f"{states[current]['type'].rsplit(':', 1)[-1]} {_name(current)}"
        current = parent


def _entry(urn: str, states: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"urn": urn, "type": states[urn]["type"], "name": _name(urn), "group": _group(urn, states)}


def _order(entry: dict[str, Any]) -> tuple:
    return (entry["group"] != STACK_GROUP, entry["group"], entry["type"], entry["name"], entry["urn"])


_MISSING = object()


def _changed_inputs(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Top-level input keys whose values differ; secrets are already "[secret]" in both documents."""
    changes = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, _MISSING), after.get(key, _MISSING)
        if old != new:
            changes.append(
                {"key": key, "before": None if old is _MISSING else old, "after": None if new is _MISSING else new}
            )
    return changes


def _violation_key(v: dict[str, Any]) -> tuple:
    return (v.get("policyPack"), v.get("policyName"), v.get("urn") or "", v.get("message"))


def _violation_order(v: dict[str, Any]) -> tuple:
    return (v.get("enforcementLevel") != "mandatory", v.get("policyName") or "", v.get("urn") or "", v.get("message"))


def policy_delta(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Violations that are new in `after` and fixed since `before`. Waived ones count as fixed: a
    waiver is a reviewed decision, not a finding."""
    old = {_violation_key(v): v for v in before if not v.get("waived")}
    new = {_violation_key(v): v for v in after if not v.get("waived")}
    return {
        "new": sorted((v for k, v in new.items() if k not in old), key=_violation_order),
        "fixed": sorted((v for k, v in old.items() if k not in new), key=_violation_order),
    }


def _delta(before: Any, after: Any, priced: bool) -> dict[str, float | None]:
    """One figure before → after. Something absent on a priced side costs 0; on a side that is not
    priced at all the change is unknown (null)."""
    return {
        "before": before,
        "after": after,
        "delta": round((after or 0.0) - (before or 0.0), 2) if priced else None,
    }


def _range_delta(before: dict | None, after: dict | None, priced: bool) -> dict[str, dict[str, dict]]:
    return {
        period: {
            bound: _delta(before and before[period][bound], after and after[period][bound], priced) for bound in BOUNDS
        }
        for period in PERIODS
    }


def _pairs(before: list[dict], after: list[dict], key: str) -> list[tuple[str, dict | None, dict | None]]:
    """Items matched by `key`: in `after`'s order, then those only in `before`, in its order."""
    old = {item[key]: item for item in before}
    new = {item[key]: item for item in after}
    matched: list[tuple[str, dict | None, dict | None]] = [(k, old.get(k), new[k]) for k in new]
    return matched + [(k, old[k], None) for k in old if k not in new]


def cost_delta(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any] | None:
    """The `cost` objects of two plans compared (total, per cluster, lake and team); None when
    neither side is priced."""
    if before is None and after is None:
        return None
    priced = before is not None and after is not None
    old, new = before or {}, after or {}
    return {
        "currency": new.get("currency") or old.get("currency") or "USD",
        "estimate": bool(old.get("estimate") or new.get("estimate")),
        "before_priced": before is not None,
        "after_priced": after is not None,
        "total": _range_delta(old.get("total"), new.get("total"), priced),
        "clusters": [
            {"name": name, **_range_delta(b, a, priced)}
            for name, b, a in _pairs(old.get("clusters", []), new.get("clusters", []), "name")
        ],
        "lakes": [
            {"name": name, "monthly": _delta(b and b["monthly"], a and a["monthly"], priced)}
            for name, b, a in _pairs(old.get("lakes", []), new.get("lakes", []), "name")
        ],
        "teams": sorted(
            (
                {"team": team, **_range_delta(b, a, priced)}
                for team, b, a in _pairs(old.get("teams", []), new.get("teams", []), "team")
            ),
            key=lambda t: t["team"],
        ),
    }


def compare(before: dict[str, Any], after: dict[str, Any], *, base: str) -> dict[str, Any]:
    """The plan document's `diff`: what applying `after` on top of `before` (named `base`) changes."""
    old, new = _states(before), _states(after)
    changed = []
    unchanged = 0
    for urn in new.keys() & old.keys():
        inputs = _changed_inputs(old[urn].get("inputs") or {}, new[urn].get("inputs") or {})
        if inputs:
            changed.append({**_entry(urn, new), "inputs": inputs})
        else:
            unchanged += 1
    added = [_entry(urn, new) for urn in new.keys() - old.keys()]
    removed = [_entry(urn, old) for urn in old.keys() - new.keys()]
    return {
        "base": base,
        "summary": {"added": len(added), "changed": len(changed), "removed": len(removed), "unchanged": unchanged},
        "added": sorted(added, key=_order),
        "changed": sorted(changed, key=_order),
        "removed": sorted(removed, key=_order),
        "policy": policy_delta(before.get("policyViolations") or [], after.get("policyViolations") or []),
        "cost": cost_delta(before.get("cost"), after.get("cost")),
    }


# ---- shared by both renderers: plain-text cells -------------------------------------------------


def _money(value: float, *, signed: bool = False, cents: bool = True) -> str:
    text = f"${abs(value):,.2f}" if cents else f"${abs(value):,.0f}"
    if signed:
        return f"{'-' if value < 0 else '+'}{text}"
    return f"-{text}" if value < 0 else text


def headline(diff: dict[str, Any]) -> str:
    """`+12 / ~3 / -1 resources, cost +$1,234/month at max (teams at full quota: vision +$80,358), 0 new policy
    violations`: team figures are what a team may spend, outside the stack's total."""
    s = diff["summary"]
    cost = diff["cost"]
    max_monthly = cost and cost["total"]["monthly"]["max"]["delta"]
    if max_monthly is None:
        cost_text = "cost not priced"
    else:
        cost_text = f"cost {_money(max_monthly, signed=True, cents=False)}/month at max"
        asides = ["estimate"] if cost["estimate"] else []
        reach = [
            f"{t['team']} {_money(t['monthly']['max']['delta'], signed=True, cents=False)}"
            for t in cost["teams"]
            if t["monthly"]["max"]["delta"]
        ]
        if reach:
            asides.append(f"teams at full quota: {', '.join(reach)}")
        if asides:
            cost_text += f" ({'; '.join(asides)})"
    new = diff["policy"]["new"]
    mandatory = sum(v.get("enforcementLevel") == "mandatory" for v in new)
    policy_text = f"{len(new)} new policy violation{'s' * (len(new) != 1)}"
    if mandatory:
        policy_text += f" ({mandatory} mandatory)"
    return f"+{s['added']} / ~{s['changed']} / -{s['removed']} resources, {cost_text}, {policy_text}"


def _short(value: Any) -> str | None:
    """Compact JSON (whole floats as integers: protobuf turns every number into a float) if it is short."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return text if len(text) <= SHORT_VALUE else None


def _leaves(before: Any, after: Any, path: str) -> list[tuple[str, Any, Any]]:
    """The differing values under two objects, by dotted path (lists count as values)."""
    if not (isinstance(before, dict) and isinstance(after, dict)):
        return [(path, before, after)]
    return [
        leaf
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
        for leaf in _leaves(before.get(key), after.get(key), f"{path}.{key}")
    ]


def describe_inputs(entry: dict[str, Any]) -> list[str]:
    """A changed resource's input changes: `scalingConfig.maxSize: 2 → 4` where that is short (up to
    MAX_LEAVES values, each short), else just the top-level key."""
    described = []
    for change in entry.get("inputs", []):
        leaves = _leaves(change["before"], change["after"], change["key"])
        shown = [(path, _short(old), _short(new)) for path, old, new in leaves]
        if len(shown) <= MAX_LEAVES and all(old is not None and new is not None for _, old, new in shown):
            described += [f"{path}: {old} → {new}" for path, old, new in shown]
        else:
            described.append(change["key"])
    return described


def change_rows(diff: dict[str, Any]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Group → [(op, entry)], groups in order (the stack first), rows by op (+ ~ -), type, name."""
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for kind in ("added", "changed", "removed"):
        for entry in diff[kind]:
            groups.setdefault(entry["group"], []).append((OPS[kind], entry))
    return {
        group: sorted(rows, key=lambda row: (row[1]["type"], row[1]["name"], "+~-".index(row[0])))
        for group, rows in sorted(groups.items(), key=lambda item: (item[0] != STACK_GROUP, item[0]))
    }


def _group_counts(rows: list[tuple[str, dict[str, Any]]]) -> str:
    return " / ".join(f"{op}{sum(r[0] == op for r in rows)}" for op in "+~-")


def _figure(value: float | None, side_priced: bool) -> str:
    if not side_priced:
        return "not priced"
    return "—" if value is None else _money(value)


def _span(figures: dict[str, dict], side: str, side_priced: bool) -> str:
    """`$1.00 – $2.00` (min – max) of one side, or one figure when min == max."""
    low, high = (figures[bound][side] for bound in BOUNDS)
    if not side_priced or (low is None and high is None) or low == high:
        return _figure(high, side_priced)
    return f"{_figure(low, side_priced)} – {_figure(high, side_priced)}"


def _change(figures: dict[str, dict]) -> str:
    deltas = [figures[bound]["delta"] for bound in BOUNDS]
    if any(d is None for d in deltas):
        return "unknown"
    return " / ".join(_money(d, signed=True) for d in deltas)


COST_HEADER = ("", "per hour before", "per hour after", "per month before", "per month after", "per month (min / max)")


def cost_rows(cost: dict[str, Any]) -> list[tuple[str, ...]]:
    """The cost table: total, clusters, lakes, teams; each before → after at min – max and the change."""
    b, a = cost["before_priced"], cost["after_priced"]

    def row(label: str, figures: dict[str, dict]) -> tuple[str, ...]:
        hourly, monthly = figures["hourly"], figures["monthly"]
        return (
            label,
            *(_span(hourly, "before", b), _span(hourly, "after", a)),
            *(_span(monthly, "before", b), _span(monthly, "after", a)),
            _change(monthly),
        )

    rows = [row("total", cost["total"])]
    rows += [row(f"cluster {c['name']}", c) for c in cost["clusters"]]
    for lake in cost["lakes"]:
        monthly = lake["monthly"]
        change = "unknown" if monthly["delta"] is None else _money(monthly["delta"], signed=True)
        rows.append(
            (f"lake {lake['name']}", "—", "—", _figure(monthly["before"], b), _figure(monthly["after"], a), change)
        )
    rows += [row(f"team {t['team']} (quota at full use)", t) for t in cost["teams"]]
    return rows


def _violation_cells(v: dict[str, Any]) -> tuple[str, str, str, str]:
    return (
        v.get("enforcementLevel") or "",
        v.get("policyName") or "",
        resource_label(v.get("urn")),
        v.get("message") or "",
    )


# ---- Markdown ------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{_cell(text)}`"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def _folded(summary: str, lines: list[str], fold: bool) -> list[str]:
    if not fold:
        return [*lines, ""]
    return [f"<details><summary>{summary}</summary>", "", *lines, "", "</details>", ""]


def render_markdown(diff: dict[str, Any], stack: str) -> str:
    """A pull-request comment: headline, changes per component, cost table, new policy violations."""
    lines = [
        f"### `aiinfra plan --stack {stack}` against `{diff['base']}`",
        "",
        f"**{headline(diff)}**",
        "",
    ]
    groups = change_rows(diff)
    lines += ["#### Resources", ""]
    if not groups:
        lines += ["No resource changes.", ""]
    for group, rows in groups.items():
        table = _table(
            ("", "type", "name", "inputs changed"),
            [(op, _code(e["type"]), _code(e["name"]), ", ".join(map(_code, describe_inputs(e)))) for op, e in rows],
        )
        title = f"{group} ({_group_counts(rows)})"
        lines += [f"**{_cell(title)}**", ""]
        lines += _folded(f"{len(rows)} resources", table, len(rows) > COLLAPSE_ROWS)

    lines += ["#### Cost", ""]
    cost = diff["cost"]
    if cost is None:
        lines += ["Not priced (neither plan has a `cost`).", ""]
    else:
        header = (*COST_HEADER[:-1], f"change {COST_HEADER[-1]}")
        lines += _table(header, [tuple(_cell(c) for c in row) for row in cost_rows(cost)])
        note = f"{cost['currency']}; min = every pool at its min nodes, max = at its max."
        note += " Team figures are shares of cluster capacity, not added to the total."
        if cost["estimate"]:
            note += " Some figures are estimates (e.g. spot at the on-demand price)."
        lines += ["", f"<sub>{note}</sub>", ""]

    policy = diff["policy"]
    lines += ["#### Policy", ""]
    if policy["new"]:
        rows = [tuple(_cell(c) for c in _violation_cells(v)) for v in policy["new"]]
        lines += [*_table(("level", "policy", "resource", "message"), rows), ""]
    else:
        lines += ["No new policy violations.", ""]
    if policy["fixed"]:
        fixed = [f"- {_cell(v['policyName'])}: {_cell(resource_label(v.get('urn')))}" for v in policy["fixed"]]
        lines += _folded(f"{len(fixed)} fixed", fixed, True)
    return "\n".join(lines).rstrip("\n") + "\n"


# ---- terminal ------------------------------------------------------------------------------------


def render_terminal(diff: dict[str, Any], console: Console) -> None:
    console.print(f"\n[bold]Against {escape(diff['base'])}:[/] {escape(headline(diff))}")
    colour = {"+": "green", "~": "yellow", "-": "red"}
    for group, rows in change_rows(diff).items():
        table = Table(title=escape(f"{group} ({_group_counts(rows)})"), title_justify="left", expand=True)
        table.add_column("", width=1)
        for column, ratio in (("type", 3), ("name", 2), ("inputs changed", 3)):
            table.add_column(column, overflow="fold", ratio=ratio)
        for op, entry in rows:
            cells = (entry["type"], entry["name"], ", ".join(describe_inputs(entry)))
            table.add_row(f"[{colour[op]}]{op}[/]", *map(escape, cells))
        console.print(table)
    if diff["cost"] is not None:
        table = Table(title=f"Cost ({diff['cost']['currency']})", title_justify="left")
        for column in COST_HEADER:
            table.add_column(column)
        for row in cost_rows(diff["cost"]):
            table.add_row(*map(escape, row))
        console.print(table)
    if diff["policy"]["new"]:
        table = Table(title="New policy violations", title_justify="left", expand=True)
        for column in ("level", "policy", "resource", "message"):
            table.add_column(column, overflow="fold")
        for v in diff["policy"]["new"]:
            table.add_row(*map(escape, _violation_cells(v)))
        console.print(table)
