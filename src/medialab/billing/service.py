"""The billing service: the one place where balances, free operations and the ledger change.

With a Redis cache each call is: a Lua step in Redis (atomic admission across every process),
then the SQL transaction (the system of record), then `confirm` of the step; if SQL fails the
step is undone. Without a cache (tests, the SQL-only baseline) the SQL transaction alone decides.
Redis being unreachable degrades to the SQL path: money stays exact, only the in-flight limit
waits for Redis to come back.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing import transactions as tx
from medialab.billing.cache import BalanceCache, Step
from medialab.billing.charge_rule import orm
from medialab.billing.charge_rule.as_cached import OperationExists, charge_as_cached
from medialab.billing.cache_sync import REDIS_DOWN, CacheSync
from medialab.billing.instruments import counted_charge, counted_credit, counted_refund
from medialab.billing.results import (
    Charged,
    ChargeResult,
    CreditResult,
    InsufficientFunds,
    RefundResult,
    TooManyInFlight,
)
from medialab.db.models import KeptResult
from medialab.domain.ledger import LedgerKind
from medialab.domain.operations import OperationStatus, OperationType, known_type
from medialab.settings import Settings

log = logging.getLogger(__name__)
Guard = Callable[[AsyncSession], Awaitable[None]]


class BillingService(CacheSync):
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], settings: Settings, cache: BalanceCache | None = None
    ) -> None:
        super().__init__(sessions, settings, cache)
        # Read once: a charge takes its type's price from here, and records it.
        self.prices = settings.billing.prices

    @counted_charge
    async def charge_operation(
        self, user_id: int, operation_type: str | OperationType, task_id: str | None = None,
        operation_id: str | None = None,
    ) -> ChargeResult:
        """A free operation first, else the type's price (OPERATION_PRICES, else
        PRICE_PER_OPERATION) from the balance, else InsufficientFunds naming that price.
        An unbilled type (add_text) is admitted at price 0: it takes nothing but its in-flight
        slot, held and given back as a paid operation's is.

        The same operation_id twice charges once and answers the first charge again.
        """
        kind = known_type(operation_type)
        operation_id = operation_id or uuid.uuid4().hex
        if self.cache is None:
            return await self._sql_charge(user_id, kind, operation_id, task_id)
        while True:
            try:
                answer = await self._with_cache(user_id, lambda: self.cache.reserve(  # type: ignore[union-attr]
                    user_id, operation_id, self.prices.price_of(kind), self._settings.jobs.max_in_flight,
                    kind.billable))
            except REDIS_DOWN:
                log.warning("redis unreachable: charging %s on SQL alone", operation_id)
                return await self._charge_past_the_cache(user_id, kind, operation_id, task_id)
            if answer.status == "busy":
                return TooManyInFlight(user_id, int(answer.values[2]), self._settings.jobs.max_in_flight)
            if answer.status == "replayed":
                return await self._sql_charge(user_id, kind, operation_id, task_id)
            if answer.status != "insufficient":
                return await self._charge_reserved(user_id, kind, operation_id, task_id, answer.values[0] == "free")
            refusal = await self._confirm_refusal(user_id, kind, operation_id, task_id, int(answer.values[0]))
            if refusal is not None:
                return refusal
            # The cache lagged behind SQL and has been rebuilt from it: reserve again.

    async def _charge_reserved(
        self, user_id: int, kind: OperationType, operation_id: str, task_id: str | None, free: bool,
    ) -> ChargeResult:
        """Redis reserved a free operation or the price: SQL commits the charge (and has the last
        word), then the reservation is confirmed, or undone when SQL failed or decided otherwise."""
        step = Step.reservation(user_id, operation_id, free, self.prices.price_of(kind))
        try:
            result, version = await self._undo_if_failed(step, user_id, self._charge_in_sql(
                user_id, kind, operation_id, task_id, free))
        except OperationExists:
            # Charged before, its Redis marker gone: the undo also dropped its in-flight slot.
            await self._resync_soon(user_id)
            return await self._sql_charge(user_id, kind, operation_id, task_id)
        agrees = isinstance(result, Charged) and not result.replayed and result.paid_with_free == free
        if agrees:
            await self._confirm(user_id, step, version)
        else:
            # SQL decided otherwise (the cache was stale): SQL's answer stands, the cache follows.
            await self._best_effort(self.cache.undo(user_id, step), operation_id)  # type: ignore[union-attr]
            await self._resync_soon(user_id)
        return result

    async def _charge_in_sql(
        self, user_id: int, kind: OperationType, operation_id: str, task_id: str | None, free: bool,
    ) -> tuple[ChargeResult, int]:
        if kind.billable:
            fast = await charge_as_cached(
                self._engine, user_id, kind, operation_id, self.prices.price_of(kind), task_id, free)
            if fast is not None:
                return fast
        # SQL disagrees with the cache (and changed nothing), or an unbilled type (no money
        # moves, so no fast path to take): the full charge decides.
        async with self._sessions.begin() as session:
            return await orm.charge(session, user_id, kind, operation_id, self.prices.price_of(kind), task_id)

    async def _sql_charge(self, user_id: int, kind: OperationType, operation_id: str, task_id: str | None) -> ChargeResult:
        try:
            async with self._sessions.begin() as session:
                result, _ = await orm.charge(session, user_id, kind, operation_id, self.prices.price_of(kind), task_id)
                return result
        except IntegrityError:
            # A concurrent call with the same operation id won the primary key.
            async with self._sessions() as session:
                return await orm.replay(session, await tx.find_operation(session, operation_id))

    async def _charge_past_the_cache(
        self, user_id: int, kind: OperationType, operation_id: str, task_id: str | None,
    ) -> ChargeResult:
        """SQL alone decides while Redis does not answer. A call that timed out may still have
        run in Redis (its answer lost) or not at all: either way the cache must follow SQL, so
        it is rebuilt as soon as Redis answers again (here, or by the reconciler's next pass)."""
        result = await self._sql_charge(user_id, kind, operation_id, task_id)
        if isinstance(result, Charged) and not result.replayed:
            await self._resync_soon(user_id)
        return result

    async def _confirm_refusal(
        self, user_id: int, kind: OperationType, operation_id: str, task_id: str | None, cached_balance: int,
    ) -> ChargeResult | None:
        """Redis says no money: SQL has the last word when the cache lags behind it (a top-up
        that could not reach Redis): then the cache is rebuilt from SQL and None answered, for
        the caller to reserve again. Reservations on their way to SQL are no lag: the money they
        hold is spoken for, so SQL's numbers count them as taken before deciding (without this,
        every refusal under a user's concurrent charges reloaded the cache and charged again)."""
        async with self._sessions() as session:
            # In flight first: an operation committed between the two reads is then counted as
            # on its way AND taken from the balance, never as neither (which looks like a lag).
            in_flight = await tx.in_flight_ids(session, user_id)
            balance, free, _, _ = await tx.snapshot(session, user_id)
        try:
            cached = await self.cache.snapshot(user_id)  # type: ignore[union-attr]
        except REDIS_DOWN:
            log.warning("redis unreachable: charging %s on SQL alone", operation_id)
            return await self._charge_past_the_cache(user_id, kind, operation_id, task_id)
        # Counted as paid and as free both, each at the highest price of any type (which one
        # the cache admitted is not known here): a lag is claimed only when it is certain.
        on_the_way = len(cached.in_flight - set(in_flight)) if cached is not None else 0
        price = self.prices.price_of(kind)
        if free - on_the_way > 0 or balance - on_the_way * self.prices.highest >= price:
            log.warning("cache of user %s refused a charge SQL can pay: resyncing", user_id)
            try:
                await self.resync(user_id)
            except REDIS_DOWN:
                log.warning("redis unreachable: charging %s on SQL alone", operation_id)
                return await self._charge_past_the_cache(user_id, kind, operation_id, task_id)
            return None
        return InsufficientFunds(user_id, min(balance, cached_balance), price)

    @counted_refund
    async def refund_operation(self, operation_id: str, reason: str | None = None, actor: str | None = None) -> RefundResult:
        """Gives back what the operation took, exactly once; a second call says it was done."""
        async with self._sessions() as session:
            op = await tx.find_operation(session, operation_id)
        step = None
        if self.cache is not None and op.status in tx.HOLDING_STATUSES:
            free = op.status == OperationStatus.FREE
            try:
                answer = await self._with_cache(op.user_id, lambda: self.cache.release(  # type: ignore[union-attr]
                    op.user_id, op.id, free, op.price))
                if answer.status == "released":
                    step = Step.release(op.user_id, op.id, free, op.price)
            except REDIS_DOWN:
                log.warning("redis unreachable: refunding %s on SQL alone", operation_id)
        result, version = await self._commit(step, op.user_id, lambda s: tx.refund(s, operation_id, reason, actor))
        # A version means SQL changed: money or a free operation went back, or an unbilled
        # operation (nothing to give back) ended and freed its slot.
        await self._settle_step(op.user_id, step, version is not None, version)
        return result

    @counted_credit
    async def add_balance(
        self, user_id: int, amount: int, idempotency_key: str, kind: LedgerKind = LedgerKind.TOPUP,
        payment_id: int | None = None, actor: str | None = None, reason: str | None = None,
        guard: Guard | None = None,
    ) -> CreditResult:
        """Moves the balance by amount kopecks once per idempotency key (a top-up, a grant, a
        chargeback); a repeated key changes nothing and answers credited=False.

        `guard(session)` runs first in the same SQL transaction: it may lock and check rows of
        its own (a referral not revoked) and raise to refuse, and then nothing moves."""
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise TypeError("amount must be integer kopecks")
        step = None
        if self.cache is not None:
            try:
                answer = await self._with_cache(user_id, lambda: self.cache.credit(  # type: ignore[union-attr]
                    user_id, idempotency_key, amount))
                if answer.status == "credited":
                    step = Step.credit(user_id, idempotency_key, amount)
            except REDIS_DOWN:
                log.warning("redis unreachable: crediting %s on SQL alone", idempotency_key)
        try:
            result, version = await self._commit(step, user_id, lambda s: self._guarded_credit(
                s, guard, user_id, amount, idempotency_key, kind, payment_id, actor, reason))
        except tx.DuplicateKey:
            async with self._sessions() as session:
                balance, _, _, _ = await tx.snapshot(session, user_id)
            return CreditResult(user_id, False, 0, balance, idempotency_key)
        await self._settle_step(user_id, step, True, version)
        return result

    @staticmethod
    async def _guarded_credit(session: AsyncSession, guard: Guard | None, *credit: Any) -> tuple[CreditResult, int]:
        if guard is not None:
            await guard(session)
        return await tx.credit(session, *credit)

    async def settle_operation(self, operation_id: str, keep: KeptResult | None = None) -> bool:
        """The job was delivered (or its result kept for the user, `keep`): frees its in-flight
        slot. False when it was not in flight, and then nothing is kept."""
        async with self._sessions.begin() as session:
            settled = await tx.settle(session, operation_id, keep)
        if settled is None:
            return False
        op, version = settled
        if self.cache is not None:
            await self._best_effort(self.cache.settle(op.user_id, op.id, version), op.id)
        return True
