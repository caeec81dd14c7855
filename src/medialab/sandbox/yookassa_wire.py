"""Wire-level pieces of the YooKassa stand-in: error answers, reading request bodies into the
request structs (with the offending parameter named as YooKassa does), amounts and timestamps."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import msgspec

from medialab.domain.money import Kopecks, amount_value, parse_amount_value
from medialab.payments.yookassa_api import (
    CaptureRequest,
    PaymentRequest,
    Receipt,
    RefundRequest,
    api_timestamp,
)

Request = TypeVar("Request", PaymentRequest, CaptureRequest, RefundRequest)
WireObject = dict[str, Any]
# One API call on the state: the decoded JSON body (None without one) in, the answer out.
Operation = Callable[[Any], WireObject]

_ERROR_PATH = re.compile(r"at `\$\.?([^`]*)`")
_MISSING_FIELD = re.compile(r"missing required field `(\w+)`")
_ERROR_CODES = {400: "invalid_request", 401: "invalid_credentials", 403: "forbidden",
                404: "not_found", 429: "too_many_requests"}


class ApiRefusal(Exception):
    """An answer of the stand-in's API other than 200, in YooKassa's error shape."""

    def __init__(self, status: int, description: str, parameter: str | None = None) -> None:
        super().__init__(f"HTTP {status}: {description}")
        self.status = status
        self.description = description
        self.parameter = parameter

    def body(self) -> WireObject:
        error = {"type": "error", "id": str(uuid.uuid4()),
                 "code": _ERROR_CODES.get(self.status, "internal_server_error"),
                 "description": self.description}
        if self.parameter:
            error["parameter"] = self.parameter
        return error


def read_request(body: Any, request_type: type[Request]) -> Request:
    if not isinstance(body, dict):
        raise ApiRefusal(400, "the body must be a JSON object")
    try:
        return msgspec.convert(body, request_type)
    except msgspec.ValidationError as exc:
        # msgspec names the spot as "at `$.amount.value`"; YooKassa calls it "amount.value".
        found = _ERROR_PATH.search(str(exc))
        parameter = re.sub(r"\[.*?\]", "", found.group(1)) if found else None
        missing = _MISSING_FIELD.search(str(exc))
        if missing:
            parameter = f"{parameter}.{missing.group(1)}" if parameter else missing.group(1)
        raise ApiRefusal(400, str(exc), parameter) from None


def check_receipt(receipt: Receipt, payment_kopecks: Kopecks) -> None:
    if not (receipt.customer.email or receipt.customer.phone):
        raise ApiRefusal(400, "an email or a phone is required", "receipt.customer")
    if not receipt.items:
        raise ApiRefusal(400, "at least one item is required", "receipt.items")
    total = Decimal(0)
    for item in receipt.items:
        try:
            total += Decimal(item.quantity) * parse_amount_value(item.amount.value)
        except (InvalidOperation, ValueError):
            raise ApiRefusal(400, "quantity and amount must be numbers", "receipt.items") from None
    if total != payment_kopecks:
        raise ApiRefusal(400, "the items do not add up to the payment amount", "receipt.items")


def wire_amount(kopecks: Kopecks, currency: str) -> WireObject:
    return {"value": amount_value(kopecks), "currency": currency}


def timestamp(moment: datetime | None = None) -> str:
    """YooKassa's timestamps: UTC, milliseconds, a trailing Z."""
    return api_timestamp(moment or datetime.now(UTC))
