"""The billing flag: a handler registered with flags={"billing": "<operation type>"} runs only
after the operation has been paid for (a free operation first, else the price), or, for the
free add_text, admitted at price 0 within the user's in-flight limit.

The handler gets `ticket` (operation id, user, charge). If it raises, what was taken is given
back. A refusal (no money, too many jobs running) is answered here and the handler never runs.
A charge replayed for the same operation id means Telegram delivered the update again (the
first answer was lost, or the process died mid-update): the handler runs again only while the
operation is in flight, and queuing its job is idempotent, so nothing runs twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.flags import get_flag
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Message, TelegramObject

from medialab.billing.results import Charged, InsufficientFunds, TooManyInFlight
from medialab.bot.keyboards import topup_button
from medialab.bot.known_users import KnownUsers
from medialab.bot.operations import Ticket, operation_id_for
from medialab.bot.texts import Texts
from medialab.bot.views import answer, reply
from medialab.domain.money import format_rub
from medialab.services import Services

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class BillingMiddleware(BaseMiddleware):
    def __init__(self, known_users: KnownUsers | None = None) -> None:
        self.known_users = known_users or KnownUsers()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        operation = get_flag(data, "billing")
        if operation is None:
            return await handler(event, data)
        assert isinstance(event, Message | CallbackQuery), "the billing flag is for messages and buttons"
        services: Services = data["services"]
        texts: Texts = data["texts"]
        user = await self.known_users.identify(services.billing, event.from_user.id, data["language"])  # type: ignore[union-attr]
        operation_id = operation_id_for(event, data["bot"].id)
        result = await services.billing.charge_operation(user.user_id, operation, operation_id=operation_id)
        if isinstance(result, InsufficientFunds):
            text = "\n".join((texts("insufficient-funds", price=format_rub(result.price)),
                              texts("balance-line", balance=format_rub(result.balance))))
            return answer(event, text, topup_button(texts))
        if isinstance(result, TooManyInFlight):
            return answer(event, texts("too-many-in-flight", in_flight=result.in_flight, limit=result.limit))
        assert isinstance(result, Charged)
        if result.replayed and not result.in_flight:
            log.info("operation %s was charged and finished before: update delivered again, not run twice",
                     operation_id)
            return None
        if result.replayed:
            # Delivered again: the first attempt may have died between the charge and the job.
            # The handler queues it once (the job id is the operation id) and says so again:
            # the first answer, which carried the message, never reached Telegram.
            log.info("operation %s was charged before: update delivered again", operation_id)
        data["ticket"] = Ticket(operation_id, user, result)
        try:
            return await handler(event, data)
        except BaseException:
            refund = await services.billing.refund_operation(operation_id, reason="the bot could not start the job")
            log.warning("operation %s not started: refunded=%s", operation_id, refund.refunded)
            await _say_not_started(event, texts)
            raise


async def _say_not_started(event: Message | CallbackQuery, texts: Texts) -> None:
    try:
        await reply(event, texts("operation-not-started"))
    except TelegramAPIError:
        pass  # the refund stands either way; the original error is what gets logged
