"""Promo codes: made, listed and disabled by operators, redeemed by users.

A redemption is one SQL transaction: the user's row lock (their changes one at a time), the
code's use taken by a guarded UPDATE (`uses < max_uses`, re-checked by PostgreSQL after it waits
for a concurrent redeemer's row lock, serial on SQLite), the redemption row (unique per code and
user), the free operations and the ledger entry (kind promo, key per code and user). Any refusal
raises inside the transaction, so a refused code changes nothing. Free operations have no Redis
script, so the cache is rebuilt from SQL afterwards (CacheSync.commit_past_the_cache).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

import msgspec
from sqlalchemy import false, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing import sql
from medialab.billing import transactions as tx
from medialab.billing.service import BillingService
from medialab.db.models import PromoCode, PromoRedemption, User, as_utc
from medialab.domain.idempotency_keys import promo_key
from medialab.domain.ledger import LedgerKind


class Refusal(StrEnum):
    UNKNOWN = "unknown"
    DISABLED = "disabled"
    EXPIRED = "expired"
    USED_UP = "used_up"
    ALREADY_REDEEMED = "already_redeemed"


class PromoRefused(Exception):
    """The code cannot be redeemed by this user; nothing changed."""

    def __init__(self, refusal: Refusal, code: str) -> None:
        super().__init__(f"promo code {code}: {refusal.value}")
        self.refusal = refusal


class CodeExists(Exception):
    """A code of that name exists already (disabled ones too: a code is never reused)."""


class Redeemed(msgspec.Struct, frozen=True):
    code: str
    amount: int  # kopecks put on the balance
    free_operations: int
    balance: int
    free_operations_left: int


class PromoLine(msgspec.Struct, frozen=True):
    code: str
    amount: int
    free_operations: int
    uses: int
    max_uses: int | None
    valid_until: datetime | None
    disabled: bool
    created_at: datetime


def end_of(day: date) -> datetime:
    """`--until 2026-12-31` means through that day: redeemable before the next one begins (UTC)."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)


async def create_code(
    sessions: async_sessionmaker[AsyncSession], code: str, amount: int, free_operations: int = 0,
    max_uses: int | None = None, valid_until: datetime | None = None, created_by: str | None = None,
) -> PromoLine:
    try:
        async with sessions.begin() as session:
            row = PromoCode(code=code, amount=amount, free_operations=free_operations, max_uses=max_uses,
                            valid_until=valid_until, created_by=created_by)
            session.add(row)
            await session.flush()
            await session.refresh(row)
    except IntegrityError:
        raise CodeExists(code) from None
    return _line(row)


async def list_codes(sessions: async_sessionmaker[AsyncSession]) -> list[PromoLine]:
    async with sessions() as session:
        return [_line(row) for row in (await session.scalars(select(PromoCode).order_by(PromoCode.id))).all()]


async def disable_code(sessions: async_sessionmaker[AsyncSession], code: str) -> PromoLine | None:
    """The code redeems no more (those who redeemed it keep what they got); None if unknown."""
    async with sessions.begin() as session:
        await session.execute(update(PromoCode).where(PromoCode.code == code).values(disabled=True))
        row = (await session.scalars(select(PromoCode).where(PromoCode.code == code))).one_or_none()
        return _line(row) if row is not None else None


async def redeem(billing: BillingService, user_id: int, code: str) -> Redeemed:
    """Credits the code to the user once; PromoRefused (nothing changed) otherwise."""
    return await billing.commit_past_the_cache(user_id, lambda session: _redeem(session, user_id, code))


async def _redeem(session: AsyncSession, user_id: int, code: str) -> Redeemed:
    await tx.bump_version(session, user_id)  # the user's row lock, and the cache's version
    promo = (await session.scalars(select(PromoCode).where(PromoCode.code == code))).one_or_none()
    if promo is None:
        raise PromoRefused(Refusal.UNKNOWN, code)
    # Under the user's lock: no redemption of theirs can commit between this look and the insert.
    if (await session.scalars(select(PromoRedemption.id).where(
            PromoRedemption.promo_code_id == promo.id, PromoRedemption.user_id == user_id))).first():
        raise PromoRefused(Refusal.ALREADY_REDEEMED, code)
    now = datetime.now(UTC)
    taken = await session.execute(
        update(PromoCode)
        .where(PromoCode.id == promo.id, PromoCode.disabled == false(),
               or_(PromoCode.valid_until.is_(None), PromoCode.valid_until > now),
               or_(PromoCode.max_uses.is_(None), PromoCode.uses < PromoCode.max_uses))
        .values(uses=PromoCode.uses + 1)
        .returning(PromoCode.id)
        .execution_options(synchronize_session=False)
    )
    if taken.first() is None:
        await session.refresh(promo)  # as the UPDATE found it
        raise PromoRefused(_why_not(promo, now), code)
    session.add(PromoRedemption(promo_code_id=promo.id, user_id=user_id))
    await session.flush()
    free_left = await _give_free_operations(session, user_id, promo.free_operations)
    balance = await sql.current_balance(session, user_id)
    if promo.amount:
        balance = await sql.move_balance(session, user_id, promo.amount, floor=None)  # type: ignore[assignment]
        await sql.append_entry(session, user_id=user_id, kind=LedgerKind.PROMO, amount=promo.amount,
                               balance_after=balance, idempotency_key=promo_key(code, user_id),
                               actor="promo", reason=f"promo code {code}")
    return Redeemed(code, promo.amount, promo.free_operations, balance, free_left)


async def _give_free_operations(session: AsyncSession, user_id: int, count: int) -> int:
    """Granted as well as left: the books' check (left + in use = granted) keeps holding."""
    if count:
        await session.execute(update(User).where(User.id == user_id).values(
            free_operations_left=User.free_operations_left + count,
            free_operations_granted=User.free_operations_granted + count))
    return (await session.scalars(select(User.free_operations_left).where(User.id == user_id))).one()


def _why_not(promo: PromoCode, now: datetime) -> Refusal:
    if promo.disabled:
        return Refusal.DISABLED
    if promo.valid_until is not None and as_utc(promo.valid_until) <= now:
        return Refusal.EXPIRED
    return Refusal.USED_UP


def _line(row: PromoCode) -> PromoLine:
    return PromoLine(row.code, row.amount, row.free_operations, row.uses, row.max_uses,
                     as_utc(row.valid_until) if row.valid_until is not None else None, row.disabled,
                     as_utc(row.created_at))
