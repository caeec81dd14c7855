"""Long-lived clients of one process (web or worker), opened at start-up and closed at shutdown."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from medialab.billing.cache import BalanceCache
from medialab.billing.service import BillingService
from medialab.db.engine import create_engine, session_factory
from medialab.db.redis import EmbeddedRedis, redis_client
from medialab.settings import Settings


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    billing: BillingService
    embedded_redis: EmbeddedRedis | None = field(default=None)

    @classmethod
    async def open(cls, settings: Settings) -> Services:
        embedded = EmbeddedRedis() if settings.redis_url is None else None
        redis = redis_client(settings.redis_url or embedded.url)  # type: ignore[union-attr]
        engine = create_engine(settings.database_url)
        sessions = session_factory(engine)
        billing = BillingService(sessions, settings, BalanceCache(redis))
        return cls(settings, engine, sessions, redis, billing, embedded)

    async def close(self) -> None:
        await self.redis.aclose()
        await self.engine.dispose()
        if self.embedded_redis is not None:
            self.embedded_redis.close()
