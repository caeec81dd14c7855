"""The schema migration on SQLite and PostgreSQL: it round-trips, matches the models, and the
database itself refuses what the ledger must never hold."""

from __future__ import annotations

import hashlib
from importlib.resources import files

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from medialab.db import migrate
from medialab.db.engine import create_engine
from medialab.db.models import Base

TABLES = {"users", "balances", "payments", "operations", "ledger_entries", "payment_notifications",
          "sweep_marks", "kept_results", "promo_codes", "promo_redemptions", "referrals", "ledger_checks"}


async def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names())) - {"alembic_version"}
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade(empty_database: str) -> None:
    await migrate.run(empty_database)
    assert await tables(empty_database) == TABLES
    assert await migrate.current_revision(empty_database) == "0009"
    await migrate.run(empty_database, "downgrade", "base")
    assert await tables(empty_database) == set()
    assert await migrate.current_revision(empty_database) is None
    await migrate.run(empty_database)
    assert await tables(empty_database) == TABLES


async def test_the_migration_creates_exactly_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata)
            )
    finally:
        await engine.dispose()
    assert diff == []


async def _seed(conn) -> None:  # type: ignore[no-untyped-def]
    await conn.execute(text("INSERT INTO users (telegram_id, free_operations_left, free_operations_granted) VALUES (10, 4, 4)"))
    await conn.execute(text("INSERT INTO balances (user_id, balance) VALUES (1, 0)"))
    await conn.execute(text(
        "INSERT INTO ledger_entries (user_id, kind, amount, balance_after, idempotency_key) VALUES (1, 'topup', 100, 100, 'k1')"
    ))
    await conn.execute(text("INSERT INTO promo_codes (code, amount, max_uses, uses) VALUES ('ONE', 100, 1, 1)"))
    await conn.execute(text("INSERT INTO promo_redemptions (promo_code_id, user_id) VALUES (1, 1)"))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entries SET amount = 1000",
        "DELETE FROM ledger_entries",
        "INSERT INTO ledger_entries (user_id, kind, amount, balance_after, idempotency_key) VALUES (1, 'topup', 5, 5, 'k1')",
        "INSERT INTO ledger_entries (user_id, kind, amount, balance_after, idempotency_key) VALUES (1, 'topup', 0, 0, 'k2')",
        "INSERT INTO ledger_entries (user_id, kind, amount, balance_after, idempotency_key) VALUES (1, 'charge', 500, 0, 'k3')",
        "INSERT INTO ledger_entries (user_id, kind, amount, balance_after, idempotency_key) VALUES (1, 'refund', -5, 0, 'k4')",
        "INSERT INTO ledger_entries (user_id, kind, amount, balance_after, idempotency_key) VALUES (1, 'gift', 5, 0, 'k5')",
        "INSERT INTO ledger_entries (user_id, kind, amount, balance_after, idempotency_key) VALUES (99, 'topup', 5, 5, 'k6')",
        "INSERT INTO users (telegram_id, free_operations_left, free_operations_granted) VALUES (10, 4, 4)",
        "UPDATE users SET free_operations_left = -1",
        "INSERT INTO balances (user_id, balance) VALUES (1, 5)",
        "INSERT INTO operations (id, user_id, type, price, status) VALUES ('o1', 1, 'generate', 1000, 'paid')",
        "INSERT INTO operations (id, user_id, type, price, status) VALUES ('o2', 1, 'paint', 1000, 'charged')",
        "INSERT INTO payments (idempotence_key, user_id, amount, currency) VALUES ('i1', 1, 0, 'RUB')",
        "INSERT INTO ledger_entries (user_id, kind, amount, balance_after, idempotency_key) VALUES (1, 'promo', -5, 0, 'k7')",
        "INSERT INTO ledger_entries (user_id, kind, amount, balance_after, idempotency_key) VALUES (1, 'referral', -5, 0, 'k8')",
        "INSERT INTO ledger_entries (user_id, kind, amount, balance_after, idempotency_key) VALUES (1, 'clawback', 5, 0, 'k9')",
        "UPDATE promo_codes SET uses = 2",
        "INSERT INTO promo_redemptions (promo_code_id, user_id) VALUES (1, 1)",
        "INSERT INTO promo_codes (code, amount, free_operations) VALUES ('NOTHING', 0, 0)",
        "INSERT INTO referrals (referred_user_id, referrer_user_id) VALUES (1, 1)",
    ],
)
async def test_the_database_refuses(database_url: str, statement: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await _seed(conn)
        with pytest.raises((IntegrityError, DBAPIError)):
            async with engine.begin() as conn:
                await conn.execute(text(statement))
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT amount FROM ledger_entries"))).scalars().all() == [100]
    finally:
        await engine.dispose()


async def test_0008_keeps_the_ledger_and_its_triggers(empty_database: str) -> None:
    """SQLite rebuilds ledger_entries for its new kinds: the rows stay, and so does append-only."""
    await migrate.run(empty_database, "upgrade", "0007")
    engine = create_engine(empty_database)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO users (telegram_id, free_operations_left, free_operations_granted) "
                                    "VALUES (10, 4, 4)"))
            await conn.execute(text("INSERT INTO balances (user_id, balance) VALUES (1, 100)"))
            await conn.execute(text("INSERT INTO ledger_entries (user_id, kind, amount, balance_after, "
                                    "idempotency_key) VALUES (1, 'topup', 100, 100, 'k1')"))
        await migrate.run(empty_database)
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO ledger_entries (user_id, kind, amount, balance_after, "
                                    "idempotency_key) VALUES (1, 'promo', 50, 150, 'promo:X:1')"))
        with pytest.raises((IntegrityError, DBAPIError)):
            async with engine.begin() as conn:
                await conn.execute(text("DELETE FROM ledger_entries"))
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT id, kind, amount FROM ledger_entries ORDER BY id"))).all()
        assert [tuple(row) for row in rows] == [(1, "topup", 100), (2, "promo", 50)]
    finally:
        await engine.dispose()


def test_the_charge_function_read_by_migration_0005_never_changes() -> None:
    """Migration 0005 creates PostgreSQL's charge function from the file beside the charge rule:
    a database migrated later must get the function an earlier one got. A new body is a new
    file and a new migration (CREATE OR REPLACE), never an edit of this one."""
    source = files("medialab.billing.charge_rule").joinpath("medialab_charge_as_cached.0005.sql")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert digest == "c146c974c3715718b8dce68cd693b91142d45be0a72771186a907a54bd7c0170"
