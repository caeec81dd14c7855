"""A flood of refused requests against a real `medialab serve` (uvicorn's access log configured as
in production): each one is counted in /metrics, and the log gets a few lines, not one per
request: the first refusal of each kind, then a summary of how many followed."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from conftest import REDIS_TEST_URL
from medialab.logs import REFUSAL_STATUSES
from medialab.web.refusals import DEFAULT_REASONS
from ops.scraped import parse, value
from test_web_workers import environment, free_port, messages, poll

# Serves the app from a process of its own; on SQLite alone, as every request here is refused
# or abandoned before any database work.
pytestmark = pytest.mark.slow

TOKEN = "424243:flood-TEST_token-never-in-logs"
SECRET = "flood-webhook-secret"
FLOOD, CONNECTIONS, EACH_OTHER_KIND = 2_000, 20, 20


def start_serve(database_url: str, refused_port: int, tmp_path: Path) -> tuple[int, Path, subprocess.Popen[bytes]]:
    """`medialab serve` as in production, its log in tmp_path/serve.log; the Bot API unreachable."""
    port = free_port()
    log = tmp_path / "serve.log"
    env = environment(DATABASE_URL=database_url, REDIS_URL=REDIS_TEST_URL, TELEGRAM_BOT_TOKEN=TOKEN,
                      TELEGRAM_WEBHOOK_SECRET=SECRET, TELEGRAM_API_URL=f"http://127.0.0.1:{refused_port}")
    command = [sys.executable, "-m", "medialab", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as output:
        return port, log, subprocess.Popen(command, cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT, env=env)


async def test_a_flood_of_refused_requests_is_counted_and_logged_in_summary(
    sqlite_url: str, redis: Redis, refused_port: int, tmp_path: Path
) -> None:
    assert DEFAULT_REASONS.keys() == REFUSAL_STATUSES  # the access log drops only what is summarised
    port, log, server = start_serve(sqlite_url, refused_port, tmp_path)
    statuses: Counter[tuple[str, int]] = Counter()
    try:
        poll(lambda: "Application startup complete." in messages(log), "started", log, server)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:

            async def send(times: int, method: str, path: str, **options: object) -> None:
                for _ in range(times):
                    statuses[(path, (await client.request(method, path, **options)).status_code)] += 1  # type: ignore[arg-type]

            bad_secret = {"json": {"update_id": 1}, "headers": {"X-Telegram-Bot-Api-Secret-Token": "guess"}}
            await asyncio.gather(*(send(FLOOD // CONNECTIONS, "POST", "/telegram/webhook", **bad_secret)
                                   for _ in range(CONNECTIONS)))
            await send(EACH_OTHER_KIND, "GET", "/telegram/webhook")
            await send(EACH_OTHER_KIND, "GET", "/wp-login.php")
            await send(EACH_OTHER_KIND, "POST", "/yookassa/webhook", json={})  # 127.0.0.1 is not YooKassa
            scraped = await client.get("/metrics")
        server.send_signal(signal.SIGTERM)  # the last summary is written at shutdown
        # uvicorn shuts the app down, then raises the signal again: the process ends by it.
        assert await asyncio.to_thread(server.wait, 30) == -signal.SIGTERM
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    assert statuses == {("/telegram/webhook", 403): FLOOD, ("/telegram/webhook", 405): EACH_OTHER_KIND,
                        ("/wp-login.php", 404): EACH_OTHER_KIND, ("/yookassa/webhook", 403): EACH_OTHER_KIND}
    families = parse(scraped.text)
    counted = {(webhook, reason): value(families, "medialab_webhook_refusals_total", webhook=webhook, reason=reason)
               for webhook, reason in (("telegram", "bad_secret"), ("telegram", "method_not_allowed"),
                                       ("none", "not_found"), ("yookassa", "source_not_allowed"))}
    assert counted == {("telegram", "bad_secret"): FLOOD, ("telegram", "method_not_allowed"): EACH_OTHER_KIND,
                       ("none", "not_found"): EACH_OTHER_KIND, ("yookassa", "source_not_allowed"): EACH_OTHER_KIND}

    written = log.read_text()
    assert "Application shutdown complete." in messages(log)
    lines = written.splitlines()
    assert len(lines) < 40, written  # start-up, shutdown, the scrape's access line, two per kind
    assert not [line for line in lines if '"level": "ERROR"' in line or "HTTP/1.1\" 40" in line], written
    said = messages(log)
    for webhook, reason in counted:
        kind = re.escape(f"({webhook}, {reason})")
        firsts = [m for m in said if re.match(rf"request refused {kind}: ", m)]
        followed = [int(m.split()[0]) for m in said if re.fullmatch(rf"\d+ requests refused {kind} in the last \d+ s", m)]
        assert len(firsts) == 1 and 1 <= len(followed) <= 2, said
        assert 1 + sum(followed) == counted[(webhook, reason)]
    [first_secret] = [json.loads(line) for line in lines if "(telegram, bad_secret): " in line]
    assert first_secret["message"].startswith("request refused (telegram, bad_secret): POST '/telegram/webhook' from 127.0.0.1 answered 403")
    assert TOKEN not in written and SECRET not in written


async def test_clients_that_hang_up_mid_body_are_no_error_of_ours(
    sqlite_url: str, redis: Redis, refused_port: int, tmp_path: Path
) -> None:
    """A client that promises a body and hangs up halfway (a scanner, a dropped connection): the
    request is abandoned quietly, no ERROR line and no traceback, and the server goes on."""
    port, log, server = start_serve(sqlite_url, refused_port, tmp_path)
    try:
        poll(lambda: "Application startup complete." in messages(log), "started", log, server)
        for path, secret in (("/telegram/webhook", SECRET), ("/yookassa/webhook", "")):
            for _ in range(3):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             f"X-Telegram-Bot-Api-Secret-Token: {secret}\r\nContent-Length: 5000\r\n\r\n"
                             '{"update_id": 1, "message": '.encode())
                await writer.drain()
                writer.close()
                await writer.wait_closed()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            assert (await client.get("/health")).status_code == 200  # still serving
        server.send_signal(signal.SIGTERM)
        await asyncio.to_thread(server.wait, 30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    written = log.read_text()
    assert "Traceback" not in written and '"level": "ERROR"' not in written, written
