"""The `aiinfra` command. Subcommands import their modules lazily: `aiinfra --help` must not
pay for pulumi, the cloud SDKs or torch."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import traceback
from contextlib import nullcontext
from pathlib import Path

from aiinfra.core.errors import (
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    InputError,
    Problem,
)
from aiinfra.interrupts import stop_hard_on_signals


def _policy_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policy-pack",
        type=Path,
        action="append",
        metavar="DIR",
        help="run the policy pack in DIR (repeatable); default: the project's policies/ if it is a pack",
    )
    parser.add_argument(
        "--policy-config",
        type=Path,
        action="append",
        metavar="FILE",
        help="policy config for the --policy-pack in the same position, in `pulumi --policy-pack-config` "
        "format; default: each pack's config/<stack>.json if it exists",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiinfra",
        description="Hybrid AI clusters as code: plan, validate and check Pulumi stacks offline.",
    )
    parser.add_argument(
        "-C",
        "--cwd",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="run as if started in DIR (the Pulumi project), like `pulumi -C`; relative paths resolve there",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plan = sub.add_parser(
        "plan",
        help="preview a stack offline: resources, policy verdicts, cost",
        description="Run the Pulumi program under Pulumi's mock runtime and show what "
        "`pulumi preview` would create. Exit 0 ok, 1 mandatory policy "
        "violations, 2 invalid input.",
    )
    plan.add_argument("-s", "--stack", required=True, help="stack name (stacks/Pulumi.<stack>.yaml)")
    plan.add_argument("--json", action="store_true", help="print only JSON, shaped like `pulumi preview --json`")
    plan.add_argument(
        "--export",
        type=Path,
        metavar="DIR",
        help="write rendered Kubernetes manifests (DIR/kubernetes/<cluster>/) and IAM documents (DIR/iam/) for review",
    )

    _policy_arguments(plan)
    plan.add_argument("--sarif", type=Path, metavar="FILE", help="write policy results as SARIF 2.1.0 (code scanning)")
    plan.add_argument("--junit", type=Path, metavar="FILE", help="write policy results as JUnit XML")
    plan.add_argument(
        "--against",
        metavar="REF|FILE.json",
        help="compare with a base: the same stack planned at a git ref (branch, tag, sha, HEAD~1) or an "
        "earlier `plan --json` file; shows resources added/removed/changed, policy and cost deltas",
    )
    plan.add_argument(
        "--markdown",
        type=Path,
        metavar="FILE",
        help="with --against: write the comparison as a pull-request comment in Markdown",
    )

    report = sub.add_parser(
        "report",
        help="write a plan as one self-contained HTML page: resource graphs, policy verdicts, cost",
        description="Plan the stack as `aiinfra plan` does and write one HTML file (inline CSS and SVG, "
        "nothing fetched). Exit 0 ok, 1 mandatory policy violations (the file is still written), 2 invalid input.",
    )
    report.add_argument("-s", "--stack", required=True, help="stack name (stacks/Pulumi.<stack>.yaml)")
    report.add_argument(
        "-o", "--output", type=Path, required=True, metavar="FILE", help="the HTML file to write (e.g. report.html)"
    )
    _policy_arguments(report)

    validate = sub.add_parser(
        "validate", help="plan's input checks without policy: spec, team files, component arguments; every problem"
    )
    validate.add_argument("-s", "--stack", required=True, help="stack name")

    team = sub.add_parser("team", help="self-service team requests (stacks/teams/<team>.yaml)")
    team_commands = team.add_subparsers(dest="team_command", required=True, metavar="COMMAND")
    new = team_commands.add_parser(
        "new",
        help="scaffold a team request, checked against every stack",
        description="Write stacks/teams/NAME.yaml for review in a pull request. It is checked against every "
        "stack first (quotas must fit a cluster of their stack); nothing is written when it does not fit.",
    )
    new.add_argument("name", metavar="NAME", help="team name (DNS label): namespace team-NAME")
    new.add_argument("--owner", action="append", required=True, metavar="EMAIL", help="owner e-mail (repeatable)")
    new.add_argument(
        "--quota",
        action="append",
        default=[],
        metavar="STACK:ACCELERATOR=COUNT",
        help="accelerators per stack, e.g. prod:H100=16 (repeatable)",
    )
    new.add_argument(
        "--lake-prefix",
        action="append",
        default=[],
        metavar="PREFIX",
        help="lake prefix the team may read and write (repeatable); default datasets/NAME/",
    )

    audit = sub.add_parser(
        "audit",
        help="compliance and drift of what is deployed on AWS: the stack's plan and policy pack against the cloud",
        description="Read the live AWS resources of the stack's AWS clusters and lakes with boto3 (read-only), "
        "compare them with the stack's offline plan (drift) and judge them with the policy pack. Exit 0 clean, "
        "1 mandatory policy violations or drift, 2 invalid input, 3 AWS could not be read.",
    )
    audit.add_argument("-s", "--stack", help="stack name (stacks/Pulumi.<stack>.yaml); required unless --print-policy")
    audit.add_argument("--json", action="store_true", help="print only JSON: resources, drift, policy violations")
    audit.add_argument("--sarif", type=Path, metavar="FILE", help="write policy violations and drift as SARIF 2.1.0")
    audit.add_argument("--junit", type=Path, metavar="FILE", help="write policy violations and drift as JUnit XML")
    audit.add_argument("--region", metavar="REGION", help="audit only the stack's AWS clusters and lakes in REGION")
    audit.add_argument(
        "--endpoint-url", metavar="URL", help="send every AWS call to URL (an emulator such as moto's server)"
    )
    audit.add_argument(
        "--print-policy",
        action="store_true",
        help="print the least-privilege read-only IAM policy the audit needs, and exit (no AWS call)",
    )
    _policy_arguments(audit)

    sub.add_parser("schema", help="print the JSON Schema of `aiinfra:platform` (for editor completion)")

    from aiinfra import local_loop  # these import neither torch nor pulumi
    from workloads.serving import local as local_serving
    from workloads.training import local as local_training

    local = sub.add_parser("local", help="run the workloads on this machine (CPU), exactly as in their pods")
    workloads = local.add_subparsers(dest="workload", required=True, metavar="WORKLOAD")
    local_training.add_arguments(
        workloads.add_parser("train", help="train with torchrun (gloo); checkpoints and the model go to a lake")
    )
    local_serving.add_arguments(workloads.add_parser("serve", help="serve an exported model over HTTP"))
    local_loop.add_up_arguments(
        workloads.add_parser(
            "up",
            help="the whole loop: an S3 lake, the tiny corpus, 2-rank training, export, a server, a sample",
            description="Start a local S3 lake (moto), upload the shipped corpus, train the tiny recipe on 2 ranks, "
            "export it, serve it and print a sample completion, with where everything is. The lake and the server "
            "keep running until `aiinfra local down`. Exit 1 when a step fails (what it started is stopped), "
            "2 on bad flags.",
        )
    )
    local_loop.add_down_arguments(
        workloads.add_parser("down", help="stop what `local up` started; keep the lake's objects unless --purge")
    )
    LOCAL_COMMANDS.update(train=local_training.run, serve=local_serving.run, up=local_loop.up, down=local_loop.down)
    return parser


def _validate(args: argparse.Namespace) -> int:
    from aiinfra.pipeline import validate_stack

    platform = validate_stack(args.cwd, args.stack)
    counts = {
        "cluster": len(platform.clusters),
        "node pool": sum(len(c.node_pools) for c in platform.clusters),
        "data lake": len(platform.data_lakes),
        "workload": len(platform.workloads),
        "team": len(platform.teams),
    }
    summary = ", ".join(f"{n} {kind}{'' if n == 1 else 's'}" for kind, n in counts.items())
    print(f"stack {args.stack}: valid — {summary}")
    return 0


def _schema(_args: argparse.Namespace) -> int:
    import json

    from aiinfra.spec import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def _team(args: argparse.Namespace) -> int:
    from aiinfra.teams import new_team

    path = new_team(args.cwd, args.name, args.owner, args.quota, args.lake_prefix)
    print(f"wrote {path} — review it, then `aiinfra plan --stack <stack>` shows what it adds")
    return 0


def _plan(args: argparse.Namespace) -> int:
    from aiinfra.pipeline import plan_command

    return plan_command(
        args.cwd,
        args.stack,
        as_json=args.json,
        export_dir=args.export,
        policy_packs=args.policy_pack,
        policy_configs=args.policy_config,
        sarif=args.sarif,
        junit=args.junit,
        against=args.against,
        markdown=args.markdown,
    )


def _report(args: argparse.Namespace) -> int:
    from aiinfra.report.page import report_command

    return report_command(
        args.cwd, args.stack, args.output, policy_packs=args.policy_pack, policy_configs=args.policy_config
    )


def _audit(args: argparse.Namespace) -> int:
    from aiinfra.audit.errors import EXIT_CLOUD, CloudUnreadable

    try:
        from aiinfra.audit.command import audit_command

        return audit_command(
            args.cwd,
            args.stack,
            as_json=args.json,
            sarif_file=args.sarif,
            junit_file=args.junit,
            region=args.region,
            endpoint_url=args.endpoint_url,
            print_policy=args.print_policy,
            policy_packs=args.policy_pack,
            policy_configs=args.policy_config,
        )
    except CloudUnreadable as err:
        print(f"error: cannot read AWS: {err}", file=sys.stderr)
        return EXIT_CLOUD


def _local(args: argparse.Namespace) -> int:
    try:
        return LOCAL_COMMANDS[args.workload](args)
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] not in WORKLOADS_EXTRA:
            raise
        raise InputError(
            Problem(
                f"local {args.workload}",
                f"needs {err.name}, which the workloads extra installs: pip install -e '.[workloads]' "
                "(or `make run`, which installs everything)",
            )
        ) from None


LOCAL_COMMANDS: dict = {}
WORKLOADS_EXTRA = (
    "torch",
    "numpy",
    "safetensors",
    "fsspec",
    "s3fs",
    "gcsfs",
    "adlfs",
    "boto3",
    "botocore",
    "starlette",
    "uvicorn",
    "prometheus_client",
    "moto",
)
"""Top-level modules of pyproject's `workloads` extra, which only the `local` commands need."""
COMMANDS = {
    "plan": _plan,
    "report": _report,
    "audit": _audit,
    "validate": _validate,
    "team": _team,
    "schema": _schema,
    "local": _local,
}


