"""Top-ups from the chat against the YooKassa stand-in: the fixed amounts, a custom amount and
every kind of bad answer to its question, leaving the question, and YooKassa being away."""

from __future__ import annotations

import pytest

from medialab.billing.audit import check_ledger
from medialab.sandbox.telegram import BotApiSandbox
from medialab.sandbox.yookassa import YooKassaSandbox

from .conftest import RETURN_URL, Chat, Launcher, Running, buttons, operations_of, queued_requests

USER = 740_001
HINT = "Чтобы выйти, отправьте /cancel."


def _payments_for(yookassa: YooKassaSandbox, telegram_id: int) -> list[dict]:  # type: ignore[type-arg]
    return [p for p in yookassa.payments.values() if p["metadata"]["telegram_user_id"] == str(telegram_id)]


async def test_each_amount_button_sends_its_payment_link(
    app: Running, telegram: BotApiSandbox, yookassa: YooKassaSandbox
) -> None:
    chat = Chat(telegram, USER)
    await chat.say("/start")
    for rubles in (100, 300, 500, 1000):
        await chat.press("payment_menu")
        link = await chat.press(f"payment_amount_{rubles}")
        payment = next(p for p in yookassa.payments.values() if p["amount"]["value"] == f"{rubles}.00")
        assert link.params["text"].startswith(f"Счёт на {rubles} ₽ готов.")
        assert buttons(link) == [(f"Оплатить {rubles} ₽", payment["confirmation"]["confirmation_url"])]
        assert yookassa.state.return_urls[payment["id"]] == RETURN_URL
    assert len(_payments_for(yookassa, USER)) == 4
    # Nothing is credited before YooKassa says the payment succeeded.
    user = await app.services.billing.get_user_info(USER)
    assert user is not None and user.balance == 0
    assert await check_ledger(app.services.sessions) == []


async def test_a_press_delivered_again_answers_the_same_payment(
    app: Running, telegram: BotApiSandbox, yookassa: YooKassaSandbox
) -> None:
    """Telegram delivers an update again when its answer was lost: the press is handled once
    (one payment at YooKassa, one row), and the link is sent again, the same link."""
    chat = Chat(telegram, USER)
    await chat.say("/start")
    press = telegram.callback_update(USER, "payment_amount_500")
    first = await chat.send(press)
    again = await chat.send(press)
    assert buttons(again) == buttons(first)
    assert len(_payments_for(yookassa, USER)) == 1
    creates = [r for r in yookassa.requests if r.method == "POST" and r.path.endswith("/payments")]
    assert len(creates) == 1
    # A new press of the same button is a new request: a second payment.
    await chat.press("payment_amount_500")
    assert len(_payments_for(yookassa, USER)) == 2


BAD_AMOUNTS = [
    ("abc", "Это не сумма. Напишите её цифрами, например 500 (от 10 ₽ до 100000 ₽)."),
    ("5", "Слишком мало: минимальная сумма пополнения — 10 ₽."),
    ("-10", "Сумма должна быть положительной: от 10 ₽ до 100000 ₽."),
    ("10.5", "Сумма должна быть целым числом рублей, без копеек, — например 500."),
    ("1e9", "Это не сумма. Напишите её цифрами, например 500 (от 10 ₽ до 100000 ₽)."),
    ("1" * 40, "Слишком много: максимальная сумма пополнения — 100000 ₽."),
    ("100001", "Слишком много: максимальная сумма пополнения — 100000 ₽."),
    ("", "Сумма не указана. Напишите целое число рублей от 10 ₽ до 100000 ₽, например 500."),
    ("/topup", "Это не сумма. Напишите её цифрами, например 500 (от 10 ₽ до 100000 ₽)."),
]


