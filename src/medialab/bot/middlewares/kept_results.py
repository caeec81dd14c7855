"""A user who comes back gets the results kept for them while they had blocked the bot.

Any message or button press of theirs starts the delivery (jobs/kept_results.py) beside the
update, never in its way: the update is handled as usual whether the delivery works, fails again
or hangs. Anyone else pays one Redis SISMEMBER, batched with the other updates' Redis calls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject
from redis.exceptions import RedisError

from medialab.jobs.clients import JobClients
from medialab.jobs.kept_results import DELIVERY_DEADLINE_SECONDS, deliver_kept, is_waiting

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class DeliverKeptResults(BaseMiddleware):
    def __init__(self) -> None:
        # Held until done: the event loop keeps only weak references to tasks.
        self._deliveries: set[asyncio.Task[None]] = set()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        sender = getattr(event, "from_user", None)
        jobs: JobClients = data["jobs"]
        if sender is not None and await _waiting(jobs, sender.id):
            delivery = asyncio.create_task(_deliver(jobs, sender.id))
            self._deliveries.add(delivery)
            delivery.add_done_callback(self._deliveries.discard)
        return await handler(event, data)


async def _waiting(jobs: JobClients, telegram_id: int) -> bool:
    try:
        return await is_waiting(jobs.redis, telegram_id)
    except RedisError as exc:  # the results stay kept; a later message finds them
        log.warning("could not ask Redis whether user %s has kept results: %s", telegram_id, exc)
        return False


async def _deliver(jobs: JobClients, telegram_id: int) -> None:
    try:
        async with asyncio.timeout(DELIVERY_DEADLINE_SECONDS):
            await deliver_kept(jobs, telegram_id)
    except Exception:
        # Rows a failed delivery still holds are let go when their claim ends.
        log.exception("delivery of kept results to %s failed", telegram_id)
