"""Policy evaluation: configure a started pack from its config file, analyze the planned resources
through the analyzer protocol, apply waivers, and collect what every output format is made from."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from aiinfra.core.errors import InputError, Problem
from aiinfra.core.tags import resource_tags
from aiinfra.plan.engine import STACK_TYPE, ProgramRun, Recorded
from aiinfra.policy.analyzer import SEVERITIES, Diagnostic, PolicyAnalyzer, StackContext
from aiinfra.policy.config import PolicySetting, analyzer_level, configure_request, load_settings, reconcile
from aiinfra.policy.waivers import WAIVERS_KEY, Waiver, parse_waivers

DEFAULT_PACK_DIR = "policies"
RESOURCES_PER_PROCESS = 1250
"""Resources per copy of a pack beyond the copies started with the program: a third copy from 3,750 resources
(on 3 or more cores). More copies start after the program has run, so their start is on the plan's path."""
PROCESSES_AT_START = 2
"""Copies of a pack `aiinfra plan` starts while the program runs, which hides their start (the program keeps
one core busy). Measured on the 2-core VM, idle, first round after a 3 s program-length wait, then the median
of 5 rounds (2026-12-03, 17:16 UTC): prod (471 resources) one copy 480-645 ms then 493-509 ms, two copies
364-408 ms then 386-424 ms; dev one copy 120-166 ms then 97-121 ms, two 88-105 ms then 95-102 ms. Started
after the program instead, the second copy cost more than it saved below ~2,500 resources."""


@dataclass(frozen=True)
class Policy:
    """A policy's metadata (GetAnalyzerInfo) with its reconciled enforcement level."""

    name: str
    description: str
    enforcement_level: str
    severity: str | None
    remediation: str
    framework: dict[str, str]
    tags: tuple[str, ...]
    url: str
    properties: dict[str, Any] = field(default_factory=dict)
    """Its configuration as reconciled: the stack's config over the pack's schema defaults."""


@dataclass(frozen=True)
class Violation:
    policy_pack: str
    policy_name: str
    urn: str | None
    """None for a violation of the stack as a whole."""
    enforcement_level: str
    severity: str | None
    message: str
    waiver: Waiver | None = None
    """The waiver that matched, also when it has expired (then `waived` is False)."""
    waived: bool = False

    @property
    def blocking(self) -> bool:
        return self.enforcement_level == "mandatory" and not self.waived


@dataclass
class PackResult:
    name: str
    version: str
    directory: Path
    config_file: Path | None
    policies: list[Policy]
    violations: list[Violation]


@dataclass
class PolicyReport:
    packs: list[PackResult]
    stack_urn: str | None
    stack_file: Path | None
    """The stack's config file relative to the project root (SARIF's physical location)."""
    today: date = field(default_factory=date.today)

    @property
    def violations(self) -> list[Violation]:
        return [v for pack in self.packs for v in pack.violations]

    @property
    def blocking(self) -> bool:
        return any(v.blocking for v in self.violations)

    def as_json(self) -> list[dict[str, Any]]:
        """The plan document's `policyViolations`."""
        return [
            {
                "policyPack": v.policy_pack,
                "policyName": v.policy_name,
                "urn": v.urn,
                "enforcementLevel": v.enforcement_level,
                "severity": v.severity,
                "message": v.message,
                "waived": v.waived,
                **({"waiver": v.waiver.as_json(self.today)} if v.waiver else {}),
            }
            for v in self.violations
        ]


def _policies(analyzer: PolicyAnalyzer, settings: dict[str, PolicySetting]) -> list[Policy]:
    return [
        Policy(
            name=p.name,
            description=p.description,
            enforcement_level=settings[p.name].enforcement_level or analyzer_level(p.enforcementLevel),
            severity=SEVERITIES[p.severity] if p.severity else None,
            remediation=p.remediation_steps,
            framework=json_format.MessageToDict(p.framework) if p.HasField("framework") else {},
            tags=tuple(p.tags),
            url=p.url,
            properties=dict(settings[p.name].properties),
        )
        for p in analyzer.info.policies
    ]


def _message(d: Diagnostic) -> str:
    """The SDK prefixes each message with the policy description; keep what is specific to the violation."""
    return d.message.removeprefix(d.description).lstrip("\n") or d.description


