"""SQL of the payments table; each function runs inside the caller's transaction.

A payment's status mirrors what YooKassa's API said last. Moves are guarded UPDATEs, so two
deliveries racing each other cannot move a status backwards (succeeded never becomes pending).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from medialab.db.models import Payment, User
from medialab.domain.idempotency_keys import yookassa_payment_key
from medialab.domain.ledger import PaymentStatus

PROVIDER = "yookassa"
OPEN_STATUSES = (PaymentStatus.PENDING.value, PaymentStatus.WAITING_FOR_CAPTURE.value)
# The statuses a payment may come from to reach each status. The API is the truth: a payment
# we closed as canceled that YooKassa reports succeeded did take the payer's money.
_COMES_FROM: dict[PaymentStatus, tuple[str, ...]] = {
    PaymentStatus.WAITING_FOR_CAPTURE: (PaymentStatus.PENDING.value,),
    PaymentStatus.SUCCEEDED: (*OPEN_STATUSES, PaymentStatus.CANCELED.value),
    PaymentStatus.CANCELED: OPEN_STATUSES,
    PaymentStatus.REFUNDED: (PaymentStatus.SUCCEEDED.value,),
}


async def unanswered_attempt(
    session: AsyncSession, user_id: int, amount: int, currency: str, since: datetime
) -> Payment | None:
    """The user's latest create of this sum that got no answer (no YooKassa id yet).

    Repeating it with its Idempotence-Key makes YooKassa return the payment that request may
    have made instead of making a second one.
    """
    query = (
        select(Payment)
        .where(
            Payment.user_id == user_id,
            Payment.amount == amount,
            Payment.currency == currency,
            Payment.status == PaymentStatus.PENDING.value,
            Payment.provider_payment_id.is_(None),
            Payment.created_at >= since,
        )
        .order_by(Payment.id.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def by_idempotence_key(session: AsyncSession, key: str) -> Payment | None:
    query = select(Payment).where(Payment.provider == PROVIDER, Payment.idempotence_key == key)
    return (await session.execute(query)).scalar_one_or_none()


async def new_attempt(
    session: AsyncSession, user_id: int, amount: int, currency: str, key: str | None = None
) -> Payment:
    payment = Payment(
        provider=PROVIDER, idempotence_key=key or yookassa_payment_key(), user_id=user_id,
        amount=amount, currency=currency, status=PaymentStatus.PENDING.value,
    )
    session.add(payment)
    await session.flush()
    return payment


async def attach(session: AsyncSession, payment_id: int, provider_payment_id: str, raw: Any) -> None:
    await session.execute(
        update(Payment).where(Payment.id == payment_id)
        .values(provider_payment_id=provider_payment_id, raw_data=raw)
    )


async def by_id(session: AsyncSession, payment_id: int) -> Payment | None:
    return await session.get(Payment, payment_id)


async def by_provider_id(session: AsyncSession, provider_payment_id: str) -> Payment | None:
    query = select(Payment).where(
        Payment.provider == PROVIDER, Payment.provider_payment_id == provider_payment_id
    )
    return (await session.execute(query)).scalar_one_or_none()


async def owner(session: AsyncSession, user_id: int) -> tuple[int, str]:
    """The Telegram id and language of a payment's user."""
    row = (await session.execute(select(User.telegram_id, User.language).where(User.id == user_id))).one()
    return row.telegram_id, row.language


async def move_status(
    session: AsyncSession, payment_id: int, status: PaymentStatus, raw: Any = None
) -> bool:
    """Moves the payment to status when it may come from where it is; False otherwise."""
    values: dict[str, Any] = {"status": status.value}
    if raw is not None:
        values["raw_data"] = raw
    result = await session.execute(
        update(Payment)
        .where(Payment.id == payment_id, Payment.status.in_(_COMES_FROM[status]))
        .values(**values)
        .returning(Payment.id)
    )
    return result.scalar_one_or_none() is not None


async def keep_raw(session: AsyncSession, payment_id: int, raw: Any) -> None:
    await session.execute(update(Payment).where(Payment.id == payment_id).values(raw_data=raw))


async def open_before(session: AsyncSession, before: datetime, limit: int | None) -> list[Payment]:
    """Payments YooKassa knows of, made before `before` and still open; the one looked at
    longest ago first, so that payments the API keeps calling pending take turns."""
    query = (
        select(Payment)
        .where(
            Payment.provider == PROVIDER,
            Payment.status.in_(OPEN_STATUSES),
            Payment.provider_payment_id.is_not(None),
            Payment.created_at < before,
        )
        .order_by(Payment.updated_at, Payment.id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def unanswered_between(
    session: AsyncSession, since: datetime, before: datetime, limit: int
) -> list[tuple[Payment, int]]:
    """Creates without an answer made in [since, before), with their user's Telegram id: the
    sweeper repeats each under its Idempotence-Key to learn what YooKassa made of it."""
    query = (
        select(Payment, User.telegram_id).join(User, User.id == Payment.user_id)
        .where(
            Payment.provider == PROVIDER,
            Payment.status == PaymentStatus.PENDING.value,
            Payment.provider_payment_id.is_(None),
            Payment.created_at >= since,
            Payment.created_at < before,
        )
        .order_by(Payment.id)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def close_unanswered(session: AsyncSession, before: datetime) -> int:
    """Cancels creates that never got an answer and can no longer be repeated (YooKassa keeps
    an Idempotence-Key for 24 hours): nobody received their confirmation URL, so nobody can
    have paid them."""
    result = await session.execute(
        update(Payment)
        .where(
            Payment.provider == PROVIDER,
            Payment.status == PaymentStatus.PENDING.value,
            Payment.provider_payment_id.is_(None),
            Payment.created_at < before,
        )
        .values(status=PaymentStatus.CANCELED.value)
        .returning(Payment.id)
    )
    return len(result.all())
