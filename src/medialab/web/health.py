"""Liveness and readiness (docs/contract.md §5)."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State
from sqlalchemy import text

from medialab.services import Services

CHECK_TIMEOUT_SECONDS = 2.0


class Readiness(msgspec.Struct):
    status: str
    database: str
    redis: str


class HealthController(Controller):
    @get("/health", sync_to_thread=False)
    def health(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/ready")
    async def ready(self, state: State) -> Response[Readiness]:
        services: Services = state.services
        database = await _probe(_ping_database(services))
        redis = await _probe(services.redis.ping())
        ok = database == "ok" and redis == "ok"
        body = Readiness("ok" if ok else "unavailable", database, redis)
        return Response(body, status_code=200 if ok else 503)


async def _ping_database(services: Services) -> None:
    async with services.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _probe(check: object) -> str:
    try:
        await asyncio.wait_for(check, CHECK_TIMEOUT_SECONDS)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; say which kind
        return f"error: {type(exc).__name__}"
    return "ok"
