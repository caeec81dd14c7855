"""What operators can do to an account. Changes go through BillingService only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import TYPE_CHECKING

import msgspec
from sqlalchemy import literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.admin.arguments import AdminError
from medialab.admin.grant_file import user_grant_id
from medialab.admin.ledger_export import csv_chunks
from medialab.billing import promo
from medialab.billing.audit import check_and_record
from medialab.billing.promo import PromoLine
from medialab.billing.reconcile import ReconcileReport, reconcile
from medialab.billing.results import CreditResult, LedgerDrift, RefundResult, UnknownOperation, UserInfo
from medialab.billing.service import BillingService
from medialab.billing.statement import Statement, read_statement
from medialab.db.models import LedgerEntry, Operation, Payment
from medialab.domain.idempotency_keys import grant_key
from medialab.domain.ledger import LedgerKind

if TYPE_CHECKING:
    from aiogram import Bot

    from medialab.payments.stars_refund import StarsRefund


class OperationLine(msgspec.Struct, frozen=True):
    id: str
    type: str
    status: str
    job_state: str
    price: int
    created_at: datetime


class PaymentLine(msgspec.Struct, frozen=True):
    id: int
    provider: str
    provider_payment_id: str | None
    amount: int
    currency: str
    status: str
    created_at: datetime


class Account(msgspec.Struct, frozen=True):
    user: UserInfo
    operations: list[OperationLine]
    payments: list[PaymentLine]
    # The latest balance movements: the statement the user sees with /history.
    statement: Statement


class Grant(msgspec.Struct, frozen=True):
    telegram_id: int
    grant_id: str
    credit: CreditResult


class Books(msgspec.Struct, frozen=True):
    """What a reconcile found: the ledger's broken invariants (only an operator can correct
    them) and the Redis cache's drifts from SQL (repaired unless `repair` was off)."""

    ledger: list[LedgerDrift]
    cache: ReconcileReport
    repair: bool


class AdminService:
    def __init__(self, billing: BillingService, sessions: async_sessionmaker[AsyncSession],
                 bot: Bot | None = None) -> None:
        self._billing = billing
        self._sessions = sessions
        self._bot = bot  # only refund-stars talks to Telegram

    async def user(self, telegram_id: int) -> UserInfo:
        info = await self._billing.get_user_info(telegram_id)
        if info is None:
            raise AdminError(f"no user with Telegram id {telegram_id}")
        return info

    async def account(self, telegram_id: int, limit: int = 10) -> Account:
        """The balance, free operations and the latest operations, payments and balance movements."""
        user = await self.user(telegram_id)
        async with self._sessions() as session:
            # SQLite's timestamps have whole seconds: its insertion order (rowid) breaks ties.
            newest = literal_column("rowid").desc() if session.bind.dialect.name == "sqlite" else Operation.id
            operations = (await session.scalars(
                select(Operation).where(Operation.user_id == user.user_id)
                .order_by(Operation.created_at.desc(), newest).limit(limit))).all()
            payments = (await session.scalars(
                select(Payment).where(Payment.user_id == user.user_id)
                .order_by(Payment.id.desc()).limit(limit))).all()
            statement = await read_statement(session, user.user_id, limit=limit)
        return Account(
            user,
            [OperationLine(o.id, o.type, o.status, o.job_state, o.price, o.created_at) for o in operations],
            [PaymentLine(p.id, p.provider, p.provider_payment_id, p.amount, p.currency, p.status, p.created_at)
             for p in payments],
            statement,
        )

    async def grant(self, telegram_id: int, amount: int, actor: str, reason: str,
                    grant_id: str | None = None) -> Grant:
        """Adds money as a GRANT ledger entry. The grant id is its idempotency key: the same id
        again changes nothing (and is refused if it named a different grant)."""
        user = await self.user(telegram_id)
        grant_id = grant_id or uuid.uuid4().hex
        key = grant_key(grant_id)
        credit = await self._billing.add_balance(user.user_id, amount, key, LedgerKind.GRANT,
                                                 actor=actor, reason=reason)
        if not credit.credited:
            await self._same_grant_or_refuse(key, user.user_id, amount)
        return Grant(telegram_id, grant_id, credit)

    async def grant_each(self, grants: list[tuple[int, int]], actor: str, reason: str, batch: str) -> list[Grant]:
        """A file's grants (telegram id, kopecks), once every user in it is found: an unknown one
        refuses the whole file. Each is its own ledger entry, `grant:<batch>-<telegram id>`: when
        one fails, those before it stand, and the file run again makes only the rest."""
        for telegram_id, _ in grants:
            await self.user(telegram_id)
        return [await self.grant(telegram_id, amount, actor, reason, user_grant_id(batch, telegram_id))
                for telegram_id, amount in grants]

    async def _same_grant_or_refuse(self, key: str, user_id: int, amount: int) -> None:
        async with self._sessions() as session:
            entry = (await session.scalars(select(LedgerEntry).where(LedgerEntry.idempotency_key == key))).one()
        if entry.kind != LedgerKind.GRANT.value or entry.user_id != user_id or entry.amount != amount:
            raise AdminError(f"{key} is already in the ledger for another entry "
                             f"({entry.kind} of {entry.amount} kopecks to user id {entry.user_id})")

    async def refund(self, operation_id: str, actor: str, reason: str) -> RefundResult:
        """Gives back what the operation took (money, or its free operation), once."""
        try:
            return await self._billing.refund_operation(operation_id, reason, actor)
        except UnknownOperation:
            raise AdminError(f"no operation {operation_id!r}") from None

    async def refund_stars(self, charge_id: str, actor: str) -> StarsRefund:
        """The Stars back through Telegram, the rubles they credited off the balance, once."""
        # Here, not at the top: it loads aiogram, which no other operator's command needs.
        from medialab.payments.stars_refund import StarsRefundError, refund_stars

        try:
            return await refund_stars(self._sessions, self._billing, self._bot, charge_id, actor)
        except StarsRefundError as exc:
            raise AdminError(str(exc)) from None

    async def promo_create(self, code: str, amount: int, free_operations: int, max_uses: int | None,
                           until: date | None, actor: str) -> PromoLine:
        try:
            return await promo.create_code(self._sessions, code, amount, free_operations, max_uses,
                                           promo.end_of(until) if until is not None else None, actor)
        except promo.CodeExists:
            raise AdminError(f"promo code {code} exists already (a code is never reused)") from None

    async def promo_list(self) -> list[PromoLine]:
        return await promo.list_codes(self._sessions)

    async def promo_disable(self, code: str) -> PromoLine:
        disabled = await promo.disable_code(self._sessions, code)
        if disabled is None:
            raise AdminError(f"no promo code {code}")
        return disabled

    def ledger_csv(self, start: datetime, end: datetime) -> AsyncIterator[str]:
        return csv_chunks(self._sessions, start, end)

    async def reconcile(self, repair: bool = True) -> Books:
        """Checks the ledger (recorded for the dashboard), then compares the cache with SQL and
        (with `repair`) rebuilds it."""
        ledger = await check_and_record(self._sessions)
        return Books(ledger, await reconcile(self._billing, repair=repair), repair)
