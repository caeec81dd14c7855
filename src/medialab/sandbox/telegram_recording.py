"""Every call the bot made, in order, for tests to read and to wait on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Calls whose text ends up in the chat, in the order the user sees it.
TEXT_METHODS = ("sendMessage", "editMessageText")


@dataclass(frozen=True)
class RecordedCall:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict, repr=False)
    time: float = field(default_factory=time.time)
    # None when the call succeeded, else the error code it was answered with (403, 429, ...).
    error_code: int | None = None

    @property
    def ok(self) -> bool:
        return self.error_code is None

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")


CallPredicate = Callable[[RecordedCall], bool]


class CallLog:
    def __init__(self) -> None:
        self._calls: list[RecordedCall] = []
        # One future per waiting test, created in the waiter's own loop: unlike a Condition
        # made up front, it never ties the log to the loop that happened to exist at creation.
        self._waiters: list[tuple[CallPredicate, asyncio.Future[RecordedCall]]] = []

    def record(self, call: RecordedCall) -> None:
        self._calls.append(call)
        for matches, future in list(self._waiters):
            if not future.done() and matches(call):
                future.set_result(call)

    def calls(self, method: str | None = None, chat_id: int | None = None) -> list[RecordedCall]:
        return [
            call
            for call in self._calls
            if (method is None or call.method == method)
            and (chat_id is None or call.chat_id == chat_id)
        ]

    def texts(self, chat_id: int) -> list[str]:
        """What the bot wrote to a chat: the texts of its successful sends and edits, in order."""
        return [
            call.params["text"]
            for call in self.calls(chat_id=chat_id)
            if call.method in TEXT_METHODS and call.ok
        ]

    def checkpoint(self) -> int:
        """A position in the log; wait_for(after=...) then looks only at later calls."""
        return len(self._calls)

    async def wait_for(
        self,
        method: str,
        predicate: CallPredicate | None = None,
        timeout: float = 5.0,
        after: int = 0,
    ) -> RecordedCall:
        """The first call of this method (from position `after`) that satisfies predicate,
        whether it has already been made or arrives within timeout seconds."""

        def matches(call: RecordedCall) -> bool:
            return call.method == method and (predicate is None or predicate(call))

        for call in self._calls[after:]:
            if matches(call):
                return call
        future: asyncio.Future[RecordedCall] = asyncio.get_running_loop().create_future()
        waiter = (matches, future)
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            made = ", ".join(call.method for call in self._calls[after:]) or "none"
            raise TimeoutError(
                f"no matching {method} call within {timeout} s; calls made: {made}"
            ) from None
        finally:
            self._waiters.remove(waiter)
