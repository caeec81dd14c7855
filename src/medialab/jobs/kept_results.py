"""Results kept for users who could not be sent them, and their delivery when they come back.

A user who blocked the bot (or whose chat is gone) while their image was made keeps the result,
not the money: the provider was paid and nothing of ours failed. The job settles the operation
and stores the image in SQL (`kept_results`) in the same commit; the next time the user writes
to the bot, the image is sent and its row deleted.

Exactly once under concurrent updates: a delivery first claims the user's rows with one guarded
UPDATE (`claimed_until`, a lease), so two updates at once never hold the same row; a send that
fails again lets the row go for the next message. A process that dies mid-send holds its rows
until the lease ends: the image may then be sent a second time, never lost.

Which users have results waiting is a Redis set, so an update of anyone else costs one batched
SISMEMBER and no SQL. The set is only a hint: SQL holds the results, and the sweeper (every
minute) puts back the users of every row, so a flushed Redis delays a delivery, never loses it.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, or_, select, update

from medialab.billing.transactions import HOLDING_STATUSES
from medialab.db.models import KeptResult, Operation
from medialab.db.redis_keys import KEPT_RESULTS_WAITING
from medialab.db.redis_pipelining import auto_pipeline
from medialab.jobs.job_state import Sessions, utcnow
from medialab.jobs.providers import ImageResult
from medialab.jobs.requests import GenerationRequest
from medialab.metrics import KEPT_RESULTS

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from medialab.jobs.clients import JobClients

log = logging.getLogger(__name__)

# How long a delivery may hold a user's rows; longer than a delivery's deadline.
CLAIM_SECONDS = 120
DELIVERY_DEADLINE_SECONDS = 60


async def keep(clients: JobClients, request: GenerationRequest, image: ImageResult) -> bool:
    """Settles the operation with its result kept; False when it was no longer in flight
    (compensated meanwhile) and nothing was kept."""
    row = KeptResult(operation_id=request.operation_id, telegram_id=request.telegram_id,
                     language=request.language, content_type=image.content_type, width=image.width,
                     height=image.height, data=image.data)
    if not await clients.billing.settle_operation(request.operation_id, keep=row):
        return False
    KEPT_RESULTS.labels(event="kept").inc()
    log.info("operation %s: user %s cannot be sent the result now; kept for their next message",
             request.operation_id, request.telegram_id)
    await _mark_waiting(clients.redis, [request.telegram_id])
    return True


async def is_waiting(redis: Redis, telegram_id: int) -> bool:
    """The hint on the path of every update: batched with the other updates' Redis calls."""
    return bool(await auto_pipeline(redis).execute("SISMEMBER", KEPT_RESULTS_WAITING, telegram_id))


async def deliver_kept(clients: JobClients, telegram_id: int) -> int:
    """Sends the user what was kept for them; the number sent."""
    # Cleared before the claim: a result kept after it marks the user again, so it is not missed.
    await clients.redis.srem(KEPT_RESULTS_WAITING, telegram_id)
    sent = 0
    for row in await _claim(clients.sessions, telegram_id):
        image = ImageResult(row.data, row.content_type, row.width, row.height)
        try:
            delivered = await clients.notifier.result_ready(
                telegram_id, row.language, image.data, image.filename, image.width, image.height)
        except Exception as exc:  # Telegram down, a refusal: the next message tries again
            log.warning("kept result %s not delivered to %s: %s", row.operation_id, telegram_id, exc)
            delivered = False
        if not delivered:
            await _let_go(clients, row)
            continue
        async with clients.sessions.begin() as session:
            await session.execute(delete(KeptResult).where(KeptResult.operation_id == row.operation_id))
        KEPT_RESULTS.labels(event="delivered").inc()
        log.info("kept result %s delivered to %s", row.operation_id, telegram_id)
        sent += 1
    return sent


async def mark_all_waiting(clients: JobClients) -> int:
    """Puts every user with a kept result back into the Redis hint (after a flush, or a
    delivery that died between clearing it and sending); the number of users."""
    async with clients.sessions() as session:
        users = list((await session.execute(select(KeptResult.telegram_id).distinct())).scalars())
    await _mark_waiting(clients.redis, users)
    return len(users)


async def _claim(sessions: Sessions, telegram_id: int) -> list[KeptResult]:
    now = utcnow()
    # A result whose operation an operator refunded since is not sent: it was given back.
    still_paid_for = select(Operation.id).where(Operation.status.in_(HOLDING_STATUSES))
    async with sessions.begin() as session:
        rows = (await session.execute(
            update(KeptResult)
            .where(KeptResult.telegram_id == telegram_id,
                   or_(KeptResult.claimed_until.is_(None), KeptResult.claimed_until < now),
                   KeptResult.operation_id.in_(still_paid_for))
            .values(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
            .returning(KeptResult)
        )).scalars().all()
    return sorted(rows, key=lambda row: row.created_at)


async def _let_go(clients: JobClients, row: KeptResult) -> None:
    async with clients.sessions.begin() as session:
        await session.execute(
            update(KeptResult).where(KeptResult.operation_id == row.operation_id).values(claimed_until=None))
    await _mark_waiting(clients.redis, [row.telegram_id])


async def _mark_waiting(redis: Redis, telegram_ids: list[int]) -> None:
    if not telegram_ids:
        return
    try:
        await redis.sadd(KEPT_RESULTS_WAITING, *telegram_ids)
    except Exception as exc:  # the row is kept in SQL; the sweeper marks the user again
        log.warning("could not mark %d user(s) as having kept results: %s", len(telegram_ids), exc)
