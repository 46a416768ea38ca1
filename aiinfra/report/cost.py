"""The plan's `cost` object (see the cost contract in the README) as a bar chart and tables."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Any

from aiinfra.cost import describe_quota

LABEL_W = 250
BAR_W = 620
VALUE_W = 330
ROW_H = 34
HEAD_H = 30
AXIS_H = 26
LABEL_GAP = 8
"""Clear space between the label column's text and where bars (and their floor lines) start."""
LABEL_PX, DETAIL_PX = 12, 11
"""Font sizes of a row's label and detail lines: the report CSS's `.cost-chart text` and `text.detail`."""
CHAR_EM = 0.62
"""Advance width of one character of the chart's monospace font, in em: DejaVu Sans Mono and Menlo 0.602,
Consolas 0.55, plus headroom. Text is fitted by character count, so the layout does not depend on fonts."""
DETAIL_LINES = 3
"""A detail wraps onto at most this many lines; what does not fit ends in "…", the whole in a tooltip."""
LINE_H = 13


@dataclass(frozen=True)
class Bar:
    label: str
    detail: str
    low: float
    high: float
    estimate: bool
    total: bool = False


def _per_accelerator(price: float | None, currency: str) -> str:
    return "(owned)" if price is None else f"at {unit_price(price, currency)}/h"


def money(amount: float, currency: str) -> str:
    return f"${amount:,.2f}" if currency == "USD" else f"{amount:,.2f} {currency}"


def unit_price(amount: float | None, currency: str, none: str = "not priced") -> str:
    """A unit price with the precision it has (S3's $0.023/GiB is not $0.02), at least cents."""
    if amount is None:
        return none
    digits = f"{amount:,.6f}".rstrip("0")
    digits += "0" * max(0, 2 - len(digits.partition(".")[2]))
    return f"${digits}" if currency == "USD" else f"{digits} {currency}"


def span(values: dict[str, float], currency: str) -> str:
    """A min–max range, or one figure when they are equal."""
    low, high = money(values["min"], currency), money(values["max"], currency)
    return low if low == high else f"{low} – {high}"


def _short(amount: float) -> str:
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if amount >= size:
            return f"${amount / size:g}{suffix}"
    return f"${amount:g}"


def ticks(top: float) -> list[float]:
    """Round axis values from 0 to at least `top`: steps of 1, 2 or 5 × 10^k, at most 6 of them."""
    if top <= 0:
        return [0.0, 1.0]
    magnitude = 10 ** math.floor(math.log10(top / 5))
    step = next(m * magnitude for m in (1, 2, 5, 10) if top / (m * magnitude) <= 5)
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


def _bars(cost: dict[str, Any]) -> list[tuple[str, list[Bar]]]:
    clusters = [
        Bar(
            c["name"],
            f"{c['cloud']} · {c['region']}" if c.get("region") else c["cloud"],
            c["monthly"]["min"],
            c["monthly"]["max"],
            any(p["estimate"] for p in c["pools"]),
        )
        for c in cost["clusters"]
    ]
    lakes = [
        Bar(
            lake["name"],
            f"{lake['cloud']} · {_stored(lake['stored_tib'])}",
            lake["monthly"],
            lake["monthly"],
            False,
        )
        for lake in cost["lakes"]
    ]
    total = Bar(
        "Total",
        "clusters + lakes",
        cost["total"]["monthly"]["min"],
        cost["total"]["monthly"]["max"],
        cost["estimate"],
        total=True,
    )
    teams = [
        Bar(
            t["team"],
            ", ".join(describe_quota(q) for q in t["quotas"]),
            t["monthly"]["min"],
            t["monthly"]["max"],
            t["estimate"],
        )
        for t in cost["teams"]
    ]
    sections = [("Clusters", clusters), ("Data lakes (storage)", lakes), ("", [total])]
    if teams:
        head = "Teams at full quota on every cluster (shares of the clusters above, not added to the total)"
        sections.append((head, teams))
    return [(head, bars) for head, bars in sections if bars]


def fit(text: str, px: float, max_lines: int = 1, width: float = LABEL_W - LABEL_GAP) -> list[str]:
    """`text` wrapped at spaces into lines of at most `width` pixels at `px` font size (a word longer than a
    line is split); beyond `max_lines` the rest is dropped and the last line ends in "…"."""
    per_line = max(2, int(width / (px * CHAR_EM)))
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= per_line:
            lines[-1] += " " + word
        else:
            lines += [word[i : i + per_line] for i in range(0, len(word), per_line)] or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: per_line - 1].rstrip() + "…"
    return lines


