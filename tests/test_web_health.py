"""The web app over real HTTP: liveness, and readiness that tells which dependency is down."""

from __future__ import annotations

import httpx
import pytest

from conftest import REDIS_TEST_URL
from medialab.db import migrate
from medialab.sandbox.serving import serve_in_loop
from medialab.settings import Settings
from medialab.web.app import create_app

LIVE_REDIS = REDIS_TEST_URL  # the suite's, wherever it runs (only read here)


async def test_health_and_ready_with_real_database_and_redis(settings: Settings) -> None:
    app = create_app(settings.with_overrides(redis={"url": LIVE_REDIS}))
    async with serve_in_loop(app) as url, httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/health")).json() == {"status": "ok"}
        ready = await http.get("/ready")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ok", "database": "ok", "redis": "ok"}


async def test_ready_says_503_and_which_part_is_down(settings: Settings) -> None:
    # Nothing listens on port 1: the connection is refused at once.
    app = create_app(settings.with_overrides(redis={"url": "redis://127.0.0.1:1/0"}))
    async with serve_in_loop(app) as url, httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/health")).status_code == 200
        ready = await http.get("/ready")
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "unavailable" and body["database"] == "ok"
        assert body["redis"].startswith("error: ")


async def test_without_redis_url_an_embedded_server_is_used(database_url: str) -> None:
    settings = Settings.from_env({"DATABASE_URL": database_url}, env_file=None)
    assert settings.redis.url is None
    async with serve_in_loop(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/ready")).json()["redis"] == "ok"


@pytest.mark.parametrize(("revision", "said"), [
    (None, "error: no schema (never migrated)"),
    ("0006", f"error: schema at revision 0006, not at this release's {migrate.head_revision()}"),
])
async def test_ready_says_503_until_the_schema_is_at_the_head(
    empty_database: str, revision: str | None, said: str
) -> None:
    if revision is not None:
        await migrate.run(empty_database, "upgrade", revision)
    settings = Settings.from_env({"DATABASE_URL": empty_database, "REDIS_URL": LIVE_REDIS}, env_file=None)
    async with serve_in_loop(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as http:
        behind = await http.get("/ready")
        assert (behind.status_code, behind.json()) == (503, {"status": "unavailable", "database": said, "redis": "ok"})
        await migrate.run(empty_database)
        assert (await http.get("/ready")).status_code == 200
