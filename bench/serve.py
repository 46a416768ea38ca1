"""Benchmark: the batching model server against a naive one-request-per-forward server, same model, same machine.

Each server is a real process on 127.0.0.1 serving the same export (the training workload's tiny recipe,
or widened with --d-model), driven in turn by the same closed-loop client at each concurrency, every
request greedy with the same max_tokens (so every server generates the same tokens). The naive server parses
and generates with the same code but runs one request at a time under a lock. LitServe (its own dynamic
batching around the same generation code) joins when installed. The last line is JSON:
throughput_ratio_vs_naive at concurrency 32 (goal >= 3) and p50/p99 latencies.

    .venv/bin/python bench/serve.py [--quick] [--d-model 256]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

try:
    import litserve
except ImportError:
    litserve = None

REPO = Path(__file__).resolve().parent.parent
PROMPTS = ["Hello", "The quick brown fox jumps", "Once upon a time", "0123456789", "serving benchmark", "a"]
MAX_TOKENS = 32
BATCH = 32
AT = 32
"""The concurrency the summary compares at."""
STARTUP_POLLS = 1200
"""x 0.1 s: how long a server may take to load before the benchmark gives up."""


def export_bench_model(url: str, d_model: int | None) -> dict:
    import torch

    from workloads.shared.export import export_model
    from workloads.shared.model import RECIPES, Transformer

    config = RECIPES["tiny"] if d_model is None else dataclasses.replace(RECIPES["tiny"], d_model=d_model)
    torch.manual_seed(0)
    export_model(Transformer(config), config, url)
    return config.to_dict()


def compute_ceiling(model_url: str, torch_threads: int) -> float:
    """In this process, without HTTP: how much faster the model generates the benchmark's AT requests as one
    batch than one by one. The model recomputes the whole prefix every step (no KV cache), so this bounds
    what any batching server can gain over the naive one."""
    import torch

    from workloads.serving.generation import GenerationRequest, Generator, Sampling
    from workloads.shared.export import load_exported
    from workloads.shared.tokenizer import encode

    torch.set_num_threads(torch_threads)
    model, config = load_exported(model_url)
    generator = Generator(model, config.max_seq_len)
    sampling = Sampling(max_tokens=MAX_TOKENS, temperature=0)
    requests = [GenerationRequest(tuple(encode(PROMPTS[i % len(PROMPTS)])), sampling) for i in range(AT)]
    ratios = []
    for _ in range(3):
        started = time.perf_counter()
        generator.generate(requests)
        batched = time.perf_counter() - started
        started = time.perf_counter()
        for request in requests:
            generator.generate([request])
        ratios.append((time.perf_counter() - started) / batched)
    return statistics.median(ratios)


def naive_app(model_url: str):
    """One request per forward pass: the same parsing and generation, one request at a time."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from workloads.serving.api import ApiError, completion_body, parse_completion_request
    from workloads.serving.generation import GenerationRequest, Generator
    from workloads.serving.settings import ServerSettings
    from workloads.shared.export import load_exported

    model, config = load_exported(model_url)
    generator = Generator(model, config.max_seq_len)
    name = ServerSettings(model_url=model_url).model_name
    lock = threading.Lock()

    async def completions(request: Request) -> JSONResponse:
        try:
            parsed = parse_completion_request(
                await request.body(), model_name=name, max_seq_len=config.max_seq_len, max_prompts=1
            )
        except ApiError as err:
            return err.response()

        def generate_alone():
            with lock:
                return generator.generate([GenerationRequest(parsed.prompts[0], parsed.sampling)])

        return JSONResponse(completion_body(name, parsed, await run_in_threadpool(generate_alone)))

    async def ready(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ready"})

    return Starlette(routes=[Route("/v1/completions", completions, methods=["POST"]), Route("/readyz", ready)])


if litserve is not None:

    class LitCompletionAPI(litserve.LitAPI):
        """The same parsing and generation behind LitServe's own dynamic batching."""

        def __init__(self, model_url: str, **kwargs):
            super().__init__(**kwargs)
            self.model_url = model_url

        def setup(self, device):
            from workloads.serving.generation import Generator
            from workloads.shared.export import load_exported

            model, config = load_exported(self.model_url)
            self.max_seq_len = config.max_seq_len
            self.generator = Generator(model, config.max_seq_len)

        def decode_request(self, request):
            from workloads.serving.api import parse_completion_request
            from workloads.serving.generation import GenerationRequest

            parsed = parse_completion_request(
                json.dumps(request).encode(), model_name="bench", max_seq_len=self.max_seq_len, max_prompts=1
            )
            return GenerationRequest(parsed.prompts[0], parsed.sampling)

        def batch(self, inputs):
            return inputs

        def predict(self, x):
            return self.generator.generate(x)

        def unbatch(self, output):
            return output

        def encode_response(self, output):
            return {"choices": [{"text": output.text, "finish_reason": output.finish_reason}]}


def run_litserve(model_url: str, port: int) -> None:
    api = LitCompletionAPI(model_url, max_batch_size=BATCH, batch_timeout=0.005, api_path="/v1/completions")
    server = litserve.LitServer(api, accelerator="cpu", devices=1, workers_per_device=1, healthcheck_path="/readyz")
    server.run(host="127.0.0.1", port=port, generate_client_file=False, log_level="warning")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def server_process(argv: list[str], torch_threads: int) -> Iterator[str]:
    """A server on a free port of 127.0.0.1, stopped (with whatever it forked) on exit; yields its URL."""
    port = free_port()
    # A session of its own, so stopping it also stops the workers it forks (LitServe's).
    proc = subprocess.Popen(
        [sys.executable, *argv, "--port", str(port)],
        cwd=REPO,
        env=os.environ | {"OMP_NUM_THREADS": str(torch_threads)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(STARTUP_POLLS):
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base_url}/readyz", trust_env=False).status_code == 200:
                    break
            if proc.poll() is not None:
                raise RuntimeError(f"{argv} exited with {proc.returncode}")
            time.sleep(0.1)
        else:
            raise RuntimeError(f"{argv} never became ready")
        yield base_url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass
class Run:
    """One closed-loop run: its throughput and every request's latency."""

    requests_per_s: float
    latencies_s: list[float]
    failures: int


async def closed_loop(base_url: str, concurrency: int, requests: int) -> Run:
    """`concurrency` clients, each sending its next request when the last one is answered."""
    latencies: list[float] = []
    failures = 0
    next_request = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=600, limits=limits) as http:

        async def client() -> None:
            nonlocal failures
            for i in next_request:
                body = {"prompt": PROMPTS[i % len(PROMPTS)], "max_tokens": MAX_TOKENS, "temperature": 0}
                sent = time.perf_counter()
                response = await http.post("/v1/completions", json=body)
                latencies.append(time.perf_counter() - sent)
                failures += response.status_code != 200

        # Open the connections (and warm the server at this concurrency) outside the measurement.
        await asyncio.gather(
            *(http.post("/v1/completions", json={"prompt": "warm", "max_tokens": 2}) for _ in range(concurrency))
        )
        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Run(requests / elapsed, latencies, failures)


def percentile_ms(latencies: list[float], fraction: float) -> float:
    ordered = sorted(latencies)
    return round(1000 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 1)


def summary(runs: list[Run]) -> dict:
    latencies = [s for r in runs for s in r.latencies_s]
    return {
        "requests_per_s": round(statistics.median(r.requests_per_s for r in runs), 2),
        "p50_ms": percentile_ms(latencies, 0.5),
        "p99_ms": percentile_ms(latencies, 0.99),
        "failures": sum(r.failures for r in runs),
    }


def measure(
    commands: dict[str, list[str]], levels: tuple[int, ...], rounds: int, requests_per_client: int, threads: int
) -> dict[str, dict[int, list[Run]]]:
    """Every server up at once, measured in turns: each round visits them in a rotated order, so load from
    elsewhere on the machine falls on all of them alike."""
    runs: dict[str, dict[int, list[Run]]] = {name: {c: [] for c in levels} for name in commands}
    with contextlib.ExitStack() as stack:
        urls = {name: stack.enter_context(server_process(argv, threads)) for name, argv in commands.items()}
        for c in levels:
            for round_ in range(rounds):
                names = list(urls)[round_ % len(urls) :] + list(urls)[: round_ % len(urls)]
                for name in names:
                    runs[name][c].append(asyncio.run(closed_loop(urls[name], c, max(8, requests_per_client * c))))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="concurrency 1, 8, 32; 2 rounds of fewer requests")
    parser.add_argument("--d-model", type=int, help="widen the tiny recipe's model (e.g. 256)")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="intra-op threads of every server (default 1: on 2 cores the load generator needs the other)",
    )
    parser.add_argument("--internal-naive-server", metavar="MODEL", help=argparse.SUPPRESS)
    parser.add_argument("--internal-litserve", metavar="MODEL", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.internal_naive_server:
        import uvicorn

        uvicorn.run(naive_app(args.internal_naive_server), host="127.0.0.1", port=args.port, log_level="warning")
        return
    if args.internal_litserve:
        run_litserve(args.internal_litserve, args.port)
        return

    levels = (1, 8, AT) if args.quick else (1, 2, 4, 8, 16, AT, 64)
    rounds, requests_per_client = (2, 2) if args.quick else (3, 4)
    script = str(Path(__file__).resolve())
    with tempfile.TemporaryDirectory() as scratch:
        model_url = str(Path(scratch) / "bench-model")
        config = export_bench_model(model_url, args.d_model)
        ours_and_naive = {
            "ours": [
                "-m", "workloads.serving", "--model", model_url,
                "--max-batch-size", str(BATCH), "--max-wait-ms", "5", "--max-queue", str(4 * BATCH),
            ],
            "naive": [script, "--internal-naive-server", model_url],
        }  # fmt: skip
        ceiling = compute_ceiling(model_url, args.torch_threads)
        runs = measure(ours_and_naive, levels, rounds, requests_per_client, args.torch_threads)
        if litserve is not None:
            # Alone: its idle workers poll, which would slow whichever server is being measured.
            litserve_only = {"litserve": [script, "--internal-litserve", model_url]}
            runs |= measure(litserve_only, levels, rounds, requests_per_client, args.torch_threads)

    results = {name: {c: summary(by_level[c]) for c in levels} for name, by_level in runs.items()}
    print(
        f"model: d_model {config['d_model']}, {config['n_layers']} layers; max_tokens {MAX_TOKENS}, greedy; "
        f"{args.torch_threads} torch thread(s) per server"
    )
    print(f"{'concurrency':>11} " + " ".join(f"{n + ' req/s':>14} {'p50 ms':>8} {'p99 ms':>8}" for n in results))
    for c in levels:
        row = " ".join(
            f"{r[c]['requests_per_s']:>14} {r[c]['p50_ms']:>8} {r[c]['p99_ms']:>8}" for r in results.values()
        )
        print(f"{c:>11} {row}")

    # Against naive: the median of the rounds' ratios (each round measured both back to back).
    paired = zip(runs["ours"][AT], runs["naive"][AT], strict=True)
    vs_naive = statistics.median(ours.requests_per_s / naive.requests_per_s for ours, naive in paired)
    print(f"batching {AT} sequences generates {ceiling:.2f}x faster than one by one (in-process, no HTTP)")
    last = {
        "concurrency": AT,
        "d_model": config["d_model"],
        "throughput_ratio_vs_naive": round(vs_naive, 2),
        "in_process_batching_ratio": round(ceiling, 2),
    }
    if litserve is not None:
        vs_litserve = results["ours"][AT]["requests_per_s"] / results["litserve"][AT]["requests_per_s"]
        last["throughput_ratio_vs_litserve"] = round(vs_litserve, 2)
    last |= {name: results[name][AT] for name in results}
    print(json.dumps(last))


if __name__ == "__main__":
    main()
