"""Users and what they can see of their account: created once, read often."""

from __future__ import annotations

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from medialab.billing import referrals, sql
from medialab.billing.results import UserInfo
from medialab.billing.statement import PAGE, Statement, read_statement
from medialab.db.models import Balance, User
from medialab.settings import Settings


class UserDirectory:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._sessions = sessions
        self._engine: AsyncEngine = sessions.kw["bind"]
        self._settings = settings

    async def get_or_create_user(
        self, telegram_id: int, language: str | None = None, referral_code: str | None = None,
    ) -> UserInfo:
        """The user, created with FREE_OPERATIONS_COUNT free operations on first contact only,
        however many requests for the same new user arrive at once.

        `referral_code`: the link the user came by. A user created now is linked to its owner in
        the same commit (referrals.link_new_user), so only a new user is ever linked, once."""
        async with self._sessions() as session:
            info = await self._user_info(session, telegram_id)
        if info is not None:
            return info
        async with self._sessions.begin() as session:
            free = self._settings.billing.free_operations_count
            inserted = await session.execute(
                sql.insert_ignoring_conflicts(session, sql.users, "telegram_id")
                .values(telegram_id=telegram_id, free_operations_left=free,
                        free_operations_granted=free, language=(language or "ru")[:8])
                .returning(sql.users.c.id)
            )
            user_id = inserted.scalar_one_or_none()
            if user_id is not None:
                await session.execute(sql.balances.insert().values(user_id=user_id, balance=0))
                if referral_code is not None and self._settings.billing.referral_bonus > 0:
                    await referrals.link_new_user(session, user_id, referral_code)
            # A concurrent insert of the same user was committed before ON CONFLICT let us go.
            info = await self._user_info(session, telegram_id)
            assert info is not None
            return msgspec.structs.replace(info, created=user_id is not None)

    async def get_user_info(self, telegram_id: int) -> UserInfo | None:
        """Balance, free operations left and the configured free count, as SQL has them."""
        async with self._sessions() as session:
            return await self._user_info(session, telegram_id)

    async def statement(self, user_id: int, before: int | None = None, limit: int = PAGE) -> Statement:
        """The user's latest balance movements, newest first (before an entry id: older ones)."""
        async with self._sessions() as session:
            return await read_statement(session, user_id, before, limit)

    async def _user_info(self, session: AsyncSession, telegram_id: int) -> UserInfo | None:
        row = (await session.execute(
            select(User.id, User.free_operations_left, User.language, Balance.balance)
            .join(Balance, Balance.user_id == User.id)
            .where(User.telegram_id == telegram_id)
        )).first()
        if row is None:
            return None
        return UserInfo(
            user_id=row.id, telegram_id=telegram_id, balance=row.balance,
            free_operations_left=row.free_operations_left,
            free_operations_total=self._settings.billing.free_operations_count, language=row.language,
        )
