"""Liveness and readiness (docs/contract.md §5): ready when the database answers with this
release's schema (its Alembic head) and Redis answers."""

from __future__ import annotations

import asyncio
import functools

import msgspec
from litestar import Controller, Response, get
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from medialab.db import migrate
from medialab.db.startup_checks import schema_problem
from medialab.web.state import AppState

CHECK_TIMEOUT_SECONDS = 2.0
VERSION_TABLE = "alembic_version"


class Readiness(msgspec.Struct):
    status: str
    database: str
    redis: str


class HealthController(Controller):
    @get("/health", sync_to_thread=False)
    def health(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/ready")
    async def ready(self, state: AppState) -> Response[Readiness]:
        database = await _probe(_check_database(state.engine))
        redis = await _probe(state.redis.ping())
        ok = database == "ok" and redis == "ok"
        body = Readiness("ok" if ok else "unavailable", database, redis)
        return Response(body, status_code=200 if ok else 503)


class SchemaNotAtHead(Exception):
    """The database answers, but with a schema this release does not run on."""


# Read once from the migrations this release ships (a few files), when /ready is first asked.
_head_revision = functools.cache(migrate.head_revision)


def _schema_revision(connection: Connection) -> str | None:
    # Alembic's MigrationContext would say so too, and log a line on every probe.
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


async def _check_database(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        current = await connection.run_sync(_schema_revision)
    problem = schema_problem(current, await asyncio.to_thread(_head_revision))
    if problem is not None:
        raise SchemaNotAtHead(problem)


async def _probe(check: object) -> str:
    try:
        await asyncio.wait_for(check, CHECK_TIMEOUT_SECONDS)  # type: ignore[arg-type]
    except SchemaNotAtHead as exc:
        return f"error: {exc}"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; say which kind
        return f"error: {type(exc).__name__}"
    return "ok"
