"""Keeping the Redis cache in step with SQL, the system of record: each billing call's Redis
step is confirmed after its SQL commit or undone when the commit fails, and a cache that missed a
commit (Redis flushed, unreachable, slow, or SQL restored from a backup) is rebuilt from SQL.
`BillingService` (service.py) builds its calls on these."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing import transactions as tx
from medialab.billing.cache import Answer, BalanceCache, Step
from medialab.billing.users import UserDirectory
from medialab.metrics import CACHE_BEHIND, LEDGER_DRIFT
from medialab.settings import Settings

log = logging.getLogger("medialab.billing.service")
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


class CacheSync(UserDirectory):
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], settings: Settings, cache: BalanceCache | None = None
    ) -> None:
        super().__init__(sessions, settings)
        self.cache = cache
        # Users whose cache missed a commit while Redis did not answer (see _resync_soon).
        self._cache_behind: set[int] = set()

    async def _commit(self, step: Step | None, user_id: int, work):  # type: ignore[no-untyped-def]
        """Runs one SQL transaction; if it fails, the Redis step taken before it is undone."""
        return await self._undo_if_failed(step, user_id, self._in_transaction(work))

    async def _in_transaction(self, work):  # type: ignore[no-untyped-def]
        async with self._sessions.begin() as session:
            return await work(session)

    async def commit_past_the_cache(self, user_id: int, work):  # type: ignore[no-untyped-def]
        """A change of the user's money or free operations that no Redis script makes (a promo
        code's free operations beside its rubles): SQL alone decides, in one transaction
        `work(session)`, and the cache is rebuilt from SQL once it has committed. Only for
        changes that add: until then the cache shows less than SQL, and a charge it refuses is
        checked against SQL (BillingService._confirm_refusal)."""
        result = await self._commit(None, user_id, work)
        if self.cache is not None:
            await self._resync_soon(user_id)
        return result

    async def _undo_if_failed(self, step: Step | None, user_id: int, call: Awaitable[Any]) -> Any:
        try:
            return await call
        except BaseException:
            if step is not None:
                await self._best_effort(self.cache.undo(user_id, step), step.member)  # type: ignore[union-attr]
            raise

    async def _settle_step(self, user_id: int, step: Step | None, changed: bool, version: int | None) -> None:
        if step is not None and changed and version is not None:
            await self._confirm(user_id, step, version)
        elif step is not None:
            await self._best_effort(self.cache.undo(user_id, step), step.member)  # type: ignore[union-attr]
        elif changed and self.cache is not None:
            # SQL changed while Redis had nothing to change (it was down, or out of step).
            await self._resync_soon(user_id)

    async def _confirm(self, user_id: int, step: Step, version: int) -> None:
        await self._best_effort(self.cache.confirm(user_id, step, version), step.member)  # type: ignore[union-attr]

    @staticmethod
    async def _best_effort(call: Awaitable[object], what: str) -> None:
        """A cache update after SQL has decided: if Redis is away, the cache is rebuilt from SQL
        when it comes back (a restart empties it) or repaired by the reconciler."""
        try:
            await call
        except REDIS_DOWN:
            CACHE_BEHIND.labels(what="step").inc()
            log.warning("redis unreachable: the cache will catch up on %s", what)

    async def _resync_soon(self, user_id: int) -> None:
        """The cache must follow a commit it did not see: rebuilt now, or else before this
        process's next script for the user (and by the reconciler's next pass in any case)."""
        try:
            await self.resync(user_id)
            self._cache_behind.discard(user_id)
        except REDIS_DOWN:
            self._cache_behind.add(user_id)
            CACHE_BEHIND.labels(what="user").inc()
            log.warning("redis unreachable: the cache will catch up on user %s", user_id)

    async def _with_cache(self, user_id: int, call) -> Answer:  # type: ignore[no-untyped-def]
        """Runs a script; when the user's counters are not cached, loads them and runs it again."""
        if user_id in self._cache_behind:
            await self.resync(user_id)
            self._cache_behind.discard(user_id)
        for _ in range(5):
            answer: Answer = await call()
            if answer.status != "cache_missing":
                return answer
            await self.load_cache(user_id)
        raise RuntimeError(f"the cache of user {user_id} could not be loaded")

    async def load_cache(self, user_id: int, *, force: bool = False, expected_seq: int | None = None) -> str:
        """Fills the cache from an SQL snapshot, reading again while the snapshot is stale.

        A forced reload notes the cache's seq before reading SQL and writes only if no Redis
        step (reserve, confirm, …) moved it since: such a step may hold a commit the snapshot
        has not seen. Without an expected seq it reads again until its write lands.

        Every version the cache holds was committed in SQL before Redis saw it, so a snapshot
        read after a "stale" answer that is still older than that version means SQL lost
        commits (a backup restored, a replica promoted): SQL wins and replaces the cache.
        """
        assert self.cache is not None
        committed_before: int | None = None
        for _ in range(20):
            seq, replace = expected_seq, force
            if force and seq is None:
                cached = await self.cache.snapshot(user_id)
                if cached is None:
                    # Nothing to replace, and no seq to guard a replacement with: load only if
                    # it is still missing (a forced load here wrote a snapshot read long after
                    # over what others had loaded and confirmed meanwhile).
                    replace = False
                else:
                    seq = cached.seq
            async with self._sessions() as session:
                balance, free, version, in_flight = await tx.snapshot(session, user_id)
            sql_behind = committed_before is not None and version < committed_before
            if sql_behind:
                LEDGER_DRIFT.labels(field="sql_behind").inc()
                log.error("SQL is behind the cache for user %s (SQL at version %s, the cache saw %s): "
                          "a restored backup? SQL wins, the cache is rebuilt from it", user_id, version,
                          committed_before)
            answer = await self.cache.load(user_id, balance, free, version, in_flight,
                                           force=replace, expected_seq=seq, sql_behind=sql_behind)
            if answer.status == "stale":
                committed_before = int(answer.values[0])
                continue
            if answer.status == "moved" and expected_seq is None:
                continue
            if answer.status == "exists" and force:
                continue  # loaded by someone else since we looked: replace that, guarded by its seq
            return answer.status
        raise RuntimeError(f"the cache of user {user_id} could not be loaded from SQL")

    async def resync(self, user_id: int) -> None:
        """Replaces the user's cache with SQL's numbers."""
        await self.load_cache(user_id, force=True)
