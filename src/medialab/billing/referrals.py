"""Referrals in SQL: each user's referral code, and the link from a new user to whoever
brought them. The bonus itself is paid and taken back by payments/referral_bonus.py."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.db.models import Referral, User
from medialab.domain.promo import new_referral_code

# A fresh random code meets an existing one about once in 36**10 / users tries.
CODE_ATTEMPTS = 5


async def link_new_user(session: AsyncSession, user_id: int, referral_code: str) -> bool:
    """In the transaction that creates the user: linked to the code's owner, if there is one.
    (A new user has no code yet, so cannot be their own referrer; the table refuses it too.)"""
    referrer_id = (await session.scalars(select(User.id).where(User.referral_code == referral_code))).first()
    if referrer_id is None or referrer_id == user_id:
        return False
    session.add(Referral(referred_user_id=user_id, referrer_user_id=referrer_id))
    await session.flush()
    return True


async def invite_code(sessions: async_sessionmaker[AsyncSession], user_id: int) -> str:
    """The user's referral code, made on first asking and the same ever after."""
    for _ in range(CODE_ATTEMPTS):
        try:
            async with sessions.begin() as session:
                await session.execute(update(User).where(User.id == user_id, User.referral_code.is_(None))
                                      .values(referral_code=new_referral_code()))
                code = (await session.scalars(select(User.referral_code).where(User.id == user_id))).one()
        except IntegrityError:
            continue  # someone else's code already: another draw
        if code is not None:
            return code
    raise RuntimeError(f"no free referral code found for user {user_id}")
