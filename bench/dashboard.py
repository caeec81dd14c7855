"""How long the operators' dashboard takes on a million ledger entries, on SQLite and PostgreSQL.

Seeds (not timed) 50,000 users, 150,000 top-ups through both providers, 780,000 paid operations
and their charges, refunds of the failed ones, grants and chargebacks: 1,000,000 ledger entries
spread evenly over the last 365 days (so 30 days hold some 82,000). PostgreSQL takes them by
COPY, SQLite by executemany. Then the real web app serves GET /admin over HTTP and each period's
page is timed (median and slowest of 5, after one untimed), with the account page, a week's CSV
and the ledger check beside them; then again without the indexes of migration 0009.

    .venv/bin/python bench/dashboard.py [--backend sqlite|postgresql] [--entries 1000000]

BENCH_POSTGRES_URL names the PostgreSQL server (a database of its own is made and dropped);
REDIS_URL, if set, is the Redis the app opens (the dashboard itself never reads it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from backends import BACKENDS, migrated_database, open_sessions

from medialab.billing.audit import check_ledger
from medialab.sandbox.serving import serve_in_loop
from medialab.settings import Settings
from medialab.web.app import create_app

TOKEN = "bench-dashboard-token-0123456789"
TYPES = ("generate", "edit", "merge", "face_swap", "retouch", "upscale")
DASHBOARD_INDEXES = ("ix_ledger_entries_created_at", "ix_ledger_entries_kind_created_at", "ix_operations_created_at",
                     "ix_users_created_at")
RUNS = 5


def plan(entries: int, now: datetime) -> dict[str, list[tuple]]:  # type: ignore[type-arg]
    """The rows of each table; the ledger's shares: 15 % top-ups, 78 % charges, 3.9 % refunds,
    1.6 % grants, 1.5 % chargebacks."""
    users = max(entries // 20, 10)
    topups, charges = entries * 15 // 100, entries * 78 // 100
    refunds, chargebacks = charges // 20, entries * 15 // 1000
    grants = entries - topups - charges - refunds - chargebacks
    year = timedelta(days=365).total_seconds()

    def moment(n: int, count: int) -> datetime:  # evenly over the year to now, newest last
        return now - timedelta(seconds=year * (count - n) / count)

    rows: dict[str, list[tuple]] = {  # type: ignore[type-arg]
        "users": [(n + 1, 5_000_000 + n, 0, 4, moment(n, users), moment(n, users)) for n in range(users)],
        "balances": [(n + 1, n + 1, (n * 7919) % 50_000, now) for n in range(users)],
        "payments": [(n + 1, "telegram_stars" if n % 4 == 0 else "yookassa", f"bench-pay-{n}", f"bench-ik-{n}",
                      1 + n % users, 10_000, "RUB", "succeeded", moment(n, topups), moment(n, topups))
                     for n in range(topups)],
        "operations": [(f"op-{n}", 1 + n % users, TYPES[n % 6], 1_000, "refunded" if n % 20 == 0 else "charged",
                        "failed" if n % 20 == 0 else "delivered", moment(n, charges), moment(n, charges))
                       for n in range(charges)],
    }
    ledger = [(1 + n % users, "topup", 10_000, 10_000, f"bench-topup-{n}", n + 1, None, moment(n, topups))
              for n in range(topups)]
    ledger += [(1 + n % users, "charge", -1_000, 0, f"charge:op-{n}", None, f"op-{n}", moment(n, charges))
               for n in range(charges)]
    ledger += [(1 + (20 * n) % users, "refund", 1_000, 0, f"refund:op-{20 * n}", None, f"op-{20 * n}",
                moment(20 * n, charges)) for n in range(refunds)]
    ledger += [(1 + n % users, "grant", 500, 0, f"grant:bench-{n}", None, None, moment(n, grants)) for n in range(grants)]
    ledger += [(1 + n % users, "chargeback", -5_000, 0, f"chargeback:bench-{n}", 1 + n * 10 % topups, None,
                moment(n * 10 % topups, topups)) for n in range(chargebacks)]
    rows["ledger_entries"] = ledger
    return rows


COLUMNS = {
    "users": ("id", "telegram_id", "free_operations_left", "free_operations_granted", "created_at", "updated_at"),
    "balances": ("id", "user_id", "balance", "updated_at"),
    "payments": ("id", "provider", "provider_payment_id", "idempotence_key", "user_id", "amount", "currency", "status",
                 "created_at", "updated_at"),
    "operations": ("id", "user_id", "type", "price", "status", "job_state", "created_at", "updated_at"),
    "ledger_entries": ("user_id", "kind", "amount", "balance_after", "idempotency_key", "payment_id", "operation_id",
                       "created_at"),
}


async def seed(url: str, rows: dict[str, list[tuple]]) -> None:  # type: ignore[type-arg]
    if url.startswith("sqlite"):
        with sqlite3.connect(url.partition(":///")[2]) as db:
            for table, columns in COLUMNS.items():
                values = [tuple(v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v for v in row)
                          for row in rows[table]]
                db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                               values)
            db.execute("ANALYZE")
        return
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        for table, columns in COLUMNS.items():
            await conn.copy_records_to_table(table, records=rows[table], columns=list(columns))
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def drop_indexes(url: str) -> None:
    statements = [f"DROP INDEX {name}" for name in DASHBOARD_INDEXES] + ["ANALYZE"]
    if url.startswith("sqlite"):
        with sqlite3.connect(url.partition(":///")[2]) as db:
            for statement in statements:
                db.execute(statement)
        return
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def timed(http: httpx.AsyncClient, path: str, **params: str) -> tuple[float, float, int]:
    """Median and slowest seconds of RUNS requests (after one untimed), and the body's size."""
    answer = await http.get(path, params=params)
    answer.raise_for_status()
    seconds = []
    for _ in range(RUNS):
        started = time.perf_counter()
        answer = await http.get(path, params=params)
        seconds.append(time.perf_counter() - started)
        answer.raise_for_status()
    return statistics.median(seconds), max(seconds), len(answer.content)