async def test_a_custom_amount_question_stays_open_until_a_good_amount(
    app: Running, telegram: BotApiSandbox, yookassa: YooKassaSandbox
) -> None:
    chat = Chat(telegram, USER)
    await chat.say("/start")
    await chat.press("payment_menu")
    asked = await chat.press("payment_custom")
    assert asked.params["text"] == f"Введите сумму пополнения в рублях — целое число от 10 ₽ до 100000 ₽.\n{HINT}"

    for typed, message in BAD_AMOUNTS:
        reply = await chat.say(typed)
        assert reply.params["text"] == f"{message}\n{HINT}", typed
    sticker = await chat.send(telegram.sticker_update(USER))
    assert sticker.params["text"] == f"Пришлите сумму текстом, например 500.\n{HINT}"
    assert yookassa.payments == {}

    link = await chat.say("250")
    assert link.params["text"].startswith("Счёт на 250 ₽ готов.")
    (payment,) = _payments_for(yookassa, USER)
    assert payment["amount"] == {"value": "250.00", "currency": "RUB"}
    assert buttons(link) == [("Оплатить 250 ₽", payment["confirmation"]["confirmation_url"])]
    # The question is closed: a number now is no amount.
    assert (await chat.say("300")).params["text"] == "Сначала выберите режим в меню: /start"
    assert len(yookassa.payments) == 1


async def test_cancel_leaves_the_amount_question(app: Running, telegram: BotApiSandbox, yookassa: YooKassaSandbox) -> None:
    chat = Chat(telegram, USER)
    await chat.say("/start")
    await chat.press("payment_custom")
    assert (await chat.say("/cancel")).params["text"] == "Отменено. Меню: /start"
    assert (await chat.say("500")).params["text"] == "Сначала выберите режим в меню: /start"
    assert yookassa.payments == {}


async def test_the_question_keeps_the_mode_the_user_was_in(
    app: Running, telegram: BotApiSandbox, yookassa: YooKassaSandbox
) -> None:
    chat = Chat(telegram, USER)
    await chat.say("/start")
    await chat.press("mode:generate")
    await chat.press("payment_custom")
    assert (await chat.press("payment_cancel")).params["text"] == "Пополнение отменено."
    assert (await chat.say("a red fox")).params["text"].startswith("Принято!")
    await chat.press("payment_custom")
    await chat.say("100")
    assert (await chat.say("a blue fox")).params["text"].startswith("Принято!")
    assert len(await operations_of(app.services, USER)) == 2 and len(await queued_requests(app.services)) == 2
    assert len(yookassa.payments) == 1


@pytest.mark.parametrize(("data", "message"), [
    ("payment_amount_5", "Слишком мало: минимальная сумма пополнения — 10 ₽."),
    ("payment_amount_999999", "Слишком много: максимальная сумма пополнения — 100000 ₽."),
    ("payment_amount_1e3", "Это не сумма. Напишите её цифрами, например 500 (от 10 ₽ до 100000 ₽)."),
])
async def test_a_forged_amount_button_is_checked_like_a_typed_amount(
    app: Running, telegram: BotApiSandbox, yookassa: YooKassaSandbox, data: str, message: str
) -> None:
    chat = Chat(telegram, USER)
    await chat.say("/start")
    assert (await chat.press(data)).params["text"] == message
    assert yookassa.payments == {}


async def test_yookassa_failing_or_not_configured_is_said_plainly(
    launch: Launcher, telegram: BotApiSandbox, yookassa: YooKassaSandbox
) -> None:
    unavailable = "Оплата сейчас недоступна. Попробуйте чуть позже."
    async with launch() as app:
        chat = Chat(telegram, USER)
        await chat.say("/start")
        yookassa.fail_next(1, status=500, processed=False)
        assert (await chat.press("payment_amount_100")).params["text"] == unavailable
        assert yookassa.payments == {}
        # It comes back: the next press gets a link.
        assert (await chat.press("payment_amount_100")).params["text"].startswith("Счёт на 100 ₽ готов.")
        assert await check_ledger(app.services.sessions) == []
    async with launch(yookassa={"shop_id": None, "secret_key": None}) as app:
        assert (await Chat(telegram, USER).press("payment_amount_100")).params["text"] == unavailable
