"""OPERATION_PRICES: each paid type costs its own price, on SQL alone and with Redis in front
(whose admission and both SQL fast paths take the price per call), on SQLite and PostgreSQL.
The operation and its ledger entry record the price, a refund gives it back even after the
list changed, a free operation covers any type, and concurrent charges of mixed types never
spend more than the balance; the reconciler finds no drift afterwards."""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing.results import Charged, InsufficientFunds
from medialab.billing.service import BillingService
from medialab.db.models import LedgerEntry, Operation
from medialab.domain.ledger import LedgerKind
from medialab.settings import Settings

Sessions = async_sessionmaker[AsyncSession]
# After each test the books balance and the cache (with Redis in front) holds SQL's numbers.
pytestmark = pytest.mark.usefixtures("books_checked")
PRICES = {"generate": 1200, "upscale": 500, "face_swap": 1500}  # the other paid types: 10 ₽


@pytest.fixture
def settings(database_url: str) -> Settings:
    """conftest's `billing` is built on these: OPERATION_PRICES as an operator writes it."""
    return Settings.from_env({"DATABASE_URL": database_url,
                              "OPERATION_PRICES": "generate=12, upscale=5,face_swap=15"}, env_file=None)


async def _paying_user(billing: BillingService, telegram_id: int, kopecks: int) -> int:
    """A user whose free operations are used up, with this much money."""
    user = await billing.get_or_create_user(telegram_id)
    for number in range(user.free_operations_left):
        await billing.charge_operation(user.user_id, "edit", operation_id=f"free-{telegram_id}-{number}")
    await billing.add_balance(user.user_id, kopecks, f"topup-{telegram_id}")
    return user.user_id


async def _recorded(sessions: Sessions, operation_id: str) -> tuple[str, int, list[tuple[str, int]]]:
    """(status, price) of the operation and its ledger entries (kind, amount)."""
    async with sessions() as session:
        op = await session.get(Operation, operation_id)
        assert op is not None
        entries = (await session.execute(select(LedgerEntry.kind, LedgerEntry.amount)
                                         .where(LedgerEntry.operation_id == operation_id)
                                         .order_by(LedgerEntry.id))).all()
    return op.status, op.price, [tuple(entry) for entry in entries]  # type: ignore[misc]


async def test_each_type_is_charged_its_price_and_refused_naming_it(
    billing: BillingService, sessions: Sessions
) -> None:
    user_id = await _paying_user(billing, 1, 3200)
    expected = {"generate": 1200, "upscale": 500, "face_swap": 1500}
    balance = 3200
    for kind, price in expected.items():
        result = await billing.charge_operation(user_id, kind, operation_id=f"op-{kind}")
        balance -= price
        assert result == Charged(f"op-{kind}", user_id, kind, False, price, balance, 0)
        assert await _recorded(sessions, f"op-{kind}") == ("charged", price, [("charge", -price)])
    # 0 ₽ left: the unnamed types cost PRICE_PER_OPERATION, and every refusal names its own price.
    assert balance == 0
    await billing.add_balance(user_id, 1100, "topup-more")
    assert await billing.charge_operation(user_id, "generate") == InsufficientFunds(user_id, 1100, 1200)
    assert await billing.charge_operation(user_id, "face_swap") == InsufficientFunds(user_id, 1100, 1500)
    retouch = await billing.charge_operation(user_id, "retouch", operation_id="op-retouch")
    assert isinstance(retouch, Charged) and (retouch.price, retouch.balance) == (1000, 100)
    assert await billing.charge_operation(user_id, "upscale") == InsufficientFunds(user_id, 100, 500)
    assert (await billing.get_user_info(1)).balance == 100  # type: ignore[union-attr]


