"""The billing service: the one place where balances, free operations and the ledger change.

Every public method is one transaction. Atomicity comes from guarded UPDATEs (the condition in
the WHERE clause) and unique idempotency keys, so concurrent callers in many processes cannot
spend the same kopeck or free operation twice.
"""

from __future__ import annotations

import uuid

import msgspec
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing import sql
from medialab.billing.results import (
    Charged,
    ChargeResult,
    CreditResult,
    InsufficientFunds,
    RefundResult,
    UnknownOperation,
    UnknownUser,
    UserInfo,
)
from medialab.db.models import Balance, Operation, User
from medialab.domain.ledger import LedgerKind, charge_key, refund_key
from medialab.domain.operations import JobState, OperationStatus, OperationType, billable_type
from medialab.settings import Settings


class _Duplicate(Exception):
    """Raised inside a transaction to roll it back when an idempotency key was already used."""


class BillingService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings

    @property
    def price(self) -> int:
        return self._settings.price_per_operation

    async def get_or_create_user(self, telegram_id: int, language: str | None = None) -> UserInfo:
        """The user, created with FREE_OPERATIONS_COUNT free operations on first contact only."""
        async with self._sessions.begin() as session:
            info = await self._user_info(session, telegram_id)
            if info is not None:
                return info
            free = self._settings.free_operations_count
            inserted = await session.execute(
                sql.insert_ignoring_conflicts(session, sql.users, "telegram_id")
                .values(
                    telegram_id=telegram_id,
                    free_operations_left=free,
                    free_operations_granted=free,
                    language=(language or "ru")[:8],
                )
                .returning(sql.users.c.id)
            )
            user_id = inserted.scalar_one_or_none()
            if user_id is not None:
                await session.execute(sql.balances.insert().values(user_id=user_id, balance=0))
            info = await self._user_info(session, telegram_id)
            assert info is not None, "the user was inserted or a concurrent insert was committed"
            return msgspec.structs.replace(info, created=user_id is not None)

    async def get_user_info(self, telegram_id: int) -> UserInfo | None:
        async with self._sessions() as session:
            return await self._user_info(session, telegram_id)

    async def _user_info(self, session: AsyncSession, telegram_id: int) -> UserInfo | None:
        row = (
            await session.execute(
                select(User.id, User.free_operations_left, User.language, Balance.balance)
                .join(Balance, Balance.user_id == User.id)
                .where(User.telegram_id == telegram_id)
            )
        ).first()
        if row is None:
            return None
        return UserInfo(
            user_id=row.id,
            telegram_id=telegram_id,
            balance=row.balance,
            free_operations_left=row.free_operations_left,
            free_operations_total=self._settings.free_operations_count,
            language=row.language,
        )

    async def charge_operation(
        self,
        user_id: int,
        operation_type: str | OperationType,
        task_id: str | None = None,
        operation_id: str | None = None,
    ) -> ChargeResult:
        """A free operation first, else the price from the balance, else InsufficientFunds.

        With an operation_id that was already charged, answers the first charge again and takes
        nothing (a re-delivered update or a retried request).
        """
        kind = billable_type(operation_type)
        operation_id = operation_id or uuid.uuid4().hex
        try:
            async with self._sessions.begin() as session:
                return await self._charge(session, user_id, kind, task_id, operation_id)
        except IntegrityError:
            # A concurrent call with the same operation id won the primary key.
            async with self._sessions() as session:
                existing = await session.get(Operation, operation_id)
                if existing is None:
                    raise
                return await self._replay(session, existing)

    async def _charge(
        self, session: AsyncSession, user_id: int, kind: OperationType, task_id: str | None, operation_id: str
    ) -> ChargeResult:
        existing = await session.get(Operation, operation_id)
        if existing is not None:
            return await self._replay(session, existing)
        if await session.get(User, user_id) is None:
            raise UnknownUser(f"no user with id {user_id}")
        price = self.price
        free_left = await sql.take_free_operation(session, user_id)
        if free_left is not None:
            session.add(Operation(id=operation_id, user_id=user_id, type=kind.value, price=0,
                                  status=OperationStatus.FREE.value, task_id=task_id))
            await session.flush()
            balance = await sql.current_balance(session, user_id)
            return Charged(operation_id, user_id, kind.value, True, 0, balance, free_left)
        balance = await sql.move_balance(session, user_id, -price, floor=0)
        if balance is None:
            return InsufficientFunds(user_id, await sql.current_balance(session, user_id), price)
        session.add(Operation(id=operation_id, user_id=user_id, type=kind.value, price=price,
                              status=OperationStatus.CHARGED.value, task_id=task_id))
        await session.flush()
        await sql.append_entry(session, user_id=user_id, kind=LedgerKind.CHARGE, amount=-price,
                               balance_after=balance, idempotency_key=charge_key(operation_id),
                               operation_id=operation_id)
        return Charged(operation_id, user_id, kind.value, False, price, balance, 0)

    async def _replay(self, session: AsyncSession, op: Operation) -> Charged:
        user = await session.get(User, op.user_id)
        assert user is not None
        return Charged(
            op.id, op.user_id, op.type, op.price == 0, op.price,
            await sql.current_balance(session, op.user_id), user.free_operations_left, replayed=True,
        )

    async def refund_operation(
        self, operation_id: str, reason: str | None = None, actor: str | None = None
    ) -> RefundResult:
        """Gives back what the operation took, exactly once; a second call says it was done."""
        async with self._sessions.begin() as session:
            op = (
                await session.execute(
                    select(Operation).where(Operation.id == operation_id).with_for_update()
                )
            ).scalar_one_or_none()
            if op is None:
                raise UnknownOperation(f"no operation {operation_id!r}")
            if op.status not in (OperationStatus.FREE, OperationStatus.CHARGED):
                balance = await sql.current_balance(session, op.user_id)
                return RefundResult(op.id, op.user_id, False, balance=balance,
                                    note=f"nothing to refund: the operation is {op.status}")
            was_free = op.status == OperationStatus.FREE
            moved = await session.execute(
                update(Operation)
                .where(Operation.id == op.id, Operation.status == op.status)
                .values(status=OperationStatus.REFUNDED.value, job_state=JobState.FAILED.value,
                        error=reason or op.error)
            )
            if moved.rowcount != 1:  # pragma: no cover - the row lock above makes this unreachable
                raise RuntimeError(f"operation {op.id} changed under its row lock")
            if was_free:
                await sql.give_back_free_operation(session, op.user_id)
                balance = await sql.current_balance(session, op.user_id)
                return RefundResult(op.id, op.user_id, True, free_operation=True, balance=balance)
            balance = await sql.move_balance(session, op.user_id, op.price, floor=None)
            assert balance is not None
            await sql.append_entry(session, user_id=op.user_id, kind=LedgerKind.REFUND, amount=op.price,
                                   balance_after=balance, idempotency_key=refund_key(op.id),
                                   operation_id=op.id, actor=actor, reason=reason)
            return RefundResult(op.id, op.user_id, True, amount=op.price, balance=balance)

    async def add_balance(
        self,
        user_id: int,
        amount: int,
        idempotency_key: str,
        kind: LedgerKind = LedgerKind.TOPUP,
        payment_id: int | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> CreditResult:
        """Moves the balance by amount kopecks once per idempotency key (a top-up, a grant, a
        chargeback); a repeated key changes nothing and answers credited=False."""
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise TypeError("amount must be integer kopecks")
        try:
            async with self._sessions.begin() as session:
                if await session.get(User, user_id) is None:
                    raise UnknownUser(f"no user with id {user_id}")
                if await sql.key_in_ledger(session, idempotency_key):
                    raise _Duplicate
                balance = await sql.move_balance(session, user_id, amount, floor=None)
                assert balance is not None
                appended = await sql.append_entry(
                    session, user_id=user_id, kind=kind, amount=amount, balance_after=balance,
                    idempotency_key=idempotency_key, payment_id=payment_id, actor=actor, reason=reason,
                )
                if not appended:
                    raise _Duplicate  # a concurrent caller committed the key first: undo our move
                return CreditResult(user_id, True, amount, balance, idempotency_key)
        except _Duplicate:
            async with self._sessions() as session:
                balance = await sql.current_balance(session, user_id)
            return CreditResult(user_id, False, 0, balance, idempotency_key)

