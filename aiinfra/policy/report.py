"""Policy violations for people (a terminal table) and for tools (SARIF 2.1.0, JUnit XML)."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from aiinfra import __version__
from aiinfra.output import write_atomically
from aiinfra.plan.engine import resource_label
from aiinfra.policy.runner import PackResult, PolicyReport, Violation

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVEL = {"mandatory": "error", "advisory": "warning"}
SECURITY_SEVERITY = {"low": "3.0", "medium": "5.5", "high": "8.0", "critical": "9.5"}
"""GitHub code scanning ranks alerts by this property (CVSS-like scores)."""


def violation_status(v: Violation) -> str:
    if v.waived:
        return "waived"
    return f"{v.enforcement_level} (waiver expired)" if v.waiver else v.enforcement_level


def by_importance(violations: list[Violation]) -> list[Violation]:
    """Blocking first, waived last; then by policy and resource."""
    return sorted(violations, key=lambda v: (not v.blocking, v.waived, v.policy_name, v.urn or ""))


def render_table(report: PolicyReport, console: Console) -> None:
    if not report.packs:
        return
    violations = by_importance(report.violations)
    if violations:
        table = Table(title="Policy violations", title_justify="left", expand=True)
        table.add_column("Level", max_width=11)
        table.add_column("Policy / resource", max_width=34, overflow="fold")
        table.add_column("Problem", ratio=1)
        for v in violations:
            colour = "dim" if v.waived else "red" if v.blocking else "yellow"
            subject = f"{v.policy_name}\n[dim]{resource_label(v.urn)}[/]"
            table.add_row(f"[{colour}]{violation_status(v)}[/]", subject, v.message)
        console.print(table)
    blocking = sum(v.blocking for v in violations)
    waived = sum(v.waived for v in violations)
    policies = sum(len(p.policies) for p in report.packs)
    console.print(
        f"[bold]Policies:[/] {policies} checked in {', '.join(p.name for p in report.packs)}; "
        f"[red]{blocking} mandatory[/], [yellow]{len(violations) - blocking - waived} advisory[/], {waived} waived"
    )
    for pack in report.packs:
        if pack.config_file is None:
            console.print(f"[yellow]note:[/] {defaults_note(pack)}")


def defaults_note(pack: PackResult) -> str:
    """What applies to a stack that has no config for `pack`: the pack's own levels and defaults."""
    settings = [
        f"{p.name} {key} {value:g}"
        for p in pack.policies
        for key, value in sorted(p.properties.items())
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]
    mandatory = sum(p.enforcement_level == "mandatory" for p in pack.policies)
    return (
        f"the stack has no config for policy pack {pack.name} (e.g. {pack.directory.name}/config/<stack>.json), so "
        f"the pack's defaults apply: {mandatory} of {len(pack.policies)} policies mandatory; " + "; ".join(settings)
    )


def _rule_id(pack: str, policy: str) -> str:
    return f"{pack}/{policy}"


