"""`aiinfra local serve`: the model server on this machine, exactly as it runs in a pod.

Wire it with `add_arguments(subparser)` and `run(args)`; input problems raise `InputError` naming the flag.
"""

from __future__ import annotations

import argparse
import contextlib
import json

from aiinfra.core.errors import InputError, Problem
from workloads.serving.settings import DEFAULT_PORT, ServerSettings
from workloads.shared.lake_url import endpoint_problem, storage_options

FLAGS = {"max_batch_size": "--max-batch-size", "max_wait_ms": "--max-wait-ms", "max_queue": "--max-queue"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = ServerSettings(model_url="")
    parser.add_argument(
        "--model",
        required=True,
        metavar="URL",
        help="the training job's export: a path or a file://, s3://, gs://, https://<account>.dfs.core.windows.net/ "
        "or abfs:// prefix holding config.json",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on (default: %(default)s)")
    parser.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="object-store endpoint of the model: S3-compatible (MinIO, Ceph, moto), GCS (fake-gcs-server), Azurite",
    )
    parser.add_argument(
        "--device", default=defaults.device, help="torch device to run the model on, e.g. cuda (default: %(default)s)"
    )
    parser.add_argument(
        "--max-batch-size",
        type=int,
        default=defaults.max_batch_size,
        help="most sequences generated together (default: %(default)s)",
    )
    parser.add_argument(
        "--max-wait-ms",
        type=float,
        default=defaults.max_wait_ms,
        help="longest a request waits for others to share its batch (default: %(default)s)",
    )
    parser.add_argument(
        "--max-queue",
        type=int,
        default=defaults.max_queue,
        help="most sequences waiting; beyond it requests get 429 (default: %(default)s)",
    )
    parser.add_argument(
        "--drain-timeout-s",
        type=float,
        default=30.0,
        help="on SIGTERM, how long open requests may take to finish (default: %(default)s)",
    )


def settings_from_args(args: argparse.Namespace) -> ServerSettings:
    """The server settings of parsed flags; raise InputError with every bad flag."""
    endpoint = endpoint_problem(args.model, args.endpoint_url)
    settings = ServerSettings(
        model_url=args.model,
        storage_options={} if endpoint else storage_options(args.model, args.endpoint_url),
        device=args.device,
        max_batch_size=args.max_batch_size,
        max_wait_ms=args.max_wait_ms,
        max_queue=args.max_queue,
    )
    problems = [Problem(FLAGS[field], message) for field, message in settings.problems()]
    if endpoint:
        problems.append(Problem("--endpoint-url", endpoint))
    if not 0 <= args.port <= 65535:
        problems.append(Problem("--port", f"{args.port} — choose a port from 0 to 65535"))
    if args.drain_timeout_s <= 0:
        problems.append(Problem("--drain-timeout-s", f"{args.drain_timeout_s} — must be positive"))
    device_problem = _device_problem(args.device)
    if device_problem:
        problems.append(Problem("--device", device_problem))
    model_problem = _model_problem(settings)
    if model_problem:
        problems.append(Problem("--model", model_problem))
    if problems:
        raise InputError(problems)
    return settings


def build_server(args: argparse.Namespace):
    """A uvicorn server for the flags, not started yet (tests run it on a thread)."""
    settings = settings_from_args(args)
    import uvicorn

    from workloads.serving.app import create_app
    from workloads.serving.logs import LOG_CONFIG

    config = uvicorn.Config(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_config=LOG_CONFIG,
        access_log=False,
        timeout_graceful_shutdown=args.drain_timeout_s,
    )
    return uvicorn.Server(config)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or Ctrl-C; return once the open requests are answered. (After SIGTERM, uvicorn
    re-raises it when done, so the process ends as terminated by the signal.)"""
    from workloads.serving.logs import log_as_json

    log_as_json()
    server = build_server(args)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl-C after its graceful shutdown
        server.run()
    return 0


def _device_problem(device: str) -> str | None:
    import torch

    try:
        parsed = torch.device(device)
    except RuntimeError as err:
        return f"{device!r} is not a torch device: {err}"
    if parsed.type == "cuda" and not torch.cuda.is_available():
        return f"{device!r} — CUDA is not available on this machine"
    return None


def _model_problem(settings: ServerSettings) -> str | None:
    from workloads.shared.export import CONFIG_FILE
    from workloads.shared.lake import Lake
    from workloads.shared.model import ModelConfig

    try:
        lake = Lake.open(settings.model_url, settings.storage_options)
        if not lake.exists(CONFIG_FILE):
            return f"{settings.model_url!r} holds no {CONFIG_FILE}; give the prefix the training job exported to"
        ModelConfig.from_dict(json.loads(lake.read_bytes(CONFIG_FILE)))
    except Exception as err:  # each storage back end has its own errors (botocore, google, azure, fsspec)
        return f"{settings.model_url!r} cannot be read: {err}"
    return None
