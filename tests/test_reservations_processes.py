"""1,000 reservations from 4 OS processes against one Redis and one SQL database.

Each process (forked: tests/forked.py) builds its own engine, Redis client and BillingService
with the BalanceCache, waits for the start signal and fires its share of the charges at once
with asyncio.gather. 50 users hold mixed balances and free operations; afterwards every user has
exactly the charges a plain model predicts (free operations first, then floor(balance / price)),
no balance went below zero, the books balance and Redis agrees with SQL. The second test empties
the Redis database in the middle of the traffic and proves the same.

The last tests replay, step by step, the interleavings of a cache reload with a commit that these
runs can hit by chance (each one left the cache apart from SQL), so each is proven every time.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conftest import REDIS_TEST_URL
from forked import FORKSERVER
from medialab.billing import transactions as tx
from medialab.billing.audit import check_ledger
from medialab.billing.cache import BalanceCache
from medialab.billing.reconcile import reconcile
from medialab.billing.results import Charged, InsufficientFunds
from medialab.billing.service import BillingService
from medialab.db.models import Balance, LedgerEntry, Operation, User
from medialab.settings import Settings

Sessions = async_sessionmaker[AsyncSession]

USERS = 50
REQUESTS = 1_000
PROCESSES = 4
PRICE = 1000  # kopecks: the default PRICE_PER_OPERATION of 10 ₽
FREE = 4  # the default FREE_OPERATIONS_COUNT
IN_FLIGHT_LIMIT = 100_000  # nothing is settled during the run
# Connections per process. PostgreSQL's 100 are shared with the parent and whatever else runs;
# SQLite takes one writer at a time, and fewer waiters spend less time in its busy back-off.
# 250 charges at once wait for 5 connections: on a loaded machine (scripts/flush_drift.py runs
# this beside CPU burners) the last waited longer than the product's 10 s pool deadline, which
# serves a web process that admits 64 updates at a time, not a burst of 250.
POOL_SIZES = {False: {"pool_size": 5, "max_overflow": 0, "pool_timeout": 120},
              True: {"pool_size": 2, "max_overflow": 0}}
# Balances in kopecks: none, one charge, a few with change left over, and more than enough.
BALANCES = (0, 0, PRICE, 3 * PRICE + 500, 7 * PRICE, 12 * PRICE + 999, 1000 * PRICE)


@dataclass(frozen=True)
class Account:
    user_id: int
    free: int  # free operations left before the run
    balance: int  # kopecks before the run
    requests: int  # charges asked for in the run

    @property
    def free_used(self) -> int:
        return min(self.requests, self.free)

    @property
    def paid(self) -> int:
        return min(self.requests - self.free_used, self.balance // PRICE)

    @property
    def charged(self) -> int:
        return self.free_used + self.paid


# ---- the worker process ------------------------------------------------------------------------

def worker(database_url: str, redis_url: str, share: list[tuple[int, str]], ready: Any, go: Any,
           done: Any, results: Any) -> None:
    """One OS process: its own engine, Redis client and service; charges its share at once."""
    try:
        results.put(asyncio.run(_charge_share(database_url, redis_url, share, ready, go, done)))
    except BaseException as exc:  # the parent fails the test with this
        results.put(("crashed", repr(exc)))
        raise


async def _charge_share(database_url: str, redis_url: str, share: list[tuple[int, str]], ready: Any,
                        go: Any, done: Any) -> tuple[str, list[tuple[Any, ...]]]:
    from medialab.db.engine import create_engine, session_factory
    from medialab.db.redis import redis_client

    settings = Settings.from_env({"DATABASE_URL": database_url, "REDIS_URL": redis_url,
                                  "MAX_JOBS_IN_FLIGHT": str(IN_FLIGHT_LIMIT)}, env_file=None)
    engine = create_engine(settings.database.url, **POOL_SIZES[settings.database.is_sqlite])
    redis = redis_client(redis_url)
    billing = BillingService(session_factory(engine), settings, BalanceCache(redis))
    try:
        await redis.ping()
        async with billing._sessions() as session:  # noqa: SLF001 - open a connection before the start
            await session.execute(select(1))
        ready.wait()
        go.wait()

        async def charge(user_id: int, operation_id: str) -> tuple[Any, ...]:
            try:
                result = await billing.charge_operation(user_id, "generate", operation_id=operation_id)
            except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the test
                return ("error", user_id, operation_id, repr(exc))
            finally:
                with done.get_lock():
                    done.value += 1
            if isinstance(result, Charged):
                return ("charged", user_id, operation_id, result.paid_with_free, result.price,
                        result.balance, result.free_operations_left, result.replayed)
            if isinstance(result, InsufficientFunds):
                return ("insufficient", user_id, operation_id, result.balance, result.price)
            return ("other", user_id, operation_id, repr(result))

        return "ok", list(await asyncio.gather(*(charge(u, op) for u, op in share)))
    finally:
        await redis.aclose()
        await engine.dispose()


# ---- fixtures and helpers ----------------------------------------------------------------------

@pytest.fixture
async def billing(sessions: Sessions, settings: Settings, redis: Redis) -> AsyncIterator[BillingService]:
    """The parent's service: it seeds the users and reconciles afterwards (its own, not conftest's
    parametrized `billing`)."""
    yield BillingService(sessions, settings.with_overrides(
        jobs={"max_in_flight": IN_FLIGHT_LIMIT}), BalanceCache(redis))


async def seed_accounts(billing: BillingService, rng: random.Random) -> list[Account]:
    """50 users through the API: some free operations used up (and delivered), some money added."""

    gate = asyncio.Semaphore(5)  # a few connections of the parent's pool, not 40

    async def seed(n: int) -> tuple[int, int, int]:
        async with gate:
            return await seed_one(n)

    async def seed_one(n: int) -> tuple[int, int, int]:
        user = await billing.get_or_create_user(900_000 + n)
        used = n % (FREE + 1)
        for _ in range(used):
            taken = await billing.charge_operation(user.user_id, "edit")
            assert isinstance(taken, Charged) and taken.paid_with_free
            assert await billing.settle_operation(taken.operation_id)
        balance = BALANCES[n % len(BALANCES)]
        if balance:
            assert (await billing.add_balance(user.user_id, balance, f"seed-{n}")).credited
        return user.user_id, FREE - used, balance

    seeded = await asyncio.gather(*(seed(n) for n in range(USERS)))
    asked = Counter(rng.choices([user_id for user_id, _, _ in seeded], k=REQUESTS))
    return [Account(user_id, free, balance, asked[user_id]) for user_id, free, balance in seeded]


def plan(accounts: list[Account], rng: random.Random) -> list[list[tuple[int, str]]]:
    """Every request once, shuffled, dealt round-robin: each process charges every user."""
    requests = [(a.user_id, uuid.uuid4().hex) for a in accounts for _ in range(a.requests)]
    rng.shuffle(requests)
    return [requests[p::PROCESSES] for p in range(PROCESSES)]


async def run_processes(database_url: str, shares: list[list[tuple[int, str]]],
                        while_running: Any = None) -> list[tuple[Any, ...]]:
    """Starts the processes, lets them go together, runs `while_running(done)` in the parent
    meanwhile, and returns every process's answers."""
    # Forked from the suite's fork server (tests/forked.py), which has imported the libraries
    # once per test process: spawned, each of the 16 processes these tests start imported them
    # again. Forked from a server that holds no loop, thread or connection, each still opens
    # its own engine and Redis client.
    ctx = FORKSERVER
    ready, go = ctx.Barrier(PROCESSES + 1), ctx.Event()
    done, results = ctx.Value("i", 0), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(database_url, REDIS_TEST_URL, share, ready, go, done, results),
                         daemon=True) for share in shares]
    for proc in procs:
        proc.start()
    try:
        await asyncio.to_thread(ready.wait, 60)  # every process has its engine and Redis client
        go.set()
        if while_running is not None:
            await while_running(done)
        answers = [await asyncio.to_thread(results.get, True, 120) for _ in procs]
        for proc in procs:
            await asyncio.to_thread(proc.join, 30)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
    crashed = [a for a in answers if a[0] != "ok"]
    assert crashed == []
    assert [p.exitcode for p in procs] == [0] * PROCESSES
    return [row for _, rows in answers for row in rows]


