"""Charges per second and latency of the billing paths, on SQLite and on PostgreSQL.

  (a) Redis+SQL: `BillingService` with the Redis cache in front, the production path;
  (b) SQL only, with SELECT … FOR UPDATE row locks as in the original design (sql_locking.py);
  (c) a bare EVALSHA of an empty script: what one Redis round trip costs at the same
      concurrency, the ceiling for any path that goes through Redis.

Two workloads, each driven by 50 concurrent coroutines: one hot user taking every charge, and
10,000 users of whom each charge takes a different one. Every path charges users of its own,
seeded (not timed) with the balance its charges need, so that each run can be checked to the
kopeck afterwards. All measurements run in one process, one after the other, so their ratios
compare like with like.

    /work/venv/bin/python bench/charge.py [--quick] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

from redis.asyncio import Redis

from medialab.billing.cache import BalanceCache
from medialab.db.redis_keys import user_keys
from medialab.billing.service import BillingService
from medialab.db.redis import redis_client
from medialab.settings import Settings

# The bench's own modules: run as a script, its folder is first on sys.path.
from backends import BACKENDS, Sessions, migrated_database, open_sessions, preload_cache, seed_users, warm_up
from checks import verify_run
from report import PATHS, Row, print_ratios, print_table
from sql_locking import charge_with_row_locks
from timing import run_concurrently

CONCURRENCY = 50
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")


@dataclass(frozen=True)
class Workload:
    name: str
    users: int  # seeded for each path
    charges: int

    @property
    def most_charges_per_user(self) -> int:
        return math.ceil(self.charges / self.users)

    def plan(self, user_ids: list[int]) -> list[int]:
        """The user of each charge, round-robin over the users: every user is charged once
        before any is charged twice, so concurrent calls share a user only when they must."""
        return [user_ids[n % len(user_ids)] for n in range(self.charges)]


def workloads(quick: bool) -> list[Workload]:
    # Fixed counts rather than fixed durations, so every path does exactly the same work. Both
    # SQL paths run at a few hundred charges per second on two cores: charging all 10,000 users
    # on each of them would take minutes, so the default run charges a sample of them (each
    # once) and stays under two minutes in all.
    if quick:
        return [Workload("hot user", 1, 300), Workload("10,000 users", 10_000, 600)]
    return [Workload("hot user", 1, 1_000), Workload("10,000 users", 10_000, 2_000)]


def bench_settings(database_url: str) -> Settings:
    # No free operations, so every charge moves money; operations are never settled here, so
    # the in-flight limit must not refuse the hot user's thousands of open operations.
    return Settings.from_env({"DATABASE_URL": database_url, "FREE_OPERATIONS_COUNT": "0",
                              "MAX_JOBS_IN_FLIGHT": "1000000"}, env_file=None)


async def bench(backends: list[str], plan: list[Workload]) -> list[Row]:
    redis = redis_client(REDIS_URL)
    try:
        rows: list[Row] = []
        for backend in backends:
            # User ids start at 1 in every new database: their cache keys must start afresh too.
            await redis.flushdb()
            async with migrated_database(backend) as url, open_sessions(url) as sessions:
                billing = BillingService(sessions, bench_settings(url), BalanceCache(redis))
                await warm_up(sessions, redis, CONCURRENCY)
                for workload in plan:
                    rows += await bench_workload(backend, workload, billing, sessions, redis)
        return rows
    finally:
        await redis.flushdb()
        await redis.aclose()


async def bench_workload(
    backend: str, workload: Workload, billing: BillingService, sessions: Sessions, redis: Redis
) -> list[Row]:
    rows = []
    for run in await prepare_runs(workload, billing, sessions, redis):
        measurement = await run_concurrently(run.call, run.plan, CONCURRENCY)
        verified = await run.check(measurement.results)
        print(f"{backend:<10} {workload.name:<13} {PATHS[run.path]:<21} verified: {verified}", flush=True)
        rows.append(Row(backend, workload.name, run.path, measurement))
    return rows


class TimedRun(NamedTuple):
    path: str
    call: Callable[[int], Awaitable[Any]]  # one call per user id of the plan
    plan: list[int]
    check: Callable[[list[Any]], Awaitable[str]]  # raises when the run broke an invariant


async def prepare_runs(
    workload: Workload, billing: BillingService, sessions: Sessions, redis: Redis
) -> list[TimedRun]:
    """Seeds the users of each path (not timed) and pairs each path's call with its check."""
    price = billing.prices.price_of("generate")
    seeded = price * workload.most_charges_per_user
    cached_users = await seed_users(sessions, workload.users, seeded)
    await preload_cache(billing.cache, cached_users, seeded)  # type: ignore[arg-type]
    sql_users = await seed_users(sessions, workload.users, seeded)
    cached_plan, sql_plan = workload.plan(cached_users), workload.plan(sql_users)
    empty_script = redis.register_script("return 0")

    async def service_charge(user_id: int) -> Any:
        return await billing.charge_operation(user_id, "generate")

    async def row_lock_charge(user_id: int) -> Any:
        return await charge_with_row_locks(sessions, user_id, price)

    async def bare_evalsha(user_id: int) -> Any:
        return await empty_script(keys=[user_keys(user_id).acct])

    async def nothing_to_check(results: list[Any]) -> str:
        return f"{len(results):,} calls answered, no state to check"

    expected_cached = balances_after(cached_users, cached_plan, seeded, price)
    expected_sql = balances_after(sql_users, sql_plan, seeded, price)
    return [
        TimedRun("a", service_charge, cached_plan, partial(verify_run, sessions, expected_cached, redis=redis)),
        TimedRun("b", row_lock_charge, sql_plan, partial(verify_run, sessions, expected_sql)),
        TimedRun("c", bare_evalsha, cached_plan, nothing_to_check),
    ]


def balances_after(users: list[int], plan: list[int], seeded: int, price: int) -> dict[int, int]:
    """What each user must hold once the plan's charges are paid."""
    charges = Counter(plan)
    return {user: seeded - price * charges[user] for user in users}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smaller run, for a first look")
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help=f"comma list of {', '.join(BACKENDS)} (default: both)")
    args = parser.parse_args()
    args.backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = set(args.backends) - set(BACKENDS)
    if unknown or not args.backends:
        parser.error(f"--backends: unknown {', '.join(sorted(unknown)) or '(empty)'}; use {','.join(BACKENDS)}")
    return args


def main() -> None:
    args = parse_args()
    plan = workloads(args.quick)
    started = time.perf_counter()
    print(f"{CONCURRENCY} concurrent callers per run; " + "; ".join(
        f"{w.name}: {w.charges:,} charges over {w.users:,} user(s)" for w in plan) + "; seeding not timed\n")
    rows = asyncio.run(bench(args.backends, plan))
    print_table(rows)
    print_ratios(rows)
    print(f"\nwall time {time.perf_counter() - started:.1f} s (seeding and checks included)")


if __name__ == "__main__":
    main()
