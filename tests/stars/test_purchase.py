"""A Stars purchase through the real webhook: Telegram's pre-checkout question, the successful
payment delivered again and again (credited once), and payloads that must not be paid."""

from __future__ import annotations

import asyncio

import pytest

from medialab.billing.audit import check_ledger
from medialab.domain.ledger import LedgerKind, PaymentStatus
from medialab.sandbox.telegram import BotApiSandbox
from medialab.sandbox.yookassa import YooKassaSandbox

from bot.conftest import messages_since
from .conftest import (
    Chat,
    Launcher,
    Running,
    buy,
    invoice_of,
    ledger_of,
    pre_checkout,
    stars_payments,
)

USER = 770_001
OTHER = 770_002
CREDITED = "Оплата получена: 150 ₽ зачислено на баланс.\nБаланс: 150 ₽"
PROBLEM = ("Платёж получен, но не совпадает с нашим счётом, поэтому баланс не изменился. "
           "Напишите /paysupport — мы разберёмся.")


async def _invoice(chat: Chat, stars: int = 100) -> dict[str, object]:
    await chat.say("/start")
    await chat.press("payment_menu")
    return invoice_of(await buy(chat, stars))


async def test_a_purchase_is_credited_once_however_often_telegram_delivers_it(
    launch: Launcher, telegram: BotApiSandbox
) -> None:
    async with launch() as first, launch() as second:
        chat = Chat(telegram, USER)
        invoice = await _invoice(chat)
        approved = await pre_checkout(telegram, USER, invoice["total"], invoice["payload"])  # type: ignore[arg-type]
        assert approved.params["ok"] is True and "error_message" not in approved.params

        paid = telegram.successful_payment_update(USER, "XTR", 100, invoice["payload"])  # type: ignore[arg-type]
        charge_id = paid["message"]["successful_payment"]["telegram_payment_charge_id"]
        mark = telegram.checkpoint()
        # Telegram delivering the same update 20 times at once, to two web processes.
        urls = [first.webhook_url, second.webhook_url]
        responses = await asyncio.gather(*(telegram.deliver(paid, webhook_url=urls[n % 2]) for n in range(20)))
        assert [r.status_code for r in responses] == [200] * 20

        assert [m.params["text"] for m in messages_since(telegram, mark, USER)] == [CREDITED]
        user = await first.services.billing.get_user_info(USER)
        assert user is not None and user.balance == 15_000
        [payment] = await stars_payments(first.services, USER)
        assert (payment.status, payment.telegram_charge_id) == (PaymentStatus.SUCCEEDED, charge_id)
        [entry] = await ledger_of(first.services, USER)
        assert (entry.kind, entry.amount, entry.idempotency_key, entry.payment_id) == (
            LedgerKind.TOPUP, 15_000, charge_id, payment.id)
        assert entry.actor == "telegram_stars"

        # The invoice is paid: Telegram asking about it again is refused.
        again = await pre_checkout(telegram, USER, 100, invoice["payload"])  # type: ignore[arg-type]
        assert again.params["ok"] is False
        assert again.params["error_message"] == (
            "Этот счёт уже оплачен. Для нового пополнения откройте меню оплаты: /start")
        assert await check_ledger(first.services.sessions) == []


