"""Long polling: the bot takes its updates with getUpdates instead of a webhook (`medialab run
--polling`, for a real bot token on a machine Telegram cannot reach).

The updates go through the same UpdateRunner as the webhook's (the same dispatcher and
middlewares, the same limit of updates in hand, a chat's updates one at a time and in order),
and the same rule holds: an update is acknowledged only once it has been handled. With polling,
Telegram's acknowledgement is the next getUpdates' offset, so the offset moves past an update
only when it and every update before it were handled; one that failed (the database away) comes
again with the next poll, after a pause. (aiogram's own `start_polling` moves the offset as soon
as it has read an update, and handles a batch as unordered tasks.) A reply that the webhook would
carry in its answer is sent as a call.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError
from aiogram.methods import GetUpdates
from aiogram.types import Update

from medialab.bot.updates import UpdateFailed, UpdateRunner

log = logging.getLogger(__name__)

# How long Telegram holds a poll open when no update comes (aiogram's default too).
POLL_SECONDS = 10
# After a failed poll or update: the first pause, doubled each time up to the last.
FIRST_PAUSE_SECONDS = 1.0
LONGEST_PAUSE_SECONDS = 30.0


class UpdatePolling:
    def __init__(self, runner: UpdateRunner, allowed_updates: list[str], call_timeout: float) -> None:
        self.runner = runner
        self.allowed_updates = allowed_updates
        # A poll's HTTP deadline: the time Telegram may hold it, and a Bot API call's own.
        self.request_timeout = int(POLL_SECONDS + call_timeout)
        self._offset: int | None = None
        self._confirmed: int | None = None
        self._stopping = asyncio.Event()
        self._fetch: asyncio.Task[list[Update]] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        """Takes no more updates, lets the batch in hand finish, then tells Telegram which
        updates were handled (else it would deliver them again at the next start)."""
        self._stopping.set()
        if self._fetch is not None:
            self._fetch.cancel()
        if self._task is not None:
            await self._task
        if self._offset != self._confirmed:
            with suppress(TelegramAPIError, TimeoutError):
                await self.runner.bot(GetUpdates(offset=self._offset, limit=1, timeout=0),
                                      request_timeout=self.request_timeout)

    async def _poll(self) -> None:
        pause = FIRST_PAUSE_SECONDS
        while not self._stopping.is_set():
            updates = await self._next_updates()
            if updates is None:  # the poll failed (logged), or stop() ended it
                await self._pause(pause)
                pause = min(2 * pause, LONGEST_PAUSE_SECONDS)
                continue
            if await self._handle(updates):
                pause = FIRST_PAUSE_SECONDS
            else:
                await self._pause(pause)  # before the failed update comes again
                pause = min(2 * pause, LONGEST_PAUSE_SECONDS)

    async def _next_updates(self) -> list[Update] | None:
        poll = GetUpdates(offset=self._offset, timeout=POLL_SECONDS, allowed_updates=self.allowed_updates)
        self._fetch = asyncio.create_task(self.runner.bot(poll, request_timeout=self.request_timeout))
        try:
            updates = await self._fetch
        except asyncio.CancelledError:
            if self._stopping.is_set():
                return None
            raise
        except TelegramUnauthorizedError:
            log.error("Telegram no longer takes the bot token (TELEGRAM_BOT_TOKEN): polling stops")
            self._stopping.set()
            return None
        except (TelegramAPIError, TimeoutError) as exc:
            log.warning("getUpdates failed, polling again soon: %s", getattr(exc, "message", None) or repr(exc))
            return None
        finally:
            self._fetch = None
        self._confirmed = self._offset
        return updates

    async def _handle(self, updates: list[Update]) -> bool:
        """Handles a batch (each chat's updates in order, chats side by side); moves the offset
        past the handled ones that come before the first failure. False if one failed."""
        handled = await asyncio.gather(*(self._handle_one(update) for update in updates))
        for update, ok in zip(updates, handled, strict=True):
            if not ok:
                return False
            self._offset = update.update_id + 1
        return True

    async def _handle_one(self, update: Update) -> bool:
        try:
            reply = await self.runner.handle(update)
        except UpdateFailed:
            return False  # logged by the runner; the update comes again
        if reply is not None:
            await self.runner.send_reply(update, reply)
        return True

    async def _pause(self, seconds: float) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
