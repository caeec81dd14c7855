"""The ledger for an accountant: every entry of some days as CSV (amounts in rubles), streamed in
batches, so a year of entries never sits in memory. `GET /admin/ledger.csv` and `medialab admin
export` both write this; neither needs the web framework to make it."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.admin.arguments import AdminError
from medialab.db.models import LedgerEntry, Payment, User, as_utc
from medialab.domain.money import amount_value

HEADER = ("entry_id", "time_utc", "telegram_id", "kind", "amount_rub", "balance_after_rub", "idempotency_key",
          "provider", "operation_id", "actor", "reason")
BATCH = 2_000
MAX_DAYS = 3_660
# A spreadsheet runs a cell that starts with one of these as a formula: text we did not write
# (a reason, a key) gets a leading apostrophe instead.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def days(start: str, end: str) -> tuple[datetime, datetime]:
    """`--from`/`--to` (both days included, YYYY-MM-DD, UTC) to [start, end) moments."""
    first, last = _day("from", start), _day("to", end)
    if last < first:
        raise AdminError(f"'to' ({last}) is before 'from' ({first})")
    if (last - first).days >= MAX_DAYS:
        raise AdminError(f"at most {MAX_DAYS} days at once")
    return (datetime.combine(first, time.min, UTC), datetime.combine(last + timedelta(days=1), time.min, UTC))


def _day(name: str, text: str) -> date:
    cleaned = text.strip()
    try:
        if len(cleaned) != 10:
            raise ValueError
        return date.fromisoformat(cleaned)
    except ValueError:
        raise AdminError(f"'{name}' must be a day as YYYY-MM-DD, got {text[:40]!r}") from None


def filename(start: datetime, end: datetime) -> str:
    return f"ledger-{start.date()}-{(end - timedelta(days=1)).date()}.csv"


async def csv_chunks(sessions: async_sessionmaker[AsyncSession], start: datetime, end: datetime) -> AsyncIterator[str]:
    """The header, then the entries of [start, end) oldest first, a batch of rows a chunk."""
    yield _lines([HEADER])
    query = (select(LedgerEntry, User.telegram_id, Payment.provider)
             .join(User, User.id == LedgerEntry.user_id)
             .outerjoin(Payment, Payment.id == LedgerEntry.payment_id)
             .where(LedgerEntry.created_at >= start, LedgerEntry.created_at < end)
             .order_by(LedgerEntry.id)
             .execution_options(yield_per=BATCH))
    async with sessions() as session:
        result = await session.stream(query)
        async for batch in result.partitions():
            yield _lines([_row(entry, telegram_id, provider) for entry, telegram_id, provider in batch])


def _row(entry: LedgerEntry, telegram_id: int, provider: str | None) -> tuple[Any, ...]:
    return (entry.id, as_utc(entry.created_at).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"), telegram_id, entry.kind,
            amount_value(entry.amount), amount_value(entry.balance_after), _text(entry.idempotency_key),
            provider or "", entry.operation_id or "", _text(entry.actor), _text(entry.reason))


def _text(value: str | None) -> str:
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _lines(rows: Sequence[Sequence[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()