async def sql_state(sessions: Sessions, user_id: int) -> dict[str, Any]:
    async with sessions() as session:
        user = await session.get(User, user_id)
        balance = await session.scalar(select(Balance.balance).where(Balance.user_id == user_id))
        statuses = Counter(dict((await session.execute(
            select(Operation.status, func.count()).where(Operation.user_id == user_id).group_by(Operation.status)
        )).all()))
        ops = {row.id: (row.status, row.job_state) for row in (await session.execute(
            select(Operation.id, Operation.status, Operation.job_state).where(Operation.user_id == user_id)
        )).all()}
        charges = await session.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.user_id == user_id, LedgerEntry.kind == "charge"))
    assert user is not None
    return {"balance": balance, "free": user.free_operations_left, "statuses": statuses, "ops": ops,
            "charge_entries": charges}


async def assert_each_charge_taken_once(accounts: list[Account], shares: list[list[tuple[int, str]]],
                                        answers: list[tuple[Any, ...]], sessions: Sessions) -> None:
    sent = {op: user for share in shares for user, op in share}
    assert len(sent) == REQUESTS and len(answers) == REQUESTS
    assert [a for a in answers if a[0] not in ("charged", "insufficient")] == []
    assert {a[2]: a[1] for a in answers} == sent  # one answer per request, for its user
    by_user: dict[int, list[tuple[Any, ...]]] = {a.user_id: [] for a in accounts}
    for answer in answers:
        by_user[answer[1]].append(answer)

    for account in accounts:
        mine = by_user[account.user_id]
        assert len(mine) == account.requests
        free = [a for a in mine if a[0] == "charged" and a[3]]
        paid = [a for a in mine if a[0] == "charged" and not a[3]]
        refused = [a for a in mine if a[0] == "insufficient"]
        model = (account.free_used, account.paid, account.requests - account.charged)
        assert (len(free), len(paid), len(refused)) == model, account
        assert not any(a[7] for a in free + paid)  # nothing was answered as a replay
        # Free operations first: each free one taken once, counting down to what is left...
        assert sorted(a[6] for a in free) == list(range(account.free - account.free_used, account.free))
        # ...and no paid charge while one was left; each paid charge took the price once.
        assert all(a[4] == PRICE and a[6] == 0 for a in paid)
        assert sorted(a[5] for a in paid) == [account.balance - PRICE * k for k in range(account.paid, 0, -1)]
        final = account.balance - account.paid * PRICE
        assert all(a[3] == final and a[3] < PRICE for a in refused)
        assert min([a[5] for a in paid], default=0) >= 0 and final >= 0

        sql = await sql_state(sessions, account.user_id)
        assert (sql["balance"], sql["free"]) == (final, account.free - account.free_used), account
        # Before the run: FREE - free operations, each free and delivered. The run adds its charges.
        seeded = FREE - account.free
        assert sql["statuses"] == Counter({"free": seeded + account.free_used, "charged": account.paid}) - Counter()
        assert sql["charge_entries"] == account.paid
        in_flight = {op for op, (status, job) in sql["ops"].items() if job == "queued"}
        assert in_flight == {a[2] for a in free + paid}
        assert all(sql["ops"][a[2]] == ("free", "queued") for a in free)
        assert all(sql["ops"][a[2]] == ("charged", "queued") for a in paid)
        assert all(a[2] not in sql["ops"] for a in refused)
        if sql["free"] > 0:  # a user with free operations left paid for nothing in the run
            assert paid == []

    async with sessions() as session:
        assert await session.scalar(select(func.min(Balance.balance))) >= 0
    assert await check_ledger(sessions) == []