async def measure(backend: str, url: str, label: str) -> None:
    settings = Settings.from_env({"DATABASE_URL": url, "ADMIN_WEB_TOKEN": TOKEN, "LOG_LEVEL": "WARNING",
                                  **({"REDIS_URL": os.environ["REDIS_URL"]} if "REDIS_URL" in os.environ else {})},
                                 env_file=None)
    week = datetime.now(UTC).date() - timedelta(days=6)
    async with serve_in_loop(create_app(settings)) as base, httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=600) as http:
        for name, path, params in (("GET /admin?period=today", "/admin", {"period": "today"}),
                                   ("GET /admin?period=7d", "/admin", {"period": "7d"}),
                                   ("GET /admin?period=30d", "/admin", {"period": "30d"}),
                                   ("GET /admin/user", "/admin/user", {"telegram_id": "5000001"}),
                                   ("GET /admin/ledger.csv (7 days)", "/admin/ledger.csv",
                                    {"from": week.isoformat(), "to": datetime.now(UTC).date().isoformat()})):
            median, slowest, size = await timed(http, path, **params)
            print(f"{backend:<10} {label:<15} {name:<31} {median * 1000:>9.0f} {slowest * 1000:>9.0f} {size:>10,}")
    async with open_sessions(url) as sessions:
        started = time.perf_counter()
        await check_ledger(sessions)
        print(f"{backend:<10} {label:<15} {'ledger check (the cron)':<31} {(time.perf_counter() - started) * 1000:>9.0f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=BACKENDS, action="append")
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"{'backend':<10} {'indexes':<15} {'request':<31} {'median ms':>9} {'max ms':>9} {'bytes':>10}")
    for backend in args.backend or BACKENDS:
        async with migrated_database(backend) as url:
            started = time.perf_counter()
            await seed(url, plan(args.entries, datetime.now(UTC)))
            print(f"{backend:<10} seeded {args.entries:,} ledger entries in {time.perf_counter() - started:.0f} s")
            await measure(backend, url, "0009's")
            await drop_indexes(url)
            await measure(backend, url, "without 0009's")


if __name__ == "__main__":
    asyncio.run(main())
