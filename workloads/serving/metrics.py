"""Prometheus metrics of one server, in a registry of its own (so several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from workloads.serving.settings import QUEUE_DEPTH

LATENCY_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_latency = Histogram(
            "aiinfra_request_latency_seconds",
            "Time from receiving a completion request to its response, by HTTP status.",
            ["status"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.requests_in_progress = Gauge(
            "aiinfra_requests_in_progress",
            "Completion requests accepted into the queue and not yet answered.",
            registry=self.registry,
        )
        self.rejected = Counter(
            "aiinfra_rejected_requests",
            "Completion requests refused before generation: queue_full (429) or not_ready (503).",
            ["reason"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(QUEUE_DEPTH, "Sequences waiting for a batch.", registry=self.registry)
        self.batch_size = Histogram(
            "aiinfra_batch_size",
            "Sequences in each generation step (one forward pass).",
            buckets=BATCH_SIZE_BUCKETS,
            registry=self.registry,
        )
        self.generated_tokens = Counter(
            "aiinfra_generated_tokens", "Tokens generated (rate() of it is tokens/s).", registry=self.registry
        )
        self.tokens_per_second = Gauge(
            "aiinfra_tokens_per_second", "Generation throughput of the latest step.", registry=self.registry
        )

    def observe_step(self, sequences: int, seconds: float) -> None:
        """One generation step: every sequence in it got one token."""
        self.batch_size.observe(sequences)
        if seconds > 0:
            self.tokens_per_second.set(sequences / seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