async def assert_cache_is_sql(billing: BillingService, accounts: list[Account], sessions: Sessions) -> None:
    """Every user's Redis counters, in-flight set and pending steps are SQL's, without a repair."""
    report = await reconcile(billing, repair=False, pending_grace=0)
    assert (report.drifts, report.users_busy) == ([], 0)
    assert billing.cache is not None
    for account in accounts:
        cached = await billing.cache.snapshot(account.user_id)
        if cached is None:  # only possible for a user whose cache the flush took and nobody reloaded
            continue
        sql = await sql_state(sessions, account.user_id)
        in_flight = frozenset(op for op, (_, job) in sql["ops"].items() if job == "queued")
        assert (cached.balance, cached.free, cached.in_flight, cached.pending) == (
            sql["balance"], sql["free"], in_flight, ())


# ---- the tests ---------------------------------------------------------------------------------

@pytest.mark.slow
async def test_1000_reservations_from_4_processes_take_exactly_what_the_model_allows(
    database_url: str, billing: BillingService, sessions: Sessions
) -> None:
    rng = random.Random(20_240_601)
    accounts = await seed_accounts(billing, rng)
    assert sum(a.requests for a in accounts) == REQUESTS
    assert any(a.requests > a.charged for a in accounts)  # some users run out of money
    assert any(a.free_used and a.paid for a in accounts)  # some use free operations, then money
    shares = plan(accounts, rng)

    answers = await run_processes(database_url, shares)

    await assert_each_charge_taken_once(accounts, shares, answers, sessions)
    await assert_cache_is_sql(billing, accounts, sessions)
    assert billing.cache is not None
    assert all([await billing.cache.snapshot(a.user_id) for a in accounts])  # every user is cached