def _fitted_text(css: str, y: float, text: str, px: float, max_lines: int = 1) -> str:
    """A `<text>` in the label column, fitted by `fit`: a `<tspan>` per line, and the whole text as its
    tooltip where the lines do not show all of it."""
    lines = fit(text, px, max_lines)
    title = "" if " ".join(lines) == text else f"<title>{escape(text)}</title>"
    if len(lines) == 1:
        return f'<text class="{css}" x="0" y="{y:.1f}">{title}{escape(lines[0])}</text>'
    spans = "".join(f'<tspan x="0" y="{y + i * LINE_H:.1f}">{escape(line)}</tspan>' for i, line in enumerate(lines))
    return f'<text class="{css}" x="0" y="{y:.1f}">{title}{spans}</text>'


def chart_svg(cost: dict[str, Any]) -> str:
    """Monthly cost as horizontal min–max range bars on one linear scale: clusters, lakes, the total, teams."""
    currency = cost["currency"]
    sections = _bars(cost)
    axis = ticks(max(b.high for _, bars in sections for b in bars))
    scale = BAR_W / axis[-1]
    rows: list[str] = []
    y = AXIS_H
    for head, bars in sections:
        if head:
            rows.append(f'<text class="section" x="0" y="{y + 20}">{escape(head)}</text>')
            y += HEAD_H
        for bar in bars:
            mid = y + ROW_H / 2
            extra = len(fit(bar.detail, DETAIL_PX, DETAIL_LINES)) - 1
            x0, x1 = LABEL_W + bar.low * scale, LABEL_W + bar.high * scale
            figure = span({"min": bar.low, "max": bar.high}, currency) + " /mo"
            rows.append(
                f'<g class="row{" total" if bar.total else ""}">'
                + _fitted_text("label", mid - 2, bar.label, LABEL_PX)
                + _fitted_text("detail", mid + 11, bar.detail, DETAIL_PX, DETAIL_LINES)
                + f'<line class="floor" x1="{LABEL_W}" y1="{mid:.1f}" x2="{x0:.1f}" y2="{mid:.1f}"/>'
                f'<rect class="range{" estimate" if bar.estimate else ""}" x="{x0:.1f}" y="{mid - 8:.1f}" '
                f'width="{max(x1 - x0, 2):.1f}" height="16" rx="2"><title>{escape(figure)}</title></rect>'
                f'<text class="value" x="{LABEL_W + BAR_W + 12}" y="{mid + 4:.1f}">{escape(figure)}'
                + ('<tspan class="estimate"> estimate</tspan>' if bar.estimate else "")
                + "</text></g>"
            )
            y += ROW_H + extra * LINE_H
    grid = "".join(
        f'<line class="grid" x1="{LABEL_W + t * scale:.1f}" y1="{AXIS_H - 6}" x2="{LABEL_W + t * scale:.1f}" '
        f'y2="{y}"/><text class="tick" x="{LABEL_W + t * scale:.1f}" y="{AXIS_H - 10}">{_short(t)}</text>'
        for t in axis
    )
    width = LABEL_W + BAR_W + VALUE_W
    return (
        f'<svg class="cost-chart" xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{y + 4}" '
        f'viewBox="0 0 {width} {y + 4}" aria-label="Monthly cost per cluster, lake and team">'
        "<title>Monthly cost per cluster, lake and team (min–max node counts)</title>"
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f6c26b"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#e37400" stroke-width="3"/></pattern></defs>'
        f"{grid}{''.join(rows)}</svg>"
    )


def _source(item: dict[str, Any]) -> str:
    source, as_of = item.get("source") or "", escape(str(item.get("as_of") or ""))
    if source.startswith(("https://", "http://")):
        return f'<a href="{escape(source)}">source</a> {as_of}'
    return f"{escape(source)} {as_of}".strip()


def _per_gib(price: float | None, currency: str) -> str:
    return "owned" if price is None else f"{unit_price(price, currency)}/GiB"


def _stored(tib: float | None) -> str:
    return "not set" if tib is None else f"{tib:g} TiB"


