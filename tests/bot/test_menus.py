"""The menus of DESIGN §6 over the real webhook: /start, /balance, /help, /cancel and the payment
menu, in Russian and in English."""

from __future__ import annotations

from medialab.domain.ledger import LedgerKind
from medialab.sandbox.telegram import BotApiSandbox

from .conftest import Chat, Running, buttons

MAIN_MENU_DATA = ["mode:generate", "mode:edit", "mode:merge", "mode:face_swap", "mode:retouch",
                  "mode:upscale", "mode:add_text", "payment_menu"]
USER = 700_001


async def test_start_creates_the_user_and_shows_the_main_menu(app: Running, telegram: BotApiSandbox) -> None:
    chat = Chat(telegram, USER)
    reply = await chat.send(telegram.command_update(USER, "start", first_name="Аня"))

    text = reply.params["text"]
    assert text.startswith("Привет, Аня!")
    assert "Баланс: 0 ₽" in text.splitlines() and "Бесплатные операции: 4 из 4" in text.splitlines()
    assert [data for _, data in buttons(reply)] == MAIN_MENU_DATA
    assert ("💰 Оплатить / Баланс", "payment_menu") in buttons(reply)
    user = await app.services.billing.get_user_info(USER)
    assert user is not None and user.free_operations_left == 4 and user.language == "ru"


async def test_start_in_english(app: Running, telegram: BotApiSandbox) -> None:
    chat = Chat(telegram, USER, language="en")
    reply = await chat.say("/start")

    assert reply.params["text"].startswith("Hi, Тест!")
    assert {"Balance: 0 ₽", "Free operations: 4 of 4"} <= set(reply.params["text"].splitlines())
    assert [data for _, data in buttons(reply)] == MAIN_MENU_DATA
    assert ("💰 Pay / Balance", "payment_menu") in buttons(reply)
    user = await app.services.billing.get_user_info(USER)
    assert user is not None and user.language == "en"


async def test_balance_shows_kopecks_and_free_operations(app: Running, telegram: BotApiSandbox) -> None:
    user = await app.services.billing.get_or_create_user(USER)
    await app.services.billing.add_balance(user.user_id, 1050, "grant-balance-test", kind=LedgerKind.GRANT, actor="test")

    reply = await Chat(telegram, USER).say("/balance")
    lines = reply.params["text"].splitlines()
    assert lines[:2] == ["Баланс: 10,50 ₽", "Бесплатные операции: 4 из 4"]
    assert buttons(reply) == [("Пополнить баланс", "payment_menu")]

    english = await Chat(telegram, USER, language="en").say("/balance")
    assert english.params["text"].splitlines()[:2] == ["Balance: 10,50 ₽", "Free operations: 4 of 4"]
    assert buttons(english) == [("Top up balance", "payment_menu")]


async def test_help_names_the_price_and_the_commands(app: Running, telegram: BotApiSandbox) -> None:
    text = (await Chat(telegram, USER).say("/help")).params["text"]
    assert "10 ₽" in text and "/balance" in text and "/cancel" in text
    english = (await Chat(telegram, USER, language="en").say("/help")).params["text"]
    assert "What I can do" in english and "10 ₽" in english


async def test_cancel_leaves_a_mode_and_says_when_there_is_nothing(app: Running, telegram: BotApiSandbox) -> None:
    chat = Chat(telegram, USER)
    assert (await chat.say("/cancel")).params["text"] == "Сейчас нечего отменять. Меню: /start"
    await chat.say("/start")
    await chat.press("mode:generate")
    assert (await chat.say("/cancel")).params["text"] == "Отменено. Меню: /start"
    # Out of the mode, a text is no prompt: nothing is charged or queued.
    assert (await chat.say("a red fox")).params["text"] == "Сначала выберите режим в меню: /start"
    assert await app.services.arq.queued_jobs() == []


async def test_payment_menu_shows_the_account_and_the_amounts(app: Running, telegram: BotApiSandbox) -> None:
    chat = Chat(telegram, USER)
    await chat.say("/start")
    menu = await chat.press("payment_menu")

    lines = menu.params["text"].splitlines()
    assert "Баланс: 0 ₽" in lines and "Бесплатные операции: 4 из 4" in lines
    assert buttons(menu) == [
        ("100 ₽", "payment_amount_100"), ("300 ₽", "payment_amount_300"),
        ("500 ₽", "payment_amount_500"), ("1000 ₽", "payment_amount_1000"),
        ("⭐ 50", "stars_amount_50"), ("⭐ 100", "stars_amount_100"), ("⭐ 250", "stars_amount_250"),
        ("Другая сумма", "payment_custom"), ("Отмена", "payment_cancel"),
    ]
    assert (await chat.press("payment_cancel")).params["text"] == "Пополнение отменено."


async def test_a_button_nobody_knows_is_answered_as_stale(app: Running, telegram: BotApiSandbox) -> None:
    chat = Chat(telegram, USER)
    await chat.say("/start")
    assert (await chat.press("mode:teleport")).params["text"] == "Эта кнопка больше не действует. Меню: /start"
    assert (await chat.press("merge:go")).params["text"] == "Эта кнопка больше не действует. Меню: /start"