async def test_a_free_operation_covers_any_paid_type(billing: BillingService, sessions: Sessions) -> None:
    user = await billing.get_or_create_user(2)
    for kind in ("face_swap", "generate", "upscale", "merge"):
        result = await billing.charge_operation(user.user_id, kind, operation_id=f"free-{kind}")
        assert isinstance(result, Charged) and result.paid_with_free and (result.price, result.balance) == (0, 0)
        assert await _recorded(sessions, f"free-{kind}") == ("free", 0, [])
    assert await billing.charge_operation(user.user_id, "upscale") == InsufficientFunds(user.user_id, 0, 500)
    text = await billing.charge_operation(user.user_id, "add_text", operation_id="text")
    assert isinstance(text, Charged) and text.price == 0


async def test_a_later_price_change_never_alters_a_charge_made(
    billing: BillingService, sessions: Sessions, settings: Settings
) -> None:
    user_id = await _paying_user(billing, 3, 5000)
    first = await billing.charge_operation(user_id, "generate", operation_id="before-change")
    assert isinstance(first, Charged) and first.price == 1200
    # The operator raises the price and restarts: a new service on the same SQL and Redis.
    raised = settings.with_overrides(
        billing={"operation_prices": (("generate", 2000),)},
        jobs={"max_in_flight": 10_000})
    after = BillingService(sessions, raised, billing.cache)

    again = await after.charge_operation(user_id, "generate", operation_id="before-change")
    assert isinstance(again, Charged) and again.replayed and (again.price, again.balance) == (1200, 3800)
    refund = await after.refund_operation("before-change", reason="job failed")
    assert (refund.refunded, refund.amount, refund.balance) == (True, 1200, 5000)
    assert await _recorded(sessions, "before-change") == ("refunded", 1200, [("charge", -1200), ("refund", 1200)])
    now = await after.charge_operation(user_id, "generate", operation_id="after-change")
    assert isinstance(now, Charged) and (now.price, now.balance) == (2000, 3000)
    assert await _recorded(sessions, "after-change") == ("charged", 2000, [("charge", -2000)])


async def test_concurrent_charges_of_mixed_types_spend_at_most_the_balance(
    billing: BillingService, sessions: Sessions
) -> None:
    """120 charges at once, of every paid type at its price, against 100 ₽: some are paid, the
    rest refused, and the outcome is what admitting them one at a time in some order gives."""
    user_id = await _paying_user(billing, 4, 10_000)
    kinds = ["generate", "upscale", "face_swap", "edit", "merge", "retouch"] * 20
    random.Random(4).shuffle(kinds)
    price_of = {kind: PRICES.get(kind, 1000) for kind in kinds}
    results = await asyncio.gather(*(billing.charge_operation(user_id, kind, operation_id=f"mixed-{number}")
                                     for number, kind in enumerate(kinds)))

    charged = [r for r in results if isinstance(r, Charged)]
    refused = [(kind, r) for kind, r in zip(kinds, results, strict=True) if isinstance(r, InsufficientFunds)]
    assert len(charged) + len(refused) == len(kinds)
    assert all(r.price == price_of[r.operation_type] and not r.paid_with_free for r in charged)
    assert all(r.price == price_of[kind] and 0 <= r.balance < r.price for kind, r in refused)
    final = (await billing.get_user_info(4)).balance  # type: ignore[union-attr]
    assert final == 10_000 - sum(r.price for r in charged) >= 0
    # They came one at a time: in the order of the balances they left, each took its price
    # from what the one before left.
    left = 10_000
    for result in sorted(charged, key=lambda r: -r.balance):
        left -= result.price
        assert result.balance == left
    # No refusal could have been paid by what was left in the end.
    assert all(r.price > final for _, r in refused)
    assert final < min(PRICES.values())  # the cheapest type ran until the money did not reach
    async with sessions() as session:
        entries = dict((await session.execute(
            select(LedgerEntry.operation_id, LedgerEntry.amount).where(LedgerEntry.kind == LedgerKind.CHARGE.value)
            .where(LedgerEntry.operation_id.like("mixed-%")))).all())
        prices = dict((await session.execute(
            select(Operation.id, Operation.price).where(Operation.id.like("mixed-%")))).all())
    assert entries == {r.operation_id: -r.price for r in charged}
    assert prices == {r.operation_id: r.price for r in charged}
