"""YooKassaClient's retries against the stand-in: the same Idempotence-Key and body every time,
and "could not get an answer" kept apart from "the API said no"."""

from __future__ import annotations

import asyncio
import socket
import uuid

import pytest

from medialab.payments.yookassa_api import YooKassaUnavailable
from medialab.payments.yookassa_client import YooKassaClient
from medialab.sandbox.yookassa import YooKassaSandbox

from stand_ins import SECRET_KEY, SHOP_ID
from .conftest import ClientFactory, create_topup


async def test_500_is_retried_with_the_same_key_and_body(
    client: YooKassaClient, yookassa: YooKassaSandbox
) -> None:
    yookassa.fail_next(1, status=500)  # the first attempt takes effect but its answer is lost
    payment = await create_topup(client, "topup-500")

    assert [r.idempotence_key for r in yookassa.requests] == ["topup-500", "topup-500"]
    assert yookassa.requests[0].body == yookassa.requests[1].body
    assert list(yookassa.payments) == [payment.id]


async def test_202_and_429_are_repeated_until_an_answer(
    client: YooKassaClient, yookassa: YooKassaSandbox
) -> None:
    yookassa.accept_next(1)
    yookassa.fail_next(1, status=429)
    payment = await create_topup(client, "topup-202")
    assert len(yookassa.requests) == 3
    assert {r.idempotence_key for r in yookassa.requests} == {"topup-202"}
    assert list(yookassa.payments) == [payment.id]


async def test_a_hang_past_the_timeout_is_retried(
    make_client: ClientFactory, yookassa: YooKassaSandbox
) -> None:
    client = make_client(timeout=0.2)
    yookassa.hang_next(1, seconds=0.6)
    payment = await create_topup(client, "topup-hang")
    assert [r.idempotence_key for r in yookassa.requests] == ["topup-hang", "topup-hang"]
    await asyncio.sleep(0.6)  # the hung request finishes on the server: still one payment
    assert list(yookassa.payments) == [payment.id]


async def test_exhausted_retries_leave_the_result_unknown(
    client: YooKassaClient, yookassa: YooKassaSandbox
) -> None:
    yookassa.fail_next(3, status=500)
    with pytest.raises(YooKassaUnavailable) as unavailable:
        await create_topup(client, "topup-unknown")
    assert unavailable.value.attempts == 3 and "HTTP 500" in str(unavailable.value)
    assert len(yookassa.requests) == 3

    # The stand-in did create it (as YooKassa may have): asking again with the key reveals it.
    payment = await create_topup(client, "topup-unknown")
    assert list(yookassa.payments) == [payment.id]


async def test_unprocessed_failures_create_nothing(
    client: YooKassaClient, yookassa: YooKassaSandbox
) -> None:
    yookassa.fail_next(3, status=503, processed=False)
    with pytest.raises(YooKassaUnavailable):
        await create_topup(client)
    assert yookassa.payments == {}


async def test_no_server_is_unavailable_not_an_error() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with YooKassaClient(
        api_url=f"http://127.0.0.1:{port}", shop_id=SHOP_ID, secret_key=SECRET_KEY,
        max_attempts=2, backoff_seconds=0.001,
    ) as client:
        with pytest.raises(YooKassaUnavailable) as unavailable:
            await client.get_payment(str(uuid.uuid4()))
    assert unavailable.value.last_problem == "ConnectError"


async def test_reads_and_refunds_are_retried_too(
    client: YooKassaClient, yookassa: YooKassaSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    payment = await create_topup(client)
    yookassa.succeed(payment.id)
    yookassa.fail_next(2, status=503, processed=False)
    assert (await client.get_payment(payment.id)).status == "succeeded"
    # The pause doubles from the configured base: 0.001 s, then 0.002 s.
    retries = [message for message in caplog.messages if "retrying" in message]
    assert [message.rsplit(" ", 1)[-1] for message in retries] == ["0.001s", "0.002s"]

    yookassa.fail_next(1, status=500)
    refund = await client.create_refund(payment.id, 2_500, "RUB", "refund-retried")
    refund_requests = [r for r in yookassa.requests if r.path == "/refunds"]
    assert [r.idempotence_key for r in refund_requests] == ["refund-retried"] * 2
    assert list(yookassa.refunds) == [refund.id]
    assert yookassa.payments[payment.id]["refunded_amount"]["value"] == "25.00"
