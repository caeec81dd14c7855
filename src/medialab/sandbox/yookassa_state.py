"""Payments and refunds of the YooKassa stand-in, kept as the JSON objects the API shows.

The rules follow the wire format (docs/wire-formats.md): what a request must look like,
which status may follow which, and what each status adds to the payment object.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from medialab.domain.money import Kopecks, parse_amount_value
from medialab.payments.yookassa_api import Amount, CaptureRequest, PaymentRequest, RefundRequest
from medialab.payments.yookassa_limits import (
    DESCRIPTION_MAX_CHARS,
    WireValueError,
    check_metadata,
)
from medialab.sandbox.yookassa_lists import REFUND_FILTERS, page_of
from medialab.sandbox.yookassa_wire import (
    ApiRefusal,
    WireObject,
    check_receipt,
    read_request,
    timestamp,
    wire_amount,
)

_AMOUNT_VALUE = re.compile(r"\d{1,12}\.\d{2}")
_CAPTURE_WINDOW = timedelta(days=7)
_OPEN = ("pending", "waiting_for_capture")


class YooKassaState:
    def __init__(self, *, currencies: frozenset[str], commission_basis_points: int) -> None:
        self.currencies = currencies
        self.commission_basis_points = commission_basis_points
        self.payments: dict[str, WireObject] = {}
        self.refunds: dict[str, WireObject] = {}
        # What the payer's side needs and the API does not show: where to return, and whether
        # paying ends in succeeded (capture: true) or in waiting_for_capture.
        self.return_urls: dict[str, str] = {}
        self.captures_at_once: dict[str, bool] = {}

    def payment(self, payment_id: str) -> WireObject:
        try:
            return self.payments[payment_id]
        except KeyError:
            raise ApiRefusal(404, f"payment {payment_id} not found") from None

    def refund(self, refund_id: str) -> WireObject:
        try:
            return self.refunds[refund_id]
        except KeyError:
            raise ApiRefusal(404, f"refund {refund_id} not found") from None

    def create_payment(self, body: Any, checkout_base_url: str) -> WireObject:
        request = read_request(body, PaymentRequest)
        amount = self._amount(request.amount, "amount")
        if request.description is not None and len(request.description) > DESCRIPTION_MAX_CHARS:
            raise ApiRefusal(400, f"longer than {DESCRIPTION_MAX_CHARS} characters", "description")
        if request.metadata is not None:
            try:
                check_metadata(request.metadata)
            except WireValueError as exc:
                raise ApiRefusal(400, str(exc), exc.parameter) from None
        if request.receipt is not None:
            check_receipt(request.receipt, amount)
        payment_id = str(uuid.uuid4())
        payment: WireObject = {"id": payment_id, "status": "pending", "paid": False,
                               "amount": wire_amount(amount, request.amount.currency)}
        if request.confirmation is not None:
            if request.confirmation.type != "redirect":
                raise ApiRefusal(400, "the stand-in supports redirect only", "confirmation.type")
            if not request.confirmation.return_url:
                raise ApiRefusal(400, "return_url is required", "confirmation.return_url")
            self.return_urls[payment_id] = request.confirmation.return_url
            payment["confirmation"] = {
                "type": "redirect",
                "confirmation_url": f"{checkout_base_url}/checkout/{payment_id}",
            }
        payment["created_at"] = timestamp()
        if request.description is not None:
            payment["description"] = request.description
        if request.metadata is not None:
            payment["metadata"] = request.metadata
        payment["recipient"] = {"account_id": "100500", "gateway_id": "100700"}
        if request.receipt is not None:
            payment["receipt_registration"] = "pending"
        payment.update(refundable=False, test=True)
        self.payments[payment_id] = payment
        self.captures_at_once[payment_id] = request.capture
        return payment

    def capture(self, payment_id: str, body: Any) -> WireObject:
        payment = self._in_status(payment_id, ("waiting_for_capture",), "captured")
        request = read_request(body, CaptureRequest)
        if request.amount is not None:
            kopecks = self._amount(request.amount, "amount")
            if request.amount.currency != payment["amount"]["currency"]:
                raise ApiRefusal(400, "differs from the payment's currency", "amount.currency")
            if kopecks > parse_amount_value(payment["amount"]["value"]):
                raise ApiRefusal(400, "more than the payment's amount", "amount.value")
            payment["amount"] = wire_amount(kopecks, request.amount.currency)
        return self.succeed(payment_id)

    def cancel_by_merchant(self, payment_id: str) -> WireObject:
        self._in_status(payment_id, ("waiting_for_capture",), "canceled by the shop")
        return self.cancel(payment_id, "canceled_by_merchant", party="merchant")

    def create_refund(
        self, body: Any, created_at: datetime | None = None, status: str = "succeeded"
    ) -> WireObject:
        """A refund through the API or, with created_at, one the shop made in its dashboard at
        that moment; a `pending` one is counted in `refunded_amount` once it succeeds."""
        request = read_request(body, RefundRequest)
        payment = self.payments.get(request.payment_id)
        if payment is None or payment["status"] != "succeeded" or not payment["refundable"]:
            raise ApiRefusal(400, "no refundable payment with this id", "payment_id")
        kopecks = self._amount(request.amount, "amount")
        currency = payment["amount"]["currency"]
        if request.amount.currency != currency:
            raise ApiRefusal(400, "differs from the payment's currency", "amount.currency")
        pending = sum(parse_amount_value(r["amount"]["value"]) for r in self.refunds.values()
                      if r["payment_id"] == request.payment_id and r["status"] == "pending")
        if parse_amount_value(payment["refunded_amount"]["value"]) + pending + kopecks > _total(payment):
            raise ApiRefusal(400, "more than is left to refund", "amount.value")
        refund: WireObject = {"id": str(uuid.uuid4()), "status": "pending",
                              "amount": wire_amount(kopecks, currency),
                              "created_at": timestamp(created_at), "payment_id": request.payment_id}
        if request.description is not None:
            refund["description"] = request.description
        self.refunds[refund["id"]] = refund
        return self.succeed_refund(refund["id"]) if status == "succeeded" else refund

    def succeed_refund(self, refund_id: str) -> WireObject:
        refund = self.refund(refund_id)
        if refund["status"] != "pending":
            raise ApiRefusal(400, f"a {refund['status']} refund cannot succeed")
        payment = self.payment(refund["payment_id"])
        refunded = parse_amount_value(payment["refunded_amount"]["value"]) + parse_amount_value(refund["amount"]["value"])
        payment["refunded_amount"] = wire_amount(refunded, payment["amount"]["currency"])
        payment["refundable"] = refunded < _total(payment)
        refund["status"] = "succeeded"
        return refund

    def list_refunds(self, query: Mapping[str, str]) -> WireObject:
        """`GET /refunds`: the refunds the filters select, newest first, a page of `limit`."""
        return page_of(list(self.refunds.values()), query, REFUND_FILTERS)

    def pay(self, payment_id: str) -> WireObject:
        """What the payer's confirmation does, depending on the payment's `capture` flag."""
        if self.captures_at_once.get(payment_id, True):
            return self.succeed(payment_id)
        return self.wait_for_capture(payment_id)

    def succeed(self, payment_id: str) -> WireObject:
        payment = self._in_status(payment_id, _OPEN, "paid")
        amount = parse_amount_value(payment["amount"]["value"])
        currency = payment["amount"]["currency"]
        commission = (amount * self.commission_basis_points + 5_000) // 10_000
        payment.pop("expires_at", None)
        payment.update(status="succeeded", paid=True, captured_at=timestamp(),
                       income_amount=wire_amount(amount - commission, currency),
                       payment_method=_card(payment_id), refundable=True,
                       refunded_amount=wire_amount(0, currency))
        return payment

    def wait_for_capture(self, payment_id: str) -> WireObject:
        payment = self._in_status(payment_id, ("pending",), "authorized")
        payment.update(status="waiting_for_capture", paid=True, payment_method=_card(payment_id),
                       expires_at=timestamp(datetime.now(UTC) + _CAPTURE_WINDOW))
        return payment

    def cancel(self, payment_id: str, reason: str, party: str = "yoo_money") -> WireObject:
        payment = self._in_status(payment_id, _OPEN, "canceled")
        payment.pop("expires_at", None)
        payment.update(status="canceled", paid=False,
                       cancellation_details={"party": party, "reason": reason})
        return payment

    def _in_status(self, payment_id: str, allowed: tuple[str, ...], change: str) -> WireObject:
        payment = self.payment(payment_id)
        if payment["status"] not in allowed:
            raise ApiRefusal(400, f"a {payment['status']} payment cannot be {change}")
        return payment

    def _amount(self, amount: Amount, parameter: str) -> Kopecks:
        if not _AMOUNT_VALUE.fullmatch(amount.value) or parse_amount_value(amount.value) <= 0:
            raise ApiRefusal(400, "must be a positive amount like 100.00", f"{parameter}.value")
        if amount.currency not in self.currencies:
            raise ApiRefusal(400, "currency not accepted by this shop", f"{parameter}.currency")
        return parse_amount_value(amount.value)


def _total(payment: WireObject) -> Kopecks:
    return parse_amount_value(payment["amount"]["value"])


def _card(payment_id: str) -> WireObject:
    return {"type": "bank_card", "id": payment_id, "saved": False, "title": "Bank card *4444"}
