"""`aiinfra audit`: read what the stack's AWS clusters and lakes really are, compare it with the offline plan of
the same stack (drift), and judge it with the policy pack over its analyzer protocol (the pack's config and
waivers apply). The live resources are handed to the pack as the plan's resources of the same type and shape,
under the plan's URNs, so one rule implementation judges both the preview and what is deployed."""

from __future__ import annotations

import json
import re
import sys
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiinfra.audit import aws, match
from aiinfra.audit.aws import Live, NotChecked, Reader, Unsupported
from aiinfra.audit.permissions import policy_text
from aiinfra.core.errors import EXIT_OK, EXIT_POLICY, InputError, Problem
from aiinfra.output import check_writable, write_atomically
from aiinfra.plan.engine import STACK_TYPE, ProgramRun, Recorded, resource_label
from aiinfra.policy.report import junit, render_table, sarif, write_junit_tree
from aiinfra.policy.runner import PolicyReport

REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+$")
MANAGED_BY = ("managed-by", "aiinfra")
"""The tag every aiinfra resource carries (components/common.py merge_tags); with `environment: <stack>` it marks
a resource as the stack's, so a live one that the plan does not have is reported as unexpected."""
DRIFT_RULE = "drift"


@dataclass(frozen=True)
class Drift:
    kind: str
    """missing (planned, not deployed), unexpected (deployed with the stack's tags or inside its resources, not
    planned) or changed (a planned property differs)."""
    type: str
    urn: str
    resource: str
    """The live physical name or id ('' when missing)."""
    path: str = ""
    planned: Any = None
    live: Any = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "type": self.type, "urn": self.urn, "resource": self.resource}
        if self.kind == "changed":
            out.update(path=self.path, planned=self.planned, live=self.live)
        return out

    def message(self) -> str:
        label = resource_label(self.urn)
        if self.kind == "missing":
            return f"{label}: planned but not deployed"
        if self.kind == "unexpected":
            return f"{label}: deployed ({self.resource}) but not in the plan"
        return f"{label}: {self.path} is {_short(self.live)}, planned {_short(self.planned)}"


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class AuditResult:
    stack: str
    account: str
    regions: list[str]
    resources: list[dict[str, Any]]
    drift: list[Drift]
    not_checked: list[NotChecked]
    not_compared: dict[str, list[str]]
    report: PolicyReport
    endpoint_url: str | None = None
    records: list[Recorded] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_POLICY if self.drift or self.report.blocking else EXIT_OK

    def as_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "account": self.account,
            "regions": self.regions,
            **({"endpointUrl": self.endpoint_url} if self.endpoint_url else {}),
            "resources": self.resources,
            "drift": [d.as_json() for d in self.drift],
            "policyViolations": self.report.as_json(),
            "notChecked": [{"what": n.what, "why": n.why} for n in self.not_checked],
            "notCompared": self.not_compared,
            "summary": {
                "resources": len(self.resources),
                "drift": {
                    kind: sum(d.kind == kind for d in self.drift) for kind in ("missing", "unexpected", "changed")
                },
                "mandatoryViolations": sum(v.blocking for v in self.report.violations),
                "clean": self.exit_code == EXIT_OK,
            },
        }


# ------------------------------------------------------------------ inputs


