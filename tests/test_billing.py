"""The billing service on SQLite and PostgreSQL: free operations first, then the balance,
typed refusals, exactly-once refunds and credits, and the ledger invariant after each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing.audit import check_ledger
from medialab.billing.reconcile import reconcile
from medialab.billing.results import Charged, InsufficientFunds, UnknownOperation, UnknownUser
from medialab.billing.service import BillingService
from medialab.db.models import Balance, LedgerEntry, Operation, User
from medialab.domain.ledger import LedgerKind
from medialab.domain.operations import OperationError

Sessions = async_sessionmaker[AsyncSession]


async def count(sessions: Sessions, model: type, **where: object) -> int:
    async with sessions() as session:
        query = select(func.count()).select_from(model).filter_by(**where)
        return (await session.execute(query)).scalar_one()


async def books_balance(sessions: Sessions) -> None:
    assert await check_ledger(sessions) == []


@pytest.fixture(autouse=True)
async def cache_agrees_with_sql(billing: BillingService) -> AsyncIterator[None]:
    """With Redis in front, after each test the cache holds exactly SQL's numbers."""
    yield
    if billing.cache is not None:
        report = await reconcile(billing, repair=False, pending_grace=0)
        assert report.drifts == [] and report.users_busy == 0


async def test_new_user_gets_free_operations_exactly_once_under_50_concurrent_requests(
    billing: BillingService, sessions: Sessions
) -> None:
    infos = await asyncio.gather(*(billing.get_or_create_user(777, "en") for _ in range(50)))
    assert {i.user_id for i in infos} == {infos[0].user_id}
    assert sum(i.created for i in infos) == 1
    assert all(i.free_operations_left == 4 and i.balance == 0 for i in infos)
    assert await count(sessions, User) == 1
    assert await count(sessions, Balance) == 1
    again = await billing.get_or_create_user(777)
    assert (again.created, again.free_operations_left, again.language) == (False, 4, "en")
    await books_balance(sessions)


async def test_user_info_reports_balance_free_left_and_configured_count(billing: BillingService) -> None:
    assert await billing.get_user_info(5) is None
    user = await billing.get_or_create_user(5)
    await billing.add_balance(user.user_id, 1050, "grant-1", kind=LedgerKind.GRANT, actor="test")
    info = await billing.get_user_info(5)
    assert info is not None
    assert (info.balance, info.free_operations_left, info.free_operations_total) == (1050, 4, 4)


async def test_free_operations_are_used_before_the_balance(billing: BillingService, sessions: Sessions) -> None:
    user = await billing.get_or_create_user(1)
    await billing.add_balance(user.user_id, 2500, "topup-1")
    results = [await billing.charge_operation(user.user_id, "generate") for _ in range(7)]
    assert [r.paid_with_free for r in results[:4] if isinstance(r, Charged)] == [True] * 4
    assert [r.free_operations_left for r in results[:4]] == [3, 2, 1, 0]  # type: ignore[union-attr]
    fifth, sixth, seventh = results[4:]
    assert isinstance(fifth, Charged) and (fifth.price, fifth.balance) == (1000, 1500)
    assert isinstance(sixth, Charged) and sixth.balance == 500
    assert seventh == InsufficientFunds(user_id=user.user_id, balance=500, price=1000)
    assert await count(sessions, Operation, status="free") == 4
    assert await count(sessions, Operation, status="charged") == 2
    assert await count(sessions, LedgerEntry, kind="charge") == 2
    await books_balance(sessions)


async def test_add_text_is_admitted_at_price_0_whatever_the_account(billing: BillingService, sessions: Sessions) -> None:
    user = await billing.get_or_create_user(2)
    # A chargeback took the balance below zero: add_text is still free to start.
    await billing.add_balance(user.user_id, -500, "chargeback-1", kind=LedgerKind.CHARGEBACK, actor="test")
    admitted = await billing.charge_operation(user.user_id, "add_text", operation_id="text-1")
    assert admitted == Charged("text-1", user.user_id, "add_text", False, 0, -500, 4)
    again = await billing.charge_operation(user.user_id, "add_text", operation_id="text-1")
    assert isinstance(again, Charged) and again.replayed and again.in_flight and again.price == 0
    assert await count(sessions, Operation, type="add_text", price=0, status="charged", job_state="queued") == 1
    assert await count(sessions, LedgerEntry, operation_id="text-1") == 0

    # Its job failed for good: nothing goes back, the operation ends as failed, once.
    ended = await billing.refund_operation("text-1", reason="job failed")
    assert (ended.refunded, ended.amount, ended.free_operation, ended.balance) == (False, 0, False, -500)
    assert ended.note == "nothing to give back: add_text is free"
    assert await count(sessions, Operation, status="failed", job_state="failed") == 1
    assert (await billing.refund_operation("text-1")).note == "nothing to refund: the operation is failed"
    info = await billing.get_user_info(2)
    assert info is not None and (info.balance, info.free_operations_left) == (-500, 4)
    await books_balance(sessions)


