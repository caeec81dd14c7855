"""What the billing service answers. Money in kopecks."""

from __future__ import annotations

import msgspec


class UserInfo(msgspec.Struct, frozen=True):
    user_id: int
    telegram_id: int
    balance: int
    free_operations_left: int
    free_operations_total: int
    language: str
    created: bool = False


class Charged(msgspec.Struct, frozen=True, tag="charged"):
    operation_id: str
    user_id: int
    operation_type: str
    paid_with_free: bool
    price: int
    balance: int
    free_operations_left: int
    replayed: bool = False
    # A replayed charge whose operation is still held and its job not finished: the first
    # attempt may have died before the job was queued, so queuing it (idempotent) is still due.
    in_flight: bool = True


class InsufficientFunds(msgspec.Struct, frozen=True, tag="insufficient_funds"):
    user_id: int
    balance: int
    price: int


class TooManyInFlight(msgspec.Struct, frozen=True, tag="too_many_in_flight"):
    """MAX_JOBS_IN_FLIGHT of the user's jobs are running; nothing was taken."""

    user_id: int
    in_flight: int
    limit: int


ChargeResult = Charged | InsufficientFunds | TooManyInFlight


class RefundResult(msgspec.Struct, frozen=True):
    operation_id: str
    user_id: int
    refunded: bool
    # What went back: kopecks for a charged operation, a free operation for a free one.
    amount: int = 0
    free_operation: bool = False
    balance: int = 0
    note: str = ""


class CreditResult(msgspec.Struct, frozen=True):
    user_id: int
    credited: bool
    amount: int
    balance: int
    idempotency_key: str


class LedgerDrift(msgspec.Struct, frozen=True):
    user_id: int
    telegram_id: int
    what: str
    expected: int
    actual: int


class BillingError(Exception):
    """A request the billing service refuses; the message says why."""


class UnknownUser(BillingError):
    pass


class UnknownOperation(BillingError):
    pass
