"""How long operators' commands take from start to exit, beside the interpreter's own start.

Each command runs as a process of its own, as an operator runs it, N times, the commands taking
turns so that a busy moment of the machine falls on all of them alike; wall time from spawn to
exit. The database is a migrated SQLite file of the run's own with one user seeded (a top-up and
a paid operation for each refund to give back, not timed); Redis is --redis-url (default
BENCH_REDIS_URL; its database is emptied before and after) when given, else an embedded one
started once by the run. Every command must exit 0 (`admin user 555`: 2, no such user), and
afterwards the books must balance (check_ledger, and the user's balance to the kopeck).

Two baselines run the same way: `python -c pass` (the ratio column divides by its median) and
a process that only imports the libraries the commands cannot do without (SQLAlchemy's ORM and
asyncio extension, aiosqlite, redis): what no restructuring of ours can take away.

    .venv/bin/python bench/cli_startup.py [--runs 10] [--redis-url redis://127.0.0.1:6379/11]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from medialab.billing.audit import check_ledger
from medialab.billing.cache import BalanceCache
from medialab.billing.service import BillingService
from medialab.db import migrate
from medialab.db.redis import EmbeddedRedis, redis_client
from medialab.settings import Settings

# The bench's own modules: run as a script, its folder is first on sys.path.
from backends import Sessions, open_sessions

MEDIALAB = str(Path(sys.executable).parent / "medialab")
TELEGRAM_ID = 7_000_001
SEEDED = 1_000_000  # kopecks, from a top-up
FLOOR_IMPORTS = "import sqlalchemy.orm, sqlalchemy.ext.asyncio, sqlalchemy.dialects.sqlite.aiosqlite, redis.asyncio"
# The targets (#15): an operator's command within half a second, the help within 0.2 s.
COMMAND_TARGET, HELP_TARGET = 0.5, 0.2


@dataclass
class Timed:
    label: str
    argv: list[str]
    target: float | None = None
    seconds: list[float] = field(default_factory=list)  # wall time of each run
    cpu: list[float] = field(default_factory=list)  # the process's user + system time in each

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def commands() -> list[Timed]:
    telegram_id = str(TELEGRAM_ID)
    return [
        Timed("python -c pass (baseline)", [sys.executable, "-c", "pass"]),
        Timed("python: import the floor", [sys.executable, "-c", FLOOR_IMPORTS]),
        Timed("medialab --help", [MEDIALAB, "--help"], HELP_TARGET),
        Timed(f"medialab admin user {telegram_id}", [MEDIALAB, "admin", "user", telegram_id], COMMAND_TARGET),
        Timed("medialab admin user 555 (no user)", [MEDIALAB, "admin", "user", "555"], COMMAND_TARGET),
        Timed("medialab admin grant", [MEDIALAB, "admin", "grant", telegram_id, "1"], COMMAND_TARGET),
        # A paid operation of its own each time, so that every run refunds.
        Timed("medialab admin refund", [MEDIALAB, "admin", "refund", "{operation}"], COMMAND_TARGET),
        Timed("medialab reconcile", [MEDIALAB, "reconcile"], COMMAND_TARGET),
    ]


def time_runs(timed: list[Timed], operations: list[str], env: dict[str, str], cwd: str) -> None:
    """One round of every command to warm up (compiled modules cached, files in the page cache),
    not counted; then one round per remaining operation."""
    for run, operation in enumerate(operations):
        for entry in timed:
            argv = [part.format(operation=operation) for part in entry.argv]
            cpu_before, started = _children_cpu(), time.perf_counter()
            done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
            if run > 0:
                entry.seconds.append(time.perf_counter() - started)
                entry.cpu.append(_children_cpu() - cpu_before)
            # `admin user 555` refuses (exit 2): there is no such user, which is what it measures.
            expected = 2 if argv[-1] == "555" else 0
            if done.returncode != expected:
                raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")


def _children_cpu() -> float:
    """CPU seconds of the children waited for so far: the difference around one run is its own,
    a figure that other work on the machine moves far less than the wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def seed(settings: Settings, rounds: int) -> list[str]:
    """A migrated database with one user with money and `rounds` settled paid operations (one for
    each round's refund); their ids."""
    await migrate.run(settings.database.url)
    async with open_sessions(settings.database.url) as sessions, billing_on(settings, sessions) as billing:
        await billing.cache.redis.flushdb()
        user = await billing.get_or_create_user(TELEGRAM_ID)
        await billing.add_balance(user.user_id, SEEDED, "bench-seed")
        operations = [f"bench-op-{n}" for n in range(rounds)]
        for operation in operations:
            await billing.charge_operation(user.user_id, "generate", operation_id=operation)
            await billing.settle_operation(operation)
    return operations


