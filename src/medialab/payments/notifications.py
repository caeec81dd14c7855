"""YooKassa notifications as they arrive: read the body, keep it, pass its object to settlement.

Only the event and the object's id are taken from the body; everything that decides (status,
amount, currency, whose payment it is) is read from the API by settlement.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.db.models import PaymentNotification
from medialab.payments.settlement import SettlementOutcome, Settlement, Undecided
from medialab.payments.store import PROVIDER

REFUND_SUCCEEDED = "refund.succeeded"
PAYMENT_EVENTS = frozenset({"payment.succeeded", "payment.canceled", "payment.waiting_for_capture"})
# YooKassa's ids are uuids; anything else cannot be one of its objects.
_OBJECT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_EVENT = re.compile(r"[a-z_]{1,30}\.[a-z_]{1,30}")


class NotANotification(ValueError):
    """The body is not a YooKassa notification; the message says what is wrong with it."""


class _Object(msgspec.Struct):
    id: str


class _Envelope(msgspec.Struct):
    type: str
    event: str
    object: _Object


class Notification(msgspec.Struct, frozen=True):
    event: str
    object_id: str
    body: dict[str, Any]


def read_notification(body: bytes) -> Notification:
    try:
        raw = msgspec.json.decode(body)
        envelope = msgspec.convert(raw, _Envelope)
    except msgspec.MsgspecError as exc:
        raise NotANotification(f"not a notification: {exc}") from None
    except RecursionError:
        raise NotANotification("not a notification: nested too deeply") from None
    except UnicodeDecodeError:
        raise NotANotification("not a notification: not UTF-8") from None
    if envelope.type != "notification":
        raise NotANotification(f"type is {envelope.type[:40]!r}, not 'notification'")
    if not _EVENT.fullmatch(envelope.event):
        raise NotANotification("event is not an event name")
    if not _OBJECT_ID.fullmatch(envelope.object.id):
        raise NotANotification("object.id is not a YooKassa id")
    return Notification(envelope.event, envelope.object.id, raw)


async def handle_notification(
    sessions: async_sessionmaker[AsyncSession], settlement: Settlement,
    notification: Notification, source_ip: str,
) -> SettlementOutcome:
    """Keeps the notification, settles its object; Undecided when the API could not be asked."""
    async with sessions.begin() as session:
        kept = PaymentNotification(
            provider=PROVIDER, event=notification.event, object_id=notification.object_id,
            source_ip=source_ip, body=notification.body,
        )
        session.add(kept)
        await session.flush()
        kept_id = kept.id
    try:
        outcome = await _settle(settlement, notification)
    except Undecided:
        await _note(sessions, kept_id, "undecided")
        raise
    except Exception:
        await _note(sessions, kept_id, "error")
        raise
    await _note(sessions, kept_id, outcome.value)
    return outcome


async def _note(sessions: async_sessionmaker[AsyncSession], kept_id: int, outcome: str) -> None:
    async with sessions.begin() as session:
        await session.execute(
            update(PaymentNotification).where(PaymentNotification.id == kept_id).values(outcome=outcome)
        )


async def _settle(settlement: Settlement, notification: Notification) -> SettlementOutcome:
    if notification.event == REFUND_SUCCEEDED:
        return await settlement.settle_refund(notification.object_id)
    if notification.event in PAYMENT_EVENTS:
        # Whichever payment event it is, the API's status of the payment decides.
        return await settlement.settle_payment(notification.object_id)
    return SettlementOutcome.IGNORED

