"""Starting an operation from the chat: its id, the photos it takes, the job it queues and what
the user is told.

An operation id is derived from the Telegram message (or button press) that asked for it, so a
webhook update that Telegram delivers twice charges once and queues one job.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, Message, PhotoSize

from medialab.billing.results import Charged, UserInfo
from medialab.bot.texts import Texts
from medialab.bot.views import answer
from medialab.domain.money import format_rub
from medialab.domain.operations import OperationType
from medialab.jobs.requests import GenerationRequest, enqueue_generation
from medialab.services import Services

log = logging.getLogger(__name__)

OPERATION_NAMESPACE = uuid.UUID("6c0f3a52-51e4-4f0e-9d59-2f4f1d7e8a10")


@dataclass(frozen=True)
class Ticket:
    """What an operation starts with: its id, its user and its charge (at price 0 for add_text)."""

    operation_id: str
    # The user's ids; its balance may be older than the charge (bot/known_users.py).
    user: UserInfo
    charge: Charged


def operation_id_for(event: Message | CallbackQuery, bot_id: int) -> str:
    if isinstance(event, CallbackQuery):
        source = f"{bot_id}:callback:{event.id}"
    else:
        source = f"{bot_id}:message:{event.chat.id}:{event.message_id}"
    return uuid.uuid5(OPERATION_NAMESPACE, source).hex


def largest_photo(sizes: Sequence[PhotoSize]) -> str:
    """The full-size file of a photo (Telegram lists the sizes smallest first, but say so)."""
    return max(sizes, key=lambda size: size.width * size.height).file_id


async def launch(
    event: Message | CallbackQuery,
    services: Services,
    texts: Texts,
    language: str,
    ticket: Ticket,
    operation: OperationType,
    prompt: str | None = None,
    photos: Sequence[str] = (),
) -> SendMessage | None:
    """Queues the job, then says so: the "working on it" message is returned, to travel in the
    webhook's answer. Once queued the operation belongs to the job (it delivers or
    compensates), so nothing after the queuing can undo the charge.

    An operation whose job is queued already is an update Telegram delivered again while
    the operation is in flight (the billing middleware lets nothing else through): the answer
    that carried the message never reached Telegram (the process died, the connection broke),
    so the message is returned again. Telegram performs an answer only when it takes it as 2xx,
    and then never delivers the update again: the user sees it once."""
    request = GenerationRequest(
        operation_id=ticket.operation_id,
        user_id=ticket.user.user_id,
        telegram_id=ticket.user.telegram_id,
        operation_type=operation.value,
        language=language,
        prompt=prompt,
        photo_file_ids=tuple(photos),
    )
    if not await enqueue_generation(services.arq, request):
        log.info("operation %s is queued already: saying so again", ticket.operation_id)
    return answer(event, started_text(texts, ticket))


def started_text(texts: Texts, ticket: Ticket) -> str:
    charge = ticket.charge
    if not OperationType(charge.operation_type).billable:
        cost = texts("operation-free-type")
    elif charge.paid_with_free:
        cost = texts("operation-paid-free", left=charge.free_operations_left, total=ticket.user.free_operations_total)
    else:
        cost = "\n".join((texts("operation-paid-money", price=format_rub(charge.price)),
                          texts("balance-line", balance=format_rub(charge.balance))))
    return f"{texts('operation-started')}\n{cost}"
