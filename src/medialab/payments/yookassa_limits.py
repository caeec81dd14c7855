"""YooKassa's limits on request values, checked by our client before sending and by the
stand-in on arrival; `WireValueError.parameter` names the value the way the API's errors do."""

from __future__ import annotations

from typing import Any

DESCRIPTION_MAX_CHARS = 128
METADATA_MAX_KEYS = 16
METADATA_KEY_MAX_CHARS = 32
METADATA_VALUE_MAX_CHARS = 512
IDEMPOTENCE_KEY_MAX_CHARS = 64


class WireValueError(ValueError):
    """A request value YooKassa would refuse; `parameter` names it the way the API does."""

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter}: {problem}")
        self.parameter = parameter


def check_metadata(metadata: Any) -> None:
    """YooKassa's limits on `metadata`: ≤16 string keys of ≤32 chars, string values ≤512 chars."""
    if not isinstance(metadata, dict):
        raise WireValueError("metadata", "must be an object")
    if len(metadata) > METADATA_MAX_KEYS:
        raise WireValueError("metadata", f"more than {METADATA_MAX_KEYS} keys")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise WireValueError("metadata", "keys and values must be strings")
        if len(key) > METADATA_KEY_MAX_CHARS:
            raise WireValueError("metadata", f"a key is longer than {METADATA_KEY_MAX_CHARS}")
        if len(value) > METADATA_VALUE_MAX_CHARS:
            raise WireValueError("metadata", f"a value is longer than {METADATA_VALUE_MAX_CHARS}")


def check_idempotence_key(key: Any) -> str:
    """The key itself once it is usable. Visible ASCII only: it travels in an HTTP header."""
    if not isinstance(key, str) or not key:
        raise WireValueError("Idempotence-Key", "must be a non-empty string")
    if len(key) > IDEMPOTENCE_KEY_MAX_CHARS:
        raise WireValueError("Idempotence-Key", f"longer than {IDEMPOTENCE_KEY_MAX_CHARS}")
    if not all("!" <= char <= "~" for char in key):
        raise WireValueError("Idempotence-Key", "only visible ASCII characters are allowed")
    return key
