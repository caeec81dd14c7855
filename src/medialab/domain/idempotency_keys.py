"""Every idempotency key we make, one builder each.

A key is how a repeated request finds what its first delivery did, so the keys already stored
are matched by their text: a builder's format must never change (a redelivered YooKassa
payment under a new format would be credited twice). tests/test_idempotency_keys.py pins each.

Ledger entries (`ledger_entries.idempotency_key`, unique, at most 128 characters): the ledger
refuses a key twice, so each movement of money happens once per key.
Payments (`payments.idempotence_key`, also sent to YooKassa as its Idempotence-Key header):
one payment row, and one YooKassa object, per request of the user.
"""

from __future__ import annotations

import hashlib
import uuid

# ledger_entries.idempotency_key holds this many characters.
LEDGER_KEY_LENGTH = 128


# Ledger entries.
def charge_key(operation_id: str) -> str:
    """A paid operation's charge: once per operation id."""
    return f"charge:{operation_id}"


def refund_key(operation_id: str) -> str:
    """The money of a paid operation given back: once per operation id."""
    return f"refund:{operation_id}"


def grant_key(grant_id: str) -> str:
    """An operator's grant: the grant id names it (given by the operator, or a fresh uuid;
    `<batch>-<telegram id>` for each line of a grant file)."""
    return f"grant:{grant_id}"


def promo_key(code: str, user_id: int) -> str:
    """Once per code and user: a second redemption of the same code meets this key."""
    return f"promo:{code}:{user_id}"


def referral_key(referred_user_id: int) -> str:
    """Once per referred user: a referrer is paid for a user once, whatever that user pays later."""
    return f"referral:{referred_user_id}"


def clawback_key(referred_user_id: int) -> str:
    """The referral bonus taken back (the referred user's top-up was refunded): once per user."""
    return f"clawback:referral:{referred_user_id}"


def yookassa_topup_key(provider_payment_id: str) -> str:
    """A YooKassa top-up: YooKassa's payment id itself, bare (the format of every top-up stored)."""
    return provider_payment_id


def yookassa_chargeback_key(refund_id: str) -> str:
    """A YooKassa refund taken off the balance, by the webhook or the refund sweep: once per refund."""
    return f"chargeback:{refund_id}"


def stars_topup_key(charge_id: str) -> str:
    """A Telegram Stars top-up: Telegram's charge id itself (a digest if it is too long; Telegram
    documents no limit for charge ids)."""
    return charge_id if len(charge_id) <= LEDGER_KEY_LENGTH else "stars-sha256:" + _digest(charge_id)


def stars_refund_key(charge_id: str) -> str:
    """A Stars top-up refunded (taken off as a chargeback): once per charge id."""
    key = f"stars-refund:{charge_id}"
    return key if len(key) <= LEDGER_KEY_LENGTH else "stars-refund-sha256:" + _digest(charge_id)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# Payments, and the requests to YooKassa.
def yookassa_payment_key(request_id: str | None = None) -> str:
    """A YooKassa payment to create: named by the user's request (a button press, so Telegram
    delivering it again meets the same payment), or fresh for a request without a name."""
    return f"topup-{request_id or uuid.uuid4().hex}"


def stars_invoice_key(request_id: str | None = None) -> str:
    """A Telegram Stars invoice's payment row, named as a YooKassa payment's (above)."""
    return f"stars-{request_id or uuid.uuid4().hex}"


def yookassa_capture_key(provider_payment_id: str) -> str:
    """Capturing an authorized YooKassa payment: a repeated capture is harmless."""
    return f"capture-{provider_payment_id}"


def yookassa_cancel_key(provider_payment_id: str) -> str:
    """Canceling an authorized YooKassa payment that does not match ours."""
    return f"cancel-{provider_payment_id}"
