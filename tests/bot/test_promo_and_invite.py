"""/promo, /invite, the deep links /start promo_CODE and /start ref_<code>, and the operators'
/admin_promo_* commands over the real webhook with the Bot API stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from medialab.billing import promo
from medialab.db.models import PromoCode, Referral
from medialab.sandbox.telegram import BotApiSandbox

from .conftest import Chat, Launcher, Running, ledger_of

ADMIN, ALICE, BOB, CAROL = 770_001, 770_002, 770_003, 770_004


@pytest.fixture
async def app(launch: Launcher) -> AsyncIterator[Running]:
    async with launch(billing={"referral_bonus": 5_000}, admin={"telegram_ids": frozenset({ADMIN})}) as running:
        yield running


async def text_of(chat: Chat, said: str) -> str:
    return (await chat.say(said)).params["text"]


async def test_promo_credits_once_and_every_refusal_is_clear(app: Running, telegram: BotApiSandbox) -> None:
    await promo.create_code(app.services.sessions, "SUMMER25", 10_000, free_operations=2, max_uses=1)
    alice, bob = Chat(telegram, ALICE), Chat(telegram, BOB, "en")

    assert await text_of(alice, "/promo summer25") == (
        "Промокод SUMMER25 принят!\nНа баланс зачислено 100 ₽.\nДобавлено бесплатных операций: 2.\nБаланс: 100 ₽")
    assert await text_of(alice, "/promo SUMMER25") == "Вы уже использовали промокод SUMMER25."
    assert await text_of(bob, "/promo SUMMER25") == "The promo code SUMMER25 has been used up."
    assert await text_of(bob, "/promo NOPE") == "There is no promo code NOPE. Check the spelling."
    assert await text_of(bob, "/promo") == "Send the code after the command, e.g. /promo SUMMER25."
    assert (await text_of(bob, "/promo <script>")).startswith("That is not a promo code")
    assert (await text_of(bob, "/promo " + "A" * 33)).startswith("That is not a promo code")

    assert [(entry.kind, entry.amount, entry.idempotency_key) for entry in await ledger_of(app.services, ALICE)] == [
        ("promo", 10_000, f"promo:SUMMER25:{(await app.services.billing.get_user_info(ALICE)).user_id}")]  # type: ignore[union-attr]
    assert await ledger_of(app.services, BOB) == []
    assert "Бесплатные операции: 6 из 4" in await text_of(alice, "/balance")


async def test_start_with_a_promo_link_greets_and_redeems(app: Running, telegram: BotApiSandbox) -> None:
    await promo.create_code(app.services.sessions, "WELCOME", 5_000)

    text = await text_of(Chat(telegram, CAROL), "/start promo_welcome")

    assert "Промокод WELCOME принят!\nНа баланс зачислено 50 ₽.\nБаланс: 50 ₽" in text
    assert "Баланс: 50 ₽\nБесплатные операции: 4 из 4" in text  # the account after the code


async def test_invite_link_brings_a_new_user_once(app: Running, telegram: BotApiSandbox) -> None:
    alice = Chat(telegram, ALICE)
    await alice.say("/start")
    invitation = await text_of(alice, "/invite")
    link = invitation.rsplit(" ", 1)[-1]
    assert link.startswith("https://t.me/medialab_test_bot?start=ref_")
    assert invitation.startswith("Приглашайте друзей: когда пришедший по вашей ссылке впервые пополнит баланс, "
                                 "вы получите 50 ₽.")
    assert await text_of(alice, "/invite") == invitation  # the same link every time
    payload = link.split("start=", 1)[1]

    await Chat(telegram, BOB).say(f"/start {payload}")  # new: linked
    await alice.say(f"/start {payload}")  # their own link: nothing
    await Chat(telegram, CAROL).say("/start")
    await Chat(telegram, CAROL).say(f"/start {payload}")  # existing: nothing

    async with app.services.sessions() as session:
        links = (await session.execute(select(Referral.referred_user_id, Referral.referrer_user_id))).all()
    alice_id = (await app.services.billing.get_user_info(ALICE)).user_id  # type: ignore[union-attr]
    bob_id = (await app.services.billing.get_user_info(BOB)).user_id  # type: ignore[union-attr]
    assert links == [(bob_id, alice_id)]


async def test_invite_says_so_when_referrals_are_off(launch: Launcher, telegram: BotApiSandbox) -> None:
    async with launch():
        assert await text_of(Chat(telegram, ALICE, "en"), "/invite") == "Invitations are not available right now."


async def test_operators_make_list_and_disable_codes_in_the_chat(app: Running, telegram: BotApiSandbox) -> None:
    admin = Chat(telegram, ADMIN)

    assert await text_of(admin, "/admin_promo_create spring 100 --uses 5 --until 2099-12-31 --free-ops 1") == (
        "created SPRING: 100 ₽ + 1 free ops, used 0/5, through 2099-12-31, active")
    assert await text_of(admin, "/admin_promo_create spring 100") == (
        "promo code SPRING exists already (a code is never reused)")
    assert (await text_of(admin, "/admin_promo_create spring")).startswith(
        "the following arguments are required: rubles; usage: /admin_promo_create CODE RUBLES")
    assert await text_of(admin, "/admin_promo_create x 5") == (
        "a promo code is 3-32 Latin letters, digits, '_' or '-', got 'x'")
    assert await text_of(admin, "/admin_promo_disable SPRING") == (
        "disabled SPRING: 100 ₽ + 1 free ops, used 0/5, through 2099-12-31, disabled")
    assert await text_of(admin, "/admin_promo_list") == (
        "SPRING: 100 ₽ + 1 free ops, used 0/5, through 2099-12-31, disabled")
    assert await text_of(Chat(telegram, ALICE, "en"), "/promo spring") == "The promo code SPRING no longer works."
    # Anyone else's /admin_promo_create is a command the bot does not know; no code is made.
    await Chat(telegram, BOB).say("/admin_promo_create FREEBIE 1000")
    async with app.services.sessions() as session:
        assert (await session.scalars(select(PromoCode.code))).all() == ["SPRING"]
