"""`medialab admin refund-stars <charge_id>` (once as a real process) against the Bot API stand-in, and
/admin_refund_stars in an operator's chat: the Stars go back once through refundStarPayment, the
rubles come off the balance once."""

from __future__ import annotations

import getpass
import subprocess

import pytest

from medialab.billing.audit import check_ledger
from medialab.domain.ledger import LedgerKind, PaymentStatus
from medialab.sandbox.telegram import BotApiSandbox

from conftest import REDIS_TEST_URL
from medialab_commands import environment, medialab_in_process, medialab_process
from stand_ins import BOT_TOKEN

from .conftest import Chat, Launcher, Running, buy, invoice_of, ledger_of, pre_checkout, stars_payments

pytestmark = pytest.mark.slow  # runs the medialab command in a process of its own, and the app

USER = 780_001
ADMIN = 780_009


def _environ(app: Running) -> dict[str, str]:
    return environment(database_url=app.settings.database.url, redis_url=REDIS_TEST_URL,
                       TELEGRAM_BOT_TOKEN=BOT_TOKEN, TELEGRAM_API_URL=app.settings.telegram.api_url)


async def refund_stars(app: Running, charge_id: str) -> subprocess.CompletedProcess[str]:
    """In this process: a process of its own would spend ~3 s importing aiogram."""
    return await medialab_in_process("admin", "refund-stars", charge_id, environ=_environ(app))


async def _paid(app: Running, telegram: BotApiSandbox) -> str:
    """A user who bought 100 Stars (150 ₽) and spent 10 ₽ of it; the charge id."""
    chat = Chat(telegram, USER)
    await chat.say("/start")
    await chat.press("payment_menu")
    invoice = invoice_of(await buy(chat, 100))
    await pre_checkout(telegram, USER, 100, invoice["payload"])  # type: ignore[arg-type]
    paid = telegram.successful_payment_update(USER, "XTR", 100, invoice["payload"])  # type: ignore[arg-type]
    await chat.send(paid)
    user = await app.services.billing.get_user_info(USER)
    assert user is not None
    await app.services.billing.add_balance(user.user_id, -1_000, "spent-on-test", LedgerKind.GRANT)
    return paid["message"]["successful_payment"]["telegram_payment_charge_id"]


async def test_refund_stars_twice_refunds_and_debits_once(app: Running, telegram: BotApiSandbox) -> None:
    charge_id = await _paid(app, telegram)

    # The one real process of the command: the installed entry point, its exit status and output.
    first = await medialab_process("admin", "refund-stars", charge_id, environ=_environ(app))
    assert first.returncode == 0, first.stderr
    assert first.stdout == (f"Stars payment {charge_id}: 100 XTR refunded to user {USER}, "
                            "150 ₽ taken back: balance -10 ₽\n")
    assert telegram.world.charges[charge_id].refunded
    second = await refund_stars(app, charge_id)
    assert second.returncode == 0, second.stderr
    assert second.stdout == (f"Stars payment {charge_id} was refunded before: nothing changed; "
                             f"balance of user {USER}: -10 ₽\n")

    calls = telegram.calls("refundStarPayment")
    assert [call.params for call in calls] == [{"user_id": USER, "telegram_payment_charge_id": charge_id}] * 2
    assert [call.error_code for call in calls] == [None, 400]  # the second: CHARGE_ALREADY_REFUNDED
    chargebacks = [e for e in await ledger_of(app.services, USER) if e.kind == LedgerKind.CHARGEBACK]
    assert [(e.amount, e.idempotency_key, e.actor) for e in chargebacks] == [
        (-15_000, f"stars-refund:{charge_id}", f"cli:{getpass.getuser()}")]
    [payment] = await stars_payments(app.services, USER)
    assert chargebacks[0].payment_id == payment.id and payment.status == PaymentStatus.REFUNDED
    user = await app.services.billing.get_user_info(USER)
    assert user is not None and user.balance == -1_000
    assert await check_ledger(app.services.sessions) == []


async def test_a_refund_whose_answer_was_lost_is_checked_and_taken_back_once(
    app: Running, telegram: BotApiSandbox
) -> None:
    """The connection drops after Telegram refunded: asked again, Telegram answers
    CHARGE_ALREADY_REFUNDED, so the rubles come off once and the operator is told so."""
    charge_id = await _paid(app, telegram)
    telegram.lose_answers("refundStarPayment")

    done = await refund_stars(app, charge_id)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"Stars payment {charge_id}: Telegram's answer was lost; asked again, it says the Stars "
                           f"went back: 100 XTR refunded to user {USER}, 150 ₽ taken back: balance -10 ₽\n")
    assert [call.error_code for call in telegram.calls("refundStarPayment")] == [None, 400]
    again = await refund_stars(app, charge_id)
    assert again.stdout == (f"Stars payment {charge_id} was refunded before: nothing changed; "
                            f"balance of user {USER}: -10 ₽\n")
    chargebacks = [e for e in await ledger_of(app.services, USER) if e.kind == LedgerKind.CHARGEBACK]
    assert [(e.amount, e.idempotency_key) for e in chargebacks] == [(-15_000, f"stars-refund:{charge_id}")]
    assert [p.status for p in await stars_payments(app.services, USER)] == [PaymentStatus.REFUNDED]