async def test_one_invoice_credits_once_whatever_charge_ids_arrive(
    app: Running, telegram: BotApiSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """Charges of one invoice under several charge ids (forged, or Telegram taking the Stars
    twice), at once: the invoice is claimed by one, credited once; the others change nothing,
    are told to write to support, and are logged as security events."""
    chat = Chat(telegram, USER)
    invoice = await _invoice(chat)
    assert (await pre_checkout(telegram, USER, 100, invoice["payload"])).params["ok"] is True  # type: ignore[arg-type]
    updates = [telegram.successful_payment_update(USER, "XTR", 100, invoice["payload"]) for _ in range(6)]  # type: ignore[arg-type]
    mark = telegram.checkpoint()
    with caplog.at_level("WARNING", logger="medialab.security"):
        responses = await asyncio.gather(*(telegram.deliver(update) for update in updates))
    assert [r.status_code for r in responses] == [200] * 6
    texts = sorted(m.params["text"] for m in messages_since(telegram, mark, USER))
    assert texts == sorted([CREDITED] + [PROBLEM] * 5)
    [payment] = await stars_payments(app.services, USER)
    [entry] = await ledger_of(app.services, USER)
    assert entry.idempotency_key == payment.telegram_charge_id and entry.amount == 15_000
    refused = [r for r in caplog.records if r.name == "medialab.security" and "already paid by" in r.getMessage()]
    assert len(refused) == 5
    assert await check_ledger(app.services.sessions) == []


async def test_an_english_user_is_told_in_english(app: Running, telegram: BotApiSandbox) -> None:
    chat = Chat(telegram, USER, "en")
    invoice = await _invoice(chat, 250)
    assert (await pre_checkout(telegram, USER, 250, invoice["payload"])).params["ok"] is True  # type: ignore[arg-type]
    told = await chat.send(telegram.successful_payment_update(USER, "XTR", 250, invoice["payload"],  # type: ignore[arg-type]
                                                              language_code="en"))
    assert told.params["text"] == "Payment received: 375 ₽ added to your balance.\nBalance: 375 ₽"


REFUSALS = {
    "unknown": "Этот счёт не найден. Откройте меню оплаты заново: /start",
    "amount": "Сумма не совпадает со счётом. Откройте меню оплаты заново: /start",
}


@pytest.mark.parametrize(("case", "refusal"), [
    ("unknown row", "unknown"),
    ("not our payload", "unknown"),
    ("other user's row", "unknown"),
    ("fewer stars", "amount"),
    ("more stars", "amount"),
    ("not in stars", "amount"),
])
async def test_a_forged_payload_is_refused_and_credits_nothing(
    app: Running, telegram: BotApiSandbox, case: str, refusal: str
) -> None:
    mine = await _invoice(Chat(telegram, USER))
    others = await _invoice(Chat(telegram, OTHER))
    payload, total, currency = {
        "unknown row": ("stars:99999999", 100, "XTR"),
        "not our payload": ("topup-1", 100, "XTR"),
        "other user's row": (others["payload"], 100, "XTR"),
        "fewer stars": (mine["payload"], 50, "XTR"),
        "more stars": (mine["payload"], 250, "XTR"),
        "not in stars": (mine["payload"], 100, "RUB"),
    }[case]

    answer = await pre_checkout(telegram, USER, total, payload, currency)  # type: ignore[arg-type]
    assert answer.params["ok"] is False
    assert answer.params["error_message"] == REFUSALS[refusal]
    # Were the payment to arrive anyway, it would credit nothing.
    chat = Chat(telegram, USER)
    problem = await chat.send(telegram.successful_payment_update(USER, currency, total, payload))  # type: ignore[arg-type]
    assert problem.params["text"] == PROBLEM

    assert await ledger_of(app.services, USER) == [] and await ledger_of(app.services, OTHER) == []
    assert [p.status for p in await stars_payments(app.services, USER)] == [PaymentStatus.PENDING]
    assert [p.status for p in await stars_payments(app.services, OTHER)] == [PaymentStatus.PENDING]


async def test_a_yookassa_payment_is_no_stars_invoice(
    app: Running, telegram: BotApiSandbox, yookassa: YooKassaSandbox
) -> None:
    chat = Chat(telegram, USER)
    await chat.say("/start")
    await chat.press("payment_amount_100")
    [yookassa_row] = await stars_payments(app.services, USER)
    assert yookassa_row.provider == "yookassa"
    assert list(yookassa.payments) == [yookassa_row.provider_payment_id]  # a real top-up, awaiting its payer
    answer = await pre_checkout(telegram, USER, 100, f"stars:{yookassa_row.id}")
    assert (answer.params["ok"], answer.params["error_message"]) == (False, REFUSALS["unknown"])
    await chat.send(telegram.successful_payment_update(USER, "XTR", 10_000, f"stars:{yookassa_row.id}"))
    assert await ledger_of(app.services, USER) == []


async def _allow_connections(database_url: str, allow: bool) -> None:
    import asyncpg

    from conftest import POSTGRES_ADMIN_URL

    name = database_url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allow).lower()}')
        if not allow:
            await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = $1 AND pid <> pg_backend_pid()", name)
    finally:
        await conn.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_payment_arriving_while_the_database_is_away_is_asked_again_not_lost(
    database_url: str, app: Running, telegram: BotApiSandbox
) -> None:
    """A successful payment is recorded before the webhook answers: with the database away the
    answer is 500, so Telegram delivers it again, and the delivery after it comes back credits."""
    chat = Chat(telegram, USER)
    invoice = await _invoice(chat)
    assert (await pre_checkout(telegram, USER, 100, invoice["payload"])).params["ok"] is True  # type: ignore[arg-type]
    paid = telegram.successful_payment_update(USER, "XTR", 100, invoice["payload"])  # type: ignore[arg-type]

    await _allow_connections(database_url, False)
    try:
        refused = await telegram.deliver(paid)
    finally:
        await _allow_connections(database_url, True)
    assert refused.status_code == 500

    mark = telegram.checkpoint()
    assert (await telegram.deliver(paid)).status_code == 200
    assert (await telegram.deliver(paid)).status_code == 200
    assert [m.params["text"] for m in messages_since(telegram, mark, USER)] == [CREDITED]
    user = await app.services.billing.get_user_info(USER)
    assert user is not None and user.balance == 15_000
    assert len(await ledger_of(app.services, USER)) == 1
    assert await check_ledger(app.services.sessions) == []
