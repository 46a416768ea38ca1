"""`aiinfra report`: the plan as one HTML page: header, resource graphs, policy verdicts, cost."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from pathlib import Path

from aiinfra.core.errors import EXIT_OK, EXIT_POLICY
from aiinfra.output import check_writable, write_atomically
from aiinfra.pipeline import Plan, compute_plan
from aiinfra.plan.engine import STACK_TYPE, Recorded, resource_label
from aiinfra.policy.report import by_importance, violation_status
from aiinfra.policy.runner import PackResult, PolicyReport, Violation
from aiinfra.report.cost import cost_section
from aiinfra.report.graph import graph_svg, legend
from aiinfra.report.layout import build_tree, layout

CLUSTER_TYPE = "aiinfra:index:Cluster"
CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#202124;margin:0;
background:#fff}
main{max-width:1320px;margin:0 auto;padding:24px 32px 48px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:36px 0 10px;border-bottom:1px solid #dadce0;
padding-bottom:4px}h3{font-size:15px;margin:22px 0 6px}
.facts{display:flex;flex-wrap:wrap;gap:8px 28px;margin:12px 0;padding:12px 16px;background:#f8f9fa;
border-radius:8px}.facts div{display:flex;flex-direction:column}.facts dt{font-size:12px;color:#5f6368}
.facts dd{margin:0;font-weight:600}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.badge.ok{background:#e6f4ea;color:#137333}.badge.blocking{background:#fce8e6;color:#c5221f}
.badge.estimate{background:#fef7e0;color:#b06000}
.scroll{overflow-x:auto;margin:6px 0 12px}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12px;color:#3c4043}
.legend .key{display:inline-flex;align-items:center;gap:5px}
svg text{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace}
.graph .edges path{fill:none;stroke:#9aa0a6;stroke-width:1.2}
.graph text.type{font-size:11px;font-weight:700;fill:#202124}.graph text.name{font-size:11px;fill:#3c4043}
rect.kind-component{fill:#e8f0fe;stroke:#1a73e8}rect.kind-cloud{fill:#fef3e2;stroke:#e37400}
rect.kind-kubernetes{fill:#e6f4ea;stroke:#188038}rect.kind-provider{fill:#f1f3f4;stroke:#80868b}
rect.kind-group{fill:#fff;stroke:#80868b;stroke-dasharray:4 3}
rect.mark-blocking{stroke:#d93025;stroke-width:3}rect.mark-advisory{stroke:#f9ab00;stroke-width:3}
rect.mark-waived{stroke:#80868b;stroke-width:3;stroke-dasharray:2 2}
table{border-collapse:collapse;width:100%;margin:6px 0 14px;font-size:13px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e8eaed;vertical-align:top}
th{background:#f8f9fa;font-weight:600}td.num{text-align:right;white-space:nowrap}
tr.blocking td:first-child{color:#c5221f;font-weight:600}tr.advisory td:first-child{color:#b06000}
tr.waived td{color:#80868b}.waiver{font-size:12px}
td.message{white-space:pre-wrap}
.cost-chart text{font-size:12px;fill:#202124}.cost-chart text.section{font-weight:700;font-size:13px}
.cost-chart text.detail,.cost-chart text.tick{font-size:11px;fill:#5f6368}.cost-chart text.tick{text-anchor:middle}
.cost-chart .grid{stroke:#e8eaed}.cost-chart .floor{stroke:#bdc1c6;stroke-dasharray:2 3}
.cost-chart rect.range{fill:#1a73e8}.cost-chart rect.range.estimate{fill:url(#hatch)}
.cost-chart .total text.label,.cost-chart .total text.value{font-weight:700}
.cost-chart .total rect.range{fill:#174ea6}.cost-chart tspan.estimate{fill:#b06000;font-weight:600}
.not-priced{color:#5f6368;font-style:italic}.notes{color:#5f6368;font-size:13px}
h4{font-size:14px;margin:18px 0 2px}h4 small,h3 small{color:#5f6368;font-weight:400}
footer{margin-top:40px;color:#80868b;font-size:12px}
"""


def _marks(violations: list[Violation]) -> dict[str, str]:
    """Each resource's worst policy status, for the graph."""
    rank = {"blocking": 0, "advisory": 1, "waived": 2}
    marks: dict[str, str] = {}
    for v in violations:
        if v.urn is None:
            continue
        status = "blocking" if v.blocking else "waived" if v.waived else "advisory"
        if v.urn not in marks or rank[status] < rank[marks[v.urn]]:
            marks[v.urn] = status
    return marks


def _descendants(resources: list[Recorded], urn: str) -> int:
    below = {urn}
    for r in resources:  # tree order: parents come before their children
        if r.parent in below:
            below.add(r.urn)
    return len(below)