@pytest.mark.slow
async def test_flushing_redis_in_the_middle_of_the_traffic_loses_and_doubles_nothing(
    database_url: str, billing: BillingService, sessions: Sessions, redis: Redis
) -> None:
    rng = random.Random(20_240_602)
    accounts = await seed_accounts(billing, rng)
    shares = plan(accounts, rng)
    flushed_at: list[int] = []

    async def flush_midway(done: Any) -> None:
        deadline = time.monotonic() + 60
        while done.value < REQUESTS // 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
        await redis.flushdb()  # the test database only (db 9), never FLUSHALL
        flushed_at.append(done.value)

    answers = await run_processes(database_url, shares, flush_midway)

    assert flushed_at and REQUESTS // 3 <= flushed_at[0] < REQUESTS  # it landed mid-traffic
    await assert_each_charge_taken_once(accounts, shares, answers, sessions)
    await assert_cache_is_sql(billing, accounts, sessions)


# ---- the interleavings behind drifts the runs above can hit, replayed step by step ------------
# A reload of a user's cache is two steps: read an SQL snapshot, then write it into Redis with
# `cache.load` (what `BillingService.load_cache` does). These tests take the two steps by hand
# around another caller's commit, the order the concurrent runs above hit only by chance.

RELOADS = ["after a flush", "resync"]


async def sql_snapshot(sessions: Sessions, user_id: int) -> tuple[int, int, int, list[str]]:
    async with sessions() as session:
        return await tx.snapshot(session, user_id)


async def begin_reload(billing: BillingService, redis: Redis, user_id: int, reload: str) -> int | None:
    """The seq a forced reload notes before it reads SQL; after a flush there is none."""
    if reload == "after a flush":
        await redis.flushdb()
        return None
    cached = await billing.cache.snapshot(user_id)  # type: ignore[union-attr]
    assert cached is not None
    return cached.seq


