"""Delivery of a made image: Telegram failing is retried without making the image again or
refunding; a job run a second time does nothing; add_text moves no money but holds its in-flight
slot until its job ends, delivered or failed."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import msgspec
import pytest
from arq import Retry
from sqlalchemy import text

from medialab.billing.audit import check_ledger
from medialab.billing.results import Charged
from medialab.jobs.generation import MAX_TRIES, generate_image
from medialab.jobs.requests import GenerationRequest
from medialab.sandbox.fal import FalSandbox
from medialab.sandbox.telegram import BotApiSandbox
from medialab.services import Services

from .conftest import RunWorker, TelegramFront, WorkerContext
from .scenario import account, charged_request, entries, in_flight, operation, photo, queued

USER = 5201


@pytest.fixture
def dead_url() -> Iterator[str]:
    """A port held bound but never listening: connections to it are refused for the whole
    test (a port merely free a moment ago may be taken by another test's server meanwhile)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


async def test_telegram_5xx_on_delivery_is_retried_with_the_same_image_and_not_refunded(
    services: Services, telegram: BotApiSandbox, telegram_front: TelegramFront,
    fal_sandbox: FalSandbox, run_worker: RunWorker,
) -> None:
    telegram_front.fail_next("sendPhoto", 2)
    request = await queued(services, await charged_request(services, telegram, USER))
    await run_worker()

    assert telegram_front.refused == ["sendphoto", "sendphoto"]
    [sent] = telegram.calls("sendPhoto", chat_id=USER)
    [image] = fal_sandbox.images.values()  # made once, delivered on the third try
    assert sent.ok and sent.files["photo"] == image
    op = await operation(services, request.operation_id)
    assert (op.status, op.job_state, op.attempts) == ("charged", "delivered", 3)
    assert await entries(services, request.operation_id) == [("charge", -1000)]
    assert telegram.texts(USER) == []
    assert await check_ledger(services.sessions) == []


async def test_telegram_unreachable_leaves_the_operation_running_until_a_later_try_delivers(
    services: Services, telegram: BotApiSandbox, fal_sandbox: FalSandbox, worker_context: WorkerContext,
    dead_url: str,
) -> None:
    request = await charged_request(services, telegram, USER)
    payload = msgspec.to_builtins(request)
    cut_off = await worker_context(services.settings.with_overrides(telegram={"api_url": dead_url}))

    with pytest.raises(Retry):
        await generate_image({**cut_off, "job_try": 1}, payload)
    op = await operation(services, request.operation_id)
    assert (op.status, op.job_state, op.attempts) == ("charged", "running", 1)
    assert await in_flight(services, request.user_id) == {request.operation_id}
    assert await account(services, USER) == (9000, 0)

    assert await generate_image({**await worker_context(), "job_try": 2}, payload) == "delivered"
    assert len(fal_sandbox.requests_to("POST")) == 1  # the kept image, not a new one
    assert telegram.calls("sendPhoto", chat_id=USER)[0].ok
    assert await entries(services, request.operation_id) == [("charge", -1000)]
    assert await in_flight(services, request.user_id) == frozenset()
    assert await check_ledger(services.sessions) == []


async def test_telegram_down_for_good_is_refunded_once_after_the_last_try(
    services: Services, telegram: BotApiSandbox, fal_sandbox: FalSandbox, run_worker: RunWorker, dead_url: str,
) -> None:
    request = await queued(services, await charged_request(services, telegram, USER))
    await run_worker(services.settings.with_overrides(telegram={"api_url": dead_url}))

    op = await operation(services, request.operation_id)
    assert (op.status, op.job_state, op.attempts) == ("refunded", "failed", MAX_TRIES)
    assert op.error.startswith("delivery failed: telegram unavailable")
    assert len(fal_sandbox.requests_to("POST")) == 1
    assert await entries(services, request.operation_id) == [("charge", -1000), ("refund", 1000)]
    assert await account(services, USER) == (10_000, 0)
    assert await check_ledger(services.sessions) == []


@pytest.mark.parametrize("mode", ["succeed", "invalid"])
async def test_a_job_run_again_after_it_finished_does_nothing(
    services: Services, telegram: BotApiSandbox, fal_sandbox: FalSandbox, run_worker: RunWorker,
    worker_context: WorkerContext, mode: str,
) -> None:
    fal_sandbox.set_mode(mode)
    request = await queued(services, await charged_request(services, telegram, USER))
    await run_worker()
    finished = await operation(services, request.operation_id)
    calls, ledger = len(telegram.calls()), await entries(services, request.operation_id)

    ctx = await worker_context()
    for job_try in (1, 2):
        assert await generate_image({**ctx, "job_try": job_try}, msgspec.to_builtins(request)) == "skipped"
    again = await operation(services, request.operation_id)
    assert (again.status, again.job_state, again.attempts) == (finished.status, finished.job_state, 1)
    assert len(telegram.calls()) == calls and len(fal_sandbox.requests_to("POST")) == 1
    assert await entries(services, request.operation_id) == ledger
    assert len(ledger) == (1 if mode == "succeed" else 2)
    assert await check_ledger(services.sessions) == []


async def admitted_add_text(services: Services, telegram: BotApiSandbox, file_id: str) -> GenerationRequest:
    """add_text as the bot starts it: admitted by billing at price 0, its job queued."""
    telegram.message_update(USER, "/start")
    user = await services.billing.get_or_create_user(USER)
    admitted = await services.billing.charge_operation(user.user_id, "add_text", operation_id=uuid.uuid4().hex)
    assert isinstance(admitted, Charged) and (admitted.price, admitted.paid_with_free) == (0, False)
    assert await in_flight(services, user.user_id) == {admitted.operation_id}
    request = GenerationRequest(admitted.operation_id, user.user_id, USER, "add_text", "ru", "Привет, мир",
                                (file_id,))
    return await queued(services, request)


async def drawn_locally_and_sent_once(
    telegram: BotApiSandbox, fal_sandbox: FalSandbox, ctx: dict, request: GenerationRequest,  # type: ignore[type-arg]
) -> None:
    """The image went out once, drawn by the local provider; a second run of the job sends nothing."""
    [sent] = telegram.calls("sendPhoto", chat_id=USER)
    assert sent.ok and sent.files["photo"][:2] == b"\xff\xd8"  # a JPEG drawn by the local provider
    assert fal_sandbox.requests == []
    assert await generate_image(ctx, msgspec.to_builtins(request)) == "skipped"
    assert len(telegram.calls("sendPhoto")) == 1


async def test_add_text_holds_its_slot_until_delivered_and_moves_no_money(
    services: Services, telegram: BotApiSandbox, fal_sandbox: FalSandbox, run_worker: RunWorker,
    worker_context: WorkerContext,
) -> None:
    request = await admitted_add_text(services, telegram, telegram.add_file(photo("navy", (320, 240))))
    await run_worker()

    await drawn_locally_and_sent_once(telegram, fal_sandbox, await worker_context(), request)
    op = await operation(services, request.operation_id)
    assert (op.status, op.price, op.job_state) == ("charged", 0, "delivered")
    assert await in_flight(services, request.user_id) == frozenset()
    assert await entries(services, request.operation_id) == []
    assert await account(services, USER) == (0, 0)
    assert await check_ledger(services.sessions) == []


async def test_add_text_that_fails_for_good_frees_its_slot_and_gives_nothing_back(
    services: Services, telegram: BotApiSandbox, run_worker: RunWorker,
) -> None:
    request = await admitted_add_text(services, telegram, "no-such-file")  # getFile refuses it
    await run_worker()

    op = await operation(services, request.operation_id)
    assert (op.status, op.price, op.job_state, op.attempts) == ("failed", 0, "failed", 1)
    assert await in_flight(services, request.user_id) == frozenset()
    assert telegram.calls("sendPhoto") == [] and telegram.texts(USER) == []  # no refund to announce
    assert await entries(services, request.operation_id) == []
    assert await account(services, USER) == (0, 0)
    assert await check_ledger(services.sessions) == []


async def test_add_text_queued_before_it_had_an_operation_row_is_delivered_once(
    services: Services, telegram: BotApiSandbox, fal_sandbox: FalSandbox, run_worker: RunWorker,
    worker_context: WorkerContext,
) -> None:
    telegram.message_update(USER, "/start")
    user = await services.billing.get_or_create_user(USER)
    request = GenerationRequest(uuid.uuid4().hex, user.user_id, USER, "add_text", "ru", "Привет, мир",
                                (telegram.add_file(photo("navy", (320, 240))),), billed=False)
    await queued(services, request)
    await run_worker()

    await drawn_locally_and_sent_once(telegram, fal_sandbox, await worker_context(), request)
    async with services.sessions() as session:
        counts = [(await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
                  for table in ("operations", "ledger_entries")]
    assert counts == [0, 0]
    assert await account(services, USER) == (0, 0)
