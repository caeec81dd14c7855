"""What the bot does before a job runs (a user writes, the operation is charged, the job is
queued), reading back what the job left in SQL, and a real `medialab worker` process."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from io import BytesIO
from pathlib import Path

from PIL import Image
from sqlalchemy import select

import medialab
from conftest import REDIS_TEST_URL
from forked import ForkedCommand
from medialab.billing.results import Charged
from medialab.billing.service import BillingService
from medialab.db.models import KeptResult, LedgerEntry, Operation
from medialab.jobs.requests import GenerationRequest, enqueue_generation
from medialab.sandbox.telegram import BotApiSandbox
from medialab.services import Services

from stand_ins import BOT_TOKEN, FAL_KEY

TOP_UP = 10_000  # 100 ₽, so a paid operation leaves 90 ₽
SOURCE_ROOT = Path(medialab.__file__).resolve().parents[1]


def photo(colour: str = "teal", size: tuple[int, int] = (160, 120)) -> bytes:
    buffer = BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    return buffer.getvalue()


async def charged_request(
    services: Services, telegram: BotApiSandbox, telegram_id: int, kind: str = "generate", *,
    free: bool = False, photos: int = 0, prompt: str | None = "a red fox", language: str = "ru",
) -> GenerationRequest:
    """A user who wrote to the bot, an operation charged through billing (from a free
    operation, or from a 100 ₽ top-up), and the request the bot would queue for it."""
    telegram.message_update(telegram_id, "/start", language_code=language)
    settings = services.settings.with_overrides(billing={"free_operations_count": 1 if free else 0})
    billing = BillingService(services.sessions, settings, services.billing.cache)
    user = await billing.get_or_create_user(telegram_id, language)
    if not free:
        await billing.add_balance(user.user_id, TOP_UP, f"topup-{telegram_id}")
    charged = await billing.charge_operation(user.user_id, kind, operation_id=uuid.uuid4().hex)
    assert isinstance(charged, Charged) and charged.paid_with_free is free
    file_ids = tuple(telegram.add_file(photo(colour)) for colour in ("teal", "orange", "navy")[:photos])
    return GenerationRequest(charged.operation_id, user.user_id, telegram_id, kind, language,
                             prompt, file_ids)


async def queued(services: Services, request: GenerationRequest) -> GenerationRequest:
    assert await enqueue_generation(services.arq, request)
    return request


async def operation(services: Services, operation_id: str) -> Operation:
    async with services.sessions() as session:
        return (await session.execute(select(Operation).where(Operation.id == operation_id))).scalar_one()


async def entries(services: Services, operation_id: str) -> list[tuple[str, int]]:
    """The ledger entries of an operation: (kind, amount), in order."""
    async with services.sessions() as session:
        rows = (await session.execute(
            select(LedgerEntry.kind, LedgerEntry.amount)
            .where(LedgerEntry.operation_id == operation_id).order_by(LedgerEntry.id)
        )).all()
    return [(row.kind, row.amount) for row in rows]


async def account(services: Services, telegram_id: int) -> tuple[int, int]:
    """(balance in kopecks, free operations left)."""
    info = await services.billing.get_user_info(telegram_id)
    assert info is not None
    return info.balance, info.free_operations_left


async def in_flight(services: Services, user_id: int) -> frozenset[str]:
    """The operations Redis counts against the user's MAX_JOBS_IN_FLIGHT."""
    assert services.billing.cache is not None
    cached = await services.billing.cache.snapshot(user_id)
    return frozenset() if cached is None else cached.in_flight


async def kept_rows(services: Services) -> list[KeptResult]:
    """The results kept for users who could not be sent them."""
    async with services.sessions() as session:
        return list((await session.execute(select(KeptResult).order_by(KeptResult.created_at))).scalars())


def start_worker(database_url: str, telegram_url: str, fal_url: str, log: Path, **env: str) -> ForkedCommand:
    """`medialab worker` as an OS process (forked: tests/forked.py) on this checkout's code, the
    test's database and Redis and both stand-ins, its output in `log`; no metrics port unless
    `env` gives one."""
    environment = {
        **os.environ, "PYTHONPATH": str(SOURCE_ROOT), "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_TEST_URL, "TELEGRAM_BOT_TOKEN": BOT_TOKEN, "TELEGRAM_API_URL": telegram_url,
        "FAL_KEY": FAL_KEY, "FAL_API_URL": fal_url, "FAL_POLL_INTERVAL": "0.05", "JOB_TIMEOUT": "30",
        "WORKER_METRICS_PORT": "0", **env,
    }
    return ForkedCommand(["worker"], environment, log.parent, log)


async def wait_until(condition: Callable[[], Awaitable[bool]], what: str, log: Path, timeout: float = 60) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not await condition():
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"never {what}; worker log:\n{log.read_text(errors='replace')}") from None
