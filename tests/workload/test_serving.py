"""The model server as clients see it: real HTTP to uvicorn on 127.0.0.1 (on a thread, or a subprocess
where signals matter), a real tiny model exported by the training workload to a temp dir or to an object store's
emulator (moto S3, fake-gcs-server, Azurite)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import torch
import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from torch import nn

from aiinfra.core.errors import InputError
from workloads.serving.app import create_app, load_from_lake
from workloads.serving.generation import Generated, GenerationRequest, Generator, Sampling
from workloads.serving.local import add_arguments, build_server, settings_from_args
from workloads.serving.settings import ServerSettings
from workloads.shared.export import export_model
from workloads.shared.lake_url import storage_options
from workloads.shared.model import RECIPES, Transformer
from workloads.shared.tokenizer import encode

REPO = Path(__file__).resolve().parents[2]
CONFIG = RECIPES["tiny"]
PROMPTS = ["Hello", "The quick brown fox", "a", "Once upon a time, there was", "0123456789", "ünïcödé"]
POLLS = 1200
"""Bound of every wait loop (x 50 ms): generous for a loaded CI machine, never reached when things work."""


def context_sensitive_model() -> Transformer:
    """The tiny recipe with weights scaled up so that every continuation depends on the whole prompt
    (at the training init's small scale a random model mostly repeats the last byte)."""
    torch.manual_seed(0)
    model = Transformer(CONFIG)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() == 2:
                parameter.normal_(0, 1.5 / parameter.shape[1] ** 0.5)
    return model.eval()


@pytest.fixture(scope="module")
def model_url(tmp_path_factory) -> str:
    url = str(tmp_path_factory.mktemp("models") / "tiny-chat")
    export_model(context_sensitive_model(), CONFIG, url)
    return url


def eventually(check: Callable[[], object], what: str) -> object:
    for _ in range(POLLS):
        if value := check():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def eventually_async(check: Callable[[], object], what: str) -> None:
    for _ in range(POLLS):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def serving(server: uvicorn.Server) -> Iterator[str]:
    """Run a uvicorn server on a thread, on a free port of 127.0.0.1; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        eventually(lambda: server.started, "the server to start")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()


def serve_app(settings: ServerSettings, **create_kwargs) -> contextlib.AbstractContextManager[str]:
    return serving(uvicorn.Server(uvicorn.Config(create_app(settings, **create_kwargs), log_config=None)))


def client(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, trust_env=False, timeout=60)


def async_client(base_url: str, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=60, limits=limits)


def wait_ready(base_url: str) -> None:
    with client(base_url) as http:
        eventually(lambda: http.get("/readyz").status_code == 200, "/readyz to turn 200")


def metrics(base_url: str) -> dict[str, float]:
    """Every sample of /metrics by name and labels, e.g. `aiinfra_batch_size_count` or `…{status="200"}`."""
    text = httpx.get(f"{base_url}/metrics", trust_env=False).text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def completion(prompt: str | list[str], **fields) -> dict:
    return {"prompt": prompt, "max_tokens": 12, "temperature": 0, **fields}


MIXED = [
    completion(PROMPTS[0]),
    completion(PROMPTS[1], max_tokens=30),
    completion(PROMPTS[2], max_tokens=5),
    completion(PROMPTS[3], temperature=0.9, top_p=0.8, seed=7),
    completion(PROMPTS[4], stop=["5", "x"]),
    completion(PROMPTS[5], temperature=1.2, seed=3, max_tokens=20),
    completion(PROMPTS[1], max_tokens=1),
    completion(PROMPTS[3], max_tokens=33),
]
"""Different prompt lengths, max_tokens, greedy and seeded sampling, a stop list: one batch of each."""


def generation_requests(bodies: list[dict]) -> list[GenerationRequest]:
    return [
        GenerationRequest(
            tuple(encode(body["prompt"])),
            Sampling(
                max_tokens=body["max_tokens"],
                temperature=body["temperature"],
                top_p=body.get("top_p", 1.0),
                stop=tuple(body.get("stop", ())),
                seed=body.get("seed"),
            ),
        )
        for body in bodies
    ]


def outcome(generated: Generated) -> tuple:
    return generated.token_ids, generated.text, generated.finish_reason


def test_a_batch_generates_what_each_sequence_generates_alone():
    generator = Generator(context_sensitive_model(), CONFIG.max_seq_len)
    requests = generation_requests(MIXED)
    together = generator.generate(requests)
    alone = [generator.generate([r])[0] for r in requests]
    assert [outcome(g) for g in together] == [outcome(g) for g in alone]
    assert len({g.text for g in together}) == len(MIXED), "the model should not answer every prompt alike"
    assert together[0].batch_size == len(MIXED)


def test_generation_with_the_kv_cache_equals_recomputing_the_prefix():
    model = context_sensitive_model()
    greedy = [body for body in MIXED if body["temperature"] == 0]
    requests = generation_requests(greedy)
    cached, uncached = Generator(model, CONFIG.max_seq_len), Generator(model, CONFIG.max_seq_len, kv_cache=False)
    assert [outcome(g) for g in cached.generate(requests)] == [outcome(g) for g in uncached.generate(requests)]
    assert [outcome(cached.generate([r])[0]) for r in requests] == [
        outcome(uncached.generate([r])[0]) for r in requests
    ]


def test_a_model_without_a_kv_cache_still_generates_what_it_generates_alone():
    class Plain(nn.Module):
        """Only forward(tokens): generation recomputes the whole prefix every step."""

        def __init__(self, inner: nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            return self.inner(tokens)

    generator = Generator(Plain(context_sensitive_model()), CONFIG.max_seq_len)
    requests = generation_requests(MIXED)
    together = generator.generate(requests)
    assert [outcome(g) for g in together] == [outcome(generator.generate([r])[0]) for r in requests]
    cached = Generator(context_sensitive_model(), CONFIG.max_seq_len).generate(requests)
    greedy = [k for k, body in enumerate(MIXED) if body["temperature"] == 0]
    assert [outcome(together[k]) for k in greedy] == [outcome(cached[k]) for k in greedy]


def answers(response: httpx.Response) -> list[tuple]:
    body = response.json()
    return [(c["text"], c["finish_reason"]) for c in body["choices"]] + [body["usage"]["completion_tokens"]]


def test_concurrent_requests_share_a_batch_and_get_the_answers_they_get_alone(model_url):
    with serve_app(ServerSettings(model_url=model_url, max_batch_size=1)) as alone_url:
        wait_ready(alone_url)
        with client(alone_url) as http:
            expected = [answers(http.post("/v1/completions", json=body)) for body in MIXED]
    # A wait far longer than the test: the batch closes when all of MIXED has arrived, not on a timer.
    settings = ServerSettings(model_url=model_url, max_batch_size=len(MIXED), max_wait_ms=600_000)
    with serve_app(settings) as batched_url:
        wait_ready(batched_url)

        async def concurrently() -> list[httpx.Response]:
            async with async_client(batched_url, len(MIXED)) as http:
                return await asyncio.gather(*(http.post("/v1/completions", json=body) for body in MIXED))

        responses = asyncio.run(concurrently())
        assert [r.status_code for r in responses] == [200] * len(MIXED)
        assert [answers(r) for r in responses] == expected
        steps = metrics(batched_url)
        assert steps['aiinfra_batch_size_bucket{le="4.0"}'] < steps["aiinfra_batch_size_count"], "never over 4"
        assert steps['aiinfra_batch_size_bucket{le="8.0"}'] == steps["aiinfra_batch_size_count"]


def test_a_list_of_prompts_is_answered_in_order_like_single_prompts(model_url):
    with serve_app(ServerSettings(model_url=model_url, max_batch_size=len(PROMPTS))) as base_url:
        wait_ready(base_url)
        with client(base_url) as http:
            singles = [http.post("/v1/completions", json=completion(p)).json() for p in PROMPTS]
            listed = http.post("/v1/completions", json=completion(PROMPTS)).json()
    assert [c["index"] for c in listed["choices"]] == list(range(len(PROMPTS)))
    assert [c["text"] for c in listed["choices"]] == [s["choices"][0]["text"] for s in singles]
    assert listed["usage"] == {
        key: sum(s["usage"][key] for s in singles) for key in ("prompt_tokens", "completion_tokens", "total_tokens")
    }
    assert listed["object"] == "text_completion"
    assert listed["model"] == "tiny-chat"
    assert listed["id"].startswith("cmpl-")


class Gate:
    """Holds every forward pass while closed, so a test can keep a batch generating."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.open.set()
        self.entered = threading.Event()

    def loader(self):
        gate = self

        class GatedModel(nn.Module):
            def __init__(self, inner: nn.Module):
                super().__init__()
                self.inner = inner

            def forward(self, tokens: torch.Tensor) -> torch.Tensor:
                gate.entered.set()
                assert gate.open.wait(timeout=120), "the test never opened the gate"
                return self.inner(tokens)

        def load(settings: ServerSettings):
            model, config = load_from_lake(settings)
            return GatedModel(model), config

        return load


def test_a_full_queue_answers_429_with_retry_after_and_loses_no_accepted_request(model_url):
    queue, extra = 4, 6
    gate = Gate()
    settings = ServerSettings(model_url=model_url, max_batch_size=1, max_queue=queue, retry_after_s=2)
    with serve_app(settings, load=gate.loader()) as base_url:
        wait_ready(base_url)
        gate.open.clear()
        gate.entered.clear()

        async def overload() -> list[httpx.Response]:
            async with async_client(base_url, 2 + queue + extra) as http:
                generating = asyncio.create_task(http.post("/v1/completions", json=completion("first")))
                try:
                    await asyncio.to_thread(gate.entered.wait, 60)
                    flood = [
                        asyncio.create_task(http.post("/v1/completions", json=completion(f"flood {i}")))
                        for i in range(queue + extra)
                    ]
                    await eventually_async(lambda: sum(t.done() for t in flood) == extra, "the refusals")
                    assert metrics(base_url)["aiinfra_queue_depth"] == queue
                finally:
                    gate.open.set()
                return await asyncio.gather(generating, *flood)

        responses = asyncio.run(overload())
        refused = [r for r in responses if r.status_code == 429]
        assert sorted(r.status_code for r in responses) == [200] * (1 + queue) + [429] * extra
        assert all(r.headers["Retry-After"] == "2" for r in refused)
        assert all(r.json()["error"]["type"] == "queue_full" for r in refused)
        samples = metrics(base_url)
        assert samples['aiinfra_rejected_requests_total{reason="queue_full"}'] == extra
        assert samples["aiinfra_queue_depth"] == 0


def test_a_flood_of_clients_gets_only_200s_and_429s(model_url):
    settings = ServerSettings(model_url=model_url, max_batch_size=4, max_wait_ms=1, max_queue=8)
    with serve_app(settings) as base_url:
        wait_ready(base_url)

        async def flood() -> list[httpx.Response]:
            async with async_client(base_url, 48) as http:
                bodies = [completion(PROMPTS[i % len(PROMPTS)], max_tokens=20) for i in range(96)]
                semaphore = asyncio.Semaphore(48)

                async def post(body: dict) -> httpx.Response:
                    async with semaphore:
                        return await http.post("/v1/completions", json=body)

                return await asyncio.gather(*(post(b) for b in bodies))

        statuses = {r.status_code for r in asyncio.run(flood())}
        assert statuses <= {200, 429}
        assert 200 in statuses


def test_readyz_is_503_until_the_model_is_loaded_and_warm(model_url):
    release = threading.Event()

    def slow_load(settings: ServerSettings):
        assert release.wait(timeout=120), "the test never released the load"
        return load_from_lake(settings)

    with serve_app(ServerSettings(model_url=model_url), load=slow_load) as base_url, client(base_url) as http:
        loading = http.get("/readyz")
        assert (loading.status_code, loading.json()) == (503, {"status": "loading"})
        assert http.get("/healthz").status_code == 200
        early = http.post("/v1/completions", json=completion("too early"))
        assert early.status_code == 503
        assert early.headers["Retry-After"] == "1"
        assert early.json()["error"]["type"] == "unavailable"

        release.set()
        wait_ready(base_url)
        assert http.get("/readyz").json() == {"status": "ready", "model": "tiny-chat"}
        assert http.post("/v1/completions", json=completion("now")).status_code == 200


def test_a_model_that_fails_to_load_is_reported_by_both_probes(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text(json.dumps(CONFIG.to_dict()))
    with serve_app(ServerSettings(model_url=str(tmp_path / "broken"))) as base_url, client(base_url) as http:
        health = eventually(lambda: (r := http.get("/healthz")).status_code == 503 and r, "/healthz to fail")
        assert "model.safetensors" in health.json()["error"]
        assert http.get("/readyz").json() == {"status": "failed"}


@pytest.fixture(scope="module")
def server_url(model_url) -> Iterator[str]:
    """One ready server for the tests that only read or are refused."""
    with serve_app(ServerSettings(model_url=model_url, max_batch_size=4)) as base_url:
        wait_ready(base_url)
        yield base_url


TOO_LONG = "x" * CONFIG.max_seq_len


@pytest.mark.parametrize(
    ("body", "status", "param", "reason"),
    [
        (b"{not json", 400, None, "not valid JSON"),
        (b"\xff\xfe", 400, None, "not valid JSON"),
        (b"[1, 2]", 400, None, "JSON object"),
        ({"max_tokens": 3}, 400, "prompt", "prompt is required"),
        ({"prompt": 42}, 400, "prompt", "string or a non-empty list"),
        ({"prompt": []}, 400, "prompt", "string or a non-empty list"),
        ({"prompt": ["ok", 1]}, 400, "prompt", "string or a non-empty list"),
        ({"prompt": ""}, 400, "prompt", "must not be empty"),
        ({"prompt": ["a"] * 5}, 400, "prompt", "at most 4 per request"),
        ({"prompt": TOO_LONG}, 400, "prompt", f"prompt is {CONFIG.max_seq_len} tokens"),
        ({"prompt": "hi", "max_tokens": 0}, 400, "max_tokens", "between 1 and 62"),
        ({"prompt": "hi", "max_tokens": 63}, 400, "max_tokens", "between 1 and 62"),
        ({"prompt": "hi", "max_tokens": "5"}, 400, "max_tokens", "must be an integer"),
        ({"prompt": "hi", "max_tokens": True}, 400, "max_tokens", "must be an integer"),
        ({"prompt": "hi", "temperature": -0.5}, 400, "temperature", "between 0 and 2"),
        ({"prompt": "hi", "temperature": "hot"}, 400, "temperature", "must be a number"),
        ({"prompt": "hi", "top_p": 0}, 400, "top_p", "greater than 0"),
        ({"prompt": "hi", "stop": ["a", "b", "c", "d", "e"]}, 400, "stop", "at most 4"),
        ({"prompt": "hi", "stop": ""}, 400, "stop", "non-empty string"),
        ({"prompt": "hi", "seed": 1.5}, 400, "seed", "must be an integer"),
        ({"prompt": "hi", "stream": True}, 400, "stream", "not supported"),
        ({"prompt": "hi", "n": 2}, 400, "n", "not supported"),
        ({"prompt": "hi", "model": "gpt-4"}, 404, "model", "serves 'tiny-chat'"),
        (b"x" * ((1 << 20) + 1), 413, None, "larger than"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_field(server_url, body, status, param, reason):
    with client(server_url) as http:
        if isinstance(body, bytes):
            response = http.post("/v1/completions", content=body, headers={"content-type": "application/json"})
        else:
            response = http.post("/v1/completions", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["param"] == param
    assert reason in error["message"]
    assert error["type"] == "invalid_request_error"


def test_unknown_routes_and_methods_get_json_errors(server_url):
    with client(server_url) as http:
        missing = http.post("/v1/chat/completions", json={})
        wrong_method = http.get("/v1/completions")
    assert missing.status_code == 404
    assert "/v1/chat/completions" in missing.json()["error"]["message"]
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"] == "POST"


def test_generation_ends_before_the_first_stop_string(server_url):
    with client(server_url) as http:
        free = http.post("/v1/completions", json=completion("Once upon")).json()["choices"][0]
        stop = free["text"][4]
        stopped = http.post("/v1/completions", json=completion("Once upon", stop=["never", stop])).json()
    assert free["finish_reason"] == "length"
    assert stopped["choices"][0]["text"] == free["text"][: free["text"].index(stop)]
    assert stopped["choices"][0]["finish_reason"] == "stop"


def test_metrics_count_requests_batches_and_tokens(server_url):
    before = metrics(server_url)
    with client(server_url) as http:
        body = http.post("/v1/completions", json=completion(PROMPTS[:3], max_tokens=7)).json()
    after = metrics(server_url)

    def grew(name: str) -> float:
        return after.get(name, 0) - before.get(name, 0)

    assert grew("aiinfra_generated_tokens_total") == body["usage"]["completion_tokens"]
    assert grew('aiinfra_request_latency_seconds_count{status="200"}') == 1
    assert grew('aiinfra_batch_size_bucket{le="2.0"}') < grew("aiinfra_batch_size_count"), "no step of 3"
    assert grew("aiinfra_batch_size_count") <= 7
    assert after["aiinfra_tokens_per_second"] > 0
    assert after["aiinfra_queue_depth"] == after["aiinfra_requests_in_progress"] == 0


def serve_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_local_serve_loads_the_model_from_an_object_store(remote_lake):
    url = f"{remote_lake.url}models/tiny-chat/"
    endpoint = remote_lake.endpoint_url
    export_model(context_sensitive_model(), CONFIG, url, storage_options=storage_options(url, endpoint))
    assert json.loads(remote_lake.read("models/tiny-chat/config.json"))["d_model"] == CONFIG.d_model

    with serving(build_server(serve_args("--model", url, "--endpoint-url", endpoint))) as base_url:
        wait_ready(base_url)
        with client(base_url) as http:
            response = http.post("/v1/completions", json=completion("from the lake"))
    assert response.status_code == 200
    assert response.json()["usage"]["completion_tokens"] > 0


def test_a_model_in_a_missing_bucket_or_container_is_a_model_problem(remote_lake):
    model = f"{remote_lake.absent}models/tiny-chat/"
    with pytest.raises(InputError) as raised:
        settings_from_args(serve_args("--model", model, "--endpoint-url", remote_lake.endpoint_url))
    (problem,) = raised.value.problems
    assert problem.path == "--model"
    assert problem.message.startswith(f"{model!r} holds no config.json")


def test_local_serve_names_every_bad_flag(tmp_path, moto_s3):
    with pytest.raises(InputError) as raised:
        settings_from_args(
            serve_args(
                "--model", str(tmp_path), "--port", "70000", "--max-batch-size", "8", "--max-queue", "4",
                "--endpoint-url", moto_s3, "--device", "tpu9",
            )
        )  # fmt: skip
    problems = {p.path: p.message for p in raised.value.problems}
    assert set(problems) == {"--model", "--port", "--max-queue", "--endpoint-url", "--device"}
    assert "holds no config.json" in problems["--model"]

    with pytest.raises(InputError) as raised:
        settings_from_args(serve_args("--model", "s3://lake/models/absent/", "--endpoint-url", moto_s3))
    assert [p.path for p in raised.value.problems] == ["--model"]


def test_the_entrypoint_refuses_a_model_without_config_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "workloads.serving", "--model", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: --model: {str(tmp_path)!r} holds no config.json; give the prefix the training job exported to"
    ]


class ServerProcess:
    """`python -m workloads.serving` on a free port, its JSON log lines collected as they come."""

    def __init__(self, *argv: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workloads.serving", "--port", "0", *argv],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.logs: list[dict] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.logs.append(json.loads(line))

    @property
    def base_url(self) -> str:
        prefix = "Uvicorn running on "
        started = eventually(
            lambda: next((e["message"] for e in self.logs if e["message"].startswith(prefix)), None), "start-up"
        )
        return str(started).removeprefix(prefix).split()[0]


def test_sigterm_under_load_answers_every_accepted_request_then_exits(model_url):
    # One sequence at a time, so the load lasts long enough (count x max_tokens steps) to be interrupted.
    server = ServerProcess("--model", model_url, "--max-batch-size", "1", "--max-wait-ms", "0")
    try:
        base_url = server.base_url
        wait_ready(base_url)
        count = 24

        async def load_then_sigterm() -> tuple[list[httpx.Response], int]:
            async with async_client(base_url, count) as http:
                bodies = [completion(PROMPTS[i % len(PROMPTS)], max_tokens=32) for i in range(count)]
                tasks = [asyncio.create_task(http.post("/v1/completions", json=b)) for b in bodies]

                def all_accepted() -> bool:
                    samples = metrics(base_url)
                    answered = samples.get('aiinfra_request_latency_seconds_count{status="200"}', 0)
                    return samples["aiinfra_requests_in_progress"] + answered == count

                await eventually_async(all_accepted, "every request to be accepted")
                pending = sum(not t.done() for t in tasks)
                server.proc.send_signal(signal.SIGTERM)
                return await asyncio.gather(*tasks), pending

        responses, pending_at_sigterm = asyncio.run(load_then_sigterm())
        assert pending_at_sigterm > 0, "the load finished before SIGTERM; nothing was drained"
        assert [r.status_code for r in responses] == [200] * count
        assert server.proc.wait(timeout=120) == -signal.SIGTERM
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{base_url}/healthz", trust_env=False)
    finally:
        server.proc.kill()
        server.proc.wait()
    server.reader.join(timeout=10)
    answered = [e for e in server.logs if e["message"] == "request" and e["path"] == "/v1/completions"]
    assert len(answered) == count
    assert all(e["method"] == "POST" and e["status"] == 200 and e["latency_ms"] > 0 for e in answered)
    assert {e["batch_size"] for e in answered} == {1}
    messages = [e["message"] for e in server.logs]
    assert messages.index("Shutting down") < messages.index("stopped")
