"""Updates per second and latency of POST /telegram/webhook with paid prompts, on SQLite and
on PostgreSQL, beside two references measured in the same run on the same machine:

  - GET /health of the same `medialab serve`: what the server does for a request that does
    nothing, the ceiling;
  - a bare aiogram 3 echo bot in Litestar (bench/echo_app.py), served by uvicorn the same way:
    the least a webhook bot does per update. paid/echo is the share of it that ours reaches.

Simulated users (CONCURRENCY of them at once), seeded with the price of their prompts and put in
mode:generate beforehand (not timed), each send prompts one after the other; an update counts as
done when the bot's reply has reached the Bot API stand-in (the webhook answers 200 before it
handles the update). No worker runs, so the jobs stay queued; afterwards the run is checked:
one charge and one queued job per prompt, balances at 0, check_ledger() == [].

    /work/venv/bin/python bench/webhook.py [--quick] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select

from medialab.db.models import User
from medialab.db.redis import redis_client
from medialab.sandbox.serving import serve_in_loop
from medialab.sandbox.telegram import BotApiSandbox

# The bench's own modules: run as a script, its folder is first on sys.path.
from backends import BACKENDS, migrated_database, open_sessions, seed_users
from timing import Measurement
from webhook_checks import verify_paid_prompts
from webhook_load import Webhook, health_rate, send_and_wait, users_sending
from webhook_servers import echo_serve, medialab_serve, serving

TOKEN = "123456:bench-webhook-token-not-a-real-one-xx"
SECRET = "bench-webhook-secret"
REDIS_URL = "redis://127.0.0.1:6379/13"
PRICE_KOPECKS = 1000
CONCURRENCY = 50


def server_env(database_url: str, api_url: str, per_user: int) -> dict[str, str]:
    # No free operations, so that every prompt moves money; no worker, so a user's jobs stay in
    # flight: the limit must let all of them queue.
    return {"DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": api_url, "TELEGRAM_WEBHOOK_SECRET": SECRET, "FREE_OPERATIONS_COUNT": "0",
            "PRICE_PER_OPERATION": str(PRICE_KOPECKS // 100), "MAX_JOBS_IN_FLIGHT": str(per_user + 1)}


class Bench:
    def __init__(self, http: aiohttp.ClientSession, telegram: BotApiSandbox, api_url: str, logs: Path | str) -> None:
        self.http, self.telegram, self.api_url, self.logs = http, telegram, api_url, logs
        self._echo_runs = 0
        self.profile_to: str | None = None  # a file: `medialab serve` runs under cProfile

    async def paid(self, backend: str, users: int, per_user: int) -> tuple[Measurement, Measurement, str]:
        redis = redis_client(REDIS_URL)
        await redis.flushdb()
        try:
            async with migrated_database(backend) as url, open_sessions(url) as sessions:
                ids = await seed_users(sessions, users, PRICE_KOPECKS * per_user)
                async with sessions() as session:
                    chats = list((await session.scalars(select(User.telegram_id).where(User.id.in_(ids)))).all())
                env = server_env(url, self.api_url, per_user)
                async with serving(medialab_serve(self.profile_to), env, "/health", self.logs) as base:
                    webhook = Webhook(self.http, f"{base}/telegram/webhook", SECRET)
                    await self.into_generate_mode(webhook, chats)
                    paid = await users_sending(webhook, self.telegram, chats, per_user, self.prompt)
                    health = await health_rate(self.http, f"{base}/health", CONCURRENCY, paid.count)
                verified = await verify_paid_prompts(sessions, redis, users * per_user, ids)
            return paid, health, verified
        finally:
            await redis.flushdb()
            await redis.aclose()

    async def echo(self, users: int, per_user: int) -> Measurement:
        env = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": self.api_url}
        async with serving(echo_serve(), env, "/webhook", self.logs) as base:
            webhook = Webhook(self.http, f"{base}/webhook", None)
            self._echo_runs += 1
            first = 10_000_000 * self._echo_runs  # chats of their own: replies are matched by chat
            chats = list(range(first, first + users))
            await users_sending(webhook, self.telegram, chats, 1, self.prompt)  # warm-up, not timed
            return await users_sending(webhook, self.telegram, chats, per_user, self.prompt)

    def prompt(self, chat_id: int, n: int) -> dict[str, Any]:
        return self.telegram.message_update(chat_id, f"a red fox, take {n}")

    async def into_generate_mode(self, webhook: Webhook, chats: list[int]) -> None:
        async def one(chat_id: int) -> None:
            await send_and_wait(webhook, self.telegram, chat_id, self.telegram.command_update(chat_id, "start"))
            await send_and_wait(webhook, self.telegram, chat_id, self.telegram.callback_update(chat_id, "mode:generate"))

        await asyncio.gather(*(one(chat_id) for chat_id in chats))


@asynccontextmanager
async def bench_context(logs: Path | str) -> AsyncIterator[Bench]:
    telegram = BotApiSandbox(TOKEN)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY * 2)
    async with serve_in_loop(telegram.app) as api_url, aiohttp.ClientSession(connector=connector) as http:
        yield Bench(http, telegram, api_url, logs)


def print_row(name: str, m: Measurement) -> None:
    print(f"{name:<38} {m.count:>7,} {m.per_second:>10,.0f} {m.percentile_ms(0.5):>8.1f} {m.percentile_ms(0.99):>8.1f}",
          flush=True)


async def bench(backends: list[str], users: int, per_user: int, logs: Path) -> None:
    """Each backend's paid run right after an echo run of its own: on a shared machine the
    load of the moment moves both alike, so their ratio holds better than either figure."""
    results = {}
    async with bench_context(logs) as run:
        for backend in backends:
            echo = await run.echo(users, per_user)
            results[backend] = (echo, *await run.paid(backend, users, per_user))
            print(f"{backend}: done", flush=True)
    print(f"\n{'':<38} {'updates':>7} {'per second':>10} {'p50 ms':>8} {'p99 ms':>8}")
    for backend, (echo, paid, health, _) in results.items():
        print_row(f"{backend}: echo bot (aiogram + Litestar)", echo)
        print_row(f"{backend}: paid prompt (charge + enqueue)", paid)
        print_row(f"{backend}: GET /health (ceiling)", health)
    print(f"\n{'':<12} {'paid/echo':>9} {'paid/health':>11}   checked")
    for backend, (echo, paid, health, verified) in results.items():
        print(f"{backend:<12} {paid.per_second / echo.per_second:>9.2f} {paid.per_second / health.per_second:>11.2f}"
              f"   {verified}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer prompts per user, for a first look")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma list (default: both)")
    args = parser.parse_args()
    args.backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    if not args.backends or set(args.backends) - set(BACKENDS):
        parser.error(f"--backends: use {','.join(BACKENDS)}")
    return args


def main() -> None:
    args = parse_args()
    per_user = 4 if args.quick else 40
    logs = Path(tempfile.gettempdir()) / "medialab-bench-webhook.log"
    print(f"{CONCURRENCY} users at once, {per_user} prompts each, one after the other; servers' logs in {logs}")
    started = time.perf_counter()
    asyncio.run(bench(args.backends, CONCURRENCY, per_user, logs))
    print(f"\nwall time {time.perf_counter() - started:.1f} s (seeding, servers' start and checks included)")


if __name__ == "__main__":
    main()
