"""The referral bonus over real HTTP: YooKassa's notifications of a referred user's first top-up
pay the referrer once and tell them once, however many arrive at once; a refund of that top-up
takes the bonus back once; nothing else pays one. Afterwards the books balance and the Redis
cache agrees with SQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from medialab.billing import referrals
from medialab.billing.audit import check_ledger
from medialab.billing.reconcile import reconcile
from medialab.db.models import LedgerEntry, Referral
from medialab.sandbox.telegram import BotApiSandbox
from medialab.sandbox.yookassa import YooKassaSandbox
from medialab.settings import Settings

from .conftest import Shop, serve_shop

REFERRER, FRIEND = 810_001, 810_002
BONUS = 5_000


@pytest.fixture
async def shop(app_settings: Settings, yookassa: YooKassaSandbox, telegram: BotApiSandbox,
               redis: Redis) -> AsyncIterator[Shop]:
    async with serve_shop(app_settings.with_overrides(billing={"referral_bonus": BONUS}), yookassa, telegram) as served:
        yield served
        assert await check_ledger(served.services.sessions) == []
        report = await reconcile(served.services.billing, repair=False, pending_grace=0)
        assert report.drifts == [] and report.users_busy == 0


async def brought(shop: Shop, referrer: int = REFERRER, friend: int = FRIEND) -> tuple[int, int]:
    """The referrer's link, and a new user who came by it: their user ids."""
    shop.telegram.message_update(referrer, "/start")  # the referrer has talked to the bot
    owner = await shop.services.billing.get_or_create_user(referrer)
    code = await referrals.invite_code(shop.services.sessions, owner.user_id)
    assert await referrals.invite_code(shop.services.sessions, owner.user_id) == code  # one code a user
    new = await shop.services.billing.get_or_create_user(friend, referral_code=code)
    assert new.created
    return owner.user_id, new.user_id


async def entries(shop: Shop, kind: str) -> list[LedgerEntry]:
    return [entry for entry in await shop.ledger() if entry.kind == kind]


def bonus_messages(shop: Shop) -> list[str]:
    return [text for text in shop.telegram.texts(REFERRER) if "друг" in text]


async def test_50_duplicate_notifications_of_the_first_top_up_pay_the_bonus_once(shop: Shop) -> None:
    referrer_id, friend_id = await brought(shop)
    _, provider_id = await shop.paid_topup(FRIEND, 100)

    statuses = await asyncio.gather(*(shop.notify(provider_id) for _ in range(50)))

    assert statuses == [200] * 50
    (bonus,) = await entries(shop, "referral")
    assert (bonus.user_id, bonus.amount, bonus.idempotency_key) == (referrer_id, BONUS, f"referral:{friend_id}")
    assert await shop.balance(REFERRER) == BONUS and await shop.balance(FRIEND) == 10_000
    assert bonus_messages(shop) == ["Приглашённый вами друг пополнил баланс: вам зачислено 50 ₽.\nБаланс: 50 ₽"]


async def test_a_refund_of_the_first_top_up_takes_the_bonus_back_once(shop: Shop) -> None:
    referrer_id, friend_id = await brought(shop)
    _, provider_id = await shop.paid_topup(FRIEND, 100)
    assert await shop.notify(provider_id) == 200
    refund = await shop.services.payments.client.create_refund(provider_id, 1_000, "RUB", "refund-part")
    hint = shop.yookassa.refund_notification(refund.id)

    statuses = await asyncio.gather(*(shop.yookassa.deliver(shop.webhook_url, hint) for _ in range(20)))

    assert statuses == [200] * 20
    (clawback,) = await entries(shop, "clawback")
    assert (clawback.user_id, clawback.amount, clawback.idempotency_key) == (
        referrer_id, -BONUS, f"clawback:referral:{friend_id}")
    assert await shop.balance(REFERRER) == 0
    # A late payment.succeeded pays no bonus again.
    assert await shop.notify(provider_id) == 200
    assert len(await entries(shop, "referral")) == 1 and await shop.balance(REFERRER) == 0


async def test_a_top_up_refunded_before_it_was_notified_leaves_no_bonus(shop: Shop) -> None:
    await brought(shop)
    _, provider_id = await shop.paid_topup(FRIEND, 100)
    refund = await shop.services.payments.client.create_refund(provider_id, 10_000, "RUB", "refund-all")

    # The refund's notice comes first: the top-up is credited and taken back, the bonus too.
    assert await shop.yookassa.deliver(shop.webhook_url, shop.yookassa.refund_notification(refund.id)) == 200
    assert await shop.notify(provider_id) == 200

    assert await shop.balance(REFERRER) == 0 and await shop.balance(FRIEND) == 0


async def test_only_the_first_top_up_pays_and_only_its_refund_takes_back(shop: Shop) -> None:
    await brought(shop)
    _, first = await shop.paid_topup(FRIEND, 100)
    assert await shop.notify(first) == 200
    _, second = await shop.paid_topup(FRIEND, 200)
    assert await shop.notify(second) == 200
    refund = await shop.services.payments.client.create_refund(second, 20_000, "RUB", "refund-second")
    assert await shop.yookassa.deliver(shop.webhook_url, shop.yookassa.refund_notification(refund.id)) == 200

    assert len(await entries(shop, "referral")) == 1 and await entries(shop, "clawback") == []
    assert await shop.balance(REFERRER) == BONUS
    assert len(bonus_messages(shop)) == 1


async def test_only_a_new_user_is_linked_and_a_user_who_paid_nothing_earns_nothing(shop: Shop) -> None:
    owner = await shop.services.billing.get_or_create_user(REFERRER)
    code = await referrals.invite_code(shop.services.sessions, owner.user_id)
    existing = await shop.services.billing.get_or_create_user(FRIEND)
    # The referrer's own link, an existing user, an unknown code: no link is made.
    await shop.services.billing.get_or_create_user(REFERRER, referral_code=code)
    await shop.services.billing.get_or_create_user(FRIEND, referral_code=code)
    stranger = await shop.services.billing.get_or_create_user(810_003, referral_code="zzzzzzzzzz")
    # Many new accounts by the link, none paying: no bonus.
    for friend in range(810_010, 810_020):
        await shop.services.billing.get_or_create_user(friend, referral_code=code)
    async with shop.services.sessions() as session:
        linked = set((await session.scalars(select(Referral.referred_user_id))).all())
    assert existing.user_id not in linked and stranger.user_id not in linked and owner.user_id not in linked
    assert len(linked) == 10
    assert await entries(shop, "referral") == [] and await shop.balance(REFERRER) == 0


async def test_a_zero_bonus_turns_referrals_off(
    app_settings: Settings, yookassa: YooKassaSandbox, telegram: BotApiSandbox, redis: Redis
) -> None:
    async with serve_shop(app_settings, yookassa, telegram) as off:  # REFERRAL_BONUS defaults to 0
        owner = await off.services.billing.get_or_create_user(REFERRER)
        code = await referrals.invite_code(off.services.sessions, owner.user_id)
        await off.services.billing.get_or_create_user(FRIEND, referral_code=code)
        _, provider_id = await off.paid_topup(FRIEND, 100)
        assert await off.notify(provider_id) == 200
        async with off.services.sessions() as session:
            assert (await session.scalars(select(Referral))).all() == []
        assert await off.balance(REFERRER) == 0
