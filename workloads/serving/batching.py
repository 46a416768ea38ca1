"""Dynamic batching: sequences wait in a bounded queue; a generation thread takes them in batches (up to
`max_batch_size`, waiting at most `max_wait_s` after the oldest arrived) and runs each batch step by step,
handing every sequence back to the event loop as soon as it finishes. The event loop only queues and
answers, so it stays responsive while the model computes (torch releases the GIL)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from workloads.serving.generation import Generated, GenerationRequest, Generator, Sampling
from workloads.serving.metrics import ServingMetrics

WARM_UP_PROMPT = (ord(" "),)


class QueueFullError(Exception):
    """The queue cannot take the request's sequences now; the client should retry later."""


@dataclass
class _Waiting:
    request: GenerationRequest
    future: asyncio.Future[Generated]
    enqueued_at: float


class Batcher:
    def __init__(
        self,
        generator: Generator,
        metrics: ServingMetrics,
        *,
        max_batch_size: int,
        max_wait_s: float,
        max_queue: int,
    ):
        self.generator = generator
        self.metrics = metrics
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._queue: deque[_Waiting] = deque()
        self._changed = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        metrics.queue_depth.set_function(self._queue.__len__)

    async def start(self) -> None:
        """Start the generation thread; returns once it has put one full batch through the model."""
        loop = asyncio.get_running_loop()
        warmed: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(target=self._generate, args=(loop, warmed), name="generate", daemon=True)
        self._thread.start()
        await warmed

    def submit(self, requests: Sequence[GenerationRequest]) -> list[asyncio.Future[Generated]]:
        """Queue every sequence of one client request, or none of them (QueueFullError)."""
        loop = asyncio.get_running_loop()
        with self._changed:
            if len(self._queue) + len(requests) > self.max_queue:
                raise QueueFullError
            waiting = [_Waiting(r, loop.create_future(), time.monotonic()) for r in requests]
            self._queue.extend(waiting)
            self._changed.notify()
        return [w.future for w in waiting]

    def stop(self) -> None:
        """Stop after the batch being generated; sequences still queued are dropped."""
        with self._changed:
            self._stopping = True
            self._changed.notify()
        if self._thread is not None:
            self._thread.join()

    def _generate(self, loop: asyncio.AbstractEventLoop, warmed: asyncio.Future[None]) -> None:
        warm_up = GenerationRequest(WARM_UP_PROMPT, Sampling(max_tokens=1, temperature=0))
        try:
            self.generator.generate([warm_up] * self.max_batch_size)
        except Exception as err:
            loop.call_soon_threadsafe(_settle, [(warmed, None, err)])
            return
        loop.call_soon_threadsafe(_settle, [(warmed, None, None)])
        while waiting := self._next_batch():
            try:
                self._run(waiting, loop)
            except Exception as err:
                loop.call_soon_threadsafe(_settle, [(w.future, None, err) for w in waiting])

    def _run(self, waiting: list[_Waiting], loop: asyncio.AbstractEventLoop) -> None:
        batch = self.generator.batch([w.request for w in waiting])
        while batch:
            rows = len(batch)
            started = time.perf_counter()
            finished = batch.step()
            self.metrics.observe_step(rows, time.perf_counter() - started)
            if finished:
                self.metrics.generated_tokens.inc(sum(len(result.token_ids) for _, result in finished))
                loop.call_soon_threadsafe(_settle, [(waiting[i].future, result, None) for i, result in finished])

    def _next_batch(self) -> list[_Waiting]:
        """Wait for a sequence, then until a batch is full or the oldest has waited max_wait_s; take the
        batch (without the cancelled). Empty once stopping."""
        with self._changed:
            while True:
                while not self._queue and not self._stopping:
                    self._changed.wait()
                while not self._stopping and len(self._queue) < self.max_batch_size:
                    left = self._queue[0].enqueued_at + self.max_wait_s - time.monotonic()
                    if left <= 0:
                        break
                    self._changed.wait(left)
                if self._stopping:
                    return []
                taken = [self._queue.popleft() for _ in range(min(self.max_batch_size, len(self._queue)))]
                batch = [w for w in taken if not w.future.done()]  # done already when the request was cancelled
                if batch:
                    return batch


def _settle(outcomes: Sequence[tuple[asyncio.Future, object, Exception | None]]) -> None:
    """On the event loop: complete the futures still awaited (one is done already if its request was cancelled)."""
    for future, result, error in outcomes:
        if future.done():
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
