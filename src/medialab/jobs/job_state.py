"""Where an operation's generation job is (queued, running, delivered, failed), in SQL.

Only job bookkeeping lives here, never money: balances and free operations move through the
billing service. Every change is one guarded UPDATE, so a job, a second run of the same job and
the sweeper can race without two of them finishing the same operation: the one whose UPDATE
matched goes on, the others see that it was taken.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing.transactions import HOLDING_STATUSES, IN_FLIGHT_STATES
from medialab.db.models import Operation, User, as_utc
from medialab.domain.operations import JobState

Sessions = async_sessionmaker[AsyncSession]
# An error is for operators and the user's history, not a dump: keep it readable.
ERROR_MAX_CHARS = 500


class Attempt(NamedTuple):
    started_at: datetime  # of the first attempt: JOB_TIMEOUT counts from there
    attempts: int


class Recipient(NamedTuple):
    telegram_id: int
    language: str


def utcnow() -> datetime:
    return datetime.now(UTC)


def _holding_and_in_flight(operation_id: str):  # type: ignore[no-untyped-def]
    return and_(Operation.id == operation_id, Operation.job_state.in_(IN_FLIGHT_STATES),
                Operation.status.in_(HOLDING_STATUSES))


async def start_attempt(sessions: Sessions, operation_id: str, now: datetime | None = None) -> Attempt | None:
    """Marks the job running and counts the attempt; None when the operation is finished
    (delivered, compensated, refunded by an operator) or unknown: nothing to run then."""
    async with sessions.begin() as session:
        row = (await session.execute(
            update(Operation)
            .where(_holding_and_in_flight(operation_id))
            .values(job_state=JobState.RUNNING.value, attempts=Operation.attempts + 1,
                    started_at=func.coalesce(Operation.started_at, now or utcnow()))
            .returning(Operation.started_at, Operation.attempts)
        )).first()
    return None if row is None else Attempt(as_utc(row.started_at), row.attempts)


async def is_running(sessions: Sessions, operation_id: str) -> bool:
    """Still ours to deliver: not compensated (by the sweeper, say) while the image was made."""
    async with sessions() as session:
        state = (await session.execute(
            select(Operation.job_state).where(_holding_and_in_flight(operation_id))
        )).scalar_one_or_none()
    return state is not None


async def claim_failure(sessions: Sessions, operation_id: str, error: str, now: datetime | None = None) -> bool:
    """Takes an unfinished operation out of flight as failed, before its compensation.

    True for exactly one caller. Delivery (billing's settle) matches the same in-flight states,
    so an operation is either settled or claimed here, never both.
    """
    async with sessions.begin() as session:
        claimed = (await session.execute(
            update(Operation)
            .where(_holding_and_in_flight(operation_id))
            .values(job_state=JobState.FAILED.value, error=error[:ERROR_MAX_CHARS],
                    finished_at=now or utcnow())
            .returning(Operation.id)
        )).scalar_one_or_none()
    return claimed is not None


async def claimed_but_not_refunded(sessions: Sessions, limit: int = 100) -> list[str]:
    """Operations failed by `claim_failure` whose refund never happened (the process died
    between the two): the sweeper finishes them."""
    async with sessions() as session:
        return list((await session.execute(
            select(Operation.id)
            .where(Operation.job_state == JobState.FAILED.value,
                   Operation.status.in_(HOLDING_STATUSES))
            .order_by(Operation.created_at).limit(limit)
        )).scalars())


async def stuck_since(sessions: Sessions, cutoff: datetime, limit: int = 100) -> list[str]:
    """Operations in flight whose job should have ended before `cutoff`: queued ones created
    before it, running ones started before it."""
    async with sessions() as session:
        return list((await session.execute(
            select(Operation.id)
            .where(
                Operation.status.in_(HOLDING_STATUSES),
                or_(
                    and_(Operation.job_state == JobState.QUEUED.value, Operation.created_at < cutoff),
                    and_(Operation.job_state == JobState.RUNNING.value,
                         func.coalesce(Operation.started_at, Operation.created_at) < cutoff),
                ),
            )
            .order_by(Operation.created_at).limit(limit)
        )).scalars())


async def recipient_of(sessions: Sessions, operation_id: str) -> Recipient | None:
    async with sessions() as session:
        row = (await session.execute(
            select(User.telegram_id, User.language)
            .join(Operation, Operation.user_id == User.id)
            .where(Operation.id == operation_id)
        )).first()
    return None if row is None else Recipient(row.telegram_id, row.language)
