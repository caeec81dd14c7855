"""The generation job on an in-process arq worker, against the fal.ai and Bot API stand-ins, real
Redis and both databases: delivery and settlement, provider retries, compensation."""

from __future__ import annotations

import base64
import logging

import pytest

from medialab.billing.audit import check_ledger
from medialab.jobs.generation import MAX_TRIES
from medialab.sandbox.fal import FalSandbox
from medialab.sandbox.telegram import BotApiSandbox
from medialab.services import Services

from stand_ins import BOT_TOKEN, FAL_KEY

from .conftest import RunWorker
from .scenario import account, charged_request, entries, in_flight, kept_rows, operation, photo, queued

USER = 5101


async def test_a_generated_image_is_delivered_as_a_photo_and_settled(
    services: Services, telegram: BotApiSandbox, fal_sandbox: FalSandbox, run_worker: RunWorker
) -> None:
    request = await queued(services, await charged_request(services, telegram, USER))
    await run_worker()

    [sent] = telegram.calls("sendPhoto", chat_id=USER)
    [request_id] = fal_sandbox.images
    assert sent.ok and sent.files["photo"] == fal_sandbox.images[request_id]
    assert sent.params["caption"] == "Готово!"
    op = await operation(services, request.operation_id)
    assert (op.status, op.job_state, op.attempts, op.error) == ("charged", "delivered", 1, None)
    assert op.started_at is not None and op.finished_at is not None
    assert await entries(services, request.operation_id) == [("charge", -1000)]
    assert await account(services, USER) == (9000, 0)
    assert await in_flight(services, request.user_id) == frozenset()
    assert telegram.texts(USER) == []  # no refund message
    assert await check_ledger(services.sessions) == []


