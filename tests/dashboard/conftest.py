"""A ledger with something of everything in it (top-ups through both providers, a chargeback,
free, paid and failed operations, a grant, users of earlier days), and the web app serving
the dashboard over real HTTP against it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conftest import REDIS_TEST_URL
from medialab.billing.service import BillingService
from medialab.db.models import Balance, LedgerEntry, Payment, User
from medialab.domain.ledger import LedgerKind
from medialab.sandbox.serving import serve_in_loop
from medialab.settings import Settings
from medialab.web.app import create_app

TOKEN = "dashboard-token-0123456789"
# Users of earlier days: (telegram id, days ago, top-up in kopecks, provider).
EARLIER = [(501, 3, 25_000, "yookassa"), (502, 12, 70_000, "telegram_stars"), (503, 45, 9_900, "yookassa")]


@dataclass
class Books:
    sessions: async_sessionmaker[AsyncSession]

    async def entries(self) -> list[tuple[LedgerEntry, str | None]]:
        """Every ledger entry with its payment's provider: what the figures must add up to."""
        async with self.sessions() as session:
            rows = await session.execute(select(LedgerEntry, Payment.provider)
                                         .outerjoin(Payment, Payment.id == LedgerEntry.payment_id))
            return [(entry, provider) for entry, provider in rows.all()]


async def paid(billing: BillingService, sessions: async_sessionmaker[AsyncSession], user_id: int,
               kopecks: int, provider: str, key: str) -> int:
    """A succeeded payment and its top-up entry, as settlement writes them."""
    async with sessions.begin() as session:
        payment = Payment(provider=provider, provider_payment_id=key, idempotence_key=f"ik-{key}", user_id=user_id,
                          amount=kopecks, currency="RUB", status="succeeded")
        session.add(payment)
    await billing.add_balance(user_id, kopecks, f"{provider}:{key}", payment_id=payment.id)
    return payment.id


async def earlier_user(sessions: async_sessionmaker[AsyncSession], telegram_id: int, days_ago: int,
                       kopecks: int, provider: str) -> None:
    """A user who came and topped up `days_ago` days ago (written as of then: the ledger takes
    no UPDATE, and the billing service writes only the present)."""
    then = datetime.now(UTC) - timedelta(days=days_ago)
    async with sessions.begin() as session:
        user = User(telegram_id=telegram_id, free_operations_left=4, free_operations_granted=4, created_at=then)
        session.add(user)
        await session.flush()
        payment = Payment(provider=provider, provider_payment_id=f"old-{telegram_id}", idempotence_key=f"ik-old-{telegram_id}",
                          user_id=user.id, amount=kopecks, currency="RUB", status="succeeded", created_at=then)
        session.add_all([Balance(user_id=user.id, balance=kopecks), payment])
        await session.flush()
        session.add(LedgerEntry(user_id=user.id, kind="topup", amount=kopecks, balance_after=kopecks,
                                idempotency_key=f"{provider}:old-{telegram_id}", payment_id=payment.id, created_at=then))


@pytest.fixture
async def books(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Books:
    billing = BillingService(sessions, settings)
    ann, bob, _ = [await billing.get_or_create_user(n) for n in (111, 222, 333)]  # 333 never pays
    first = await paid(billing, sessions, ann.user_id, 30_000, "yookassa", "p-ann")
    await paid(billing, sessions, bob.user_id, 15_000, "telegram_stars", "p-bob")
    for number in range(6):  # 4 free, then 2 paid: one delivered, one failed and refunded
        await billing.charge_operation(ann.user_id, "generate" if number < 5 else "edit", operation_id=f"op-{number}")
        await billing.settle_operation(f"op-{number}")
    await billing.refund_operation("op-5", "the provider failed")
    await billing.add_balance(ann.user_id, -5_000, "chargeback:r-ann", LedgerKind.CHARGEBACK, payment_id=first,
                              actor="yookassa", reason="=HYPERLINK(\"x\")")  # a reason a spreadsheet must not run
    await billing.add_balance(bob.user_id, 2_050, "grant:sorry", LedgerKind.GRANT, actor="cli:alice", reason="sorry")
    for telegram_id, days_ago, kopecks, provider in EARLIER:
        await earlier_user(sessions, telegram_id, days_ago, kopecks, provider)
    return Books(sessions)


@pytest.fixture
async def dashboard_url(settings: Settings, books: Books) -> AsyncIterator[str]:
    app = create_app(settings.with_overrides(redis={"url": REDIS_TEST_URL}, admin={"web_token": TOKEN}))
    async with serve_in_loop(app) as url:
        yield url
