"""Runs one call per planned user id from a fixed number of concurrent coroutines and times
each call: throughput over the whole run, latency percentiles per call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Measurement:
    seconds: float
    latencies: list[float]  # seconds, one per call
    results: list[Any]

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    def percentile_ms(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


async def run_concurrently(
    call: Callable[[int], Awaitable[Any]], plan: Sequence[int], concurrency: int
) -> Measurement:
    """Calls `call(user_id)` for every id of the plan, `concurrency` calls in flight at a time."""
    next_ids = iter(plan)  # shared: each coroutine takes the next id when its call returns
    latencies: list[float] = []
    results: list[Any] = []

    async def worker() -> None:
        for user_id in next_ids:
            started = time.perf_counter()
            results.append(await call(user_id))
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Measurement(time.perf_counter() - started, latencies, results)
