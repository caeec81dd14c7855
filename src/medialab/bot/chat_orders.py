"""Operations from the chat: their ids, the photos they take, what a mode's handler asks for and
what the user is told once the job is queued.

A handler registered with the billing flag answers a `ChatOrder` (what to make, and the mode's
next step once it is started); the flag's middleware (bot/middlewares/billing.py) starts it
through the one use case, jobs/start_operation.py.

An operation id is derived from the Telegram message (or button press) that asked for it, so a
webhook update that Telegram delivers twice charges once and queues one job.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiogram.types import CallbackQuery, Message, PhotoSize

from medialab.billing.results import Charged, UserInfo
from medialab.bot.texts import Texts
from medialab.domain.money import format_rub
from medialab.domain.operations import OperationType
from medialab.jobs.start_operation import Order

OPERATION_NAMESPACE = uuid.UUID("6c0f3a52-51e4-4f0e-9d59-2f4f1d7e8a10")


@dataclass(frozen=True)
class ChatOrder(Order):
    # The mode's next step, taken only once the job is queued (a refused order keeps the
    # conversation as it was): forget the photos used, wait for the next face.
    then: Callable[[], Awaitable[object]] | None = None


def operation_id_for(event: Message | CallbackQuery, bot_id: int) -> str:
    if isinstance(event, CallbackQuery):
        source = f"{bot_id}:callback:{event.id}"
    else:
        source = f"{bot_id}:message:{event.chat.id}:{event.message_id}"
    return uuid.uuid5(OPERATION_NAMESPACE, source).hex


def largest_photo(sizes: Sequence[PhotoSize]) -> str:
    """The full-size file of a photo (Telegram lists the sizes smallest first, but say so)."""
    return max(sizes, key=lambda size: size.width * size.height).file_id


def started_text(texts: Texts, charge: Charged, user: UserInfo) -> str:
    """The "working on it" message, with what the operation cost. `user`'s balance may be older
    than the charge (bot/known_users.py): only its free operations' total is read."""
    if not OperationType(charge.operation_type).billable:
        cost = texts("operation-free-type")
    elif charge.paid_with_free:
        cost = texts("operation-paid-free", left=charge.free_operations_left, total=user.free_operations_total)
    else:
        cost = "\n".join((texts("operation-paid-money", price=format_rub(charge.price)),
                          texts("balance-line", balance=format_rub(charge.balance))))
    return f"{texts('operation-started')}\n{cost}"
