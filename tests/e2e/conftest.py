"""The system as `medialab demo` runs it (web app and worker as OS processes, forked: see
tests/forked.py; the stand-ins in the test's loop) on each test database and the test's Redis database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from conftest import REDIS_TEST_URL, wait_until  # noqa: F401 (test modules take it from here)
from forked import forked
from medialab.db.models import LedgerEntry, Operation
from medialab.demo.books import books_problem, wait_until_settled
from medialab.demo.stack import System, running_system
from medialab.services import Services


@pytest.fixture
async def system(database_url: str, redis: Redis, tmp_path: Path) -> AsyncIterator[System]:
    """Depends on `redis` so that the test's Redis database is emptied first."""
    async with running_system(database_url, REDIS_TEST_URL, tmp_path, launch=forked) as running:
        yield running


@pytest.fixture
async def services(system: System) -> AsyncIterator[Services]:
    """The test's own view of the same database and Redis (to read the books, run the sweeper)."""
    opened = await Services.open(system.settings)
    yield opened
    # Whatever a test did, the books must balance and nothing may be left half done.
    assert await books_problem(opened.sessions) is None
    await opened.close()


async def settled_books(services: Services) -> tuple[list[tuple[str, int]], list[tuple[str, str]]]:
    """Once no job is running: the ledger's (kind, amount) in order, and the operations'
    (status, job_state) sorted, as SQLite keeps created_at only to the second."""
    # A photo reaches the chat just before its job marks the operation delivered.
    await wait_until_settled(services.sessions)
    async with services.sessions() as session:
        entries = (await session.execute(select(LedgerEntry.kind, LedgerEntry.amount).order_by(LedgerEntry.id))).all()
        operations = (await session.execute(select(Operation.status, Operation.job_state))).all()
    return [tuple(row) for row in entries], sorted(tuple(row) for row in operations)  # type: ignore[misc]
