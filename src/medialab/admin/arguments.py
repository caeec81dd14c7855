"""Operators' typed arguments to values, or an AdminError whose message is the one line to show."""

from __future__ import annotations

import getpass
import os

from medialab.domain.money import Kopecks, MoneyError, format_rub, rubles

MAX_TELEGRAM_ID = 2**63 - 1  # users.telegram_id is a BIGINT
MAX_REASON = 500
ACTOR_LENGTH = 64  # ledger_entries.actor


class AdminError(Exception):
    """An operator's request that is refused; nothing was changed."""


def telegram_id(text: str) -> int:
    cleaned = text.strip()
    if not cleaned.isascii() or not cleaned.isdigit():
        raise AdminError(f"not a Telegram user id: {text!r}")
    value = int(cleaned)
    if not 0 < value <= MAX_TELEGRAM_ID:
        raise AdminError(f"not a Telegram user id: {text!r}")
    return value


def grant_amount(text: str, maximum: Kopecks, allow_zero: bool = False) -> Kopecks:
    """Rubles as an operator types them ("100", "10.50", "10,50") to kopecks, more than 0 (or 0
    with `allow_zero`) and at most `maximum`: a grant adds money; taking it back is a refund's
    or a chargeback's job."""
    try:
        amount = rubles(text.strip().removesuffix("₽").strip().replace(",", "."))
    except MoneyError as exc:
        raise AdminError(str(exc)) from None
    if amount < 0 and allow_zero:
        raise AdminError(f"an amount cannot be below 0 ₽, got {text!r}")
    if amount <= 0 and not allow_zero:
        raise AdminError(f"a grant must be more than 0 ₽, got {text!r}")
    if amount > maximum:
        raise AdminError(f"a grant may be at most {format_rub(maximum)} (MAX_TOPUP), got {text!r}")
    return amount


def operation_id(text: str) -> str:
    cleaned = text.strip()
    if not cleaned or len(cleaned) > 64 or not cleaned.isprintable():
        raise AdminError(f"not an operation id: {text!r}")
    return cleaned


def charge_id(text: str) -> str:
    """A telegram_payment_charge_id: printable ASCII without spaces."""
    cleaned = text.strip()
    if not cleaned or len(cleaned) > 255 or not all(c.isascii() and c.isprintable() and not c.isspace() for c in cleaned):
        raise AdminError(f"not a Telegram payment charge id: {text!r}")
    return cleaned


def reason(text: str | None, default: str) -> str:
    if text is None:
        return default
    cleaned = " ".join(text.split())  # one line in the ledger and in logs
    if not cleaned:
        raise AdminError("the reason is empty")
    if len(cleaned) > MAX_REASON:
        raise AdminError(f"the reason is longer than {MAX_REASON} characters")
    return cleaned


def cli_actor() -> str:
    """Who runs the command, as the ledger records it: cli:<os user>."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (containers)
        user = f"uid{os.getuid()}"
    return f"cli:{user}"[:ACTOR_LENGTH]


def telegram_actor(telegram_id: int) -> str:
    """An operator in the admin chat, as the ledger records them: tg:<their Telegram id>."""
    return f"tg:{telegram_id}"


def telegram_grant_id(bot_id: int, chat_id: int, message_id: int) -> str:
    """The grant id of a command typed in a chat: the message it came in, so that Telegram
    delivering the update again grants nothing more. The bot's id keeps another bot's (a new
    token's) message numbers, which start again, from meeting an old grant."""
    return f"tg-{bot_id}-{chat_id}-{message_id}"


def grant_id(text: str | None) -> str | None:
    """An id the operator chose so that running the same grant again changes nothing."""
    if text is None:
        return None
    cleaned = text.strip()
    if not cleaned or len(cleaned) > 64 or not all(c.isascii() and (c.isalnum() or c in "._-") for c in cleaned):
        raise AdminError(f"a grant id is 1-64 letters, digits, '.', '_' or '-', got {text!r}")
    return cleaned
