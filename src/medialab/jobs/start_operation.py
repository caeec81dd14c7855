"""Starting an operation, top to bottom: charge it, queue its job, and give back what was taken
if the job could not be queued.

The bot's billing flag (bot/middlewares/billing.py) calls this for every handler registered with
flags={"billing": "<operation type>"}: the handler says what the user asked for (an `Order`), this
starts it, and the bot turns the answer into words (the refusal texts stay in the bot).

An operation id comes from the Telegram message or button press that asked for it, so an update
Telegram delivers twice is charged once (the charge is replayed) and queues one job (its arq job
id is the operation id). Once the job is queued the operation belongs to it: the job delivers or
compensates, so nothing after the queuing gives the charge back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from arq.connections import ArqRedis

from medialab.billing.results import Charged, InsufficientFunds, RefundResult, TooManyInFlight, UserInfo
from medialab.billing.service import BillingService
from medialab.domain.operations import OperationType
from medialab.jobs.requests import GenerationRequest, enqueue_generation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Order:
    """What the user asked for: the prompt (or wish, or text to put on the photo) and the
    Telegram file ids of the photos."""

    prompt: str | None = None
    photos: Sequence[str] = ()


@dataclass(frozen=True)
class FinishedBefore:
    """Charged and finished by an earlier delivery of the same update: nothing runs twice."""

    operation_id: str


@dataclass(frozen=True)
class NotQueued:
    """Queuing the job failed and what was taken has been given back; `error` is why (the caller
    raises it again, so that the update fails and Telegram delivers it again)."""

    refund: RefundResult
    error: BaseException


StartResult = Charged | InsufficientFunds | TooManyInFlight | FinishedBefore | NotQueued


class OperationStarter:
    def __init__(self, billing: BillingService, queue: ArqRedis) -> None:
        self.billing = billing
        self.queue = queue

    async def start(
        self, user: UserInfo, operation: OperationType, operation_id: str, language: str, order: Order
    ) -> StartResult:
        charge = await self.billing.charge_operation(user.user_id, operation, operation_id=operation_id)
        if not isinstance(charge, Charged):
            return charge  # refused: nothing was taken
        if charge.replayed and not charge.in_flight:
            log.info("operation %s was charged and finished before: update delivered again, not run twice",
                     operation_id)
            return FinishedBefore(operation_id)
        if charge.replayed:
            # Delivered again: the first attempt may have died between the charge and the job,
            # so the job is queued (once: its id is the operation id) and the user told again.
            log.info("operation %s was charged before: update delivered again", operation_id)
        request = GenerationRequest(
            operation_id=operation_id, user_id=user.user_id, telegram_id=user.telegram_id,
            operation_type=operation.value, language=language, prompt=order.prompt,
            photo_file_ids=tuple(order.photos),
        )
        try:
            queued = await enqueue_generation(self.queue, request)
        except BaseException as exc:
            refund = await self.billing.refund_operation(operation_id, reason="the bot could not start the job")
            log.warning("operation %s not started: refunded=%s", operation_id, refund.refunded)
            return NotQueued(refund, exc)
        if not queued:
            log.info("operation %s is queued already: saying so again", operation_id)
        return charge
