"""Lists of the YooKassa stand-in, as the API pages them (yookassa.ru/developers/using-api/lists):
`{"type": "list", "items": [...], "next_cursor": "..."}`, newest first, `limit` 1 to 100 (10
when absent), `cursor` taken from the previous page, and each collection's filters:
`created_at.gte|gt|lte|lt` and equality on some fields (a refund's `payment_id`, `status`)."""

from __future__ import annotations

import base64
import binascii
import operator
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from medialab.payments.yookassa_api import parse_api_timestamp
from medialab.sandbox.yookassa_wire import ApiRefusal, WireObject

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
_TIME_FILTERS: dict[str, Callable[[Any, Any], bool]] = {
    "created_at.gte": operator.ge, "created_at.gt": operator.gt,
    "created_at.lte": operator.le, "created_at.lt": operator.lt,
}
REFUND_FILTERS = frozenset({"payment_id", "status"})
_PAGING = frozenset({"limit", "cursor"})


def page_of(objects: list[WireObject], query: Mapping[str, str], fields: frozenset[str]) -> WireObject:
    unknown = set(query) - set(_TIME_FILTERS) - fields - _PAGING
    if unknown:
        raise ApiRefusal(400, "not a filter of this list", sorted(unknown)[0])
    selected = [o for o in objects if _selected(o, query, fields)]
    selected.sort(key=_position, reverse=True)
    if "cursor" in query:
        after = _cursor_position(query["cursor"])
        selected = [o for o in selected if _position(o) < after]
    limit = _limit(query.get("limit"))
    page: WireObject = {"type": "list", "items": selected[:limit]}
    if len(selected) > limit:
        page["next_cursor"] = _cursor(page["items"][-1])
    return page


def _selected(wire_object: WireObject, query: Mapping[str, str], fields: frozenset[str]) -> bool:
    created = parse_api_timestamp(wire_object["created_at"])
    for name, compare in _TIME_FILTERS.items():
        if name in query and not compare(created, _moment(query[name], name)):
            return False
    return all(wire_object.get(name) == query[name] for name in fields if name in query)


def _position(wire_object: WireObject) -> tuple[datetime, str]:
    return parse_api_timestamp(wire_object["created_at"]), wire_object["id"]


def _moment(value: str, parameter: str) -> datetime:
    try:
        return parse_api_timestamp(value)
    except ValueError:
        raise ApiRefusal(400, "must be a time like 2026-11-24T10:51:18.139Z", parameter) from None


def _limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise ApiRefusal(400, f"must be a whole number from 1 to {MAX_LIMIT}", "limit")
    return int(value)


def _cursor(wire_object: WireObject) -> str:
    return base64.urlsafe_b64encode(f"{wire_object['created_at']}|{wire_object['id']}".encode()).decode()


def _cursor_position(cursor: str) -> tuple[datetime, str]:
    try:
        created_at, _, object_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return parse_api_timestamp(created_at), object_id
    except (ValueError, binascii.Error):
        raise ApiRefusal(400, "not a cursor of this list", "cursor") from None
