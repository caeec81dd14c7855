"""Updates per second and latency of POST /telegram/webhook with paid prompts, on SQLite and
on PostgreSQL, under two loads, each beside a bare aiogram 3 echo bot in Litestar
(bench/echo_app.py) served by uvicorn the same way, under the same load, right before: the
least a webhook bot does per update. paid/echo is the share of it that ours reaches.

  --load replies: simulated users (CONCURRENCY of them at once) each send prompts one after the
    other; an update counts as done when the bot's reply has reached the Bot API stand-in. The
    echo answers at once and replies by a Bot API call (--answer background). Also measured:
    GET /health of the same `medialab serve`, what the server does for a request that does
    nothing, the ceiling.
  --load telegram: the load Telegram itself produces (bench/webhook_telegram.py): N connections
    each post the next update of one of U users as soon as the previous one is answered 2xx,
    and deliver it again 0.1 s after any other answer. The echo handles the update, then
    answers with its reply in the body (--answer inline). Counted: 2xx answers per second,
    the latency of the attempts answered 2xx, the non-2xx answers.

Users are seeded with money enough for their prompts and put in mode:generate beforehand (not
timed). No worker runs, so the jobs stay queued; afterwards each paid run is checked: one charge
and one queued job per prompt answered, balances = seeded - charged, check_ledger() == [].

    /work/venv/bin/python bench/webhook.py [--quick] [--load replies|telegram|both]
        [--backends sqlite,postgresql] [--connections 64] [--users 200] [--seconds 10] [--updates N]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp

import medialab
from medialab.sandbox.serving import serve_in_loop
from medialab.sandbox.telegram import BotApiSandbox

# The bench's own modules: run as a script, its folder is first on sys.path.
from backends import BACKENDS, Seeded, seeded
from checks import RunNotCorrect
from timing import Measurement
from webhook_checks import verify_paid_prompts
from webhook_load import Webhook, health_rate, send_and_wait, users_sending
from webhook_servers import echo_serve, medialab_serve, serving
from webhook_tables import LOADS, Replies, Telegram, print_replies, print_telegram
from webhook_telegram import Delivered, TelegramLoad, seconds_until_queued, telegram_load

TOKEN = "123456:bench-webhook-token-not-a-real-one-xx"
SECRET = "bench-webhook-secret"
REDIS_URL = "redis://127.0.0.1:6379/13"
PRICE_KOPECKS = 1000
CONCURRENCY = 50
PROMPTS_CAP = 100_000  # --load telegram: each user can pay for this many prompts


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
        async with seeded(backend, users, PRICE_KOPECKS * per_user, REDIS_URL) as db:
            async with self.medialab(db, per_user) as (base, webhook):
                paid = await users_sending(webhook, self.telegram, list(db.chat_to_user), per_user, self.prompt)
                health = await health_rate(self.http, f"{base}/health", CONCURRENCY, paid.count)
            books = await verify_paid_prompts(db.sessions, db.redis, users * per_user, list(db.chat_to_user.values()))
        return paid, health, books

    async def echo(self, users: int, per_user: int) -> Measurement:
        async with serving(echo_serve("background"), self.echo_env(), "/webhook", self.logs) as base:
            webhook = Webhook(self.http, f"{base}/webhook", None, self.telegram)
            chats = self.new_chats(users)  # replies are matched by chat
            await users_sending(webhook, self.telegram, chats, 1, self.prompt)  # warm-up, not timed
            return await users_sending(webhook, self.telegram, chats, per_user, self.prompt)

    async def paid_telegram(self, backend: str, load: TelegramLoad) -> tuple[Delivered, float | None, str]:
        async with seeded(backend, load.users, PRICE_KOPECKS * PROMPTS_CAP, REDIS_URL) as db:
            async with self.medialab(db, PROMPTS_CAP) as (_, webhook):
                paid = await telegram_load(webhook, list(db.chat_to_user), load, self.prompt)
                queued_after = await seconds_until_queued(db.redis, paid.updates)
            balance = PRICE_KOPECKS * PROMPTS_CAP
            left = {user: balance - PRICE_KOPECKS * paid.answered[chat] for chat, user in db.chat_to_user.items()}
            try:
                books = await verify_paid_prompts(db.sessions, db.redis, paid.updates, list(left), left)
            except RunNotCorrect as wrong:
                books = f"NOT CORRECT: {wrong}"
        return paid, queued_after, books

    async def echo_telegram(self, load: TelegramLoad) -> Delivered:
        async with serving(echo_serve("inline"), self.echo_env(), "/webhook", self.logs) as base:
            webhook = Webhook(self.http, f"{base}/webhook", None)
            chats = self.new_chats(load.users)
            await telegram_load(webhook, chats, replace(load, updates=load.users), self.prompt)  # warm-up
            return await telegram_load(webhook, chats, load, self.prompt)

    @asynccontextmanager
    async def medialab(self, db: Seeded, per_user: int) -> AsyncIterator[tuple[str, Webhook]]:
        """`medialab serve` on the database, its users in mode:generate; stopped (and so done
        with the updates in hand) on exit."""
        env = server_env(db.url, self.api_url, per_user)
        async with serving(medialab_serve(self.profile_to), env, "/health", self.logs) as base:
            webhook = Webhook(self.http, f"{base}/telegram/webhook", SECRET, self.telegram)
            await self.into_generate_mode(webhook, list(db.chat_to_user))
            yield base, webhook

    def echo_env(self) -> dict[str, str]:
        return {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": self.api_url}

    def new_chats(self, count: int) -> list[int]:
        self._echo_runs += 1
        first = 10_000_000 * self._echo_runs
        return list(range(first, first + count))

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


async def bench(backends: list[str], loads: list[str], per_user: int, load: TelegramLoad, logs: Path) -> bool:
    """Each backend's paid run right after an echo run of its own under the same load: on a
    shared machine the load of the moment moves both alike, so their ratio holds better than
    either figure. False if the books of a run under Telegram's load did not add up."""
    replies: dict[str, Replies] = {}
    telegram: dict[str, Telegram] = {}
    async with bench_context(logs) as run:
        for backend in backends:
            if "replies" in loads:
                echo = await run.echo(CONCURRENCY, per_user)
                replies[backend] = Replies(echo, *await run.paid(backend, CONCURRENCY, per_user))
            if "telegram" in loads:
                echo_t = await run.echo_telegram(load)
                telegram[backend] = Telegram(echo_t, *await run.paid_telegram(backend, load))
            print(f"{backend}: done", flush=True)
    if replies:
        print_replies(replies, CONCURRENCY, per_user)
    if telegram:
        print_telegram(telegram, load)
    return all(not result.books.startswith("NOT CORRECT") for result in telegram.values())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer prompts per user, 3 s of Telegram's load")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma list (default: both)")
    parser.add_argument("--load", choices=LOADS, default="both", help="which load (default: both)")
    parser.add_argument("--connections", type=int, default=64, help="Telegram's load: connections (default 64)")
    parser.add_argument("--users", type=int, default=200, help="Telegram's load: users (default 200)")
    parser.add_argument("--seconds", type=float, help="Telegram's load: seconds per run (default 10, --quick 3)")
    parser.add_argument("--updates", type=int, help="Telegram's load: stop after this many updates, if sooner")
    args = parser.parse_args()
    args.backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    if not args.backends or set(args.backends) - set(BACKENDS):
        parser.error(f"--backends: use {','.join(BACKENDS)}")
    args.seconds = args.seconds if args.seconds is not None else 3.0 if args.quick else 10.0
    if not 0 < args.seconds <= 600:
        parser.error("--seconds: more than 0, at most 600")
    if not 1 <= args.connections <= args.users:
        parser.error("--connections: at least 1, at most --users (a user has one update in flight at most)")
    if args.updates is not None and not 1 <= args.updates <= args.users * PROMPTS_CAP:
        parser.error(f"--updates: at least 1, at most {PROMPTS_CAP:,} per user")
    return args


def main() -> None:
    args = parse_args()
    per_user = 4 if args.quick else 40
    loads = ["replies", "telegram"] if args.load == "both" else [args.load]
    load = TelegramLoad(args.connections, args.users, args.seconds, args.updates)
    logs = Path(tempfile.gettempdir()) / "medialab-bench-webhook.log"
    print(f"medialab from {Path(medialab.__file__).parent}; servers' logs in {logs}")
    started = time.perf_counter()
    correct = asyncio.run(bench(args.backends, loads, per_user, load, logs))
    print(f"\nwall time {time.perf_counter() - started:.1f} s (seeding, servers' start and checks included)")
    if not correct:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
