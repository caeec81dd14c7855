"""Metrics of BillingService, recorded from what its public methods answer.

They are decorators so the service's code stays about money. A charge may call itself once
(SQL overruling a stale cache): only the outermost call counts, or one charge would count twice.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, ParamSpec

from medialab.billing.results import Charged, ChargeResult, CreditResult, InsufficientFunds, RefundResult
from medialab.domain.ledger import LedgerKind
from medialab.domain.operations import OperationType
from medialab.metrics import CHARGES, LEDGER_ENTRIES, REFUNDS

P = ParamSpec("P")

_inside_charge: ContextVar[bool] = ContextVar("medialab_inside_charge", default=False)


def record_charge(result: ChargeResult) -> None:
    if isinstance(result, Charged):
        if result.replayed or not OperationType(result.operation_type).billable:
            return  # the first call counted it; an unbilled admission (add_text) charged nothing
        CHARGES.labels(outcome="free" if result.paid_with_free else "paid").inc()
        if not result.paid_with_free:
            LEDGER_ENTRIES.labels(kind=LedgerKind.CHARGE.value).inc()
    elif isinstance(result, InsufficientFunds):
        CHARGES.labels(outcome="insufficient").inc()
    else:
        CHARGES.labels(outcome="busy").inc()


def record_refund(result: RefundResult) -> None:
    if not result.refunded:
        return
    REFUNDS.labels(returned="free_operation" if result.free_operation else "money").inc()
    if not result.free_operation:
        LEDGER_ENTRIES.labels(kind=LedgerKind.REFUND.value).inc()


def counted_charge(method: Callable[P, Awaitable[ChargeResult]]) -> Callable[P, Awaitable[ChargeResult]]:
    @functools.wraps(method)
    async def charge(*args: P.args, **kwargs: P.kwargs) -> ChargeResult:
        if _inside_charge.get():
            return await method(*args, **kwargs)
        token = _inside_charge.set(True)
        try:
            result = await method(*args, **kwargs)
        finally:
            _inside_charge.reset(token)
        record_charge(result)
        return result

    return charge


def counted_refund(method: Callable[P, Awaitable[RefundResult]]) -> Callable[P, Awaitable[RefundResult]]:
    @functools.wraps(method)
    async def refund(*args: P.args, **kwargs: P.kwargs) -> RefundResult:
        result = await method(*args, **kwargs)
        record_refund(result)
        return result

    return refund


def counted_credit(method: Callable[..., Awaitable[CreditResult]]) -> Callable[..., Awaitable[CreditResult]]:
    @functools.wraps(method)
    async def credit(self: Any, user_id: int, amount: int, idempotency_key: str,
                     kind: LedgerKind = LedgerKind.TOPUP, *args: Any, **kwargs: Any) -> CreditResult:
        result = await method(self, user_id, amount, idempotency_key, kind, *args, **kwargs)
        if result.credited:
            LEDGER_ENTRIES.labels(kind=LedgerKind(kind).value).inc()
        return result

    return credit
