"""The databases the benchmark charges against, and the users it seeds in them (not timed).

SQLite is a migrated file in a temporary folder; PostgreSQL is a database of its own on the
local server, created and dropped by the run, so nothing outside the run is touched.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from redis.asyncio import Redis
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing.cache import BalanceCache
from medialab.db import migrate
from medialab.db.engine import create_engine, session_factory
from medialab.db.models import Balance, LedgerEntry, User
from medialab.db.redis import redis_client
from medialab.domain.ledger import LedgerKind

POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "postgresql")

Sessions = async_sessionmaker[AsyncSession]


@asynccontextmanager
async def migrated_database(backend: str) -> AsyncIterator[str]:
    """The async URL of a fresh database of the backend at the head revision; gone on exit."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="medialab-bench-") as folder:
            url = f"sqlite+aiosqlite:///{folder}/bench.db"
            await migrate.run(url)
            yield url
        return
    name = f"medialab_bench_{uuid.uuid4().hex[:10]}"
    await _postgres_admin(f'CREATE DATABASE "{name}"')
    try:
        url = f"{POSTGRES_ADMIN_URL.rpartition('/')[0]}/{name}"
        url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
        await migrate.run(url)
        yield url
    finally:
        await _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _postgres_admin(statement: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@asynccontextmanager
async def open_sessions(url: str) -> AsyncIterator[Sessions]:
    """Sessions on the project's own engine (its pool sizes and SQLite pragmas)."""
    engine = create_engine(url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def seed_users(sessions: Sessions, count: int, balance: int) -> list[int]:
    """`count` new users without free operations and with `balance` kopecks each, put there by
    a top-up entry so that the books balance before the first charge."""
    async with sessions.begin() as session:
        first = await session.scalar(select(func.coalesce(func.max(User.telegram_id), 0))) + 1
        users = [{"telegram_id": first + n, "free_operations_left": 0, "free_operations_granted": 0}
                 for n in range(count)]
        ids = list((await session.scalars(insert(User).returning(User.id), users)).all())
        await session.execute(insert(Balance), [{"user_id": i, "balance": balance} for i in ids])
        await session.execute(insert(LedgerEntry), [
            {"user_id": i, "kind": LedgerKind.TOPUP.value, "amount": balance,
             "balance_after": balance, "idempotency_key": f"bench-seed:{i}"}
            for i in ids
        ])
    return ids


@dataclass(frozen=True)
class Seeded:
    url: str
    sessions: Sessions
    redis: Redis
    chat_to_user: dict[int, int]  # Telegram id -> users.id, by Telegram id


@asynccontextmanager
async def seeded(backend: str, users: int, balance: int, redis_url: str) -> AsyncIterator[Seeded]:
    """A fresh database of the backend with `users` users of `balance` kopecks each, and the
    Redis database of redis_url emptied (before and after)."""
    redis = redis_client(redis_url)
    await redis.flushdb()
    try:
        async with migrated_database(backend) as url, open_sessions(url) as sessions:
            ids = await seed_users(sessions, users, balance)
            async with sessions() as session:
                rows = await session.execute(select(User.telegram_id, User.id).where(User.id.in_(ids)))
            yield Seeded(url, sessions, redis, dict(sorted(rows.tuples())))
    finally:
        await redis.flushdb()
        await redis.aclose()


async def preload_cache(cache: BalanceCache, user_ids: list[int], balance: int, batch: int = 500) -> None:
    """Puts the seeded numbers in Redis, as a running service has them for its active users:
    the timed charges then measure the steady state, not the first load."""
    for start in range(0, len(user_ids), batch):
        await asyncio.gather(*(
            cache.load(user_id, balance, free=0, version=0, in_flight=[])
            for user_id in user_ids[start:start + batch]
        ))


async def warm_up(sessions: Sessions, redis: Redis, concurrency: int) -> None:
    """Opens the pools' connections before the first timed run, so no path pays for them."""
    async def one_round_trip_each() -> None:
        async with sessions() as session:
            await session.execute(text("SELECT 1"))
        await redis.ping()

    await asyncio.gather(*(one_round_trip_each() for _ in range(concurrency)))
