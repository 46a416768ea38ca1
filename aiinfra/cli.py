"""The `aiinfra` command. Subcommands import their modules lazily: `aiinfra --help` must not
pay for pulumi, the cloud SDKs or torch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aiinfra.errors import EXIT_INPUT, InputError


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

    plan.add_argument(
        "--policy-pack",
        type=Path,
        action="append",
        metavar="DIR",
        help="run the policy pack in DIR (repeatable); default: the project's policies/ if it is a pack",
    )
    plan.add_argument(
        "--policy-config",
        type=Path,
        action="append",
        metavar="FILE",
        help="policy config for the --policy-pack in the same position, in `pulumi --policy-pack-config` "
        "format; default: each pack's config/<stack>.json if it exists",
    )
    plan.add_argument("--sarif", type=Path, metavar="FILE", help="write policy results as SARIF 2.1.0 (code scanning)")
    plan.add_argument("--junit", type=Path, metavar="FILE", help="write policy results as JUnit XML")

    validate = sub.add_parser("validate", help="check a stack's spec and team files; print every problem")
    validate.add_argument("-s", "--stack", required=True, help="stack name")

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
    from aiinfra.plan.run import load_platform

    platform = load_platform(args.cwd, args.stack)
    pools = sum(len(c.node_pools) for c in platform.clusters)
    print(
        f"stack {args.stack}: valid — {len(platform.clusters)} clusters, {pools} node pools, "
        f"{len(platform.data_lakes)} data lakes, {len(platform.workloads)} workloads, {len(platform.teams)} teams"
    )
    return 0


def _schema(_args: argparse.Namespace) -> int:
    import json

    from aiinfra.spec import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def _plan(args: argparse.Namespace) -> int:
    from aiinfra.plan.run import plan_command

    return plan_command(
        args.cwd,
        args.stack,
        as_json=args.json,
        export_dir=args.export,
        policy_packs=args.policy_pack,
        policy_configs=args.policy_config,
        sarif=args.sarif,
        junit=args.junit,
    )


def _local(args: argparse.Namespace) -> int:
    return LOCAL_COMMANDS[args.workload](args)


LOCAL_COMMANDS: dict = {}
COMMANDS = {"plan": _plan, "validate": _validate, "schema": _schema, "local": _local}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except InputError as err:
        for problem in err.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_INPUT
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away; that is not an error of ours.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
