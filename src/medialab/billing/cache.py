"""The Redis side of billing: one Lua script per operation (`lua/`, loaded by db/redis_scripts.py),
called with keys from db/redis_keys.py. Answers are decoded into `Answer` (a status word and its
numbers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from medialab.db import redis_keys
from medialab.db.redis_pipelining import auto_pipeline
from medialab.db.redis_scripts import lua_script

MARKER_TTL = 7 * 24 * 3600  # long enough to outlive any job and any retried webhook
ACCOUNT_TTL = 30 * 24 * 3600  # idle users leave the cache; SQL reloads them on next use
SCRIPTS = ("load", "reserve", "release", "settle", "credit", "confirm", "undo")


@dataclass(frozen=True, slots=True)
class Answer:
    status: str
    values: tuple[Any, ...] = ()


def _decode(raw: list[Any]) -> Answer:
    items = [v.decode() if isinstance(v, bytes) else v for v in raw]
    return Answer(items[0], tuple(items[1:]))


class BalanceCache:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._pipeline = auto_pipeline(redis)
        self._scripts = {name: lua_script("medialab.billing", name) for name in SCRIPTS}

    async def _run(self, name: str, keys_: list[str], args: list[Any]) -> Answer:
        # Batched with the other commands of this turn of the event loop; reloaded if Redis
        # lost the script (db/redis_pipelining.py).
        return _decode(await self._pipeline.script(self._scripts[name], keys_, args))

    async def load(
        self, user_id: int, balance: int, free: int, version: int, in_flight: list[str],
        *, force: bool = False, expected_seq: int | None = None, sql_behind: bool = False,
    ) -> Answer:
        k = redis_keys.user_keys(user_id)
        args = [balance, free, version, "1" if force else "0", "" if expected_seq is None else expected_seq,
                ACCOUNT_TTL, "1" if sql_behind else "0", *in_flight]
        return await self._run("load", [k.acct, k.inflight, k.pending, k.floor], args)

    async def reserve(
        self, user_id: int, operation_id: str, price: int, max_in_flight: int, billed: bool = True,
    ) -> Answer:
        k = redis_keys.user_keys(user_id)
        marker = redis_keys.operation_marker(user_id, operation_id)
        args = [operation_id, price, max_in_flight, MARKER_TTL, ACCOUNT_TTL, "1" if billed else "0"]
        return await self._run("reserve", [k.acct, k.inflight, k.pending, marker], args)

    async def release(self, user_id: int, operation_id: str, free: bool, price: int) -> Answer:
        k = redis_keys.user_keys(user_id)
        marker = redis_keys.operation_marker(user_id, operation_id)
        args = [operation_id, "free" if free else "paid", price, MARKER_TTL]
        return await self._run("release", [k.acct, k.inflight, k.pending, marker], args)

    async def settle(self, user_id: int, operation_id: str, version: int) -> Answer:
        k = redis_keys.user_keys(user_id)
        marker = redis_keys.operation_marker(user_id, operation_id)
        return await self._run("settle", [k.acct, k.inflight, marker, k.floor], [operation_id, version])

    async def credit(self, user_id: int, idempotency_key: str, amount: int) -> Answer:
        k = redis_keys.user_keys(user_id)
        marker = redis_keys.credit_marker(user_id, idempotency_key)
        return await self._run("credit", [k.acct, k.pending, marker], [idempotency_key, amount, MARKER_TTL])

    async def confirm(self, user_id: int, step: Step, version: int) -> Answer:
        k = redis_keys.user_keys(user_id)
        args = [step.member, version, step.balance_delta, step.free_delta, step.in_flight, step.operation_id]
        return await self._run("confirm", [k.acct, k.inflight, k.pending, k.floor], args)

    async def undo(self, user_id: int, step: Step) -> Answer:
        k = redis_keys.user_keys(user_id)
        in_flight = {"add": "remove", "remove": "restore"}.get(step.in_flight, "")
        args = [step.member, -step.balance_delta, -step.free_delta, in_flight, step.operation_id]
        return await self._run("undo", [k.acct, k.inflight, k.pending, step.marker], args)

    async def snapshot(self, user_id: int) -> CachedAccount | None:
        k = redis_keys.user_keys(user_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hmget(k.acct, "bal", "free", "ver", "seq")
            pipe.smembers(k.inflight)
            pipe.zrange(k.pending, 0, -1, withscores=True)
            (bal, free, ver, seq), members, pending = await pipe.execute()
        if bal is None:
            return None
        return CachedAccount(
            int(bal), int(free), int(ver), int(seq), frozenset(m.decode() for m in members),
            tuple((m.decode(), float(score)) for m, score in pending),
        )


@dataclass(frozen=True, slots=True)
class Step:
    """One Redis step of a billing call, described so that it can be confirmed or undone."""

    member: str
    marker: str
    balance_delta: int
    free_delta: int
    in_flight: str = ""
    operation_id: str = ""

    @classmethod
    def reservation(cls, user_id: int, operation_id: str, free: bool, price: int) -> Step:
        return cls(f"op:{operation_id}", redis_keys.operation_marker(user_id, operation_id),
                   0 if free else -price, -1 if free else 0, "add", operation_id)

    @classmethod
    def release(cls, user_id: int, operation_id: str, free: bool, price: int) -> Step:
        return cls(f"rel:{operation_id}", redis_keys.operation_marker(user_id, operation_id),
                   0 if free else price, 1 if free else 0, "remove", operation_id)

    @classmethod
    def credit(cls, user_id: int, idempotency_key: str, amount: int) -> Step:
        return cls(f"cr:{idempotency_key}", redis_keys.credit_marker(user_id, idempotency_key), amount, 0)


@dataclass(frozen=True, slots=True)
class CachedAccount:
    balance: int
    free: int
    version: int
    seq: int
    in_flight: frozenset[str]
    pending: tuple[tuple[str, float], ...]