def check_flags(region: str | None, endpoint_url: str | None) -> None:
    problems = []
    if region is not None and not REGION.match(region):
        problems.append(Problem("--region", f"{region!r} — not an AWS region name; use one like us-east-1"))
    if endpoint_url is not None:
        parsed = urllib.parse.urlparse(endpoint_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            problems.append(
                Problem("--endpoint-url", f"{endpoint_url!r} — give an http(s) URL, e.g. http://127.0.0.1:5000")
            )
    if problems:
        raise InputError(problems)


def _targets(platform: Any, stack: str, region: str | None) -> dict[str, str]:
    """Component name → region of the stack's AWS clusters and lakes (only `region`'s with --region)."""
    targets = {
        item.name: item.region or "us-east-1"
        for item in [*platform.clusters, *platform.data_lakes]
        if item.cloud == "aws"
    }
    if not targets:
        raise InputError(Problem("--stack", f"{stack!r} has no AWS clusters or data lakes; there is nothing to audit"))
    if region is not None:
        chosen = {name: r for name, r in targets.items() if r == region}
        if not chosen:
            regions = ", ".join(sorted(set(targets.values())))
            raise InputError(
                Problem("--region", f"{region!r} — stack {stack}'s AWS clusters and lakes are in {regions}; pick one")
            )
        return chosen
    return targets


def _top_component(resource: Recorded, by_urn: dict[str, Recorded]) -> str | None:
    node = resource
    while node.parent and node.parent in by_urn and by_urn[node.parent].type != STACK_TYPE:
        node = by_urn[node.parent]
    return node.name if node is not resource or resource.parent else None


# ------------------------------------------------------------------ reading and pairing


class _Audit:
    def __init__(
        self, reader: Reader, run: ProgramRun, targets: dict[str, str], targets_all: dict[str, str], stack: str
    ):
        self.reader = reader
        self.run = run
        self.stack = stack
        self.regions = sorted(set(targets.values()))
        self.left_out = set(targets_all) - set(targets)
        by_urn = run.by_urn()
        every_region = set(self.regions) == set(targets_all.values())
        self.planned: list[tuple[Recorded, str | None]] = []
        for r in run.resources:
            if not r.type.startswith("aws:"):
                continue
            component = _top_component(r, by_urn)
            if component in targets_all:
                region: str | None = targets_all[component]
            else:  # another AWS component of the stack (e.g. an image registry): its provider's region, if named
                provider = by_urn.get((r.provider or "").rsplit("::", 1)[0])
                region = provider.inputs.get("region") if provider else None
            if region in self.regions or (region is None and every_region):
                self.planned.append((r, region))
        self.not_checked: list[NotChecked] = []
        self.unchecked_types: set[str] = set()
        self.tr = match.Translator()
        self.aliases: dict[str, list[str]] = {}
        for r, _ in self.planned:
            if r.type == "aws:kms/alias:Alias" and isinstance(r.inputs.get("targetKeyId"), str):
                self.aliases.setdefault(r.inputs["targetKeyId"], []).append(str(r.inputs.get("name")))
        self.account = ""
        self.pairs: list[tuple[Recorded, Live]] = []
        self.missing: list[Recorded] = []
        self.unexpected: list[Live] = []

    def read(self, what: str, types: tuple[str, ...], read: Callable[[], list[Live]]) -> list[Live]:
        try:
            return read()
        except Unsupported as err:
            self.not_checked.append(
                NotChecked(what, f"the endpoint does not implement {err}; the policy pack judged them as planned")
            )
            self.unchecked_types.update(types)
            return []

    def stack_tagged(self, live: Live) -> bool:
        """Carries the stack's tags, and belongs to no cluster or lake left out by --region (IAM is global)."""
        owner = live.tags.get("aiinfra-cluster") or live.tags.get("aiinfra-lake")
        if owner in self.left_out:
            return False
        return live.tags.get("environment") == self.stack and live.tags.get(MANAGED_BY[0]) == MANAGED_BY[1]

    def plans_of(self, *types: str) -> list[Recorded]:
        return [r for r, _ in self.planned if r.type in types]

    def pair(self, types: tuple[str, ...], lives: list[Live], report_leftovers: Callable[[Live], bool]) -> list[Live]:
        """Pair the planned resources of `types` with `lives`; returns the paired and reported live ones."""
        pairs, missing, left = match.pair(self.plans_of(*types), lives, self.tr, self.aliases, self.stack_tagged)
        self.pairs += pairs
        self.missing += [r for r in missing if r.type not in self.unchecked_types]
        extra = [live for live in left if report_leftovers(live)]
        self.unexpected += extra
        return [live for _, live in pairs] + extra

    def collect(self, account: str) -> None:
        r = self.reader
        self.account = account
        self.tr.account(account)
        regions = set(self.regions)
        # Top-level resources first (their identifiers translate their children's planned references).
        keys = [
            k for region in self.regions for k in self.read("KMS keys", (aws.KMS_KEY,), lambda g=region: aws.keys(r, g))
        ]
        self.pair((aws.KMS_KEY,), keys, self.stack_tagged)
        vpcs = [v for g in self.regions for v in self.read("VPCs", (aws.VPC,), lambda g=g: aws.vpcs(r, g))]
        vpcs = self.pair((aws.VPC,), vpcs, self.stack_tagged)
        buckets = self.pair(
            (aws.BUCKET,), self.read("S3 buckets", (aws.BUCKET,), lambda: aws.buckets(r, regions)), self.stack_tagged
        )
        roles = self.pair((aws.ROLE,), self.read("IAM roles", (aws.ROLE,), lambda: aws.roles(r)), self.stack_tagged)
        clusters = self.pair(
            (aws.EKS_CLUSTER,),
            [
                c
                for g in self.regions
                for c in self.read("EKS clusters", (aws.EKS_CLUSTER,), lambda g=g: aws.clusters(r, g))
            ],
            self.stack_tagged,
        )
        templates = [
            t
            for g in self.regions
            for t in self.read("launch templates", (aws.LAUNCH_TEMPLATE,), lambda g=g: aws.launch_templates(r, g))
        ]
        self.pair((aws.LAUNCH_TEMPLATE,), templates, self.stack_tagged)
        groups = [
            p
            for g in self.regions
            for p in self.read(
                f"EC2 placement groups ({g})", (aws.PLACEMENT_GROUP,), lambda g=g: aws.placement_groups(r, g)
            )
        ]
        self.pair((aws.PLACEMENT_GROUP,), groups, self.stack_tagged)
        # What belongs to the stack's buckets, roles, clusters and VPCs: anything there the plan lacks is unexpected.
        everything = lambda _live: True  # noqa: E731
        settings = [s for b in buckets for s in aws.bucket_settings(r, b)]
        self.pair(aws.BUCKET_COMPANIONS, settings, everything)
        policies = [p for role in roles for p in aws.role_policies(r, role)]
        self.pair((aws.ROLE_POLICY, aws.ROLE_POLICY_ATTACHMENT), policies, everything)
        node_groups = [n for c in clusters for n in aws.node_groups(r, c)]
        self.pair((aws.NODE_GROUP,), node_groups, everything)
        addons = [
            a
            for c in clusters
            for a in self.read(f"EKS add-ons of {c.name}", (aws.ADDON,), lambda c=c: aws.addons(r, c))
        ]
        self.pair((aws.ADDON,), addons, everything)
        logs = [
            f
            for g in self.regions
            for f in self.read(
                "VPC flow logs",
                (aws.FLOW_LOG,),
                lambda g=g: aws.flow_logs(r, g, [v.name for v in vpcs if v.region == g]),
            )
        ]
        self.pair((aws.FLOW_LOG,), logs, everything)
        paired = {id(p) for p, _ in self.pairs}
        for plan, _ in self.planned:
            if id(plan) not in paired:
                self.tr.unpaired(plan)


def _records(audit: _Audit) -> list[Recorded]:
    """The live resources as the pack receives them: the plan's URN, parent and resource options for paired
    ones, a URN of their own for unexpected ones (which no `pulumi up` deletes, hence protected)."""
    root = next(r for r in audit.run.resources if r.type == STACK_TYPE)
    records = [
        Recorded(urn=root.urn, type=root.type, name=root.name, parent=None, custom=False, provider=None, inputs={})
    ]
    for plan, live in audit.pairs:
        records.append(_record(live, plan.urn, plan.name, plan.parent, plan.protect))
    for live in audit.unexpected:
        records.append(_record(live, unexpected_urn(audit.run, live), live.name, root.urn, True))
    # What the endpoint could not show is judged as planned, so a rule that looks across resources (a cluster's
    # add-ons, a bucket's settings) does not mistake "not read" for "absent".
    for plan, _ in audit.planned:
        if plan.type in audit.unchecked_types:
            props = audit.tr.best(plan.inputs)
            stand_in = Live(plan.type, None, plan.name, props, ids={"id": str(audit.tr.best(plan.id or ""))})
            records.append(_record(stand_in, plan.urn, plan.name, plan.parent, plan.protect))
    return records


def _record(live: Live, urn: str, name: str, parent: str | None, protect: bool) -> Recorded:
    props = dict(live.props)
    return Recorded(
        urn=urn,
        type=live.type,
        name=name,
        parent=parent,
        custom=True,
        provider=None,
        inputs=props,
        outputs=props,
        id=live.ids.get("id"),
        protect=protect,
    )


def unexpected_urn(run: ProgramRun, live: Live) -> str:
    return f"urn:pulumi:{run.stack}::{run.project}::{live.type}::{live.name}"


def _drift(audit: _Audit) -> tuple[list[Drift], dict[str, list[str]]]:
    drift: list[Drift] = []
    not_compared: dict[str, set[str]] = {}
    for plan in audit.missing:
        drift.append(Drift("missing", plan.type, plan.urn, ""))
    for live in audit.unexpected:
        drift.append(Drift("unexpected", live.type, unexpected_urn(audit.run, live), live.name))
    for plan, live in audit.pairs:
        comparison = match.compare(plan, live, audit.tr)
        if comparison.not_compared:
            not_compared.setdefault(plan.type, set()).update(comparison.not_compared)
        for change in comparison.changes:
            drift.append(Drift("changed", plan.type, plan.urn, live.name, change.path, change.planned, change.live))
    order = {"missing": 0, "unexpected": 1, "changed": 2}
    drift.sort(key=lambda d: (order[d.kind], d.urn, d.path))
    return drift, {t: sorted(keys) for t, keys in sorted(not_compared.items())}


# ------------------------------------------------------------------ outputs


def _resources(audit: _Audit, drift: list[Drift]) -> list[dict[str, Any]]:
    drifted = {d.urn for d in drift if d.kind == "changed"}
    rows = [
        {
            "urn": plan.urn,
            "type": plan.type,
            "resource": live.name,
            "region": live.region,
            "status": "drifted" if plan.urn in drifted else "in-sync",
        }
        for plan, live in audit.pairs
    ]
    rows += [
        {"urn": p.urn, "type": p.type, "resource": None, "region": None, "status": "missing"} for p in audit.missing
    ]
    rows += [
        {
            "urn": unexpected_urn(audit.run, live),
            "type": live.type,
            "resource": live.name,
            "region": live.region,
            "status": "unexpected",
        }
        for live in audit.unexpected
    ]
    return sorted(rows, key=lambda row: row["urn"])


def audit_sarif(result: AuditResult) -> dict[str, Any]:
    """The pack's SARIF run (policy.report.sarif) plus one rule for drift and a result per drift."""
    document = sarif(result.report)
    run = document["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    rules.append(
        {
            "id": f"aiinfra-audit/{DRIFT_RULE}",
            "name": DRIFT_RULE,
            "shortDescription": {"text": "What is deployed differs from the stack's plan."},
            "help": {"text": "Run `pulumi up` for the stack (or `pulumi refresh` and update the program)."},
            "defaultConfiguration": {"level": "error"},
        }
    )
    for d in result.drift:
        run["results"].append(
            {
                "ruleId": f"aiinfra-audit/{DRIFT_RULE}",
                "ruleIndex": len(rules) - 1,
                "level": "error",
                "message": {"text": d.message()},
                "locations": [
                    {
                        "logicalLocations": [
                            {"fullyQualifiedName": d.urn, "name": resource_label(d.urn), "kind": "resource"}
                        ]
                    }
                ],
                "properties": {"drift": d.kind, **({"path": d.path} if d.path else {})},
            }
        )
    return document


def audit_junit(result: AuditResult) -> ET.Element:
    """The pack's JUnit suites (policy.report.junit) plus a `drift` suite: a failing case per drift."""
    suites = junit(result.report)
    suite = ET.SubElement(suites, "testsuite", name="aiinfra-audit drift")
    for d in result.drift:
        case = ET.SubElement(suite, "testcase", classname=f"drift.{d.kind}", name=f"{d.urn} {d.path}".strip())
        ET.SubElement(case, "failure", message=d.message(), type=d.kind).text = d.message()
    for what in result.not_checked:
        case = ET.SubElement(suite, "testcase", classname="drift.not-checked", name=what.what)
        ET.SubElement(case, "skipped", message=what.why)
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(len(result.drift)))
    suite.set("skipped", str(len(result.not_checked)))
    suite.set("errors", "0")
    return suites


