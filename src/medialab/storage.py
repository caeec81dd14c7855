"""The database, Redis and BillingService over them: what every process of medialab opens.

Operators' commands (`medialab admin`, `medialab reconcile`) open only this, so they start
without loading the Bot API client, the job queue or YooKassa's; `Services` (services.py) adds
those for the web app and the worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from medialab.billing.cache import BalanceCache
from medialab.billing.service import BillingService
from medialab.db.engine import create_engine, session_factory
from medialab.db.redis import EmbeddedRedis, redis_client
from medialab.settings import Settings


@dataclass(kw_only=True)  # keyword-only: Services adds fields without defaults after these
class Storage:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    billing: BillingService
    embedded_redis: EmbeddedRedis | None = field(default=None)

    @classmethod
    async def open(cls, settings: Settings) -> Storage:
        embedded = EmbeddedRedis() if settings.redis.url is None else None
        redis = redis_client(settings.redis.url or embedded.url, settings.redis.timeout)  # type: ignore[union-attr]
        engine = create_engine(settings.database.url)
        sessions = session_factory(engine)
        billing = BillingService(sessions, settings, BalanceCache(redis))
        return Storage(settings=settings, engine=engine, sessions=sessions, redis=redis, billing=billing,
                       embedded_redis=embedded)

    async def close(self) -> None:
        await self.redis.aclose()
        await self.engine.dispose()
        if self.embedded_redis is not None:
            self.embedded_redis.close()
