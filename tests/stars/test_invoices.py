"""The Stars packages in the payment menu, the invoice a package sends, and /paysupport."""

from __future__ import annotations

import pytest

from medialab.domain.ledger import PaymentStatus
from medialab.sandbox.telegram import BotApiSandbox

from bot.conftest import buttons
from .conftest import Chat, Launcher, Running, buy, invoice_of, ledger_of, stars_payments

USER = 760_001


async def test_the_payment_menu_offers_the_configured_stars_packages(launch: Launcher, telegram: BotApiSandbox) -> None:
    async with launch(stars={"packages": (20, 500)}):
        chat = Chat(telegram, USER, "en")
        await chat.say("/start")
        menu = await chat.press("payment_menu")
        stars = [(text, data) for text, data in buttons(menu) if data.startswith("stars_amount_")]
        assert stars == [("⭐ 20", "stars_amount_20"), ("⭐ 500", "stars_amount_500")]
        # Beside the ruble amounts, not instead of them.
        assert ("100 ₽", "payment_amount_100") in buttons(menu)


async def test_a_package_sends_an_invoice_in_stars_for_a_pending_payment(app: Running, telegram: BotApiSandbox) -> None:
    chat = Chat(telegram, USER)
    await chat.say("/start")
    await chat.press("payment_menu")
    invoice = await buy(chat, 100)

    # 100 Stars at the default 1,50 ₽ a Star.
    assert invoice.chat_id == USER and invoice.ok
    assert invoice.params["currency"] == "XTR"
    assert not invoice.params.get("provider_token")
    assert invoice.params["prices"] == [{"label": "Пополнение на 150 ₽", "amount": 100}]
    assert invoice.params["title"] == "Пополнение баланса на 150 ₽"
    [payment] = await stars_payments(app.services, USER)
    assert invoice.params["payload"] == f"stars:{payment.id}"
    assert (payment.provider, payment.status, payment.currency) == ("telegram_stars", PaymentStatus.PENDING, "XTR")
    assert (payment.stars, payment.amount, payment.telegram_charge_id) == (100, 15_000, None)
    # Nothing moves before Telegram says the Stars were paid.
    assert await ledger_of(app.services, USER) == []
    assert invoice_of(invoice) == {"payload": f"stars:{payment.id}", "currency": "XTR", "total": 100}


async def test_a_package_press_delivered_again_is_the_same_invoice(app: Running, telegram: BotApiSandbox) -> None:
    """Telegram delivers an update again when its answer was lost: one pending payment, and
    the invoice sent again names it."""
    chat = Chat(telegram, USER)
    await chat.say("/start")
    press = telegram.callback_update(USER, "stars_amount_100")
    first = await chat.send(press, "sendInvoice")
    again = await chat.send(press, "sendInvoice")
    [payment] = await stars_payments(app.services, USER)
    assert first.params["payload"] == again.params["payload"] == f"stars:{payment.id}"


async def test_the_rate_is_fixed_on_the_invoice(launch: Launcher, telegram: BotApiSandbox) -> None:
    async with launch(stars={"ruble_rate": 200}) as app:
        chat = Chat(telegram, USER, "en")
        await chat.say("/start")
        await chat.press("payment_menu")
        invoice = await buy(chat, 50)
        assert invoice.params["prices"] == [{"label": "Top-up of 100 ₽", "amount": 50}]
        [payment] = await stars_payments(app.services, USER)
        assert (payment.stars, payment.amount) == (50, 10_000)


@pytest.mark.parametrize("data", ["stars_amount_77", "stars_amount_-50", "stars_amount_1e2", "stars_amount_"])
async def test_a_forged_package_button_sends_no_invoice(app: Running, telegram: BotApiSandbox, data: str) -> None:
    chat = Chat(telegram, USER)
    await chat.say("/start")
    reply = await chat.press(data)
    assert reply.params["text"] == "Такого пакета звёзд нет. Выберите пакет в меню оплаты: /start"
    assert telegram.calls("sendInvoice") == []
    assert await stars_payments(app.services, USER) == []


@pytest.mark.parametrize(("language", "first_line"), [
    ("ru", "Помощь с оплатой."),
    ("en", "Help with payments."),
])
async def test_paysupport_says_how_to_get_help(launch: Launcher, telegram: BotApiSandbox, language: str,
                                               first_line: str) -> None:
    async with launch(billing={"paysupport_contact": "@medialab_help"}):
        chat = Chat(telegram, USER, language)
        # It answers in any state, also with a mode chosen.
        await chat.say("/start")
        await chat.press("mode:generate")
        text = (await chat.say("/paysupport")).params["text"]
        assert text.splitlines()[0] == first_line
        assert "/balance" in text and text.endswith("@medialab_help")
        assert (await chat.say("a cat")).params["text"].startswith(("Принято!", "Got it!"))


async def test_paysupport_without_a_contact(app: Running, telegram: BotApiSandbox) -> None:
    text = (await Chat(telegram, USER).say("/paysupport")).params["text"]
    assert text.startswith("Помощь с оплатой.") and "Связаться с поддержкой" not in text
