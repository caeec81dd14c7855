"""The billing flag: a handler registered with flags={"billing": "<operation type>"} says what the
user asked for (a `ChatOrder`, bot/chat_orders.py) and this middleware starts it through the one
use case (jobs/start_operation.py: charge, queue the job, give back if queuing fails), then puts
the answer into words: the "working on it" message, or a refusal (no money, too many jobs
running) with nothing taken. The free add_text goes the same way, admitted at price 0 within the
user's in-flight limit.

A charge replayed for the same operation id means Telegram delivered the update again (the first
answer was lost, or the process died mid-update): while the operation is in flight its job is
queued again (idempotent: the job id is the operation id) and the message said again, since the
first answer, which carried it, never reached Telegram; once finished, nothing runs twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.flags import get_flag
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Message, TelegramObject

from medialab.billing.results import InsufficientFunds, TooManyInFlight
from medialab.billing.service import BillingService
from medialab.bot.keyboards import topup_button
from medialab.bot.known_users import KnownUsers
from medialab.bot.chat_orders import ChatOrder, operation_id_for, started_text
from medialab.bot.texts import Texts
from medialab.bot.views import answer, reply
from medialab.domain.money import format_rub
from medialab.domain.operations import OperationType
from medialab.jobs.start_operation import FinishedBefore, NotQueued, OperationStarter

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class BillingMiddleware(BaseMiddleware):
    def __init__(self, known_users: KnownUsers | None = None) -> None:
        self.known_users = known_users or KnownUsers()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        operation = get_flag(data, "billing")
        if operation is None:
            return await handler(event, data)
        assert isinstance(event, Message | CallbackQuery), "the billing flag is for messages and buttons"
        order: ChatOrder = await handler(event, data)  # what the user asked for; nothing is taken yet
        billing: BillingService = data["billing"]
        operations: OperationStarter = data["operations"]
        texts: Texts = data["texts"]
        language: str = data["language"]
        user = await self.known_users.identify(billing, event.from_user.id, language)  # type: ignore[union-attr]
        operation_id = operation_id_for(event, data["bot"].id)
        started = await operations.start(user, OperationType(operation), operation_id, language, order)
        if isinstance(started, InsufficientFunds):
            text = "\n".join((texts("insufficient-funds", price=format_rub(started.price)),
                              texts("balance-line", balance=format_rub(started.balance))))
            return answer(event, text, topup_button(texts))
        if isinstance(started, TooManyInFlight):
            return answer(event, texts("too-many-in-flight", in_flight=started.in_flight, limit=started.limit))
        if isinstance(started, FinishedBefore):
            return None
        if isinstance(started, NotQueued):
            await _say_not_started(event, texts)
            raise started.error
        if order.then is not None:
            await order.then()
        # Returned, to travel in the webhook's answer: Telegram performs an answer only when it
        # takes it as 2xx, and then never delivers the update again, so the user sees it once.
        return answer(event, started_text(texts, started, user))


async def _say_not_started(event: Message | CallbackQuery, texts: Texts) -> None:
    try:
        await reply(event, texts("operation-not-started"))
    except TelegramAPIError:
        pass  # the refund stands either way; the original error is what gets logged