def graphs(resources: list[Recorded], marks: dict[str, str]) -> str:
    """One SVG per top-level component (clusters first), then one for resources directly under the stack."""
    stack = next((r for r in resources if r.type == STACK_TYPE), None)
    if stack is None:
        return "<p>The program registered no resources.</p>"
    parents = {r.parent for r in resources}
    top = [r for r in resources if r.parent == stack.urn]
    components = [r for r in top if r.urn in parents]
    loose = [r for r in top if r.urn not in parents]
    parts = []
    for heading, chosen in (
        ("Clusters", [r for r in components if r.type == CLUSTER_TYPE]),
        ("Other components", [r for r in components if r.type != CLUSTER_TYPE]),
    ):
        if not chosen:
            continue
        parts.append(f"<h3>{heading}</h3>")
        for r in chosen:
            css = "cluster-graph" if r.type == CLUSTER_TYPE else "component-graph"
            svg = graph_svg(layout(build_tree(resources, r.urn, marks)), title=f"{r.type} {r.name}", css_class=css)
            count = _descendants(resources, r.urn)
            parts.append(f'<h4>{escape(r.name)} <small>{count} resources</small></h4><div class="scroll">{svg}</div>')
    if loose:
        tree = build_tree([stack, *loose], stack.urn, marks)
        parts.append("<h3>Directly under the stack</h3>")
        svg = graph_svg(layout(tree), title=f"{stack.type} {stack.name}", css_class="stack-graph")
        parts.append(f'<div class="scroll">{svg}</div>')
    return legend() + "".join(parts)


def _violation_row(v: Violation) -> str:
    css = "waived" if v.waived else "blocking" if v.blocking else "advisory"
    waiver = ""
    if v.waiver is not None:
        state = "waived" if v.waived else "waiver expired"
        waiver = (
            f'<div class="waiver">{state} {escape(v.waiver.expires.isoformat())} · '
            f"{escape(v.waiver.owner)}: {escape(v.waiver.reason)}</div>"
        )
    return (
        f'<tr class="{css}"><td>{escape(violation_status(v))}{waiver}</td><td>{escape(v.policy_name)}</td>'
        f'<td>{escape(resource_label(v.urn))}</td><td class="message">{escape(v.message)}</td></tr>'
    )


def _pack(pack: PackResult) -> str:
    head = f"<h3>{escape(pack.name)} {escape(pack.version)} <small>({len(pack.policies)} policies)</small></h3>"
    if not pack.violations:
        return head + f"<p>No violations of its {len(pack.policies)} policies.</p>"
    rows = "".join(_violation_row(v) for v in by_importance(pack.violations))
    return (
        head + "<table><thead><tr><th>Enforcement</th><th>Policy</th><th>Resource</th><th>Message</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>"
    )


def policy_summary(report: PolicyReport) -> str:
    violations = report.violations
    blocking = sum(v.blocking for v in violations)
    waived = sum(v.waived for v in violations)
    badge = (
        f'<span class="badge blocking">blocking: yes ({blocking})</span>'
        if blocking
        else '<span class="badge ok">blocking: no</span>'
    )
    return f"{badge} {blocking} mandatory, {len(violations) - blocking - waived} advisory, {waived} waived"


def policy_section(report: PolicyReport) -> str:
    if not report.packs:
        return "<p>No policy pack ran (none given, and the project has no policies/ pack).</p>"
    return f"<p>{policy_summary(report)}</p>" + "".join(_pack(p) for p in report.packs)


def render_report(plan: Plan, generated: datetime) -> str:
    """The whole page. Every user-controlled string goes through `escape`."""
    doc = plan.document
    facts = {
        "Stack": plan.stack,
        "Project": plan.project.name,
        "Generated": generated.strftime("%Y-%m-%d %H:%M UTC"),
        "Resources": str(len(doc["steps"])),
        "Policy packs": ", ".join(f"{p.name} {p.version}" for p in plan.policy.packs) or "none",
    }
    dl = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>" for k, v in facts.items())
    diagnostics = "".join(
        f"<li>{escape(d['severity'])}: {escape(d['message'])}</li>"
        for d in doc["diagnostics"]
        if d["severity"] in ("warning", "error")
    )
    title = f"aiinfra plan report — {plan.stack}"
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{CSS}</style></head><body><main>"
        f'<h1>{escape(title)}</h1><dl class="facts">{dl}<div><dt>Policy</dt>'
        f"<dd>{policy_summary(plan.policy)}</dd></div></dl>"
        + (f"<h2>Diagnostics</h2><ul>{diagnostics}</ul>" if diagnostics else "")
        + f'<h2 id="graph">Resources</h2>{graphs(plan.run.resources, _marks(plan.policy.violations))}'
        f'<h2 id="policy">Policy verdicts</h2>{policy_section(plan.policy)}'
        f'<h2 id="cost">Cost</h2>{cost_section(doc.get("cost"))}'
        "<footer>Offline plan by aiinfra under Pulumi's mock runtime; nothing was deployed.</footer>"
        "</main></body></html>\n"
    )


OUTPUT_FLAG = "--output"


def report_command(
    root: Path,
    stack: str,
    output: Path,
    *,
    policy_packs: list[Path] | None = None,
    policy_configs: list[Path] | None = None,
) -> int:
    """Plan `stack`, write the page to `output` (relative to the project, as with `-C`); exit like `plan`."""
    target = root / output
    check_writable(target, OUTPUT_FLAG)  # before the plan: a typo should not cost a whole run
    plan = compute_plan(root, stack, policy_packs=policy_packs, policy_configs=policy_configs)
    write_atomically(target, render_report(plan, datetime.now(UTC)), OUTPUT_FLAG)
    blocking = sum(v.blocking for v in plan.policy.violations)
    print(f"wrote {output}: {len(plan.document['steps'])} resources, {blocking} blocking policy violations")
    return EXIT_POLICY if plan.policy.blocking else EXIT_OK
