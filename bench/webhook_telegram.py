"""Telegram's own load on a webhook (bench/webhook.py --load telegram): N connections, each
posting the next update as soon as the previous one is answered, without waiting for the bot's
reply to reach anyone. Every update is a new prompt of one of U users; a user has one update in
flight at most, as Telegram delivers a chat's updates in order. As Telegram does, an answer
other than 2xx, or a failed connection, means the same update (same update_id, same message) is
delivered again by the same connection after a short pause: an update is done only once it is
answered 2xx. The run stops taking new updates after a number of seconds (or updates); the
updates in flight then are still delivered until answered 2xx, or given up after a bound.

Measured: updates answered 2xx per second over the run, the latency of the delivery attempts
answered 2xx, and the answers that were not 2xx (by status, or the connection's error).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

import aiohttp
from arq.constants import default_queue_name
from redis.asyncio import Redis

# The bench's own modules: run as a script, its folder is first on sys.path.
from timing import Measurement
from webhook_load import UpdateFor, Webhook

RETRY_PAUSE_SECONDS = 0.1
ANSWER_TIMEOUT_SECONDS = 60.0  # an attempt not answered by then failed, as a connection error
GIVE_UP_SECONDS = 60.0  # past the run's end, an update still not answered 2xx is given up on


@dataclass(frozen=True)
class TelegramLoad:
    connections: int = 64
    users: int = 200
    seconds: float = 10.0
    updates: int | None = None  # stop taking new updates after this many, if sooner


@dataclass(frozen=True)
class Delivered:
    measurement: Measurement  # the whole run; one latency per attempt answered 2xx
    answered: Counter[int]  # chat -> its updates answered 2xx (each once, however many attempts)
    refused: Counter[str]  # non-2xx answers by status, failed connections by error
    given_up: int  # updates never answered 2xx

    @property
    def updates(self) -> int:
        return sum(self.answered.values())

    @property
    def non_2xx(self) -> int:
        return sum(self.refused.values())

    def refusals(self) -> str:
        return ", ".join(f"{what} x {count:,}" for what, count in self.refused.most_common()) or "none"


async def telegram_load(webhook: Webhook, chats: list[int], load: TelegramLoad, update_for: UpdateFor) -> Delivered:
    """Runs the load on the webhook's URL and secret, over a client of its own with exactly
    `load.connections` keep-alive connections."""
    idle = deque(chats)  # chats with no update in flight, the longest idle first
    taken = itertools.count()
    latencies: list[float] = []
    answered: Counter[int] = Counter()
    refused: Counter[str] = Counter()
    given_up = 0

    async def attempt(http: aiohttp.ClientSession, update: dict[str, Any]) -> bool:
        began = time.perf_counter()
        try:
            async with http.post(webhook.url, json=update, headers=webhook.headers) as response:
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            refused[type(error).__name__] += 1
            return False
        if 200 <= response.status < 300:
            latencies.append(time.perf_counter() - began)
            return True
        refused[str(response.status)] += 1
        return False

    async def connection(http: aiohttp.ClientSession, deadline: float) -> None:
        nonlocal given_up
        while time.perf_counter() < deadline:
            n = next(taken)
            if load.updates is not None and n >= load.updates:
                break
            chat = idle.popleft()
            update = update_for(chat, n)
            while not await attempt(http, update):
                if time.perf_counter() > deadline + GIVE_UP_SECONDS:
                    given_up += 1
                    break
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
            else:
                answered[chat] += 1
            idle.append(chat)

    if len(chats) < load.connections:
        raise ValueError(f"{load.connections} connections need at least as many users, not {len(chats)}")
    connector = aiohttp.TCPConnector(limit=load.connections)
    timeout = aiohttp.ClientTimeout(total=ANSWER_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        started = time.perf_counter()
        await asyncio.gather(*(connection(http, started + load.seconds) for _ in range(load.connections)))
        seconds = time.perf_counter() - started
    return Delivered(Measurement(seconds, latencies, results=[]), answered, refused, given_up)


async def seconds_until_queued(redis: Redis, jobs: int, stalled_after: float = 5.0) -> float | None:
    """How long after now the queue holds `jobs` jobs: a webhook that answers before it handles
    the update is still working when the load ends. None if the count stops growing short of it."""
    started = last_change = time.perf_counter()
    seen = -1
    while (queued := await redis.zcard(default_queue_name)) < jobs:
        now = time.perf_counter()
        if queued != seen:
            seen, last_change = queued, now
        elif now - last_change > stalled_after:
            return None
        await asyncio.sleep(0.02)
    return time.perf_counter() - started
