"""Which billing user a Telegram user is, remembered by the web process.

Every paid update needs the user's id for the charge; asking SQL for it each time was one more
round trip on the hot path (the charge itself reads the balance from Redis and SQL anyway). A
user's ids never change and users are never deleted, so the first answer holds for the life of
the process. The balance and free operations in the remembered UserInfo are as of that first
answer: read the charge's result for the current ones, never these.
"""

from __future__ import annotations

from collections import OrderedDict

from medialab.billing.results import UserInfo
from medialab.billing.service import BillingService

# About 100 bytes each: a busy bot's active users fit; the least recent are forgotten first.
MAX_REMEMBERED = 100_000


class KnownUsers:
    def __init__(self, limit: int = MAX_REMEMBERED) -> None:
        self._limit = limit
        self._users: OrderedDict[int, UserInfo] = OrderedDict()

    async def identify(self, billing: BillingService, telegram_id: int, language: str) -> UserInfo:
        """The user's ids (created in billing on first contact, as get_or_create_user does)."""
        user = self._users.get(telegram_id)
        if user is not None:
            self._users.move_to_end(telegram_id)
            return user
        user = await billing.get_or_create_user(telegram_id, language)
        self._users[telegram_id] = user
        if len(self._users) > self._limit:
            self._users.popitem(last=False)
        return user
