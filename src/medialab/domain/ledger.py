"""The ledger's vocabulary: kinds of entries, their signs, and how idempotency keys are built."""

from __future__ import annotations

from enum import StrEnum


class LedgerKind(StrEnum):
    TOPUP = "topup"
    CHARGE = "charge"
    REFUND = "refund"
    GRANT = "grant"
    CHARGEBACK = "chargeback"


# Sign rules, also enforced by CHECK constraints in the database. A grant is an operator's
# correction and may go either way; everything else has one direction.
CREDIT_KINDS = frozenset({LedgerKind.TOPUP, LedgerKind.REFUND})
DEBIT_KINDS = frozenset({LedgerKind.CHARGE, LedgerKind.CHARGEBACK})


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