def _print(result: AuditResult) -> None:
    from rich.table import Table

    from aiinfra.plan.report import plan_console

    console = plan_console()
    where = f" at {result.endpoint_url}" if result.endpoint_url else ""
    console.print(
        f"[bold]Audit of stack {result.stack}[/]: AWS account {result.account or '?'}, "
        f"{', '.join(result.regions)}{where}"
    )
    counts: dict[str, int] = {}
    for row in result.resources:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    console.print(
        f"[bold]Resources:[/] {len(result.resources)} — "
        + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    )
    if result.drift:
        table = Table(title="Drift", title_justify="left", expand=True)
        table.add_column("Kind", max_width=10)
        table.add_column("Resource", max_width=40, overflow="fold")
        table.add_column("Property", max_width=30, overflow="fold")
        table.add_column("Planned → live", ratio=1, overflow="fold")
        for d in result.drift:
            colour = {"missing": "red", "unexpected": "magenta", "changed": "yellow"}[d.kind]
            subject = f"{resource_label(d.urn)}" + (f"\n[dim]{d.resource}[/]" if d.resource else "")
            values = f"{_short(d.planned)} → {_short(d.live)}" if d.kind == "changed" else ""
            table.add_row(f"[{colour}]{d.kind}[/]", subject, d.path, values)
        console.print(table)
    else:
        console.print("[green]No drift[/] on the properties the plan sets.")
    render_table(result.report, console)
    for line in result.not_checked:
        console.print(f"[yellow]not checked:[/] {line.what} — {line.why}")
    for type_, keys in result.not_compared.items():
        console.print(f"[dim]not compared: {type_} {', '.join(keys)} (not read by the audit or not reported)[/]")