@pytest.mark.parametrize("reload", RELOADS)
async def test_a_reload_that_read_sql_before_a_charge_cannot_write_over_the_charge(
    reload: str, sessions: Sessions, settings: Settings, redis: Redis
) -> None:
    billing = BillingService(sessions, settings.with_overrides(
        billing={"free_operations_count": 0}), BalanceCache(redis))
    user = await billing.get_or_create_user(1)
    await billing.add_balance(user.user_id, 2 * PRICE, "t-1")
    seq = await begin_reload(billing, redis, user.user_id, reload)
    balance, free, version, in_flight = await sql_snapshot(sessions, user.user_id)

    charged = await billing.charge_operation(user.user_id, "generate")  # reserve, commit, confirm
    assert isinstance(charged, Charged) and charged.balance == PRICE
    late = await billing.cache.load(user.user_id, balance, free, version, in_flight,  # type: ignore[union-attr]
                                    force=reload == "resync", expected_seq=seq)

    assert late.status in {"exists", "moved", "stale"}
    cached = await billing.cache.snapshot(user.user_id)  # type: ignore[union-attr]
    assert cached is not None
    assert (cached.balance, cached.free, cached.in_flight, cached.pending) == (
        PRICE, 0, {charged.operation_id}, ())  # SQL's numbers


@pytest.mark.parametrize("reload", RELOADS)
async def test_a_reload_that_read_sql_before_a_settle_cannot_bring_the_job_back(
    reload: str, sessions: Sessions, settings: Settings, redis: Redis
) -> None:
    """Without the settle moving users.version (and raising the floor when the cache is
    missing), the job came back into the in-flight set: with MAX_JOBS_IN_FLIGHT=1 the user was
    refused while nothing ran, until a reconcile."""
    billing = BillingService(sessions, settings.with_overrides(jobs={"max_in_flight": 1}), BalanceCache(redis))
    user = await billing.get_or_create_user(1)
    job = await billing.charge_operation(user.user_id, "generate")
    assert isinstance(job, Charged)
    seq = await begin_reload(billing, redis, user.user_id, reload)
    balance, free, version, in_flight = await sql_snapshot(sessions, user.user_id)
    assert in_flight == [job.operation_id]

    assert await billing.settle_operation(job.operation_id)
    late = await billing.cache.load(user.user_id, balance, free, version, in_flight,  # type: ignore[union-attr]
                                    force=reload == "resync", expected_seq=seq)

    assert late.status in {"moved", "stale"}
    await billing.load_cache(user.user_id)  # the reloader reads SQL again, as load_cache does
    cached = await billing.cache.snapshot(user.user_id)  # type: ignore[union-attr]
    assert cached is not None and cached.in_flight == frozenset()  # SQL: nothing in flight
    assert isinstance(await billing.charge_operation(user.user_id, "generate"), Charged)


async def test_a_forced_reload_older_than_the_cache_is_refused_even_when_seq_matches(
    sessions: Sessions, settings: Settings, redis: Redis
) -> None:
    """seq restarts at 0 on every load, so a reloader's noted seq can match again by chance
    (another reload, then as many steps); the version check still refuses its older snapshot."""
    billing = BillingService(sessions, settings.with_overrides(
        billing={"free_operations_count": 0}), BalanceCache(redis))
    user = await billing.get_or_create_user(1)
    await billing.add_balance(user.user_id, 3 * PRICE, "t-1")
    old = await sql_snapshot(sessions, user.user_id)
    charged = await billing.charge_operation(user.user_id, "generate")
    assert isinstance(charged, Charged)
    await billing.resync(user.user_id)  # the cache holds the charge at seq 0 again
    cached = await billing.cache.snapshot(user.user_id)  # type: ignore[union-attr]
    assert cached is not None

    late = await billing.cache.load(user.user_id, *old, force=True, expected_seq=cached.seq)  # type: ignore[union-attr]

    assert late.status == "stale"
    after = await billing.cache.snapshot(user.user_id)  # type: ignore[union-attr]
    assert after is not None and (after.balance, after.in_flight) == (2 * PRICE, {charged.operation_id})
