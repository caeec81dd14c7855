"""The Telegram webhook's refusals in /metrics, and update ids in the log records of a real
update handled by the served app."""

from __future__ import annotations

import io
import json

import httpx

from medialab.logs import configure_logging
from medialab.sandbox.telegram import BotApiSandbox
from ops.scraped import parse, value

from .conftest import SECRET, Chat, Running

USER = 880_001


async def refusals(app: Running, reason: str) -> float:
    async with httpx.AsyncClient(base_url=app.url) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    return value(parse(response.text), "medialab_webhook_refusals_total", webhook="telegram", reason=reason) or 0.0


async def test_refused_updates_are_counted_by_reason(app: Running, telegram: BotApiSandbox) -> None:
    secrets_before, bodies_before = await refusals(app, "bad_secret"), await refusals(app, "bad_body")

    assert (await telegram.deliver(telegram.command_update(USER, "start"), secret_token="wrong")).status_code == 403
    assert (await telegram.deliver(telegram.command_update(USER, "start"), secret_token="")).status_code == 401
    async with httpx.AsyncClient() as http:
        response = await http.post(app.webhook_url, content=b"[]", headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert response.status_code == 400

    assert await refusals(app, "bad_secret") == secrets_before + 2
    assert await refusals(app, "bad_body") == bodies_before + 1
    # An accepted update is not a refusal.
    await Chat(telegram, USER).say("/start")
    assert await refusals(app, "bad_secret") == secrets_before + 2


async def test_records_logged_while_an_update_is_handled_carry_its_update_id(
    app: Running, telegram: BotApiSandbox
) -> None:
    chat = Chat(telegram, USER)
    await chat.say("/start")
    await chat.press("mode:generate")
    prompt = telegram.message_update(USER, "a red fox")
    await chat.send(prompt)
    stream = io.StringIO()
    configure_logging(app.settings, stream=stream, json_lines=True)
    try:
        # Delivered again: the billing middleware logs that it was charged before.
        assert (await telegram.deliver(prompt)).status_code == 200
        await chat.say("/balance")
    finally:
        configure_logging(app.settings, stream=io.StringIO())
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    [replay] = [r for r in records if "charged before" in r["message"]]
    assert replay["update_id"] == str(prompt["update_id"])