def evaluate(analyzer: PolicyAnalyzer, run: ProgramRun, config_file: Path | None, today: date) -> PackResult:
    """Configure `analyzer` from `config_file`, analyze `run`, and waive what the config's waivers cover."""
    source = str(config_file) if config_file else "policy config"
    given = load_settings(config_file) if config_file else {}
    settings = reconcile(analyzer.info, given, source)
    waiver_setting = given.get(WAIVERS_KEY, PolicySetting())
    waivers = parse_waivers(
        waiver_setting.properties, f"{source}: {WAIVERS_KEY}", [p.name for p in analyzer.info.policies]
    )
    analyzer.configure(configure_request(settings))
    by_urn = {r.urn: r for r in run.resources}
    stack_urn = next((r.urn for r in run.resources if r.type == STACK_TYPE), "")
    violations = [
        _waive(
            Violation(d.policy_pack, d.policy_name, d.urn, d.enforcement_level, d.severity, _message(d)),
            waivers,
            by_urn,
            stack_urn,
            today,
        )
        for d in analyzer.analyze(run.resources)
    ]
    return PackResult(
        analyzer.name, analyzer.version, analyzer.pack_dir, config_file, _policies(analyzer, settings), violations
    )


def _tags(resource: Recorded | None, by_urn: dict[str, Recorded]) -> dict[str, Any] | None:
    if resource is None:
        return None
    provider = by_urn.get(resource.provider.rsplit("::", 1)[0]) if resource.provider else None
    return resource_tags(resource.inputs, provider.inputs if provider else None)


def _waive(
    violation: Violation, waivers: list[Waiver], by_urn: dict[str, Recorded], stack_urn: str, today: date
) -> Violation:
    """Attach the first matching waiver; it waives only while it has not expired (fail closed)."""
    urn = violation.urn or stack_urn
    tags = _tags(by_urn.get(urn), by_urn)
    matching = [w for w in waivers if w.matches(violation.policy_name, urn, tags)]
    live = next((w for w in matching if not w.expired(today)), None)
    chosen = live or (matching[0] if matching else None)
    return replace(violation, waiver=chosen, waived=live is not None)


def processes_for(resources: int) -> int:
    """Copies of a pack for a plan of `resources` (0: those started with the program), at most one per core."""
    return max(1, min(os.cpu_count() or 1, max(PROCESSES_AT_START, resources // RESOURCES_PER_PROCESS)))


def resolve_packs(
    root: Path, stack: str, packs: list[Path] | None, configs: list[Path] | None
) -> list[tuple[Path, Path | None]]:
    """(pack dir, config file) pairs. Paths are relative to the project (as with `pulumi -C`). Without
    --policy-pack: the project's policies/ if it is a pack. Without --policy-config: each pack's
    config/<stack>.json if present. Given, configs pair with packs in order, as in pulumi."""
    if packs is None:
        default = root / DEFAULT_PACK_DIR
        pack_dirs = [default] if (default / "PulumiPolicy.yaml").is_file() else []
    else:
        pack_dirs = [root / p for p in packs]
    if configs:
        if len(configs) != len(pack_dirs):
            raise InputError(
                Problem(
                    "--policy-config",
                    f"{len(configs)} given for {len(pack_dirs)} policy pack(s); give one per --policy-pack, in order",
                )
            )
        return [(pack, root / config) for pack, config in zip(pack_dirs, configs, strict=True)]
    return [(pack, c if (c := pack / "config" / f"{stack}.json").is_file() else None) for pack in pack_dirs]


def throughput(run: ProgramRun, pack_dir: Path, config_file: Path | None = None, *, rounds: int = 3) -> dict[str, Any]:
    """Policy evaluation speed over a planned stack, for bench/plan.py: the pack is started once (as
    `aiinfra plan` does, with as many copies as it would use) and evaluated `rounds` times.

    Returns resources, processes, start_s (pack start and handshake), the median round's eval_s and
    resources_per_s (Configure + Analyze of every resource + AnalyzeStack + waivers), and the largest
    pack process's peak RSS (None where /proc is missing)."""
    context = StackContext(run.project, run.stack, {})
    processes = processes_for(len(run.resources))
    started = time.perf_counter()
    with PolicyAnalyzer(pack_dir, context, processes) as analyzer:
        start_s = time.perf_counter() - started
        timings = []
        for _ in range(rounds):
            began = time.perf_counter()
            evaluate(analyzer, run, config_file, date.today())
            timings.append(time.perf_counter() - began)
        pack_rss = analyzer.peak_rss_mib()
    eval_s = statistics.median(timings)
    return {
        "resources": len(run.resources),
        "processes": processes,
        "start_s": round(start_s, 3),
        "eval_s": round(eval_s, 4),
        "resources_per_s": round(len(run.resources) / eval_s, 1),
        "pack_peak_rss_mib": max(pack_rss, default=None),
    }
