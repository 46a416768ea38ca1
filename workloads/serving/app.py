"""The model server: a Starlette app that loads the exported model in the background at start-up, warms
it up, then answers completions through the dynamic batcher.

    GET  /healthz          200 while the process can serve (503 once loading the model failed)
    GET  /readyz           503 until the model is loaded and warmed up, then 200
    GET  /metrics          Prometheus text
    POST /v1/completions   OpenAI-style completions; 429 + Retry-After when the queue is full

Shutdown is uvicorn's: on SIGTERM it stops accepting connections and waits (up to its graceful-shutdown
timeout) for every open request — queued or generating — to be answered before the lifespan ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from torch import nn

from workloads.serving.api import (
    ApiError,
    completion_body,
    error_response,
    parse_completion_request,
    read_body,
)
from workloads.serving.batching import Batcher, QueueFullError
from workloads.serving.generation import GenerationRequest, Generator
from workloads.serving.logs import LOGGER, log_event
from workloads.serving.metrics import ServingMetrics
from workloads.serving.settings import ServerSettings
from workloads.shared.export import load_exported
from workloads.shared.model import ModelConfig

COMPLETIONS_PATH = "/v1/completions"

ModelLoader = Callable[[ServerSettings], tuple[nn.Module, ModelConfig]]


def load_from_lake(settings: ServerSettings) -> tuple[nn.Module, ModelConfig]:
    return load_exported(settings.model_url, storage_options=settings.storage_options, device=settings.device)


class ModelServer:
    """The state behind the routes: the model once loaded, its batcher and the metrics."""

    def __init__(self, settings: ServerSettings, load: ModelLoader):
        self.settings = settings
        self.load = load
        self.metrics = ServingMetrics()
        self.batcher: Batcher | None = None
        self.ready = False
        self.max_seq_len = 0
        self.load_error: str | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        starting = asyncio.create_task(self._start())
        try:
            yield
        finally:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            if self.batcher:
                await asyncio.to_thread(self.batcher.stop)
            log_event("stopped")

    async def _start(self) -> None:
        started = time.perf_counter()
        try:
            model, config = await asyncio.to_thread(self.load, self.settings)
            self.batcher = Batcher(
                Generator(model, config.max_seq_len),
                self.metrics,
                max_batch_size=self.settings.max_batch_size,
                max_wait_s=self.settings.max_wait_ms / 1000,
                max_queue=self.settings.max_queue,
            )
            await self.batcher.start()
        except Exception as err:
            self.load_error = f"{type(err).__name__}: {err}"
            log_event("model load failed", level=logging.ERROR, model=self.settings.model_url, error=self.load_error)
            return
        self.max_seq_len = config.max_seq_len
        self.ready = True
        log_event(
            "ready",
            model=self.settings.model_url,
            device=self.settings.device,
            load_s=round(time.perf_counter() - started, 3),
        )

    async def healthz(self, _request: Request) -> Response:
        if self.load_error:
            return JSONResponse({"status": "failed", "error": self.load_error}, 503)
        return JSONResponse({"status": "alive"})

    async def readyz(self, _request: Request) -> Response:
        if self.ready:
            return JSONResponse({"status": "ready", "model": self.settings.model_name})
        return JSONResponse({"status": "failed" if self.load_error else "loading"}, 503)

    async def metrics_text(self, _request: Request) -> Response:
        return Response(self.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    async def completions(self, request: Request) -> Response:
        if not self.ready:
            self.metrics.rejected.labels("not_ready").inc()
            raise ApiError(
                503, "the model is not loaded yet", type="unavailable", retry_after_s=self.settings.retry_after_s
            )
        parsed = parse_completion_request(
            await read_body(request),
            model_name=self.settings.model_name,
            max_seq_len=self.max_seq_len,
            max_prompts=self.settings.max_batch_size,
        )
        assert self.batcher is not None  # ready implies a started batcher
        try:
            futures = self.batcher.submit([GenerationRequest(p, parsed.sampling) for p in parsed.prompts])
        except QueueFullError:
            self.metrics.rejected.labels("queue_full").inc()
            raise ApiError(
                429,
                f"the server is at capacity ({self.settings.max_queue} sequences queued); retry later",
                type="queue_full",
                retry_after_s=self.settings.retry_after_s,
            ) from None
        with self.metrics.requests_in_progress.track_inprogress():
            results = await asyncio.gather(*futures)
        request.state.batch_size = max(r.batch_size for r in results)
        return JSONResponse(completion_body(self.settings.model_name, parsed, results))


class AccessLog:
    """One JSON log line per request (method, path, status, latency_ms, and batch_size for completions),
    and the completion latency histogram."""

    def __init__(self, app: ASGIApp, metrics: ServingMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception escaped to the server-error handler

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            seconds = time.perf_counter() - started
            if scope["path"] == COMPLETIONS_PATH:
                self.metrics.request_latency.labels(str(status)).observe(seconds)
            log_event(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                latency_ms=round(seconds * 1000, 2),
                batch_size=scope.get("state", {}).get("batch_size"),
            )


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = f"{request.method} {request.url.path}: {exc.detail}"
    return error_response(exc.status_code, message, type="invalid_request_error", headers=exc.headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    LOGGER.error("request failed", exc_info=exc, extra={"fields": {"path": request.url.path}})
    return error_response(500, f"internal error: {type(exc).__name__}", type="server_error")


def create_app(settings: ServerSettings, *, load: ModelLoader = load_from_lake) -> Starlette:
    """The server for `settings`; `load` returns the model and its config (tests slow it down)."""
    server = ModelServer(settings, load)
    app = Starlette(
        routes=[
            Route("/healthz", server.healthz),
            Route("/readyz", server.readyz),
            Route("/metrics", server.metrics_text),
            Route(COMPLETIONS_PATH, server.completions, methods=["POST"]),
        ],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _internal_error},
        lifespan=server.lifespan,
    )
    app.add_middleware(AccessLog, metrics=server.metrics)
    return app
