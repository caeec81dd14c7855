"""The one helper that names Redis keys. Every key of a user carries the hash tag {u:<id>}, so a
user's keys live in one Redis Cluster slot and one script may touch them all."""

from __future__ import annotations

from typing import NamedTuple

PREFIX = "ml"


class UserKeys(NamedTuple):
    acct: str  # hash: bal, free, ver (SQL version of the snapshot), seq (changes since)
    inflight: str  # set of operation ids whose jobs are running
    pending: str  # zset of Redis steps not yet matched by an SQL commit, by time
    floor: str  # the lowest SQL version a new snapshot may have

    @property
    def tag(self) -> str:
        return self.acct.split(":acct")[0]


def user_keys(user_id: int) -> UserKeys:
    tag = f"{PREFIX}:{{u:{user_id}}}"
    return UserKeys(f"{tag}:acct", f"{tag}:inflight", f"{tag}:pending", f"{tag}:floor")


def operation_marker(user_id: int, operation_id: str) -> str:
    return f"{user_keys(user_id).tag}:op:{operation_id}"


def credit_marker(user_id: int, idempotency_key: str) -> str:
    return f"{user_keys(user_id).tag}:cr:{idempotency_key}"


ACCOUNT_PATTERN = f"{PREFIX}:{{u:*}}:acct"


def user_id_of(acct_key: str | bytes) -> int:
    text = acct_key.decode() if isinstance(acct_key, bytes) else acct_key
    return int(text.split("{u:", 1)[1].split("}", 1)[0])
