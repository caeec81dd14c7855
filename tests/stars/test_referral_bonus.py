"""A referred user's first top-up in Telegram Stars pays the referrer's bonus once, however often
Telegram delivers the payment; Telegram's refunded_payment of it takes the bonus back once."""

from __future__ import annotations

import asyncio

from medialab.domain.ledger import LedgerKind
from medialab.sandbox.telegram import BotApiSandbox

from .conftest import Chat, Launcher, buy, invoice_of, ledger_of, pre_checkout

REFERRER, FRIEND = 780_001, 780_002


async def test_a_stars_first_top_up_pays_the_bonus_once_and_its_refund_takes_it_back_once(
    launch: Launcher, telegram: BotApiSandbox
) -> None:
    async with launch(billing={"referral_bonus": 3_000}) as app:
        referrer, friend = Chat(telegram, REFERRER), Chat(telegram, FRIEND)
        await referrer.say("/start")
        link = (await referrer.say("/invite")).params["text"].rsplit(" ", 1)[-1]
        await friend.say(f"/start {link.split('start=', 1)[1]}")
        await friend.press("payment_menu")
        invoice = invoice_of(await buy(friend, 100))
        await pre_checkout(telegram, FRIEND, invoice["total"], invoice["payload"])
        paid = telegram.successful_payment_update(FRIEND, "XTR", 100, invoice["payload"])
        charge_id = paid["message"]["successful_payment"]["telegram_payment_charge_id"]
        mark = telegram.checkpoint()

        responses = await asyncio.gather(*(telegram.deliver(paid) for _ in range(50)))

        assert [response.status_code for response in responses] == [200] * 50
        told = await telegram.wait_for("sendMessage", lambda call: call.chat_id == REFERRER, after=mark)
        assert told.params["text"] == "Приглашённый вами друг пополнил баланс: вам зачислено 30 ₽.\nБаланс: 30 ₽"
        [bonus] = await ledger_of(app.services, REFERRER)
        assert (bonus.kind, bonus.amount) == (LedgerKind.REFERRAL, 3_000)

        refunded = telegram.refunded_payment_update(FRIEND, charge_id)
        assert [(await telegram.deliver(refunded)).status_code for _ in range(5)] == [200] * 5
        await telegram.wait_for("sendMessage", lambda call: call.chat_id == FRIEND
                                and "возвращена" in call.params["text"], after=mark)

        entries = [(entry.kind, entry.amount) for entry in await ledger_of(app.services, REFERRER)]
        assert entries == [(LedgerKind.REFERRAL, 3_000), (LedgerKind.CLAWBACK, -3_000)]
        assert len([call for call in telegram.calls("sendMessage", REFERRER)[1:] if "друг" in call.params["text"]]) == 1
