"""Property-based: random sequences of charges, refunds and credits keep the ledger invariant
and agree with a plain model of the rules."""

from __future__ import annotations

import asyncio
import itertools
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medialab.billing.audit import check_ledger
from medialab.billing.results import Charged, InsufficientFunds
from medialab.billing.service import BillingService
from medialab.db.engine import create_engine, session_factory
from medialab.settings import Settings

PRICE = 1000
FREE = 4
telegram_ids = itertools.count(10_000)

step = st.one_of(
    st.tuples(st.just("charge"), st.sampled_from(["generate", "edit", "upscale"])),
    st.tuples(st.just("refund"), st.integers(min_value=0, max_value=30)),
    st.tuples(st.just("credit"), st.integers(min_value=1, max_value=5000), st.integers(min_value=0, max_value=5)),
)


async def play(database_url: str, steps: list[tuple]) -> None:
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    billing = BillingService(sessions, Settings.from_env({"DATABASE_URL": database_url}, env_file=None))
    try:
        user = await billing.get_or_create_user(next(telegram_ids))
        balance, free_left = 0, FREE
        taken: list[tuple[str, bool]] = []  # (operation id, was free)
        refunded: set[str] = set()
        keys_used: set[str] = set()
        for action, *args in steps:
            if action == "charge":
                result = await billing.charge_operation(user.user_id, args[0])
                if free_left:
                    assert isinstance(result, Charged) and result.paid_with_free
                    free_left -= 1
                    taken.append((result.operation_id, True))
                elif balance >= PRICE:
                    assert isinstance(result, Charged) and not result.paid_with_free
                    balance -= PRICE
                    taken.append((result.operation_id, False))
                else:
                    assert result == InsufficientFunds(user.user_id, balance, PRICE)
            elif action == "refund" and taken:
                op_id, was_free = taken[args[0] % len(taken)]
                result = await billing.refund_operation(op_id)
                assert result.refunded == (op_id not in refunded)
                if result.refunded:
                    refunded.add(op_id)
                    if was_free:
                        free_left += 1
                    else:
                        balance += PRICE
            elif action == "credit":
                key = f"{user.user_id}-credit-{args[1]}"
                result = await billing.add_balance(user.user_id, args[0], key)
                assert result.credited == (key not in keys_used)
                if result.credited:
                    keys_used.add(key)
                    balance += args[0]
        info = await billing.get_user_info(user.telegram_id)
        assert info is not None
        assert (info.balance, info.free_operations_left) == (balance, free_left)
        assert await check_ledger(sessions, user.user_id) == []
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One migrated database for all of a test's examples; each example is a fresh user."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_migrated")
    path = tmp_path / "properties.db"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite+aiosqlite:///{path}"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=25))
def test_random_sequences_keep_the_books(shared_database_url: str, steps: list[tuple]) -> None:
    asyncio.run(play(shared_database_url, steps))
