"""A user's statement (the bot's /history, `medialab admin user`) on SQLite and PostgreSQL, on SQL
alone and with Redis in front: every kind of balance movement, newest first, ten a page; pages
that end at an entry id do not shift when movements are appended meanwhile; and under
concurrent charges, refunds and credits the statement reads as a chain, each balance the one
before it plus its amount. The reconciler finds no drift afterwards."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing.results import Charged
from medialab.billing.service import BillingService
from medialab.billing.statement import Movement
from medialab.domain.ledger import LedgerKind
from medialab.settings import Settings

Sessions = async_sessionmaker[AsyncSession]
# After each test the books balance and the cache (with Redis in front) holds SQL's numbers.
pytestmark = pytest.mark.usefixtures("books_checked")


@pytest.fixture
def settings(database_url: str) -> Settings:
    """conftest's `billing` is built on these: no free operations, so every charge moves money."""
    return Settings.from_env({"DATABASE_URL": database_url, "FREE_OPERATIONS_COUNT": "0",
                              "OPERATION_PRICES": "generate=12,upscale=5"}, env_file=None)


def _chain_holds(movements: list[Movement]) -> None:
    """Newest first: each balance is the next older one's plus its own amount."""
    for newer, older in zip(movements, movements[1:], strict=False):
        assert newer.id > older.id and newer.balance_after == older.balance_after + newer.amount, (newer, older)


async def test_every_kind_of_movement_newest_first_ten_a_page(billing: BillingService) -> None:
    user = await billing.get_or_create_user(1)
    uid = user.user_id
    await billing.add_balance(uid, 10_000, "yookassa:first")
    for number in range(8):
        await billing.charge_operation(uid, "generate" if number % 2 else "upscale", operation_id=f"op-{number}")
    await billing.refund_operation("op-1", reason="job failed")
    await billing.add_balance(uid, 250, "grant:sorry", kind=LedgerKind.GRANT, actor="cli:alice", reason="sorry")
    await billing.add_balance(uid, -1_000, "chargeback:first", kind=LedgerKind.CHARGEBACK)
    text = await billing.charge_operation(uid, "add_text", operation_id="text")  # moves no money
    assert isinstance(text, Charged)

    first = await billing.statement(uid)
    assert first.older and len(first.movements) == 10
    assert [(m.kind, m.operation_type, m.amount) for m in first.movements[:4]] == [
        ("chargeback", None, -1_000), ("grant", None, 250), ("refund", "generate", 1_200),
        ("charge", "generate", -1_200)]
    assert (first.movements[1].actor, first.movements[1].reason) == ("cli:alice", "sorry")
    assert first.movements[0].balance_after == 10_000 - 4 * 500 - 4 * 1_200 + 1_200 + 250 - 1_000
    assert all(m.created_at.tzinfo is not None for m in first.movements)
    second = await billing.statement(uid, before=first.movements[-1].id)
    assert not second.older
    assert [(m.kind, m.operation_type, m.amount) for m in second.movements] == [
        ("charge", "upscale", -500), ("topup", None, 10_000)]
    _chain_holds(first.movements + second.movements)
    assert second.movements[-1].balance_after == 10_000
    assert (await billing.statement(uid, before=second.movements[-1].id)).movements == []

    # A page ends at an entry id: movements appended since do not shift the next one.
    await billing.add_balance(uid, 100, "yookassa:second")
    assert await billing.statement(uid, before=first.movements[-1].id) == second
    # Only the user's own movements, whatever id a page starts before.
    other = await billing.get_or_create_user(2)
    assert (await billing.statement(other.user_id, before=first.movements[0].id + 100)).movements == []


async def test_concurrent_movements_read_as_a_chain(billing: BillingService) -> None:
    user = await billing.get_or_create_user(3)
    uid = user.user_id
    await billing.add_balance(uid, 100_000, "yookassa:start")
    kinds = ["generate", "upscale", "edit"] * 10
    charges = await asyncio.gather(*(billing.charge_operation(uid, kind, operation_id=f"c-{n}")
                                     for n, kind in enumerate(kinds)))
    assert all(isinstance(c, Charged) for c in charges)
    # Refunds, credits and more charges at once.
    await asyncio.gather(
        *(billing.refund_operation(f"c-{n}") for n in range(0, 30, 3)),
        *(billing.add_balance(uid, 100 + n, f"grant:{n}", kind=LedgerKind.GRANT, actor="test") for n in range(10)),
        *(billing.charge_operation(uid, kind, operation_id=f"d-{n}") for n, kind in enumerate(kinds)),
    )
    movements: list[Movement] = []
    before = None
    while True:
        page = await billing.statement(uid, before=before)
        assert len(page.movements) == (10 if page.older else len(page.movements))
        movements += page.movements
        if not page.older:
            break
        before = page.movements[-1].id
    assert len(movements) == 1 + 30 + 10 + 10 + 30
    _chain_holds(movements)
    assert movements[-1].balance_after == 100_000
    assert movements[0].balance_after == (await billing.get_user_info(3)).balance  # type: ignore[union-attr]
