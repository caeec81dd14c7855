"""The ledger's vocabulary: kinds of entries, their signs, and how idempotency keys are built."""

from __future__ import annotations

from enum import StrEnum


class LedgerKind(StrEnum):
    TOPUP = "topup"
    CHARGE = "charge"
    REFUND = "refund"
    GRANT = "grant"
    CHARGEBACK = "chargeback"
    PROMO = "promo"  # a promo code redeemed
    REFERRAL = "referral"  # a referrer's bonus for a referred user's first top-up
    CLAWBACK = "clawback"  # that bonus taken back: the top-up was refunded


# Sign rules, also enforced by CHECK constraints in the database. A grant is an operator's
# correction and may go either way; everything else has one direction.
CREDIT_KINDS = frozenset({LedgerKind.TOPUP, LedgerKind.REFUND, LedgerKind.PROMO, LedgerKind.REFERRAL})
DEBIT_KINDS = frozenset({LedgerKind.CHARGE, LedgerKind.CHARGEBACK, LedgerKind.CLAWBACK})


class PaymentStatus(StrEnum):
    PENDING = "pending"
    WAITING_FOR_CAPTURE = "waiting_for_capture"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"
    REFUNDED = "refunded"


def sign_ok(kind: LedgerKind, amount: int) -> bool:
    if amount == 0:
        return False
    if kind in CREDIT_KINDS:
        return amount > 0
    if kind in DEBIT_KINDS:
        return amount < 0
    return True


def charge_key(operation_id: str) -> str:
    return f"charge:{operation_id}"


def refund_key(operation_id: str) -> str:
    return f"refund:{operation_id}"


def promo_key(code: str, user_id: int) -> str:
    """Once per code and user: a second redemption of the same code meets this key."""
    return f"promo:{code}:{user_id}"


def referral_key(referred_user_id: int) -> str:
    """Once per referred user: a referrer is paid for a user once, whatever that user pays later."""
    return f"referral:{referred_user_id}"


def clawback_key(referred_user_id: int) -> str:
    return f"clawback:referral:{referred_user_id}"