async def check_books(settings: Settings, rounds: int) -> str:
    async with open_sessions(settings.database.url) as sessions, billing_on(settings, sessions) as billing:
        drifts = await check_ledger(sessions)
        info = await billing.get_user_info(TELEGRAM_ID)
        await billing.cache.redis.flushdb()
    # Every paid operation refunded, and one ruble granted per round.
    expected = SEEDED + rounds * 100
    if drifts or info is None or info.balance != expected:
        raise SystemExit(f"the books do not balance: {drifts}, balance {info and info.balance} != {expected}")
    return f"verified: check_ledger() == [], balance {expected} kopecks as expected"


@asynccontextmanager
async def billing_on(settings: Settings, sessions: Sessions) -> AsyncIterator[BillingService]:
    redis = redis_client(settings.redis.url)  # type: ignore[arg-type]
    try:
        yield BillingService(sessions, settings, BalanceCache(redis))
    finally:
        await redis.aclose()


@contextmanager
def bench_redis(url: str | None) -> Iterator[tuple[str, str]]:
    """The Redis URL the commands get, and what it is."""
    if url:
        yield url, f"{url} (emptied)"
        return
    embedded = EmbeddedRedis()
    try:
        yield embedded.url, "embedded, started once by the bench"
    finally:
        embedded.close()


def print_table(timed: list[Timed]) -> None:
    baseline = timed[0].median
    print(f"\n{'command':<36} {'median ms':>9} {'min ms':>7} {'x baseline':>10} {'cpu ms':>7} {'target ms':>10}")
    for entry in timed:
        verdict = ("ok" if entry.median <= entry.target else "OVER") if entry.target else ""
        target = f"{entry.target * 1000:.0f} {verdict}" if entry.target else ""
        print(f"{entry.label:<36} {entry.median * 1000:>9.0f} {min(entry.seconds) * 1000:>7.0f} "
              f"{entry.median / baseline:>10.1f} {statistics.median(entry.cpu) * 1000:>7.0f} {target:>10}")
    print("(median and min: wall time from spawn to exit; cpu: the median of the process's user + system time)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="runs of each command (default 10)")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL"),
                        help="a Redis database the run may empty (default: BENCH_REDIS_URL, else an embedded one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="medialab-cli-bench-") as folder, \
            bench_redis(args.redis_url) as (redis_url, redis_kind):
        # The commands read their settings from this environment, and run in the empty folder:
        # no developer's .env reaches them.
        env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{folder}/bench.db", "REDIS_URL": redis_url,
               "FREE_OPERATIONS_COUNT": "0",
               # Compiled modules cached as an installation has them, in the run's own folder
               # (PYTHONDONTWRITEBYTECODE would have every start compile medialab again).
               "PYTHONPYCACHEPREFIX": f"{folder}/pycache"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        settings = Settings.from_env(env, env_file=None)
        operations = asyncio.run(seed(settings, 1 + args.runs))
        print(f"{args.runs} runs of each command as a process, taking turns; SQLite (migrated, seeded), "
              f"Redis: {redis_kind}")
        timed = commands()
        started = time.perf_counter()
        time_runs(timed, operations, env, folder)
        print(asyncio.run(check_books(settings, len(operations))))
        print_table(timed)
        print(f"\nwall time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
