"""Benchmark: the offline plan of prod against the same program under a do-nothing mock, and
the policy pack's evaluation speed over the planned resources.

Both plan variants run in this process, alternating, so the ratio is machine-independent. The
last line is JSON: plan_over_bare_ratio (goal <= 1.5), resources/s of the full plan,
policy_resources_per_s (goal >= 1000) through the real analyzer protocol, and
policy_over_bare_ratio (policy evaluation time / the bare run of the same program, goal <= 0.2),
plus peak RSS, in all and per resource, of this process and of the largest pack process. This
process's peak is read after one plan and the policy rounds, before the other plans, so it is what
`aiinfra plan` holds (one plan, its requests, the preview JSON), imports included.

`--scale TEAMS,CLUSTERS` plans a synthetic org instead of the stack as it is: a copy of the
project in a temporary directory whose stack has CLUSTERS clusters (the stack's own, then copies
of them in turn, renamed) and TEAMS teams (the stack's own, then extra ones each with a quota on
every cluster).

    .venv/bin/python bench/plan.py [--quick] [--stack prod] [--scale 50,16]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import yaml
from pulumi.runtime.mocks import MockMonitor, Mocks

from aiinfra.plan import engine
from aiinfra.plan.mock_registry import INVOKES
from aiinfra.plan.mocks import PlanMocks
from aiinfra.plan.preview import preview_document
from aiinfra.policy.runner import throughput
from aiinfra.stack import load_project, load_stack_config

REPO = Path(__file__).resolve().parent.parent


class BareMocks(Mocks):
    """A do-nothing mock: ids only, no computed outputs (they stay unknown, as in a first preview); invokes
    answered from the same table."""

    def new_resource(self, args):
        return f"{args.name}_id", {}

    def call(self, args):
        return INVOKES[args.token](args.args, {})


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _scaled_project(stack: str, scale: str, into: Path) -> Path:
    """A copy of this project in `into` whose `stack` is a synthetic org of TEAMS teams and CLUSTERS clusters."""
    teams, clusters = (int(n) for n in scale.split(","))
    shutil.copy(REPO / "Pulumi.yaml", into)
    shutil.copy(REPO / "__main__.py", into)
    shutil.copytree(REPO / "stacks", into / "stacks")
    stack_file = into / "stacks" / f"Pulumi.{stack}.yaml"
    data = yaml.safe_load(stack_file.read_text())
    platform = data["config"]["aiinfra:platform"]
    own = platform["clusters"]
    platform["clusters"] = [
        own[i] if i < len(own) else {**own[i % len(own)], "name": f"{own[i % len(own)]['name']}-{i}"}
        for i in range(clusters)
    ]
    stack_file.write_text(yaml.safe_dump(data, sort_keys=False))
    # Every cluster of prod has H100 nodes, so an H100 quota puts a team on every cluster.
    existing = len(list((into / "stacks" / "teams").glob("*.yaml")))
    for i in range(max(0, teams - existing)):
        team = {"team": f"synth{i:03d}", "owners": [f"synth{i:03d}@example.com"], "quotas": {stack: {"H100": 1}}}
        (into / "stacks" / "teams" / f"synth{i:03d}.yaml").write_text(yaml.safe_dump(team))
    return into


def _peak_rss_mib() -> float:
    """Peak RSS of this process, MiB (Linux reports KiB). A child's ru_maxrss would include this process's
    memory at the fork, so a pack process's own peak comes from the runner (VmHWM)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 10")
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--scale", metavar="TEAMS,CLUSTERS", help="plan a synthetic org of this size instead")
    parser.add_argument("--rounds", type=int, help="rounds of each measurement (default 10, 3 with --quick)")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 10)

    root = REPO
    if args.scale:
        root = _scaled_project(args.stack, args.scale, Path(tempfile.mkdtemp(prefix="aiinfra-bench-")))
    project = load_project(root)
    config, secrets = load_stack_config(project, args.stack)

    def full_plan() -> engine.ProgramRun:
        run = engine.run_program(project, args.stack, config, secrets, PlanMocks())
        json.dumps(preview_document(run, config, secrets), default=str)
        return run

    def bare_run() -> None:
        # The plain SDK monitor: no recording of requests, no realistic outputs, no JSON.
        engine.run_program(project, args.stack, config, secrets, BareMocks(), monitor=MockMonitor)

    started = time.perf_counter()
    planned = full_plan()  # warm imports and caches before measuring either side
    first_plan_s = time.perf_counter() - started
    resources = len(planned.resources)
    policy = throughput(planned, REPO / "policies", REPO / "policies" / "config" / f"{args.stack}.json", rounds=rounds)
    main_rss, pack_rss = _peak_rss_mib(), policy["pack_peak_rss_mib"] or 0.0
    bare_run()
    plan_times, bare_times = [], []
    for _ in range(rounds):
        plan_times.append(_timed(full_plan))
        bare_times.append(_timed(bare_run))
    plan_s, bare_s = statistics.median(plan_times), statistics.median(bare_times)
    if args.scale:
        shutil.rmtree(root)
    print(
        f"stack {args.stack}{f' scaled {args.scale}' if args.scale else ''}: {resources} resources; "
        f"plan {plan_s * 1000:.0f} ms, bare {bare_s * 1000:.0f} ms (median of {rounds}); policy "
        f"{policy['eval_s'] * 1000:.0f} ms = {policy['resources_per_s']} resources/s on {policy['processes']} pack "
        f"process(es), {policy['start_s']} s to start; peak RSS {main_rss:.0f} MiB here "
        f"({main_rss * 1024 / resources:.0f} KiB/resource), {pack_rss:.0f} MiB per pack "
        f"({pack_rss * 1024 / resources:.0f} KiB/resource)"
    )
    print(
        json.dumps(
            {
                "bench": "plan",
                "stack": args.stack,
                "scale": args.scale,
                "resources": resources,
                "first_plan_s": round(first_plan_s, 3),
                "rounds": rounds,
                "plan_s": round(plan_s, 4),
                "bare_s": round(bare_s, 4),
                "plan_over_bare_ratio": round(plan_s / bare_s, 3),
                "resources_per_s": round(resources / plan_s, 1),
                "policy_resources_per_s": policy["resources_per_s"],
                "policy_s": policy["eval_s"],
                "policy_over_bare_ratio": round(policy["eval_s"] / bare_s, 3),
                "policy_processes": policy["processes"],
                "peak_rss_main_mib": main_rss,
                "peak_rss_pack_mib": pack_rss,
                "rss_kib_per_resource_main": round(main_rss * 1024 / resources, 1),
                "rss_kib_per_resource_pack": round(pack_rss * 1024 / resources, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
