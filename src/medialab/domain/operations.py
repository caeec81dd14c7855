"""Operation types and the states an operation and its job go through."""

from __future__ import annotations

from enum import StrEnum


class OperationType(StrEnum):
    GENERATE = "generate"
    EDIT = "edit"
    MERGE = "merge"
    FACE_SWAP = "face_swap"
    RETOUCH = "retouch"
    UPSCALE = "upscale"
    ADD_TEXT = "add_text"

    @property
    def billable(self) -> bool:
        """Costs a free operation or the price. add_text costs nothing, yet its job still
        takes one of the user's MAX_JOBS_IN_FLIGHT slots like any other."""
        return self is not OperationType.ADD_TEXT


BILLABLE_TYPES: frozenset[OperationType] = frozenset(t for t in OperationType if t.billable)


class OperationStatus(StrEnum):
    """What the operation cost (the original vocabulary, kept).

    free: paid with a free operation; charged: paid from the balance; refunded: compensated (the
    money or the free operation went back); failed: ended without delivery and with nothing to
    give back.
    """

    FREE = "free"
    CHARGED = "charged"
    REFUNDED = "refunded"
    FAILED = "failed"


class JobState(StrEnum):
    """Where the generation job of an operation is, tracked beside the money status."""

    QUEUED = "queued"
    RUNNING = "running"
    DELIVERED = "delivered"
    FAILED = "failed"


class OperationError(ValueError):
    """A request for an operation that cannot be: an unknown type."""


def known_type(value: str | OperationType) -> OperationType:
    try:
        return OperationType(value)
    except ValueError:
        raise OperationError(f"unknown operation type: {value!r}") from None
