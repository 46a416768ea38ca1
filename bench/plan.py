"""Benchmark: the offline plan of prod against the same program under a do-nothing mock, and
the policy pack's evaluation speed over the planned resources.

Both plan variants run in this process, alternating, so the ratio is machine-independent. The
last line is JSON: plan_over_bare_ratio (goal <= 1.5), resources/s of the full plan, and
policy_resources_per_s (goal >= 1000) through the real analyzer protocol.

    .venv/bin/python bench/plan.py [--quick] [--stack prod]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 10")
    parser.add_argument("--stack", default="prod")
    args = parser.parse_args()
    rounds = 3 if args.quick else 10

    project = load_project(REPO)
    config, secrets = load_stack_config(project, args.stack)

    def full_plan() -> engine.ProgramRun:
        run = engine.run_program(project, args.stack, config, secrets, PlanMocks())
        json.dumps(preview_document(run, config, secrets), default=str)
        return run

    def bare_run() -> None:
        # The plain SDK monitor: no recording of requests, no realistic outputs, no JSON.
        engine.run_program(project, args.stack, config, secrets, BareMocks(), monitor=MockMonitor)

    planned = full_plan()  # warm imports and caches before measuring either side
    resources = len(planned.resources)
    bare_run()
    plan_times, bare_times = [], []
    for _ in range(rounds):
        plan_times.append(_timed(full_plan))
        bare_times.append(_timed(bare_run))
    plan_s, bare_s = statistics.median(plan_times), statistics.median(bare_times)
    policy = throughput(planned, REPO / "policies", REPO / "policies" / "config" / f"{args.stack}.json", rounds=rounds)
    print(
        f"stack {args.stack}: {resources} resources; plan {plan_s * 1000:.0f} ms, bare {bare_s * 1000:.0f} ms "
        f"(median of {rounds}); policy {policy['resources_per_s']} resources/s on {policy['processes']} pack "
        f"process(es), {policy['start_s']} s to start"
    )
    print(
        json.dumps(
            {
                "bench": "plan",
                "stack": args.stack,
                "resources": resources,
                "rounds": rounds,
                "plan_s": round(plan_s, 4),
                "bare_s": round(bare_s, 4),
                "plan_over_bare_ratio": round(plan_s / bare_s, 3),
                "resources_per_s": round(resources / plan_s, 1),
                "policy_resources_per_s": policy["resources_per_s"],
                "policy_processes": policy["processes"],
            }
        )
    )


if __name__ == "__main__":
    main()
