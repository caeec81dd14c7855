"""Metrics of BillingService, recorded from what its public methods answer.

They are decorators so the service's code stays about money. Only the public methods are
decorated, and they never call one another, so each call counts once.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from medialab.billing.results import Charged, ChargeResult, CreditResult, InsufficientFunds, RefundResult
from medialab.domain.ledger import LedgerKind
from medialab.domain.operations import OperationType
from medialab.metrics import CHARGES, LEDGER_ENTRIES, REFUNDS

P = ParamSpec("P")
R = TypeVar("R")


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


def _counted(record: Callable[[R], None]) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    def decorate(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(method)
        async def counted(*args: P.args, **kwargs: P.kwargs) -> R:
            result = await method(*args, **kwargs)
            record(result)
            return result

        return counted

    return decorate


counted_charge = _counted(record_charge)
counted_refund = _counted(record_refund)


def counted_credit(method: Callable[..., Awaitable[CreditResult]]) -> Callable[..., Awaitable[CreditResult]]:
    @functools.wraps(method)
    async def credit(self: Any, user_id: int, amount: int, idempotency_key: str,
                     kind: LedgerKind = LedgerKind.TOPUP, *args: Any, **kwargs: Any) -> CreditResult:
        result = await method(self, user_id, amount, idempotency_key, kind, *args, **kwargs)
        if result.credited:
            LEDGER_ENTRIES.labels(kind=LedgerKind(kind).value).inc()
        return result

    return credit
