"""The operators' dashboard's figures for a period (today, 7 or 30 days, in UTC), each from one
SQL aggregate over the period's rows (the indexes of migration 0009 keep them fast on a million
ledger entries: bench/dashboard.py). No web framework here: web/admin renders these.

Ledger kinds are summed generically, so a kind added later (promo, referral…) shows up at once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

import msgspec
from sqlalchemy import ColumnElement, case, distinct, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing.audit import last_check
from medialab.db.models import Balance, LedgerCheck, LedgerEntry, Operation, Payment, User
from medialab.domain.ledger import LedgerKind
from medialab.domain.operations import JobState, OperationStatus

# What came in and what went back out through a payment provider; the rest of the ledger is
# money moving inside the balances (charges, refunds of operations) or credits we gave.
MONEY_IN = (LedgerKind.TOPUP.value, LedgerKind.CHARGEBACK.value)
USAGE = (LedgerKind.CHARGE.value, LedgerKind.REFUND.value)
NO_PROVIDER = "none"  # a top-up entry made without a payment (written by hand): still money counted in
CHART_MIN_DAYS = 7  # "today" alone is one bar: the chart shows the week to it


class Period(StrEnum):
    TODAY = "today"
    WEEK = "7d"
    MONTH = "30d"

    @property
    def days(self) -> int:
        return {"today": 1, "7d": 7, "30d": 30}[self.value]

    def since(self, now: datetime) -> datetime:
        return days_back(now, self.days)


def days_back(now: datetime, days: int) -> datetime:
    """Midnight (UTC) of the first of `days` days that end today."""
    return datetime.combine(now.astimezone(UTC).date() - timedelta(days=days - 1), datetime.min.time(), UTC)


class ProviderMoney(msgspec.Struct, frozen=True):
    provider: str
    topups: int
    topped_up: int  # kopecks
    charged_back: int  # kopecks taken back (refunded through the provider), as a positive number

    @property
    def net(self) -> int:
        return self.topped_up - self.charged_back


class KindTotal(msgspec.Struct, frozen=True):
    kind: str
    entries: int
    amount: int


class OperationFigures(msgspec.Struct, frozen=True):
    type: str
    count: int
    free: int
    charged: int  # kopecks taken for the type's operations
    refunded: int  # kopecks of them given back
    finished: int  # jobs delivered or failed
    failed: int


class Users(msgspec.Struct, frozen=True):
    new: int
    paying: int  # users with a top-up in the period
    new_paying: int  # of the new ones, those who have topped up since

    @property
    def conversion(self) -> float | None:
        return self.new_paying / self.new if self.new else None


class Balances(msgspec.Struct, frozen=True):
    held: int  # kopecks users may still spend: our liability
    holders: int
    owed: int  # kopecks below zero (chargebacks of money already spent), as a positive number


class Figures(msgspec.Struct, frozen=True):
    period: Period
    since: datetime
    now: datetime
    money_in: list[ProviderMoney]
    ledger: list[KindTotal]
    operations: list[OperationFigures]
    users: Users
    balances: Balances
    daily: list[tuple[date, int]]  # money in, net, for each day of the chart
    check: LedgerCheck | None

    @property
    def net_in(self) -> int:
        return sum(p.net for p in self.money_in)

    @property
    def credits(self) -> list[KindTotal]:
        """Entries that are neither money in nor usage: grants, promo codes, referral bonuses…"""
        return [k for k in self.ledger if k.kind not in MONEY_IN + USAGE]

    @property
    def jobs_failed_rate(self) -> float | None:
        finished = sum(o.finished for o in self.operations)
        return sum(o.failed for o in self.operations) / finished if finished else None


async def figures(sessions: async_sessionmaker[AsyncSession], period: Period, now: datetime | None = None) -> Figures:
    now = now or datetime.now(UTC)
    since = period.since(now)
    chart_since = days_back(now, max(period.days, CHART_MIN_DAYS))
    async with sessions() as session:
        money_in = await _money_in(session, since)
        ledger = [KindTotal(kind, entries, int(amount)) for kind, entries, amount in (await session.execute(
            select(LedgerEntry.kind, func.count(), func.sum(LedgerEntry.amount))
            .where(LedgerEntry.created_at >= since).group_by(LedgerEntry.kind).order_by(LedgerEntry.kind))).all()]
        operations = await _operations(session, since)
        users = await _users(session, since)
        balances = await _balances(session)
        daily = await _daily(session, chart_since, now)
    return Figures(period, since, now, money_in, ledger, operations, users, balances, daily, await last_check(sessions))


async def _money_in(session: AsyncSession, since: datetime) -> list[ProviderMoney]:
    rows = (await session.execute(
        select(func.coalesce(Payment.provider, NO_PROVIDER), LedgerEntry.kind, func.count(), func.sum(LedgerEntry.amount))
        .outerjoin(Payment, Payment.id == LedgerEntry.payment_id)
        .where(LedgerEntry.kind.in_(MONEY_IN), LedgerEntry.created_at >= since)
        .group_by(Payment.provider, LedgerEntry.kind))).all()
    found: dict[str, ProviderMoney] = {}
    for provider, kind, count, amount in rows:
        money = found.get(provider, ProviderMoney(provider, 0, 0, 0))
        if kind == LedgerKind.TOPUP:
            money = msgspec.structs.replace(money, topups=count, topped_up=int(amount))
        else:
            money = msgspec.structs.replace(money, charged_back=-int(amount))
        found[provider] = money
    return sorted(found.values(), key=lambda p: p.provider)


async def _operations(session: AsyncSession, since: datetime) -> list[OperationFigures]:
    def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    rows = (await session.execute(
        select(Operation.type, func.count(), count_if(Operation.status == OperationStatus.FREE.value),
               func.sum(Operation.price),
               func.coalesce(func.sum(case((Operation.status == OperationStatus.REFUNDED.value, Operation.price),
                                           else_=0)), 0),
               count_if(Operation.job_state.in_((JobState.DELIVERED.value, JobState.FAILED.value))),
               count_if(Operation.job_state == JobState.FAILED.value))
        .where(Operation.created_at >= since).group_by(Operation.type).order_by(Operation.type))).all()
    return [OperationFigures(kind, count, int(free), int(charged), int(refunded), int(finished), int(failed))
            for kind, count, free, charged, refunded, finished, failed in rows]


async def _users(session: AsyncSession, since: datetime) -> Users:
    topped_up = exists().where(LedgerEntry.user_id == User.id, LedgerEntry.kind == LedgerKind.TOPUP.value)
    new, new_paying = (await session.execute(
        select(func.count(), func.coalesce(func.sum(case((topped_up, 1), else_=0)), 0))
        .where(User.created_at >= since))).one()
    paying = await session.scalar(
        select(func.count(distinct(LedgerEntry.user_id)))
        .where(LedgerEntry.kind == LedgerKind.TOPUP.value, LedgerEntry.created_at >= since))
    return Users(new, paying or 0, int(new_paying))


async def _balances(session: AsyncSession) -> Balances:
    held, holders, owed = (await session.execute(select(
        func.coalesce(func.sum(case((Balance.balance > 0, Balance.balance), else_=0)), 0),
        func.coalesce(func.sum(case((Balance.balance > 0, 1), else_=0)), 0),
        func.coalesce(func.sum(case((Balance.balance < 0, -Balance.balance), else_=0)), 0)))).one()
    return Balances(int(held), int(holders), int(owed))


async def _daily(session: AsyncSession, since: datetime, now: datetime) -> list[tuple[date, int]]:
    """Net money in for each day from `since` to today, days without any as 0."""
    if session.bind.dialect.name == "postgresql":
        day = func.date(func.timezone("UTC", LedgerEntry.created_at))
    else:  # SQLite keeps UTC text; date() reads its first ten characters
        day = func.date(LedgerEntry.created_at)
    rows = (await session.execute(
        select(day, func.sum(LedgerEntry.amount))
        .where(LedgerEntry.kind.in_(MONEY_IN), LedgerEntry.created_at >= since).group_by(day))).all()
    sums = {date.fromisoformat(str(value)[:10]): int(amount) for value, amount in rows}
    first, last = since.date(), now.astimezone(UTC).date()
    return [(first + timedelta(days=n), sums.get(first + timedelta(days=n), 0)) for n in range((last - first).days + 1)]