def sarif(report: PolicyReport) -> dict[str, Any]:
    """One SARIF 2.1.0 run: every policy as a rule, every violation as a result (waived ones suppressed)."""
    rules, index = [], {}
    for pack in report.packs:
        for policy in pack.policies:
            index[(pack.name, policy.name)] = len(rules)
            properties: dict[str, Any] = {"tags": list(policy.tags), "policyPack": f"{pack.name}@{pack.version}"}
            if policy.framework:
                properties["compliance"] = policy.framework
            if policy.severity:
                properties["security-severity"] = SECURITY_SEVERITY[policy.severity]
            rule: dict[str, Any] = {
                "id": _rule_id(pack.name, policy.name),
                "name": policy.name,
                "shortDescription": {"text": policy.description},
                "help": {"text": policy.remediation or policy.description},
                "defaultConfiguration": {"level": SARIF_LEVEL.get(policy.enforcement_level, "none")},
                "properties": properties,
            }
            if policy.url:
                rule["helpUri"] = policy.url
            rules.append(rule)
    results = []
    for v in report.violations:
        urn = v.urn or report.stack_urn or ""
        location: dict[str, Any] = {
            "logicalLocations": [{"fullyQualifiedName": urn, "name": resource_label(v.urn), "kind": "resource"}]
        }
        if report.stack_file is not None:
            location["physicalLocation"] = {
                "artifactLocation": {"uri": report.stack_file.as_posix(), "uriBaseId": "PROJECTROOT"}
            }
        result: dict[str, Any] = {
            "ruleId": _rule_id(v.policy_pack, v.policy_name),
            "level": "note" if v.waived else SARIF_LEVEL.get(v.enforcement_level, "none"),
            "message": {"text": v.message},
            "locations": [location],
            "partialFingerprints": {
                "policyUrn/v1": hashlib.sha256(f"{v.policy_pack}/{v.policy_name}|{urn}".encode()).hexdigest()[:32]
            },
        }
        if (v.policy_pack, v.policy_name) in index:
            result["ruleIndex"] = index[(v.policy_pack, v.policy_name)]
        if v.waived and v.waiver:
            result["suppressions"] = [
                {
                    "kind": "external",
                    "status": "accepted",
                    "justification": f"{v.waiver.reason} (owner {v.waiver.owner}, "
                    f"until {v.waiver.expires.isoformat()})",
                }
            ]
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "aiinfra", "version": __version__, "rules": rules}},
                "originalUriBaseIds": {"PROJECTROOT": {"description": {"text": "The Pulumi project directory"}}},
                "results": results,
            }
        ],
    }


def write_sarif(report: PolicyReport, path: Path) -> None:
    write_atomically(path, json.dumps(sarif(report), indent=2) + "\n", "--sarif")


def junit(report: PolicyReport) -> ET.Element:
    """One testsuite per pack: a testcase per (policy, resource) violation, failing when it blocks,
    and a passing testcase per policy without violations."""
    suites = ET.Element("testsuites", name="aiinfra policy")
    for pack in report.packs:
        suite = ET.SubElement(suites, "testsuite", name=f"{pack.name}@{pack.version}")
        violated = {v.policy_name for v in pack.violations}
        for v in pack.violations:
            case = ET.SubElement(suite, "testcase", classname=f"{pack.name}.{v.policy_name}", name=v.urn or "(stack)")
            if v.blocking:
                failure = ET.SubElement(case, "failure", message=v.message.splitlines()[0], type=violation_status(v))
                failure.text = v.message
            elif v.waived and v.waiver:
                ET.SubElement(case, "skipped", message=f"waived until {v.waiver.expires}: {v.waiver.reason}")
            else:
                ET.SubElement(case, "system-out").text = f"{v.enforcement_level}: {v.message}"
        for policy in pack.policies:
            if policy.name in violated:
                continue
            case = ET.SubElement(suite, "testcase", classname=f"{pack.name}.{policy.name}", name=policy.name)
            if policy.enforcement_level == "disabled":
                ET.SubElement(case, "skipped", message="disabled by the policy config")
        cases = suite.findall("testcase")
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(c.find("failure") is not None for c in cases)))
        suite.set("skipped", str(sum(c.find("skipped") is not None for c in cases)))
        suite.set("errors", "0")
    return suites


def write_junit(report: PolicyReport, path: Path) -> None:
    write_junit_tree(junit(report), path)


def write_junit_tree(root: ET.Element, path: Path) -> None:
    """Write a JUnit document (`junit(report)`, possibly with suites added, as `aiinfra audit` does)."""
    ET.indent(root)
    declaration = "<?xml version='1.0' encoding='utf-8'?>\n"  # what ElementTree.write(encoding="utf-8") writes
    write_atomically(path, declaration + ET.tostring(root, encoding="unicode") + "\n", "--junit")