async def test_unknown_types_and_users_are_refused(billing: BillingService, sessions: Sessions) -> None:
    user = await billing.get_or_create_user(2)
    with pytest.raises(OperationError, match="unknown operation type"):
        await billing.charge_operation(user.user_id, "paint")
    with pytest.raises(UnknownUser):
        await billing.charge_operation(user.user_id + 100, "generate")
    with pytest.raises(UnknownUser):
        await billing.charge_operation(user.user_id + 100, "add_text")
    assert await count(sessions, Operation) == 0
    info = await billing.get_user_info(2)
    assert info is not None and info.free_operations_left == 4


async def test_charging_the_same_operation_id_twice_takes_once(billing: BillingService, sessions: Sessions) -> None:
    user = await billing.get_or_create_user(3)
    await billing.add_balance(user.user_id, 5000, "t")
    for _ in range(4):
        await billing.charge_operation(user.user_id, "edit")
    results = await asyncio.gather(
        *(billing.charge_operation(user.user_id, "edit", operation_id="op-same") for _ in range(20))
    )
    assert all(isinstance(r, Charged) and r.operation_id == "op-same" for r in results)
    assert sum(not r.replayed for r in results) == 1  # type: ignore[union-attr]
    assert (await billing.get_user_info(3)).balance == 4000  # type: ignore[union-attr]
    assert await count(sessions, LedgerEntry, kind="charge") == 1
    await books_balance(sessions)


async def test_refunds_return_what_was_taken_once(billing: BillingService, sessions: Sessions) -> None:
    user = await billing.get_or_create_user(4)
    free = await billing.charge_operation(user.user_id, "retouch")
    assert isinstance(free, Charged) and free.paid_with_free
    first = await billing.refund_operation(free.operation_id, reason="provider failed")
    assert first.refunded and first.free_operation and first.amount == 0
    again = await billing.refund_operation(free.operation_id)
    assert not again.refunded and "refunded" in again.note
    info = await billing.get_user_info(4)
    assert info is not None and info.free_operations_left == 4

    for _ in range(4):
        await billing.charge_operation(user.user_id, "retouch")
    await billing.add_balance(user.user_id, 1000, "t-4")
    paid = await billing.charge_operation(user.user_id, "upscale")
    assert isinstance(paid, Charged) and not paid.paid_with_free and paid.balance == 0
    refund = await billing.refund_operation(paid.operation_id)
    assert refund.refunded and refund.amount == 1000 and refund.balance == 1000
    assert not (await billing.refund_operation(paid.operation_id)).refunded
    assert await count(sessions, LedgerEntry, kind="refund") == 1
    with pytest.raises(UnknownOperation):
        await billing.refund_operation("no-such-op")
    await books_balance(sessions)


async def test_concurrent_refunds_of_one_operation_refund_once(billing: BillingService, sessions: Sessions) -> None:
    user = await billing.get_or_create_user(6)
    await billing.add_balance(user.user_id, 1000, "t-6")
    for _ in range(4):
        await billing.charge_operation(user.user_id, "merge")
    paid = await billing.charge_operation(user.user_id, "merge")
    assert isinstance(paid, Charged)
    free_ops = [r for r in [await billing.charge_operation(user.user_id, "merge")]]
    assert isinstance(free_ops[0], InsufficientFunds)
    results = await asyncio.gather(*(billing.refund_operation(paid.operation_id) for _ in range(30)))
    assert sum(r.refunded for r in results) == 1
    assert (await billing.get_user_info(6)).balance == 1000  # type: ignore[union-attr]
    await books_balance(sessions)


async def test_credits_apply_once_per_key_even_concurrently(billing: BillingService, sessions: Sessions) -> None:
    user = await billing.get_or_create_user(8)
    results = await asyncio.gather(*(billing.add_balance(user.user_id, 10000, "pay-abc") for _ in range(50)))
    assert sum(r.credited for r in results) == 1
    assert (await billing.get_user_info(8)).balance == 10000  # type: ignore[union-attr]
    assert await count(sessions, LedgerEntry) == 1
    with pytest.raises(TypeError):
        await billing.add_balance(user.user_id, 10.5, "float")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="topup entry cannot be -5"):
        await billing.add_balance(user.user_id, -5, "negative-topup")
    chargeback = await billing.add_balance(user.user_id, -15000, "cb-1", kind=LedgerKind.CHARGEBACK)
    assert chargeback.credited and chargeback.balance == -5000
    assert isinstance(await billing.charge_operation(user.user_id, "generate"), Charged)  # free ones still
    await books_balance(sessions)


