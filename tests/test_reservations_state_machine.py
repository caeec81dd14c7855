"""A hypothesis state machine over the Redis reservations: reserve (charge_operation), release
(refund_operation), settle (settle_operation), credit (add_balance, top-ups and chargebacks) and
losing Redis (FLUSHDB of the test database, one user's keys, or only the markers whose TTL is
shorter than the account's), against a plain model of each user's balance, free operations and
operations in flight. The in-flight limit is 2, so TooManyInFlight is answered and settle and
release free the slots.

After every step: each answer matched the model; SQL's balances, free counts and in-flight
operations are the model's; and the Redis cache, where present, holds exactly the model's
numbers with no step left pending. After every example: the books balance.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import dataclass, field

import pytest
import redis as sync_redis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, multiple, rule, run_state_machine_as_test

from conftest import REDIS_TEST_URL
from medialab.db import redis_keys
from medialab.billing import transactions as tx
from medialab.billing.audit import check_ledger
from medialab.billing.cache import BalanceCache
from medialab.billing.results import Charged, CreditResult, InsufficientFunds, TooManyInFlight
from medialab.billing.service import BillingService
from medialab.db.engine import create_engine, session_factory
from medialab.db.redis import redis_client
from medialab.domain.ledger import LedgerKind
from medialab.settings import Settings

pytestmark = pytest.mark.slow  # a model-based run of many steps

PRICE = 1000  # kopecks
FREE = 2  # free operations per new user: the machine reaches the paid path in a few steps
LIMIT = 2  # MAX_JOBS_IN_FLIGHT
USERS = 3
telegram_ids = itertools.count(700_000)

user_index = st.integers(min_value=0, max_value=USERS - 1)


@dataclass
class Account:
    user_id: int
    telegram_id: int
    balance: int = 0
    free: int = FREE
    in_flight: set[str] = field(default_factory=set)


@dataclass
class Op:
    user_id: int
    free: bool
    refunded: bool = False


class ReservationMachine(RuleBasedStateMachine):
    database_url: str  # set by each test on a subclass
    operations = Bundle("operations")

    def __init__(self) -> None:
        super().__init__()
        # The machine is synchronous; the service runs on a loop of its own, one step at a time.
        self.loop = asyncio.new_event_loop()
        self.engine = create_engine(self.database_url)
        self.sessions = session_factory(self.engine)
        self.redis = redis_client(REDIS_TEST_URL)
        config = Settings.from_env({
            "DATABASE_URL": self.database_url, "FREE_OPERATIONS_COUNT": str(FREE),
            "MAX_JOBS_IN_FLIGHT": str(LIMIT), "PRICE_PER_OPERATION": str(PRICE // 100),
        }, env_file=None)
        self.billing = BillingService(self.sessions, config, BalanceCache(self.redis))
        self.run_id = uuid.uuid4().hex[:8]  # the database is shared by the examples of one test
        self.accounts: list[Account] = []
        for _ in range(USERS):
            info = self.run(self.billing.get_or_create_user(next(telegram_ids)))
            self.accounts.append(Account(info.user_id, info.telegram_id))
        self.ops: dict[str, Op] = {}
        self.credit_keys: set[str] = set()

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        # The books once per example, not after every step (they are the whole database's,
        # which grows with every example); a step that broke them still fails its example.
        try:
            assert self.run(check_ledger(self.sessions)) == []
        finally:
            self.run(self.redis.aclose())
            self.run(self.engine.dispose())
            self.loop.close()

    def account(self, user_id: int) -> Account:
        return next(a for a in self.accounts if a.user_id == user_id)

    # ---- the rules -----------------------------------------------------------------------------

    @rule(target=operations, user=user_index, kind=st.sampled_from(["generate", "edit", "upscale"]))
    def reserve(self, user: int, kind: str):  # type: ignore[no-untyped-def]
        a = self.accounts[user]
        result = self.run(self.billing.charge_operation(a.user_id, kind))
        if len(a.in_flight) >= LIMIT:
            assert result == TooManyInFlight(a.user_id, LIMIT, LIMIT)
            return multiple()
        if a.free == 0 and a.balance < PRICE:
            assert result == InsufficientFunds(a.user_id, a.balance, PRICE)
            return multiple()
        assert isinstance(result, Charged), result
        free = a.free > 0
        if free:
            a.free -= 1
        else:
            a.balance -= PRICE
        assert (result.user_id, result.operation_type, result.paid_with_free, result.price, result.balance,
                result.free_operations_left, result.replayed) == (
            a.user_id, kind, free, 0 if free else PRICE, a.balance, a.free, False)
        assert result.operation_id not in self.ops
        self.ops[result.operation_id] = Op(a.user_id, free)
        a.in_flight.add(result.operation_id)
        return result.operation_id

    @rule(operation_id=operations)
    def release(self, operation_id: str) -> None:
        op, a = self.ops[operation_id], self.account(self.ops[operation_id].user_id)
        result = self.run(self.billing.refund_operation(operation_id, reason="provider failed"))
        gives_back = not op.refunded  # a delivered operation may still be compensated, once
        if gives_back:
            op.refunded = True
            a.in_flight.discard(operation_id)
            if op.free:
                a.free += 1
            else:
                a.balance += PRICE
        assert (result.operation_id, result.user_id, result.refunded, result.amount, result.free_operation,
                result.balance) == (
            operation_id, a.user_id, gives_back, PRICE if gives_back and not op.free else 0,
            gives_back and op.free, a.balance)

    @rule(operation_id=operations)
    def settle(self, operation_id: str) -> None:
        a = self.account(self.ops[operation_id].user_id)
        in_flight = operation_id in a.in_flight
        assert self.run(self.billing.settle_operation(operation_id)) is in_flight
        a.in_flight.discard(operation_id)

    @rule(user=user_index, amount=st.integers(min_value=-2 * PRICE, max_value=3 * PRICE).filter(bool),
          key=st.integers(0, 4))
    def credit(self, user: int, amount: int, key: int) -> None:
        """A top-up, whose keys the users share (a key another user used is a duplicate too), or
        a chargeback, which may take the balance below zero and stop the paid charges."""
        a = self.accounts[user]
        if amount > 0:
            idempotency_key, kind = f"{self.run_id}-topup-{key}", LedgerKind.TOPUP
        else:
            idempotency_key, kind = f"{self.run_id}-cb-{uuid.uuid4().hex[:8]}", LedgerKind.CHARGEBACK
        result = self.run(self.billing.add_balance(a.user_id, amount, idempotency_key, kind=kind))
        credited = idempotency_key not in self.credit_keys
        if credited:
            self.credit_keys.add(idempotency_key)
            a.balance += amount
        assert result == CreditResult(a.user_id, credited, amount if credited else 0, a.balance, idempotency_key)

    @rule(what=st.sampled_from(["database", "user", "markers"]), user=user_index)
    def lose_redis(self, what: str, user: int) -> None:
        """FLUSHDB of the test database (never FLUSHALL); or every key of one user (account,
        in-flight set, pending steps, floor, markers); or only the user's operation and credit
        markers, whose 7-day TTL is shorter than the account's 30 days."""
        tag = redis_keys.user_keys(self.accounts[user].user_id).tag
        if what == "database":
            self.run(self.redis.flushdb())
        elif what == "user":
            self.run(self._delete(f"{tag}:*"))
        else:
            self.run(self._delete(f"{tag}:op:*"))
            self.run(self._delete(f"{tag}:cr:*"))

    async def _delete(self, pattern: str) -> None:
        found = [k async for k in self.redis.scan_iter(match=pattern)]
        if found:
            await self.redis.delete(*found)

    # ---- after every step ----------------------------------------------------------------------

    @invariant()
    def sql_and_redis_hold_the_model(self) -> None:
        self.run(self._check())

    async def _check(self) -> None:
        assert self.billing.cache is not None
        for a in self.accounts:
            async with self.sessions() as session:
                balance, free, _, in_flight = await tx.snapshot(session, a.user_id)
            assert (balance, free, set(in_flight)) == (a.balance, a.free, a.in_flight), a
            cached = await self.billing.cache.snapshot(a.user_id)
            if cached is not None:  # no step is pending between two steps of the machine
                assert (cached.balance, cached.free, cached.in_flight, cached.pending) == (
                    a.balance, a.free, a.in_flight, ()), (a, cached)


RUNS = settings(max_examples=15, stateful_step_count=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def test_reservations_follow_the_model_step_by_step(database_url: str) -> None:
    # A fresh database of each backend (conftest); Redis's test database emptied of other tests' users.
    client = sync_redis.Redis.from_url(REDIS_TEST_URL)
    client.flushdb()
    client.close()
    machine = type("ReservationMachineOn", (ReservationMachine,), {"database_url": database_url})
    run_state_machine_as_test(machine, settings=RUNS)
