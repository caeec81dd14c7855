"""getUpdates, as Telegram answers a bot that polls instead of taking a webhook.

Updates wait in a queue until a getUpdates with a higher `offset` confirms them; a call with a
`timeout` waits that many seconds for the first one (long polling); `allowed_updates` given in
a call holds for the calls after it. As on Telegram, getUpdates is refused while a webhook is
set (409), and a second getUpdates ends the one still waiting (409 "terminated by other
getUpdates request"), so two processes polling one bot show up at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from medialab.sandbox.telegram_wire import BotApiError, MethodCall, bad_request

MAX_LIMIT = 100
# Telegram answers a long poll after 50 s at most, whatever timeout was asked for.
MAX_TIMEOUT_SECONDS = 50


def conflict(reason: str) -> BotApiError:
    return BotApiError(409, f"Conflict: {reason}")


class UpdateQueue:
    """The updates Telegram keeps for a bot without a webhook, oldest first."""

    def __init__(self) -> None:
        self.pending: list[dict[str, Any]] = []
        # What the bot's last getUpdates asked for; empty: every type but a few (as Telegram).
        self.allowed_updates: list[str] = []
        self._arrivals: list[asyncio.Future[None]] = []
        self._polls = 0

    @property
    def polls_waiting(self) -> int:
        """Long polls waiting for an update now."""
        return len(self._arrivals)

    def put(self, update: dict[str, Any]) -> None:
        update_type = next(key for key in update if key != "update_id")
        if self.allowed_updates and update_type not in self.allowed_updates:
            # Telegram would never keep it, so a test must not offer it either.
            raise ValueError(f"{update_type} is not among the allowed_updates the bot polls for")
        self.pending.append(update)
        self._wake()

    def drop_pending(self) -> None:
        """deleteWebhook or setWebhook with drop_pending_updates."""
        self.pending.clear()

    def confirm(self, offset: int) -> None:
        """An offset confirms every update below it; a negative one keeps only the last -offset."""
        if offset > 0:
            self.pending = [u for u in self.pending if u["update_id"] >= offset]
        elif offset < 0:
            self.pending = self.pending[offset:]

    def _wake(self) -> None:
        for arrival in self._arrivals:
            if not arrival.done():
                arrival.set_result(None)
        self._arrivals.clear()

    async def get_updates(self, webhook_set: bool, call: MethodCall) -> list[dict[str, Any]]:
        if webhook_set:
            raise conflict("can't use getUpdates method while webhook is active; use deleteWebhook to delete "
                           "the webhook first")
        offset, limit, timeout = (_integer(call.params, name, default) for name, default in
                                  (("offset", 0), ("limit", MAX_LIMIT), ("timeout", 0)))
        allowed = call.params.get("allowed_updates")
        if isinstance(allowed, list):
            self.allowed_updates = [str(kind) for kind in allowed]
        self.confirm(offset)
        self._polls += 1
        this_poll = self._polls
        self._wake()  # the poll waiting before this one ends, with the conflict below
        if not self.pending and timeout > 0:
            arrival: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._arrivals.append(arrival)
            try:
                await asyncio.wait_for(arrival, min(timeout, MAX_TIMEOUT_SECONDS))
            except TimeoutError:
                pass
            finally:
                if arrival in self._arrivals:
                    self._arrivals.remove(arrival)
        if this_poll != self._polls:
            raise conflict("terminated by other getUpdates request; make sure that only one bot instance is running")
        return self.pending[:min(max(limit, 1), MAX_LIMIT)]


def _integer(params: dict[str, Any], name: str, default: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"can't parse {name}")
    return value
