"""Async client of the YooKassa API v3.

Every failure ends in one of two exceptions so that callers can act on the difference:
`YooKassaError` (the API answered "no"; do not repeat) and `YooKassaUnavailable` (no usable
answer; the outcome of a POST is unknown, so repeat later with the same Idempotence-Key).
Settings are not read here: the caller passes everything in.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from datetime import datetime
from types import TracebackType
from typing import TypeVar

import httpx
import msgspec

from medialab.http_tls import tls_context
from medialab.payments.yookassa_api import (
    Amount,
    ApiError,
    CancelRequest,
    CaptureRequest,
    Confirmation,
    Payment,
    PaymentRequest,
    Receipt,
    Refund,
    RefundList,
    RefundRequest,
    YooKassaError,
    YooKassaUnavailable,
    api_timestamp,
)
from medialab.payments.yookassa_limits import (
    DESCRIPTION_MAX_CHARS,
    check_idempotence_key,
    check_metadata,
)

logger = logging.getLogger(__name__)

Answer = TypeVar("Answer", Payment, Refund, RefundList)
# The most objects a list answers at once (YooKassa's limit).
LIST_LIMIT = 100

# Ids end up in the URL path; anything else (a "../" from a forged webhook body) is refused.
_OBJECT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Failures after which the same request may still succeed: the request (or its answer) was lost.
_TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_STILL_PROCESSING = 202
_TOO_MANY_REQUESTS = 429


class YooKassaClient:
    def __init__(
        self,
        *,
        api_url: str,
        shop_id: str,
        secret_key: str,
        timeout: float = 10.0,
        max_attempts: int = 4,
        backoff_seconds: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if transport is not None and http_client is not None:
            raise ValueError("pass a transport or an http_client, not both")
        self._api_url = api_url.rstrip("/")
        self._shop_id = shop_id
        # The secret lives only inside BasicAuth (as a ready header); it is never kept as text.
        self._auth = httpx.BasicAuth(shop_id, secret_key)
        self._timeout = httpx.Timeout(timeout)
        self._max_attempts = max_attempts
        self._backoff_seconds = backoff_seconds
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(transport=transport, verify=tls_context())

    def __repr__(self) -> str:
        return f"YooKassaClient(api_url={self._api_url!r}, shop_id={self._shop_id!r})"

    async def create_payment(
        self,
        *,
        amount_kopecks: int,
        currency: str,
        return_url: str,
        description: str,
        metadata: dict[str, str],
        idempotence_key: str,
        receipt: Receipt | None = None,
    ) -> Payment:
        """An immediately captured payment that the payer confirms on a redirect page."""
        _check_positive(amount_kopecks)
        check_metadata(metadata)
        request = PaymentRequest(
            amount=Amount.of(amount_kopecks, currency),
            capture=True,
            confirmation=Confirmation(type="redirect", return_url=return_url),
            description=description[:DESCRIPTION_MAX_CHARS],
            metadata=dict(metadata),
            receipt=receipt,
        )
        return await self._post("/payments", request, idempotence_key, Payment)

    async def get_payment(self, payment_id: str) -> Payment:
        content = await self._call("GET", f"/payments/{_object_id(payment_id)}", None, None)
        return _decode(content, Payment, "GET /payments/{id}")

    async def capture_payment(
        self,
        payment_id: str,
        idempotence_key: str,
        amount_kopecks: int | None = None,
        currency: str | None = None,
    ) -> Payment:
        """Captures a waiting_for_capture payment: all of it, or only amount_kopecks."""
        amount = None
        if amount_kopecks is not None or currency is not None:
            if amount_kopecks is None or currency is None:
                raise ValueError("a partial capture needs both amount_kopecks and currency")
            _check_positive(amount_kopecks)
            amount = Amount.of(amount_kopecks, currency)
        path = f"/payments/{_object_id(payment_id)}/capture"
        return await self._post(path, CaptureRequest(amount=amount), idempotence_key, Payment)

    async def cancel_payment(self, payment_id: str, idempotence_key: str) -> Payment:
        path = f"/payments/{_object_id(payment_id)}/cancel"
        return await self._post(path, CancelRequest(), idempotence_key, Payment)

    async def create_refund(
        self, payment_id: str, amount_kopecks: int, currency: str, idempotence_key: str
    ) -> Refund:
        _check_positive(amount_kopecks)
        request = RefundRequest(
            payment_id=_object_id(payment_id), amount=Amount.of(amount_kopecks, currency)
        )
        return await self._post("/refunds", request, idempotence_key, Refund)

    async def get_refund(self, refund_id: str) -> Refund:
        content = await self._call("GET", f"/refunds/{_object_id(refund_id)}", None, None)
        return _decode(content, Refund, "GET /refunds/{id}")

    async def list_refunds(
        self, *, created_at_gte: datetime | None = None, payment_id: str | None = None,
        cursor: str | None = None, limit: int = LIST_LIMIT,
    ) -> RefundList:
        """One page of `GET /refunds`, newest first: those made since created_at_gte, or of
        one payment; `cursor` is the previous page's `next_cursor`."""
        if not 1 <= limit <= LIST_LIMIT:
            raise ValueError(f"limit must be 1 to {LIST_LIMIT}, got {limit!r}")
        params = {"limit": str(limit)}
        if created_at_gte is not None:
            params["created_at.gte"] = api_timestamp(created_at_gte)
        if payment_id is not None:
            params["payment_id"] = _object_id(payment_id)
        if cursor is not None:
            params["cursor"] = cursor
        content = await self._call("GET", "/refunds", None, None, params)
        return _decode(content, RefundList, "GET /refunds")

    async def refund_pages(
        self, *, created_at_gte: datetime | None = None, payment_id: str | None = None,
    ) -> AsyncIterator[list[Refund]]:
        """Every refund the filters select, a page at a time, following the cursors."""
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = await self.list_refunds(created_at_gte=created_at_gte, payment_id=payment_id, cursor=cursor)
            yield page.items
            if not page.next_cursor or page.next_cursor in seen:  # a cursor again would loop forever
                return
            cursor = page.next_cursor
            seen.add(cursor)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> YooKassaClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _post(
        self, path: str, payload: msgspec.Struct, idempotence_key: str, answer: type[Answer]
    ) -> Answer:
        check_idempotence_key(idempotence_key)
        # Encoded once: every retry must carry byte-for-byte the same body under the same key.
        body = msgspec.json.encode(payload)
        content = await self._call("POST", path, body, idempotence_key)
        return _decode(content, answer, f"POST {path}")

    async def _call(
        self, method: str, path: str, body: bytes | None, idempotence_key: str | None,
        params: dict[str, str] | None = None,
    ) -> bytes:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if idempotence_key is not None:
            headers["Idempotence-Key"] = idempotence_key
        operation = f"{method} {path}"
        problem = "not attempted"
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = await self._http.request(
                    method,
                    self._api_url + path,
                    content=body,
                    params=params,
                    headers=headers,
                    auth=self._auth,
                    timeout=self._timeout,
                )
            except _TRANSIENT_ERRORS as exc:
                problem = type(exc).__name__
            else:
                status = response.status_code
                if _is_transient(status):
                    problem = f"HTTP {status}"
                elif 200 <= status < 300:
                    return response.content
                else:
                    raise _refusal(response)
            if attempt < self._max_attempts:
                delay = self._backoff_seconds * 2 ** (attempt - 1)
                logger.warning(
                    "YooKassa %s: attempt %d of %d failed (%s), retrying in %.3fs",
                    operation, attempt, self._max_attempts, problem, delay,
                )
                await asyncio.sleep(delay)
        raise YooKassaUnavailable(operation, self._max_attempts, problem)