# ------------------------------------------------------------------ the command


def audit_command(
    root: Path,
    stack: str | None,
    *,
    as_json: bool = False,
    sarif_file: Path | None = None,
    junit_file: Path | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    print_policy: bool = False,
    policy_packs: list[Path] | None = None,
    policy_configs: list[Path] | None = None,
) -> int:
    check_flags(region, endpoint_url)
    if print_policy:
        print(policy_text(region))
        return EXIT_OK
    if not stack:
        raise InputError(Problem("--stack", "required: the stack to audit (or --print-policy for the IAM policy)"))
    result = run_audit(
        root,
        stack,
        region=region,
        endpoint_url=endpoint_url,
        policy_packs=policy_packs,
        policy_configs=policy_configs,
        sarif_file=sarif_file,
        junit_file=junit_file,
    )
    if sarif_file is not None:
        write_atomically(root / sarif_file, json.dumps(audit_sarif(result), indent=2) + "\n", "--sarif")
    if junit_file is not None:
        write_junit_tree(audit_junit(result), root / junit_file)
    if as_json:
        json.dump(result.as_json(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        _print(result)
    return result.exit_code


def run_audit(
    root: Path,
    stack: str,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    policy_packs: list[Path] | None = None,
    policy_configs: list[Path] | None = None,
    sarif_file: Path | None = None,
    junit_file: Path | None = None,
    session: Any = None,
    plan: ProgramRun | None = None,
) -> AuditResult:
    """Plan `stack` offline (or take its `plan`, already run), read its AWS resources, pair, compare and judge
    them. Raises InputError (exit 2) and CloudUnreadable (exit 3)."""
    check_flags(region, endpoint_url)
    from aiinfra.pipeline import PLATFORM_KEY, load_platform
    from aiinfra.stack import load_project, load_stack_config

    project = load_project(root)
    for flag, path in (("--sarif", sarif_file), ("--junit", junit_file)):
        if path is not None:
            check_writable(project.root / path, flag)
    config, secret_keys = load_stack_config(project, stack)
    if PLATFORM_KEY not in config:
        raise InputError(Problem("--stack", f"{stack!r} has no aiinfra:platform; audit reads aiinfra stacks only"))
    platform = load_platform(root, stack)
    targets = _targets(platform, stack, region)
    try:
        import boto3
    except ModuleNotFoundError:
        raise InputError(
            Problem(
                "audit", "needs boto3: pip install boto3 (the workloads extra has it: pip install -e '.[workloads]')"
            )
        ) from None

    from aiinfra.plan.engine import run_program
    from aiinfra.plan.mocks import PlanMocks
    from aiinfra.policy.stage import PolicyStage

    reader = Reader(session or boto3.Session(), endpoint_url)
    account = aws.account_id(reader)  # before the plan: missing credentials fail in a second, not after it
    with PolicyStage(project, stack, config, secret_keys, policy_packs, policy_configs) as stage:
        if plan is None:
            plan = run_program(project, stack, config, secret_keys, PlanMocks())
        audit = _Audit(reader, plan, targets, _targets(platform, stack, None), stack)
        audit.collect(account)
        records = _records(audit)
        report = stage.check(ProgramRun(plan.project, plan.stack, records, []))
    drift, not_compared = _drift(audit)
    for live in audit.pairs:
        if live[1].unreported:
            audit.not_checked.append(
                NotChecked(
                    f"{resource_label(live[0].urn)} {', '.join(live[1].unreported)}", "the endpoint does not report it"
                )
            )
    return AuditResult(
        stack=stack,
        account=audit.account,
        regions=audit.regions,
        resources=_resources(audit, drift),
        drift=drift,
        not_checked=audit.not_checked,
        not_compared=not_compared,
        report=report,
        endpoint_url=endpoint_url,
        records=records,
    )