async def test_200_concurrent_charges_against_a_balance_for_37(billing: BillingService, sessions: Sessions) -> None:
    user = await billing.get_or_create_user(37)
    for _ in range(4):
        await billing.charge_operation(user.user_id, "generate")
    await billing.add_balance(user.user_id, 37 * 1000 + 999, "topup-37")
    results = await asyncio.gather(*(billing.charge_operation(user.user_id, "generate") for _ in range(200)))
    charged = [r for r in results if isinstance(r, Charged)]
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert len(charged) == 37 and len(refused) == 163
    assert all(r.balance >= 0 for r in charged) and all(r.balance == 999 for r in refused)
    assert sorted(r.balance for r in charged) == [999 + 1000 * i for i in range(37)]
    assert (await billing.get_user_info(37)).balance == 999  # type: ignore[union-attr]
    assert await count(sessions, LedgerEntry, kind="charge") == 37
    await books_balance(sessions)


async def test_the_check_finds_a_balance_that_drifted_from_its_ledger(
    billing: BillingService, sessions: Sessions
) -> None:
    user = await billing.get_or_create_user(9)
    await billing.add_balance(user.user_id, 5000, "t-9")
    async with sessions.begin() as session:
        balance = await session.scalar(select(Balance).filter_by(user_id=user.user_id))
        balance.balance = 7000  # type: ignore[union-attr]
        u = await session.get(User, user.user_id)
        u.free_operations_left = 9  # type: ignore[union-attr]
    drifts = await check_ledger(sessions, user.user_id)
    assert {(d.what, d.expected, d.actual) for d in drifts} == {
        ("balance != sum of ledger entries", 5000, 7000),
        ("balance != last entry's balance_after", 5000, 7000),
        ("free operations left + in use != granted", 4, 9),
    }
    if billing.cache is not None:
        report = await reconcile(billing, pending_grace=0)
        assert {(d.field, d.cached, d.truth) for d in report.drifts} == {
            ("balance", "5000", "7000"), ("free_operations", "4", "9"),
        }
        assert report.repaired == 1
        cached = await billing.cache.snapshot(user.user_id)
        assert cached is not None and (cached.balance, cached.free) == (7000, 9)


async def test_settling_and_refunding_the_same_operations_at_once_never_deadlock(
    billing: BillingService, sessions: Sessions
) -> None:
    """Both take the user's row before the operation's, so they queue instead of deadlocking:
    each operation ends delivered with its charge, or refunded, and nothing errors."""
    user = await billing.get_or_create_user(778, "ru")
    await billing.add_balance(user.user_id, 100 * 1000, "seed-778")
    for _ in range(4):  # the free operations first
        await billing.charge_operation(user.user_id, "generate")
    ids = []
    for n in range(100):
        charged = await billing.charge_operation(user.user_id, "generate", operation_id=f"race-{n}")
        assert isinstance(charged, Charged) and not charged.paid_with_free
        ids.append(charged.operation_id)
    outcomes = await asyncio.gather(*(
        call for op in ids for call in (billing.settle_operation(op), billing.refund_operation(op, reason="race"))
    ), return_exceptions=True)
    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    refunded = sum(1 for o in outcomes[1::2] if o.refunded)
    assert await count(sessions, LedgerEntry, kind=LedgerKind.REFUND) == refunded
    assert (await billing.get_user_info(778)).balance == (100 - 100 + refunded) * 1000
    await books_balance(sessions)


async def test_one_user_that_cannot_be_checked_does_not_stop_the_reconciler(
    billing: BillingService, sessions: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    if billing.cache is None:
        pytest.skip("the reconciler compares the Redis cache with SQL")
    from medialab.db.redis_keys import user_keys

    user = await billing.get_or_create_user(10)
    await billing.add_balance(user.user_id, 5000, "t-10")
    await billing.charge_operation(user.user_id, "generate")  # the user is cached now
    # A cached account SQL knows nothing of (a backup restored without it), then real drift.
    ghost = user.user_id + 1000
    await billing.cache.redis.hset(user_keys(ghost).acct, mapping={"bal": 1, "free": 0, "ver": 1, "seq": 0})
    async with sessions.begin() as session:
        (await session.get(User, user.user_id)).free_operations_left = 1  # type: ignore[union-attr]
    with caplog.at_level("ERROR", logger="medialab.billing.reconcile"):
        report = await reconcile(billing, pending_grace=0)
    assert report.failed == [ghost]
    assert [(d.user_id, d.field) for d in report.drifts] == [(user.user_id, "free_operations")]
    assert report.repaired == 1
    assert any(str(ghost) in r.getMessage() for r in caplog.records)
    await billing.cache.redis.delete(user_keys(ghost).acct)
    async with sessions.begin() as session:
        (await session.get(User, user.user_id)).free_operations_left = 3  # type: ignore[union-attr]
    await billing.load_cache(user.user_id, force=True)
