"""The ledger's vocabulary: kinds of entries and their signs (its keys: idempotency_keys.py)."""

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