async def test_a_refund_telegram_never_answers_takes_nothing_back_until_asked_again(
    app: Running, telegram: BotApiSandbox
) -> None:
    """No answer to any ask: whether the Stars went back is unknown, so nothing comes off the
    balance and the operator is told to run the command again, which then settles it once."""
    charge_id = await _paid(app, telegram)
    telegram.lose_answers("refundStarPayment", times=3)

    unknown = await refund_stars(app, charge_id)
    assert unknown.returncode == 2 and unknown.stdout == ""
    line = unknown.stderr.splitlines()[-1]  # after the warnings logged for each lost answer
    assert line.startswith(f"medialab: Telegram's answer to the refund of {charge_id} was lost")
    assert line.endswith("nothing was taken off the balance: run the command again to check")
    assert len(telegram.calls("refundStarPayment")) == 3
    assert [e.kind for e in await ledger_of(app.services, USER)] == [LedgerKind.TOPUP, LedgerKind.GRANT]

    checked = await refund_stars(app, charge_id)  # Telegram answers now: refunded (by the first ask)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == (f"Stars payment {charge_id}: 100 XTR refunded to user {USER}, "
                              "150 ₽ taken back: balance -10 ₽\n")
    chargebacks = [e for e in await ledger_of(app.services, USER) if e.kind == LedgerKind.CHARGEBACK]
    assert [e.amount for e in chargebacks] == [-15_000]


async def test_refund_stars_of_an_unknown_charge_is_one_line(app: Running, telegram: BotApiSandbox) -> None:
    await _paid(app, telegram)
    done = await refund_stars(app, "stxNoSuchCharge")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == ["medialab: no Telegram Stars payment with charge id 'stxNoSuchCharge'"]
    assert telegram.calls("refundStarPayment") == []
    user = await app.services.billing.get_user_info(USER)
    assert user is not None and user.balance == 14_000


async def test_a_refund_telegram_refuses_takes_nothing_back(app: Running, telegram: BotApiSandbox) -> None:
    charge_id = await _paid(app, telegram)
    del telegram.world.charges[charge_id]  # Telegram no longer knows the charge
    done = await refund_stars(app, charge_id)
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(f"medialab: Telegram refused the refund of {charge_id}:") and "CHARGE_NOT_FOUND" in line
    assert [e.kind for e in await ledger_of(app.services, USER)] == [LedgerKind.TOPUP, LedgerKind.GRANT]
    assert [p.status for p in await stars_payments(app.services, USER)] == [PaymentStatus.SUCCEEDED]
    assert BOT_TOKEN not in done.stderr


async def test_an_operator_refunds_stars_in_the_chat_once(launch: Launcher, telegram: BotApiSandbox) -> None:
    async with launch(admin={"telegram_ids": frozenset({ADMIN})}) as app:
        charge_id = await _paid(app, telegram)
        admin = Chat(telegram, ADMIN)
        assert (await admin.say("/admin_refund_stars")).params["text"] == "usage: /admin_refund_stars <charge_id>"
        unknown = await admin.say("/admin_refund_stars stxNoSuchCharge")
        assert unknown.params["text"] == "no Telegram Stars payment with charge id 'stxNoSuchCharge'"
        assert telegram.calls("refundStarPayment") == []

        first = await admin.say(f"/admin_refund_stars {charge_id}")
        assert first.params["text"] == (f"Stars payment {charge_id}: 100 XTR refunded to user {USER}, "
                                        "150 ₽ taken back: balance -10 ₽")
        second = await admin.say(f"/admin_refund_stars {charge_id}")
        assert second.params["text"] == (f"Stars payment {charge_id} was refunded before: nothing changed; "
                                         f"balance of user {USER}: -10 ₽")
        assert telegram.world.charges[charge_id].refunded
        chargebacks = [e for e in await ledger_of(app.services, USER) if e.kind == LedgerKind.CHARGEBACK]
        assert [(e.amount, e.actor) for e in chargebacks] == [(-15_000, f"tg:{ADMIN}")]
        assert [p.status for p in await stars_payments(app.services, USER)] == [PaymentStatus.REFUNDED]


async def test_telegrams_refunded_payment_takes_the_credit_back_once_and_meets_the_operators_refund(
    launch: Launcher, telegram: BotApiSandbox
) -> None:
    """A refund made in Telegram (a dispute) arrives as a refunded_payment message: the rubles
    come off once however often it is delivered, under the operator's refund key, so a later
    /admin_refund_stars changes nothing; a refunded_payment of someone else's charge changes
    nothing at all."""
    async with launch(admin={"telegram_ids": frozenset({ADMIN})}) as app:
        charge_id = await _paid(app, telegram)
        chat = Chat(telegram, USER)
        mark = telegram.checkpoint()
        refunded = telegram.refunded_payment_update(USER, charge_id)
        told = await chat.send(refunded)
        assert told.params["text"] == "Оплата звёздами возвращена: 150 ₽ списано с баланса.\nБаланс: -10 ₽"
        assert (await telegram.deliver(refunded)).json() == {"ok": True}  # delivered again: nothing more
        forged = telegram.refunded_payment_update(USER + 1, charge_id)
        assert (await telegram.deliver(forged)).status_code == 200
        sent = [c for c in telegram.calls()[mark:] if c.method == "sendMessage" and c.chat_id in (USER, USER + 1)]
        assert sent == [told]

        admin = await Chat(telegram, ADMIN).say(f"/admin_refund_stars {charge_id}")
        assert admin.params["text"] == (f"Stars payment {charge_id} was refunded before: nothing changed; "
                                        f"balance of user {USER}: -10 ₽")
        chargebacks = [e for e in await ledger_of(app.services, USER) if e.kind == LedgerKind.CHARGEBACK]
        assert [(e.amount, e.idempotency_key, e.actor) for e in chargebacks] == [
            (-15_000, f"stars-refund:{charge_id}", "telegram_stars")]
        assert [p.status for p in await stars_payments(app.services, USER)] == [PaymentStatus.REFUNDED]
        assert await app.services.billing.get_user_info(USER + 1) is None
