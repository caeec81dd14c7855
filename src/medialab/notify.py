"""The port through which payments and jobs tell a user something outside a conversation.

Payments and jobs sit below the bot (domain <- billing <- payments / jobs <- bot / web / cli):
they call a `Notifier` and never import the bot. `bot/notifier.py` implements it for Telegram
(and logs instead when there is no token); the composition root of each process (services.py,
used by web/app.py and worker_app.py) chooses which one and hands it in.
"""

from __future__ import annotations

from typing import Protocol

from medialab.billing.results import RefundResult


class NotDelivered(Exception):
    """The messenger could not be reached or failed; trying again later may work."""


class Notifier(Protocol):
    """Each answers True when the message was taken, False when the user cannot be reached (blocked
    the bot, chat gone): not an error of ours, and not worth trying again."""

    async def topup_credited(self, telegram_id: int, language: str, amount: int, balance: int) -> bool: ...

    async def operation_refunded(self, telegram_id: int, language: str, refund: RefundResult) -> bool: ...

    async def referral_bonus(self, telegram_id: int, language: str, amount: int, balance: int) -> bool: ...

    async def result_ready(
        self, telegram_id: int, language: str, image: bytes, filename: str, width: int, height: int
    ) -> bool: ...
