"""What each operation type costs: PRICE_PER_OPERATION, unless OPERATION_PRICES names the type.

A charge takes its type's price at that moment and the operation and its ledger entry record
it, so a later change of the list never alters a charge made (a refund gives back what was
recorded). A free operation covers any paid type; an unbilled type (add_text) costs 0.
"""

from __future__ import annotations

from collections.abc import Iterable

from medialab.domain.money import Kopecks
from medialab.domain.operations import BILLABLE_TYPES, OperationType


class PriceList:
    __slots__ = ("default", "_prices")

    def __init__(self, default: Kopecks, special: Iterable[tuple[str, Kopecks]] = ()) -> None:
        self.default = default
        self._prices = {kind: default for kind in BILLABLE_TYPES}
        for kind, price in special:
            operation = OperationType(kind)
            if not operation.billable:
                raise ValueError(f"{operation.value} is free and has no price")
            self._prices[operation] = price

    def price_of(self, kind: str | OperationType) -> Kopecks:
        """The type's price in kopecks; 0 for an unbilled type."""
        return self._prices.get(OperationType(kind), 0)

    @property
    def lowest(self) -> Kopecks:
        return min(self._prices.values())

    @property
    def highest(self) -> Kopecks:
        return max(self._prices.values())
