"""The one helper that names Redis keys.

Two prefixes, on purpose. `ml:` is ours: every key of a user's account carries the hash tag
{u:<id>}, so they live in one Redis Cluster slot and one script may touch them all (the job
cache's keys and the kept-results set are touched by no script). `medialab:fsm` is
the conversation state and the chat lock, laid out by aiogram's key builder
(`medialab:fsm:<chat>:<user>:state|data|lock`). Neither is renamed: the keys of the running
release would be lost at a deploy (balances mid-charge, a user's mode or question), and while the
old and the new processes run side by side, a chat's lock under two names would let both handle
its updates at once. arq's keys are arq's own (its worker reads them, on one Redis: arq does not
run on a Cluster), so enqueue.lua's keys carry no tag; the chat lock's scripts touch one key.
"""

from __future__ import annotations

from typing import NamedTuple

PREFIX = "ml"
FSM_PREFIX = "medialab:fsm"


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


def job_image(operation_id: str) -> str:
    """A generation job's image, kept between its tries (jobs/job_cache.py)."""
    return f"{PREFIX}:job:{operation_id}:image"


def job_delivered(operation_id: str) -> str:
    """Set once the job's result was delivered (jobs/job_cache.py)."""
    return f"{PREFIX}:job:{operation_id}:delivered"


# The Telegram ids with results kept for their next message (jobs/kept_results.py).
KEPT_RESULTS_WAITING = f"{PREFIX}:kept-results"


def arq_job(job_id: str, queue_name: str) -> list[str]:
    """What enqueue.lua touches: the job's and its result's keys (arq's names) and the queue."""
    # Imported here: the operators' commands name billing's keys and must not load arq
    # (tests/ops/test_admin_commands.py keeps them light).
    from arq.constants import job_key_prefix, result_key_prefix

    return [job_key_prefix + job_id, result_key_prefix + job_id, queue_name]