def _is_transient(status: int) -> bool:
    return status in (_STILL_PROCESSING, _TOO_MANY_REQUESTS) or status >= 500


def _refusal(response: httpx.Response) -> YooKassaError:
    try:
        error = msgspec.json.decode(response.content, type=ApiError)
    except msgspec.MsgspecError:
        error = ApiError(description=f"unreadable error body of {len(response.content)} bytes")
    return YooKassaError(
        response.status_code, error.code, error.description, error.parameter, error.id
    )


def _decode(content: bytes, answer: type[Answer], operation: str) -> Answer:
    try:
        return msgspec.json.decode(content, type=answer)
    except msgspec.MsgspecError as exc:
        # A 200 we cannot read leaves the outcome as unknown as no answer at all.
        raise YooKassaUnavailable(operation, 1, f"unreadable answer: {exc}") from None


def _object_id(object_id: str) -> str:
    if not isinstance(object_id, str) or not _OBJECT_ID.fullmatch(object_id):
        raise ValueError(f"not a YooKassa object id: {object_id!r}")
    return object_id


def _check_positive(kopecks: int) -> None:
    if isinstance(kopecks, bool) or not isinstance(kopecks, int) or kopecks <= 0:
        raise ValueError(f"amount must be a positive whole number of kopecks, got {kopecks!r}")
