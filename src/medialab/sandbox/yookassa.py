"""A stand-in of the YooKassa API v3 for tests and the demo.

`YooKassaSandbox(shop_id, secret_key)` holds the state; `.app` is the Litestar app speaking the
wire format (serve it with `medialab.sandbox.serving.serve_in_loop`). Tests drive the payer's side
and faults with plain methods; another process can do the same through `/_sandbox/...`.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hmac
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import httpx
import msgspec
from litestar import Litestar

from medialab.domain.money import parse_amount_value
from medialab.http_tls import tls_context
from medialab.payments.yookassa_limits import WireValueError, check_idempotence_key
from medialab.sandbox.yookassa_http import build_app
from medialab.sandbox.yookassa_state import YooKassaState
from medialab.sandbox.yookassa_wire import ApiRefusal, Operation, WireObject, wire_amount


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    query: str = ""  # the URL's query string, as sent

    @property
    def idempotence_key(self) -> str | None:
        return self.headers.get("idempotence-key")

    def json(self) -> Any:
        return msgspec.json.decode(self.body) if self.body else None


@dataclass(frozen=True)
class _Fault:
    status: int | None  # None: answer normally (after the hang)
    hang_seconds: float = 0.0
    processed: bool = True  # whether the request takes effect although its answer is lost


@dataclass(frozen=True)
class _StoredAnswer:
    path: str
    body: Any
    answer: bytes


class YooKassaSandbox:
    def __init__(
        self,
        shop_id: str,
        secret_key: str,
        *,
        currencies: frozenset[str] = frozenset({"RUB"}),
        commission_basis_points: int = 350,
        webhook_url: str | None = None,
    ) -> None:
        self.shop_id = shop_id
        self._secret_key = secret_key
        self.state = YooKassaState(
            currencies=currencies, commission_basis_points=commission_basis_points
        )
        # Where the checkout page reports what the payer did, as YooKassa would (None: nowhere).
        self.webhook_url = webhook_url
        self.requests: list[ReceivedRequest] = []
        self._faults: deque[_Fault] = deque()
        self._answers: dict[str, _StoredAnswer] = {}
        # Seconds every API request waits before it is answered (a slow YooKassa), on top of
        # any fault's hang; 0 answers at once.
        self.latency = 0.0

    def __repr__(self) -> str:
        return f"YooKassaSandbox(shop_id={self.shop_id!r}, payments={len(self.payments)})"

    @cached_property
    def app(self) -> Litestar:
        return build_app(self)

    @property
    def payments(self) -> dict[str, WireObject]:
        return self.state.payments

    @property
    def refunds(self) -> dict[str, WireObject]:
        return self.state.refunds

    # The payer's and YooKassa's side of a payment.
    def succeed(self, payment_id: str) -> WireObject:
        return copy.deepcopy(self.state.succeed(payment_id))

    def wait_for_capture(self, payment_id: str) -> WireObject:
        return copy.deepcopy(self.state.wait_for_capture(payment_id))

    def cancel(self, payment_id: str, reason: str = "expired_on_confirmation") -> WireObject:
        return copy.deepcopy(self.state.cancel(payment_id, reason))

    def refund_in_dashboard(
        self, payment_id: str, kopecks: int | None = None, created_at: datetime | None = None,
        status: str = "succeeded",
    ) -> WireObject:
        """A refund the shop makes in YooKassa's dashboard (all that is left by default), made
        at created_at (now by default), `pending` until `succeed_refund`: no API request of
        ours, and no notification sent."""
        payment = self.state.payment(payment_id)
        currency = payment["amount"]["currency"]
        left = parse_amount_value(payment["amount"]["value"]) - parse_amount_value(payment["refunded_amount"]["value"])
        body = {"payment_id": payment_id, "amount": wire_amount(left if kopecks is None else kopecks, currency)}
        return copy.deepcopy(self.state.create_refund(body, created_at or datetime.now(UTC), status))

    def succeed_refund(self, refund_id: str) -> WireObject:
        return copy.deepcopy(self.state.succeed_refund(refund_id))

    def notification(self, payment_id: str, event: str = "payment.succeeded") -> WireObject:
        """The body YooKassa POSTs to the webhook, with the payment as it is now."""
        return _notification(event, self.state.payment(payment_id))

    def refund_notification(self, refund_id: str) -> WireObject:
        return _notification("refund.succeeded", self.state.refund(refund_id))

    async def deliver(
        self, webhook_url: str, notification: WireObject, headers: Mapping[str, str] | None = None
    ) -> int:
        """POSTs a notification the way YooKassa does; returns the webhook's HTTP status."""
        async with httpx.AsyncClient(timeout=10.0, verify=tls_context()) as http:
            response = await http.post(
                webhook_url,
                content=msgspec.json.encode(notification),
                headers={"Content-Type": "application/json", **(headers or {})},
            )
        return response.status_code

    # Faults: each one is used up by one API request, in the order they were added.
    def fail_next(self, count: int, status: int = 500, *, processed: bool | None = None) -> None:
        """Answers the next requests with status and an error body. A 5xx by default still
        takes effect, as a real one may have: only a retry with the same key reveals it."""
        taken = status >= 500 if processed is None else processed
        self._faults.extend(_Fault(status, processed=taken) for _ in range(count))

    def accept_next(self, count: int) -> None:
        """Answers 202 ("still processing, repeat") while the request does take effect."""
        self._faults.extend(_Fault(202) for _ in range(count))

    def hang_next(self, count: int, seconds: float) -> None:
        self._faults.extend(_Fault(None, hang_seconds=seconds) for _ in range(count))

    def answer_slowly(self, seconds: float) -> None:
        """Every API request from now on waits this long before it is answered (0: at once),
        then takes effect as usual: YooKassa slow for everyone, not a fault used up."""
        if seconds < 0:
            raise ValueError("latency cannot be negative")
        self.latency = seconds

    async def answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes, operation: Operation,
        query: str = "",
    ) -> tuple[int, bytes]:
        """One API request from arrival to (status, body): faults, auth, idempotency.
        Header names must be in lower case."""
        received = ReceivedRequest(method, path, headers, body, query)
        self.requests.append(received)
        fault = self._faults.popleft() if self._faults else None
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault is not None and fault.hang_seconds:
            await asyncio.sleep(fault.hang_seconds)
        if fault is not None and fault.status is not None:
            if fault.processed:
                self._process(received, operation)
            if fault.status == 202:
                return 202, b"{}"
            refusal = ApiRefusal(fault.status, "injected by the sandbox")
            return fault.status, msgspec.json.encode(refusal.body())
        return self._process(received, operation)

    def _process(self, received: ReceivedRequest, operation: Operation) -> tuple[int, bytes]:
        try:
            self._check_credentials(received.headers.get("authorization", ""))
            body = _json_body(received)
            if received.method != "POST":
                return 200, msgspec.json.encode(operation(body))
            try:
                key = check_idempotence_key(received.idempotence_key)
            except WireValueError as exc:
                raise ApiRefusal(400, str(exc), exc.parameter) from None
            stored = self._answers.get(key)
            if stored is not None:
                if (stored.path, stored.body) != (received.path, body):
                    raise ApiRefusal(400, "Idempotence-Key reused with another request",
                                     "Idempotence-Key")
                return 200, stored.answer
            answer = msgspec.json.encode(operation(body))
            self._answers[key] = _StoredAnswer(received.path, body, answer)
            return 200, answer
        except ApiRefusal as refusal:
            return refusal.status, msgspec.json.encode(refusal.body())

    def _check_credentials(self, authorization: str) -> None:
        scheme, _, encoded = authorization.partition(" ")
        expected = base64.b64encode(f"{self.shop_id}:{self._secret_key}".encode()).decode()
        if scheme.lower() != "basic" or not hmac.compare_digest(
            encoded.strip().encode(), expected.encode()
        ):
            raise ApiRefusal(401, "shop id or secret key is wrong")


def _notification(event: str, wire_object: WireObject) -> WireObject:
    return {"type": "notification", "event": event, "object": copy.deepcopy(wire_object)}


def _json_body(received: ReceivedRequest) -> Any:
    if not received.body:
        return None
    try:
        return received.json()
    except msgspec.DecodeError:
        raise ApiRefusal(400, "the body is not valid JSON") from None
