"""The journey with things going wrong: the worker SIGKILLed mid-job, Redis emptied mid-journey,
YooKassa notifications delivered twice, forged from a foreign address, and claiming success for
a payment the API says is pending. At the end every balance equals its ledger and no operation
is left unsettled (the `services` fixture checks both)."""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from medialab.db.models import Operation
from medialab.demo.chat import DemoChat
from medialab.demo.journey import expect, link_of, pay_on_checkout
from medialab.demo.stack import System
from medialab.jobs import job_state
from medialab.jobs.compensation import LostJobSweepReport, stuck_after, compensate_lost_jobs
from medialab.services import Services

from .conftest import settled_books, wait_until

pytestmark = pytest.mark.slow  # the system as processes (web, worker, stand-ins)

USER = 820_001


async def only_operation_running(services: Services) -> bool:
    async with services.sessions() as session:
        states = list((await session.execute(select(Operation.job_state))).scalars())
    return states == ["running"]


async def kill_the_worker_mid_job(system: System, services: Services, chat: DemoChat) -> None:
    """A free operation whose worker dies while fal hangs: the sweeper gives the free operation back."""
    fal = system.stand_ins.fal
    fal.set_mode("hang")
    expect(await chat.say("a job that will lose its worker"), "Принято")
    await wait_until(lambda: only_operation_running(services), "saw the job running")

    async def fal_polled() -> bool:
        return bool(fal.requests_to("GET", "/status"))

    await wait_until(fal_polled, "saw the job poll fal")
    fal.set_mode("succeed")  # for the jobs to come; the hanging one is not asked again
    assert await system.restart_worker(signal.SIGKILL) == -signal.SIGKILL
    # Not yet old enough to count as lost; once it is, it is compensated exactly once.
    assert await compensate_lost_jobs(services.jobs) == LostJobSweepReport()
    later = job_state.utcnow() + stuck_after(services.settings) + timedelta(seconds=1)
    assert await compensate_lost_jobs(services.jobs, now=later) == LostJobSweepReport(compensated=1)
    assert await compensate_lost_jobs(services.jobs, now=later) == LostJobSweepReport()
    expect(await chat.wait("sendMessage", "возврат"), "бесплатную операцию")


async def free_operations_across_a_redis_flush(chat: DemoChat, redis: Redis) -> None:
    """Losing Redis loses no free operation and gives none away: exactly four in all."""
    await chat.say("the first free image", reply="sendPhoto")
    await redis.flushdb()
    # The chosen mode lived in Redis too: the user picks it again.
    await chat.press("mode:generate")
    for prompt in ("second", "third", "fourth"):
        await chat.say(f"the {prompt} free image", reply="sendPhoto")
    expect(await chat.say("one too many", containing="Недостаточно средств"), "Недостаточно средств")


async def notifications_that_must_not_credit(system: System, chat: DemoChat, paid_id: str) -> None:
    yookassa = system.stand_ins.yookassa
    webhook = system.settings.yookassa.webhook_url
    assert webhook is not None
    # Delivered again, as YooKassa does when unsure: handled, not credited twice.
    assert await yookassa.deliver(webhook, yookassa.notification(paid_id)) == 200
    # The same body from an address outside YOOKASSA_ALLOWED_IPS (127.0.0.1/32).
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient(transport=transport) as foreign:
        forged = await foreign.post(webhook, json=yookassa.notification(paid_id))
    assert forged.status_code == 403
    # "Succeeded", says the body; pending, says the API, which is what counts.
    await chat.press("payment_menu")
    pending_id = link_of(await chat.press("payment_amount_300", containing="300 ₽")).rsplit("/", 1)[-1]
    claim = yookassa.notification(pending_id)
    claim["object"]["status"] = "succeeded"
    assert yookassa.payments[pending_id]["status"] == "pending"
    assert await yookassa.deliver(webhook, claim) == 200


async def test_faults_lose_no_money_and_leave_nothing_unsettled(
    system: System, services: Services, redis: Redis, tmp_path: Path
) -> None:
    chat = DemoChat(system.stand_ins.telegram, USER, lambda line: None, images=tmp_path / "images")
    await chat.say("/start")
    await chat.press("mode:generate")
    await kill_the_worker_mid_job(system, services, chat)
    await free_operations_across_a_redis_flush(chat, redis)

    await chat.press("payment_menu")
    url = link_of(await chat.press("payment_amount_100", containing="100 ₽"))
    await pay_on_checkout(url)
    await chat.wait("sendMessage", "Оплата получена")
    await notifications_that_must_not_credit(system, chat, url.rsplit("/", 1)[-1])

    await chat.press("mode:generate")
    await chat.say("a paid image after all that", reply="sendPhoto")
    expect(await chat.say("/balance"), "Баланс: 90 ₽", "Бесплатные операции: 0 из 4")
    assert len(chat.photos) == 5
    assert sum("Оплата получена" in text for text in system.stand_ins.telegram.texts(USER)) == 1
    entries, operations = await settled_books(services)
    assert entries == [("topup", 10000), ("charge", -1000)]
    assert operations == sorted([("refunded", "failed")] + [("free", "delivered")] * 4
                                + [("charged", "delivered")])