async def test_input_photos_come_from_telegram_and_the_token_goes_nowhere(
    services: Services, telegram: BotApiSandbox, fal_sandbox: FalSandbox, run_worker: RunWorker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    request = await queued(services, await charged_request(services, telegram, USER, "face_swap", photos=2))
    await run_worker()

    [submit] = fal_sandbox.requests_to("POST")
    sent = [submit.json["base_image_url"], submit.json["swap_image_url"]]
    assert [base64.b64decode(uri.split(",", 1)[1]) for uri in sent] == [photo("teal"), photo("orange")]
    assert len(telegram.calls("getFile")) == 2
    assert telegram.calls("sendPhoto", chat_id=USER)[0].ok
    assert (await operation(services, request.operation_id)).job_state == "delivered"
    for recorded in fal_sandbox.requests:
        assert BOT_TOKEN not in repr(recorded) and BOT_TOKEN.split(":")[1] not in repr(recorded)
    assert BOT_TOKEN not in caplog.text and FAL_KEY not in caplog.text
    assert await check_ledger(services.sessions) == []


async def test_a_provider_failure_is_retried_and_the_success_settled_once(
    services: Services, telegram: BotApiSandbox, fal_sandbox: FalSandbox, run_worker: RunWorker
) -> None:
    fal_sandbox.set_mode("fail", times=1)  # the first request's result answers 500, every time
    request = await queued(services, await charged_request(services, telegram, USER))
    await run_worker()

    assert len(fal_sandbox.requests_to("POST")) == 2
    assert len(telegram.calls("sendPhoto", chat_id=USER)) == 1
    op = await operation(services, request.operation_id)
    assert (op.status, op.job_state, op.attempts) == ("charged", "delivered", 2)
    assert await entries(services, request.operation_id) == [("charge", -1000)]
    assert await account(services, USER) == (9000, 0)
    assert await check_ledger(services.sessions) == []


async def test_a_provider_failing_for_good_is_refunded_once_and_the_user_told(
    services: Services, telegram: BotApiSandbox, fal_sandbox: FalSandbox, run_worker: RunWorker
) -> None:
    fal_sandbox.set_mode("fail")
    request = await queued(services, await charged_request(services, telegram, USER))
    await run_worker()

    assert len(fal_sandbox.requests_to("POST")) == MAX_TRIES
    op = await operation(services, request.operation_id)
    assert (op.status, op.job_state, op.attempts) == ("refunded", "failed", MAX_TRIES)
    assert "model crashed" in op.error and f"try {MAX_TRIES} of {MAX_TRIES}" in op.error
    assert await entries(services, request.operation_id) == [("charge", -1000), ("refund", 1000)]
    assert await account(services, USER) == (10_000, 0)
    assert await in_flight(services, request.user_id) == frozenset()
    [told] = telegram.texts(USER)
    assert "возврат" in told and "10 ₽" in told and "Баланс: 100 ₽" in told
    assert telegram.calls("sendPhoto") == []
    assert await check_ledger(services.sessions) == []


async def test_a_failed_free_operation_gives_the_free_operation_back_without_retrying(
    services: Services, telegram: BotApiSandbox, fal_sandbox: FalSandbox, run_worker: RunWorker
) -> None:
    fal_sandbox.set_mode("invalid")  # 422: trying again cannot help
    request = await queued(services, await charged_request(services, telegram, USER, free=True, language="en"))
    assert await account(services, USER) == (0, 0)
    await run_worker()

    op = await operation(services, request.operation_id)
    assert (op.status, op.job_state, op.attempts) == ("refunded", "failed", 1)
    assert "422" in op.error
    assert await entries(services, request.operation_id) == []  # a free operation moves no money
    assert await account(services, USER) == (0, 1)
    [told] = telegram.texts(USER)
    assert "free operation was given back (refund)" in told and "Balance: 0 ₽" in told
    assert await check_ledger(services.sessions) == []


async def test_a_job_past_job_timeout_is_compensated(
    services: Services, telegram: BotApiSandbox, fal_sandbox: FalSandbox, run_worker: RunWorker
) -> None:
    fal_sandbox.set_mode("hang")
    request = await queued(services, await charged_request(services, telegram, USER))
    await run_worker(services.settings.with_overrides(jobs={"timeout": 1}))

    op = await operation(services, request.operation_id)
    assert (op.status, op.job_state) == ("refunded", "failed")
    assert op.error.startswith("timed out: no result within JOB_TIMEOUT (1s)")
    assert await entries(services, request.operation_id) == [("charge", -1000), ("refund", 1000)]
    assert len(telegram.texts(USER)) == 1 and telegram.calls("sendPhoto") == []
    assert await check_ledger(services.sessions) == []


async def test_a_user_who_blocked_the_bot_keeps_the_result_not_the_money_and_the_worker_goes_on(
    services: Services, telegram: BotApiSandbox, fal_sandbox: FalSandbox, run_worker: RunWorker
) -> None:
    """The provider was paid and nothing of ours failed: the operation is settled, not refunded,
    and its image is kept for the user's next message."""
    blocked = await queued(services, await charged_request(services, telegram, USER))
    other = await queued(services, await charged_request(services, telegram, USER + 1))
    telegram.block_chat(USER)
    worker = await run_worker()

    assert worker.jobs_failed == 0
    assert [call.error_code for call in telegram.calls(chat_id=USER)] == [403]  # the photo; no refund note
    op = await operation(services, blocked.operation_id)
    assert (op.status, op.job_state) == ("charged", "delivered")
    assert await entries(services, blocked.operation_id) == [("charge", -1000)]
    assert await account(services, USER) == (9000, 0)
    assert await in_flight(services, blocked.user_id) == frozenset()
    [kept] = await kept_rows(services)
    [image] = [data for data in fal_sandbox.images.values() if data == kept.data]
    assert (kept.operation_id, kept.telegram_id, kept.content_type) == (blocked.operation_id, USER, "image/png")
    assert (await operation(services, other.operation_id)).job_state == "delivered"
    assert telegram.calls("sendPhoto", chat_id=USER + 1)[0].ok
    assert await check_ledger(services.sessions) == []


async def test_a_free_operation_is_not_given_back_to_a_user_who_blocked_the_bot(
    services: Services, telegram: BotApiSandbox, run_worker: RunWorker
) -> None:
    """Blocking the bot while the image was made used to give the free operation back: one free
    operation, used again and again, paid the provider each time."""
    request = await queued(services, await charged_request(services, telegram, USER, free=True))
    telegram.block_chat(USER)
    await run_worker()

    op = await operation(services, request.operation_id)
    assert (op.status, op.job_state) == ("free", "delivered")
    assert await account(services, USER) == (0, 0)  # the free operation stays used
    assert [row.operation_id for row in await kept_rows(services)] == [request.operation_id]
    assert await check_ledger(services.sessions) == []