HARD_STOP_COMMANDS = ("plan", "validate", "report", "audit")
"""Commands that run the Pulumi mock runtime, which does not unwind promptly: stopped by aiinfra.interrupts."""


class Terminated(Exception):
    """SIGTERM, raised in the main thread so that cleanup (`finally`, context managers) runs as for Ctrl-C."""


def _raise_terminated(_signum: int, _frame: object) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    """Run one command. Exit codes: 0 ok, 1 mandatory policy violations, 2 invalid input, 3 internal error,
    130 interrupted (SIGINT), 143 terminated (SIGTERM)."""
    args = _parser().parse_args(argv)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if in_main_thread else None
    hard_stop = in_main_thread and args.command in HARD_STOP_COMMANDS
    try:
        with stop_hard_on_signals() if hard_stop else nullcontext():
            return COMMANDS[args.command](args)
    except InputError as err:
        for problem in err.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_INPUT
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away; that is not an error of ours. Point stdout at /dev/null so
        # the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except (KeyboardInterrupt, Terminated) as stop:
        terminated = isinstance(stop, Terminated)
        print("terminated" if terminated else "interrupted", file=sys.stderr)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    except Exception as err:  # the one place an unexpected error becomes a message, not a traceback
        print(
            f"internal error: {type(err).__name__}: {err}\n"
            "This is a bug in aiinfra, not in your input; please report it with the command line and what "
            "the same command prints with AIINFRA_TRACEBACK=1.",
            file=sys.stderr,
        )
        if os.environ.get("AIINFRA_TRACEBACK"):
            traceback.print_exc()
        return EXIT_INTERNAL
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
