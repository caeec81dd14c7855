"""/promo CODE and /invite, and the deep links `/start promo_CODE` and `/start ref_<code>` that
the start handler hands here. Registered on the commands router: they work in any state."""

from __future__ import annotations

from aiogram import Bot
from aiogram.filters import CommandObject
from aiogram.methods import SendMessage
from aiogram.types import Message

from medialab.billing import promo, referrals
from medialab.bot.texts import Texts
from medialab.domain.money import format_rub
from medialab.domain.promo import BadPromoCode, promo_code, referral_payload
from medialab.billing.service import BillingService
from medialab.settings import Settings
from medialab.db.engine import Sessions


async def redeem(message: Message, command: CommandObject, billing: BillingService, texts: Texts,
                 language: str) -> SendMessage:
    user = await billing.get_or_create_user(message.from_user.id, language)  # type: ignore[union-attr]
    return message.answer(await promo_answer(billing, texts, user.user_id, command.args))


async def promo_answer(billing: BillingService, texts: Texts, user_id: int, typed: str | None) -> str:
    """What the user is told of a code they typed (or came with); only a redemption changes anything."""
    if not (typed or "").strip():
        return texts("promo-usage")
    try:
        code = promo_code(typed)  # type: ignore[arg-type]
    except BadPromoCode:
        return texts("promo-bad-code")
    try:
        redeemed = await promo.redeem(billing, user_id, code)
    except promo.PromoRefused as refused:
        return texts(f"promo-refused-{refused.refusal.value.replace('_', '-')}", code=code)
    lines = [texts("promo-redeemed", code=code)]
    if redeemed.amount:
        lines.append(texts("promo-gift-money", amount=format_rub(redeemed.amount)))
    if redeemed.free_operations:
        lines.append(texts("promo-gift-free", count=redeemed.free_operations))
    lines.append(texts("balance-line", balance=format_rub(redeemed.balance)))
    return "\n".join(lines)


async def invite(message: Message, bot: Bot, billing: BillingService, settings: Settings, sessions: Sessions, texts: Texts, language: str) -> SendMessage:
    bonus = settings.billing.referral_bonus
    if bonus <= 0:
        return message.answer(texts("invite-off"))
    user = await billing.get_or_create_user(message.from_user.id, language)  # type: ignore[union-attr]
    code = await referrals.invite_code(sessions, user.user_id)
    me = await bot.me()  # getMe once per process: aiogram keeps the answer
    link = f"https://t.me/{me.username}?start={referral_payload(code)}"
    # No preview: it would show the bot's card under every invitation the user copies.
    return message.answer(texts("invite-link", link=link, bonus=format_rub(bonus)), disable_web_page_preview=True)
