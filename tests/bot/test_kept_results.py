"""A user who blocked the bot while their image was made keeps it (the operation stays paid for,
nothing is refunded) and gets it when they write to the bot again: once, however many updates
or web processes race for it, and without holding up the update that brought them back."""

from __future__ import annotations

import asyncio
from typing import Any

from arq.jobs import Job
from sqlalchemy import select

from conftest import wait_until
from medialab.db.models import KeptResult
from medialab.db.redis_keys import KEPT_RESULTS_WAITING
from medialab.jobs.generation import generate_image
from medialab.jobs.kept_results import deliver_kept, is_waiting, mark_all_waiting
from medialab.worker_app import WorkerSettings
from medialab.sandbox.telegram import BotApiSandbox
from medialab.services import Services
from ops.scraped import counted

from .conftest import Chat, Launcher, Running, operations_of

USER = 790_001


async def run_job(app: Running, operation_id: str) -> str:
    """The queued generation job, run as a worker runs it (the local image provider)."""
    info = await Job(operation_id, app.services.arq).info()
    assert info is not None
    ctx: dict[str, Any] = {"settings": app.settings, "job_try": 1}
    await WorkerSettings.on_startup(ctx)
    try:
        return await generate_image(ctx, info.args[0])
    finally:
        await WorkerSettings.on_shutdown(ctx)


async def kept_rows(services: Services) -> list[KeptResult]:
    async with services.sessions() as session:
        return list((await session.execute(select(KeptResult))).scalars())


async def kept_while_blocked(app: Running, telegram: BotApiSandbox, chat: Chat) -> KeptResult:
    """A free prompt whose image was made while the user had blocked the bot; they unblock."""
    await chat.say("/start")
    await chat.press("mode:generate")
    await chat.say("a red fox")
    telegram.block_chat(USER)
    [operation] = await operations_of(app.services, USER)
    assert await run_job(app, operation.id) == "kept"
    telegram.unblock_chat(USER)
    [kept] = await kept_rows(app.services)
    return kept


def photos_sent(telegram: BotApiSandbox) -> list[bytes]:
    return [call.files["photo"] for call in telegram.calls("sendPhoto", chat_id=USER) if call.ok]


async def test_the_result_waits_for_the_user_and_comes_with_their_next_message(
    app: Running, telegram: BotApiSandbox
) -> None:
    chat = Chat(telegram, USER)
    delivered_before = counted("medialab_kept_results_total", event="delivered")
    kept = await kept_while_blocked(app, telegram, chat)
    [operation] = await operations_of(app.services, USER)
    assert (operation.status, operation.job_state) == ("free", "delivered")  # settled, not refunded
    assert not [text for text in telegram.texts(USER) if "возврат" in text or "вернули" in text]

    mark = telegram.checkpoint()
    balance = await chat.say("/balance")
    # The free operation stays used: blocking the bot no longer gives it back.
    assert "Бесплатные операции: 3 из 4" in balance.params["text"]
    photo = await telegram.wait_for("sendPhoto", lambda call: call.chat_id == USER and call.ok, after=mark)
    assert photo.files["photo"] == kept.data and photo.params["caption"] == "Готово!"
    await wait_until(lambda: _none_kept(app.services), "forgot the delivered result")
    assert counted("medialab_kept_results_total", event="delivered") == delivered_before + 1

    # Nothing is waiting any more, so the next message starts no delivery at all.
    assert not await is_waiting(app.services.redis, USER)
    await chat.say("/balance")
    assert photos_sent(telegram) == [kept.data]


async def test_updates_racing_in_two_web_processes_deliver_it_once(
    app: Running, launch: Launcher, telegram: BotApiSandbox
) -> None:
    kept = await kept_while_blocked(app, telegram, Chat(telegram, USER))
    async with launch(register=False) as second:
        sent = await asyncio.gather(*(deliver_kept(process.services.jobs, USER)
                                      for process in (app, second, app, second, app, second)))
    assert sorted(sent) == [0, 0, 0, 0, 0, 1]
    assert photos_sent(telegram) == [kept.data]
    assert await kept_rows(app.services) == []


async def test_a_delivery_that_fails_again_leaves_the_update_alone_and_waits_for_the_next_message(
    app: Running, telegram: BotApiSandbox
) -> None:
    chat = Chat(telegram, USER)
    kept = await kept_while_blocked(app, telegram, chat)
    telegram.block_chat(USER)  # blocked again before the photo goes out
    mark = telegram.checkpoint()
    assert (await telegram.deliver(telegram.message_update(USER, "/balance"))).status_code == 200
    refused = await telegram.wait_for("sendPhoto", lambda call: call.chat_id == USER, after=mark)
    assert refused.error_code == 403
    await wait_until(lambda: _waiting_unclaimed(app.services), "let the result go for the next message")

    telegram.unblock_chat(USER)
    mark = telegram.checkpoint()
    await chat.say("/balance")
    await telegram.wait_for("sendPhoto", lambda call: call.chat_id == USER and call.ok, after=mark)
    assert photos_sent(telegram) == [kept.data]


async def test_a_hint_redis_lost_is_put_back_by_the_sweep(app: Running, telegram: BotApiSandbox) -> None:
    chat = Chat(telegram, USER)
    kept = await kept_while_blocked(app, telegram, chat)
    await app.services.redis.delete(KEPT_RESULTS_WAITING)  # Redis flushed: only SQL knows
    assert await mark_all_waiting(app.services.jobs) == 1

    mark = telegram.checkpoint()
    await chat.say("/balance")
    photo = await telegram.wait_for("sendPhoto", lambda call: call.chat_id == USER and call.ok, after=mark)
    assert photo.files["photo"] == kept.data


async def test_a_kept_result_an_operator_refunded_is_not_sent(app: Running, telegram: BotApiSandbox) -> None:
    kept = await kept_while_blocked(app, telegram, Chat(telegram, USER))
    refund = await app.services.billing.refund_operation(kept.operation_id, reason="ticket 5", actor="test")
    assert refund.refunded and refund.free_operation
    assert await deliver_kept(app.services.jobs, USER) == 0
    assert photos_sent(telegram) == []


async def _none_kept(services: Services) -> bool:
    return await kept_rows(services) == []


async def _waiting_unclaimed(services: Services) -> bool:
    [row] = await kept_rows(services)
    return row.claimed_until is None and await is_waiting(services.redis, USER)
