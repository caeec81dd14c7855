"""YooKassa API v3 wire format (docs/wire-formats.md): payload structs and the two
ways a call can fail. The API's limits on request values are in `yookassa_limits`.

Answers are decoded leniently (unknown fields are ignored, fields the API may omit are optional);
requests are encoded with `omit_defaults` so that an unset optional field is not sent at all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import msgspec

from medialab.domain.money import Kopecks, amount_value, parse_amount_value


def api_timestamp(moment: datetime) -> str:
    """YooKassa's timestamps: UTC, milliseconds, a trailing Z (2026-11-24T10:51:18.139Z)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_api_timestamp(text: str) -> datetime:
    """One of YooKassa's timestamps as an aware datetime; ValueError when it is none."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"a timestamp without a time zone: {text!r}")
    return moment.astimezone(UTC)


class PaymentStatus(StrEnum):
    PENDING = "pending"
    WAITING_FOR_CAPTURE = "waiting_for_capture"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"


class Amount(msgspec.Struct, frozen=True):
    value: str
    currency: str

    @classmethod
    def of(cls, kopecks: Kopecks, currency: str) -> Amount:
        return cls(amount_value(kopecks), currency)

    @property
    def kopecks(self) -> Kopecks:
        return parse_amount_value(self.value)


class Confirmation(msgspec.Struct, omit_defaults=True):
    type: str
    return_url: str | None = None
    confirmation_url: str | None = None


class Recipient(msgspec.Struct):
    account_id: str | None = None
    gateway_id: str | None = None


class PaymentMethod(msgspec.Struct):
    type: str
    id: str | None = None
    saved: bool = False
    title: str | None = None


class CancellationDetails(msgspec.Struct):
    party: str
    reason: str


class Payment(msgspec.Struct):
    id: str
    status: str
    amount: Amount
    paid: bool = False
    confirmation: Confirmation | None = None
    created_at: str | None = None
    description: str | None = None
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    recipient: Recipient | None = None
    refundable: bool = False
    test: bool = False
    captured_at: str | None = None
    expires_at: str | None = None
    income_amount: Amount | None = None
    payment_method: PaymentMethod | None = None
    refunded_amount: Amount | None = None
    cancellation_details: CancellationDetails | None = None

    @property
    def amount_kopecks(self) -> Kopecks:
        return self.amount.kopecks

    @property
    def refunded_kopecks(self) -> Kopecks:
        return self.refunded_amount.kopecks if self.refunded_amount else 0

    @property
    def confirmation_url(self) -> str | None:
        return self.confirmation.confirmation_url if self.confirmation else None


class Refund(msgspec.Struct):
    id: str
    status: str
    amount: Amount
    payment_id: str
    created_at: str | None = None
    description: str | None = None
    cancellation_details: CancellationDetails | None = None

    @property
    def amount_kopecks(self) -> Kopecks:
        return self.amount.kopecks

    @property
    def created(self) -> datetime | None:
        """When YooKassa made the refund; None when the answer did not say (or said nonsense)."""
        try:
            return parse_api_timestamp(self.created_at) if self.created_at else None
        except ValueError:
            return None


class RefundList(msgspec.Struct):
    """One page of `GET /refunds`, newest first; `next_cursor` asks for the next (older) page
    and is absent on the last one."""

    items: list[Refund]
    type: str = "list"
    next_cursor: str | None = None


class Notification(msgspec.Struct):
    """A webhook body; `object` stays raw until the event says what it is."""

    type: str
    event: str
    object: msgspec.Raw

    def payment(self) -> Payment:
        return msgspec.json.decode(self.object, type=Payment)

    def refund(self) -> Refund:
        return msgspec.json.decode(self.object, type=Refund)


class ApiError(msgspec.Struct):
    type: str = "error"
    id: str | None = None
    code: str = "unknown"
    description: str | None = None
    parameter: str | None = None


# 54-FZ receipt. ReceiptItem has no omit_defaults: payment_mode and payment_subject are always sent.
class Customer(msgspec.Struct, omit_defaults=True):
    email: str | None = None
    phone: str | None = None
    full_name: str | None = None


class ReceiptItem(msgspec.Struct):
    description: str
    quantity: str
    amount: Amount
    vat_code: int
    payment_mode: str = "full_prepayment"
    payment_subject: str = "service"


class Receipt(msgspec.Struct, omit_defaults=True):
    customer: Customer
    items: list[ReceiptItem]
    tax_system_code: int | None = None


# Request bodies. Defaults are the API's own, so omitting them changes nothing on its side.
class PaymentRequest(msgspec.Struct, omit_defaults=True):
    amount: Amount
    capture: bool = False
    confirmation: Confirmation | None = None
    description: str | None = None
    metadata: dict[str, str] | None = None
    receipt: Receipt | None = None


class CaptureRequest(msgspec.Struct, omit_defaults=True):
    amount: Amount | None = None


class CancelRequest(msgspec.Struct):
    """Cancelling takes no parameters: the body is `{}`."""


class RefundRequest(msgspec.Struct, omit_defaults=True):
    payment_id: str
    amount: Amount
    description: str | None = None


class YooKassaFailure(Exception):
    """Base of both failures, for callers that only need to know the call did not succeed."""


class YooKassaError(YooKassaFailure):
    """The API answered and said no (a 4xx error body): repeating the request will not help."""

    def __init__(
        self,
        status: int,
        code: str,
        description: str | None,
        parameter: str | None = None,
        error_id: str | None = None,
    ) -> None:
        where = f" ({parameter})" if parameter else ""
        super().__init__(f"YooKassa refused: HTTP {status} {code}{where}: {description or '-'}")
        self.status = status
        self.code = code
        self.description = description
        self.parameter = parameter
        self.error_id = error_id


class YooKassaUnavailable(YooKassaFailure):
    """No usable answer (timeouts, connection errors, 5xx or 202 after every retry).

    The result of a POST is unknown: repeat it later with the same Idempotence-Key.
    """

    def __init__(self, operation: str, attempts: int, last_problem: str) -> None:
        super().__init__(
            f"YooKassa unavailable: {operation} got no answer in {attempts} attempt(s); "
            f"last: {last_problem}"
        )
        self.operation = operation
        self.attempts = attempts
        self.last_problem = last_problem
