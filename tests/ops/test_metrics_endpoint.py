"""GET /metrics of the real app (uvicorn on 127.0.0.1, real Redis and both databases), and the
billing counters moving with real charges and refunds."""

from __future__ import annotations

import uuid

import httpx
from litestar import Litestar
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conftest import REDIS_TEST_URL
from medialab.billing.audit import check_ledger
from medialab.billing.cache import BalanceCache
from medialab.db.redis_keys import user_keys
from medialab.billing.results import Charged, InsufficientFunds, TooManyInFlight
from medialab.billing.service import BillingService
from medialab.jobs.job_metrics import JobRun
from medialab.jobs.requests import GenerationRequest, enqueue_generation
from medialab.sandbox.serving import serve_in_loop
from medialab.web.state import AppState
from medialab.settings import Settings
from medialab.web.app import create_app
from ops.scraped import Family, counted, parse, promtool_check, value

COUNTERS = [
    ("medialab_charges_total", {"outcome": "free"}),
    ("medialab_charges_total", {"outcome": "paid"}),
    ("medialab_charges_total", {"outcome": "insufficient"}),
    ("medialab_charges_total", {"outcome": "busy"}),
    ("medialab_refunds_total", {"returned": "money"}),
    ("medialab_refunds_total", {"returned": "free_operation"}),
    ("medialab_ledger_entries_total", {"kind": "charge"}),
    ("medialab_ledger_entries_total", {"kind": "refund"}),
    ("medialab_ledger_entries_total", {"kind": "topup"}),
]


async def scrape(client: httpx.AsyncClient) -> dict[str, Family]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(response.text)


def counts(families: dict[str, Family]) -> list[float]:
    return [value(families, name, **labels) or 0.0 for name, labels in COUNTERS]


def paid_and_refused() -> tuple[float, float]:
    return counted("medialab_charges_total", outcome="paid"), counted("medialab_charges_total", outcome="insufficient")


async def charge(billing: BillingService, user_id: int) -> str:
    operation_id = uuid.uuid4().hex
    await billing.charge_operation(user_id, "generate", operation_id=operation_id)
    return operation_id


async def test_metrics_count_real_charges_refunds_and_the_queue(database_url: str, redis: Redis) -> None:
    settings = Settings.from_env({"DATABASE_URL": database_url, "REDIS_URL": REDIS_TEST_URL}, env_file=None)
    app: Litestar = create_app(settings)
    async with serve_in_loop(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        before = counts(await scrape(client))
        services: AppState = app.state
        billing = services.billing
        user = await billing.get_or_create_user(5001)
        await billing.add_balance(user.user_id, 1000, "seed-1")
        free_ops = []
        for _ in range(4):
            free_ops.append(await charge(billing, user.user_id))
            await billing.settle_operation(free_ops[-1])
        paid = await charge(billing, user.user_id)  # 10 ₽ of 10 ₽, one job in flight
        assert isinstance(await billing.charge_operation(user.user_id, "edit"), InsufficientFunds)
        await billing.add_balance(user.user_id, 1000, "seed-2")
        await charge(billing, user.user_id)  # a second job in flight: MAX_JOBS_IN_FLIGHT is 2
        assert isinstance(await billing.charge_operation(user.user_id, "edit"), TooManyInFlight)
        assert (await billing.refund_operation(paid, "job failed")).amount == 1000
        assert (await billing.refund_operation(free_ops[0], "job failed")).free_operation
        assert not (await billing.refund_operation(paid, "again")).refunded  # counted once
        for number in range(3):
            await enqueue_generation(services.arq, GenerationRequest(
                f"queued-{number}", user.user_id, 5001, "generate", prompt="a fox"))

        after = await scrape(client)
        delta = [b - a for a, b in zip(before, counts(after), strict=True)]
        assert delta == [4, 2, 1, 1, 1, 1, 2, 1, 2]
        assert value(after, "medialab_queue_depth") == 3 == await redis.zcard("arq:queue")
        assert await check_ledger(services.sessions) == []


async def test_a_scrape_answers_when_the_queue_cannot_be_read(database_url: str, refused_port: int) -> None:
    closed_port = refused_port
    settings = Settings.from_env(
        {"DATABASE_URL": database_url, "REDIS_URL": f"redis://127.0.0.1:{closed_port}/0"}, env_file=None)
    async with serve_in_loop(create_app(settings)) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        before = value(await scrape(client), "medialab_scrape_errors_total", source="arq_queue") or 0
        families = await scrape(client)
    assert value(families, "medialab_queue_depth") is None  # absent, not a stale number
    assert families["medialab_queue_depth"].type == "gauge"
    assert value(families, "medialab_scrape_errors_total", source="arq_queue") == before + 1


async def test_promtool_accepts_what_metrics_answers(database_url: str) -> None:
    settings = Settings.from_env({"DATABASE_URL": database_url, "REDIS_URL": REDIS_TEST_URL}, env_file=None)
    app = create_app(settings)
    async with serve_in_loop(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        billing: BillingService = app.state.billing
        user = await billing.get_or_create_user(5004)
        await charge(billing, user.user_id)
        JobRun("generate").end("delivered")  # a histogram series, as the worker's /metrics has
        response = await client.get("/metrics")
    assert response.status_code == 200
    promtool_check(response.text)


async def test_a_replayed_charge_counts_once(billing: BillingService) -> None:
    user = await billing.get_or_create_user(5002)
    await billing.add_balance(user.user_id, 5000, "seed")
    for _ in range(4):
        await charge(billing, user.user_id)
    paid = counted("medialab_charges_total", outcome="paid")
    charges = counted("medialab_ledger_entries_total", kind="charge")
    first = await billing.charge_operation(user.user_id, "generate", operation_id="op-replayed")
    again = await billing.charge_operation(user.user_id, "generate", operation_id="op-replayed")
    assert isinstance(again, Charged) and again.replayed and isinstance(first, Charged)
    assert counted("medialab_charges_total", outcome="paid") == paid + 1
    assert counted("medialab_ledger_entries_total", kind="charge") == charges + 1


async def test_a_charge_sql_overrules_counts_once(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], redis: Redis
) -> None:
    """The cache says no money, SQL says yes: the service charges again inside itself."""
    billing = BillingService(sessions, settings.with_overrides(
        billing={"free_operations_count": 0}), BalanceCache(redis))
    user = await billing.get_or_create_user(5003)
    await billing.add_balance(user.user_id, 5000, "seed")
    await redis.hset(user_keys(user.user_id).acct, "bal", 0)
    paid, refused = paid_and_refused()
    result = await billing.charge_operation(user.user_id, "generate")
    assert isinstance(result, Charged) and result.balance == 4000
    assert paid_and_refused() == (paid + 1, refused)
    refunds = counted("medialab_refunds_total", returned="money")
    await billing.refund_operation(result.operation_id)
    assert counted("medialab_refunds_total", returned="money") == refunds + 1
    assert await check_ledger(sessions) == []
