"""The dashboard's figures against the ledger itself, on SQLite and PostgreSQL, for each period."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta

import httpx
import pytest
from sqlalchemy import update

from conftest import REDIS_TEST_URL
from dashboard.conftest import TOKEN, Books
from medialab.admin.dashboard import MONEY_IN, Period, figures
from medialab.billing.audit import check_and_record
from medialab.db.models import Balance, LedgerEntry, as_utc
from medialab.jobs.worker import check_books
from medialab.settings import Settings
from medialab.storage import Storage


def in_period(entry: LedgerEntry, since: datetime) -> bool:
    return as_utc(entry.created_at) >= since


@pytest.mark.parametrize("period", list(Period))
async def test_money_and_ledger_figures_add_up_to_the_ledger(books: Books, period: Period) -> None:
    now = datetime.now(UTC)
    shown = await figures(books.sessions, period, now)
    entries = await books.entries()

    by_provider: dict[str, int] = defaultdict(int)
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for entry, provider in entries:
        if not in_period(entry, shown.since):
            continue
        by_kind[entry.kind][0] += 1
        by_kind[entry.kind][1] += entry.amount
        if entry.kind in MONEY_IN:
            by_provider[provider or "none"] += entry.amount
    assert {p.provider: p.net for p in shown.money_in} == by_provider
    assert {k.kind: [k.entries, k.amount] for k in shown.ledger} == by_kind
    assert shown.net_in == sum(by_provider.values())

    chart_start = datetime.combine(shown.daily[0][0], time.min, UTC)
    days: dict[str, int] = defaultdict(int)
    for entry, _ in entries:
        if entry.kind in MONEY_IN and in_period(entry, chart_start):
            days[as_utc(entry.created_at).date().isoformat()] += entry.amount
    assert {day.isoformat(): amount for day, amount in shown.daily if amount} == days
    assert len(shown.daily) == max(period.days, 7) and shown.daily[-1][0] == now.date()


async def test_the_figures_of_each_period(books: Books) -> None:
    now = datetime.now(UTC)
    today, week, month = [await figures(books.sessions, period, now) for period in Period]

    assert [(p.provider, p.topups, p.topped_up, p.charged_back, p.net) for p in today.money_in] == [
        ("telegram_stars", 1, 15_000, 0, 15_000), ("yookassa", 1, 30_000, 5_000, 25_000)]
    assert [(o.type, o.count, o.free, o.charged, o.refunded, o.finished, o.failed) for o in today.operations] == [
        ("edit", 1, 0, 1_000, 1_000, 1, 1), ("generate", 5, 4, 1_000, 0, 5, 0)]
    assert today.jobs_failed_rate == pytest.approx(1 / 6)
    assert [(k.kind, k.entries, k.amount) for k in today.credits] == [("grant", 1, 2_050)]
    assert (today.users.new, today.users.paying, today.users.new_paying) == (3, 2, 2)
    assert today.users.conversion == pytest.approx(2 / 3)

    assert (week.users.new, week.users.paying, week.users.new_paying) == (4, 3, 3)
    assert week.net_in == 40_000 + 25_000
    assert (month.users.new, month.users.paying) == (5, 4)
    assert month.net_in == 40_000 + 25_000 + 70_000
    # What users hold does not depend on the period: every balance now.
    assert today.balances == week.balances == month.balances
    assert (month.balances.held, month.balances.holders, month.balances.owed) == (
        24_000 + 17_050 + 25_000 + 70_000 + 9_900, 5, 0)


async def test_the_last_check_of_the_books_is_shown(books: Books) -> None:
    assert (await figures(books.sessions, Period.TODAY)).check is None
    before = datetime.now(UTC) - timedelta(seconds=1)
    assert await check_and_record(books.sessions) == []
    check = (await figures(books.sessions, Period.TODAY)).check
    assert check is not None and check.drifts == 0 and as_utc(check.checked_at) >= before


async def test_a_drift_the_workers_check_finds_is_on_the_dashboard(books: Books, settings: Settings,
                                                                   dashboard_url: str) -> None:
    async with books.sessions.begin() as session:  # a balance that no longer equals its ledger
        await session.execute(update(Balance).where(Balance.user_id == 1).values(balance=1))
    storage = await Storage.open(settings.with_overrides(redis={"url": REDIS_TEST_URL}))
    try:
        assert await check_books({"sessions": storage.sessions}) == {"drifts": 2}
    finally:
        await storage.close()
    check = (await figures(books.sessions, Period.TODAY)).check
    assert check is not None and check.drifts == 2
    assert check.detail == ("ledger drift: user 1 (telegram 111) balance != sum of ledger entries: expected 24000, found 1\n"
                            "ledger drift: user 1 (telegram 111) balance != last entry's balance_after: expected 24000, "
                            "found 1")
    async with httpx.AsyncClient(base_url=dashboard_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        page = (await http.get("/admin")).text
    assert '<div class="value bad" data-figure="drift">drift: 2</div>' in page