def tables(cost: dict[str, Any]) -> str:
    """Pools and fixed items per cluster, lakes and team quotas, with hourly and monthly figures."""
    currency = cost["currency"]
    rows = []
    for c in cost["clusters"]:
        for item in c["fixed"]:
            hourly = {"min": item["usd_per_hour"], "max": item["usd_per_hour"]}
            monthly = {k: round(v * cost["hours_per_month"], 2) for k, v in hourly.items()}
            rows.append(
                (c["name"], item["item"], "", "", "", unit_price(item["usd_per_hour"], currency), hourly, monthly, item)
            )
        for p in c["pools"]:
            accel = "cpu" if p["accelerator"] == "cpu" else f"{p['accelerators_per_node']}× {p['accelerator']}"
            price = unit_price(p["usd_per_node_hour"], currency, none="owned")
            rows.append(
                (
                    c["name"],
                    f"{p['name']} ({p['machine_type']})" if p.get("machine_type") else p["name"],
                    accel,
                    f"{p['nodes']['min']}–{p['nodes']['max']}",
                    p["capacity"] + (" (estimate)" if p["estimate"] else ""),
                    price,
                    p["hourly"],
                    p["monthly"],
                    p,
                )
            )
    body = "".join(
        f"<tr><td>{escape(cluster)}</td><td>{escape(what)}</td><td>{escape(accel)}</td><td>{escape(nodes)}</td>"
        f'<td>{escape(capacity)}</td><td class="num">{escape(price)}</td>'
        f'<td class="num">{escape(span(hourly, currency))}</td>'
        f'<td class="num">{escape(span(monthly, currency))}</td><td>{_source(item)}</td></tr>'
        for cluster, what, accel, nodes, capacity, price, hourly, monthly, item in rows
    )
    pools = (
        '<table class="cost-table"><thead><tr><th>Cluster</th><th>Pool / item</th><th>Accelerators</th>'
        "<th>Nodes</th><th>Capacity</th><th>Per node-hour</th><th>Hourly</th><th>Monthly</th><th>Price</th>"
        f"</tr></thead><tbody>{body}</tbody></table>"
    )
    lakes = "".join(
        f"<tr><td>{escape(lake['name'])}</td><td>{escape(lake['cloud'])} {escape(lake.get('region') or '')}</td>"
        f'<td class="num">{_stored(lake["stored_tib"])}</td>'
        f'<td class="num">{escape(_per_gib(lake["usd_per_gib_month"], currency))}</td>'
        f'<td class="num">{escape(money(lake["monthly"], currency))}</td><td>{_source(lake)}</td></tr>'
        for lake in cost["lakes"]
    )
    lake_table = (
        '<table class="cost-table"><thead><tr><th>Lake</th><th>Where</th><th>Stored</th><th>Per month</th>'
        f"<th>Monthly</th><th>Price</th></tr></thead><tbody>{lakes}</tbody></table>"
        if lakes
        else ""
    )
    teams = "".join(
        f"<tr><td>{escape(t['team'])}</td><td>"
        + "<br>".join(
            escape(
                f"{q['accelerator']}: "
                + (
                    ", ".join(
                        f"{c['count']} on {c['cluster']} " + _per_accelerator(c["usd_per_accelerator_hour"], currency)
                        for c in q["clusters"]
                    )
                    or f"{q['count']}, no cluster has it"
                )
            )
            for q in t["quotas"]
        )
        + f'</td><td class="num">{escape(span(t["hourly"], currency))}</td>'
        f'<td class="num">{escape(span(t["monthly"], currency))}</td></tr>'
        for t in cost["teams"]
    )
    team_table = (
        '<table class="cost-table"><thead><tr><th>Team</th><th>Quota</th><th>Hourly</th><th>Monthly</th></tr>'
        f"</thead><tbody>{teams}</tbody></table>"
        if teams
        else ""
    )
    return pools + lake_table + team_table


def cost_section(cost: dict[str, Any] | None) -> str:
    """The "Cost" section's body: "not priced" without a cost object."""
    if cost is None:
        return (
            '<p class="not-priced">Not priced: this plan has no cost estimate (a plain Pulumi program, '
            "or no prices for what it uses).</p>"
        )
    currency = cost["currency"]
    total = cost["total"]
    summary = (
        f'<p class="cost-total">Total: <strong>{escape(span(total["monthly"], currency))}</strong> per month '
        f"({escape(span(total['hourly'], currency))} per hour, {cost['hours_per_month']:g} hours a month), "
        "from every pool at its minimum to every pool at its maximum node count"
        + (' <span class="badge estimate">estimate</span>' if cost["estimate"] else "")
        + ".</p>"
    )
    notes = "".join(f"<li>{escape(note)}</li>" for note in cost["notes"])
    return (
        summary
        + f'<div class="scroll">{chart_svg(cost)}</div>'
        + tables(cost)
        + (f'<ul class="notes">{notes}</ul>' if notes else "")
    )
