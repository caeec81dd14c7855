"""cProfile of the paid-prompt path: the same load as bench/webhook.py, with the app served by
uvicorn inside this process (so the profile sees it; the stand-in and the load are in it too),
on one backend. Prints the top functions by own time and by cumulative time.

    /work/venv/bin/python bench/webhook_profile.py [--backend sqlite] [--per-user 10] [--top 40]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats

from sqlalchemy import select

from medialab.db.models import User
from medialab.db.redis import redis_client
from medialab.logs import configure_logging
from medialab.sandbox.serving import serve_in_loop
from medialab.settings import Settings
from medialab.web.app import create_app

from backends import BACKENDS, migrated_database, open_sessions, seed_users
from webhook import CONCURRENCY, PRICE_KOPECKS, REDIS_URL, SECRET, bench_context, server_env
from webhook_checks import verify_paid_prompts
from webhook_load import Webhook, users_sending


async def profile(backend: str, per_user: int, logs: str) -> cProfile.Profile:
    redis = redis_client(REDIS_URL)
    await redis.flushdb()
    profiler = cProfile.Profile()
    async with bench_context(logs) as run, migrated_database(backend) as url, open_sessions(url) as sessions:
        ids = await seed_users(sessions, CONCURRENCY, PRICE_KOPECKS * per_user)
        async with sessions() as session:
            chats = list((await session.scalars(select(User.telegram_id).where(User.id.in_(ids)))).all())
        settings = Settings.from_env(server_env(url, run.api_url, per_user), env_file=None)
        with open(logs, "a") as log_file:
            configure_logging(settings, stream=log_file)
            async with serve_in_loop(create_app(settings)) as base:
                webhook = Webhook(run.http, f"{base}/telegram/webhook", SECRET, run.telegram)
                await run.into_generate_mode(webhook, chats)
                profiler.enable()
                measured = await users_sending(webhook, run.telegram, chats, per_user, run.prompt)
                profiler.disable()
        print(f"{measured.count} prompts, {measured.per_second:.0f}/s under the profiler; "
              + await verify_paid_prompts(sessions, redis, measured.count, ids))
    await redis.flushdb()
    await redis.aclose()
    return profiler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="sqlite", choices=BACKENDS)
    parser.add_argument("--per-user", type=int, default=10)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--save", help="also write the raw profile here (for snakeviz, pstats)")
    args = parser.parse_args()
    profiler = asyncio.run(profile(args.backend, args.per_user, "/tmp/medialab-bench-profile.log"))
    if args.save:
        profiler.dump_stats(args.save)
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
