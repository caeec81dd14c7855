"""The billing flag over the real webhook: paid from the balance, refused without money, a
charge given back when its job cannot be queued, an update delivered twice charged once, and a
user who blocked the bot."""

from __future__ import annotations

import logging

import httpx
import pytest
from aiogram import Dispatcher, Router
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import Message, Update
from arq.connections import ArqRedis
from redis.exceptions import ConnectionError as RedisConnectionError

from medialab.billing.audit import check_ledger
from medialab.bot.middlewares.billing import BillingMiddleware
from medialab.bot.middlewares.locale import LocaleMiddleware
from medialab.bot.client import create_bot
from medialab.bot.chat_orders import ChatOrder
from medialab.db.redis import redis_client
from medialab.domain.ledger import LedgerKind
from medialab.jobs.start_operation import OperationStarter
from medialab.sandbox.telegram import SECRET_HEADER, BotApiSandbox
from medialab.services import Services

from stand_ins import BOT_TOKEN
from .conftest import SECRET, Chat, Launcher, Running, buttons, operations_of, queued_request, queued_requests

USER = 730_001
OTHER = 730_002


async def _grant(services: Services, kopecks: int) -> None:
    user = await services.billing.get_or_create_user(USER)
    await services.billing.add_balance(user.user_id, kopecks, f"grant-{USER}", kind=LedgerKind.GRANT, actor="test")


async def _in_generate_mode(chat: Chat) -> None:
    await chat.say("/start")
    await chat.press("mode:generate")


async def test_without_money_the_user_is_told_the_price_and_the_balance(
    launch: Launcher, telegram: BotApiSandbox
) -> None:
    async with launch(billing={"free_operations_count": 0}) as app:
        await _grant(app.services, 500)
        chat = Chat(telegram, USER)
        await _in_generate_mode(chat)
        refused = await chat.say("a red fox")
        assert refused.params["text"].splitlines() == [
            "Недостаточно средств: операция стоит 10 ₽. Пополните баланс, чтобы продолжить.", "Баланс: 5 ₽"]
        assert buttons(refused) == [("Пополнить баланс", "payment_menu")]
        assert await queued_requests(app.services) == {}
        assert await operations_of(app.services, USER) == []
        menu = await chat.press("payment_menu")
        assert "Баланс: 5 ₽" in menu.params["text"].splitlines()

        english = await Chat(telegram, USER, language="en").say("a blue fox")
        assert english.params["text"].splitlines() == [
            "Not enough money: the operation costs 10 ₽. Top up to go on.", "Balance: 5 ₽"]
        user = await app.services.billing.get_user_info(USER)
        assert user is not None and user.balance == 500
        assert await check_ledger(app.services.sessions) == []


async def test_after_the_free_operations_the_price_comes_from_the_balance(
    launch: Launcher, telegram: BotApiSandbox
) -> None:
    async with launch(billing={"free_operations_count": 1}) as app:
        await _grant(app.services, 2500)
        chat = Chat(telegram, USER)
        await _in_generate_mode(chat)
        assert "осталось 0 из 1" in (await chat.say("first")).params["text"]
        paid = await chat.say("second")
        assert paid.params["text"].splitlines()[1:] == ["Списано 10 ₽.", "Баланс: 15 ₽"]
        statuses = sorted(op.status for op in await operations_of(app.services, USER))
        assert statuses == ["charged", "free"]
        assert len(await queued_requests(app.services)) == 2
        assert await check_ledger(app.services.sessions) == []


async def test_each_mode_shows_charges_and_asks_its_own_price(launch: Launcher, telegram: BotApiSandbox) -> None:
    """OPERATION_PRICES: the mode menu, the mode's intro, the acknowledgement and the refusal
    each name the price of that mode."""
    async with launch(
        billing={"free_operations_count": 0, "operation_prices": (("generate", 1200), ("upscale", 500))}) as app:
        await _grant(app.services, 1500)
        chat = Chat(telegram, USER)
        menu = await chat.say("/start")
        assert buttons(menu)[:7] == [
            ("🎨 Создать по описанию · 12 ₽", "mode:generate"), ("✏️ Изменить фото · 10 ₽", "mode:edit"),
            ("🧩 Объединить фото · 10 ₽", "mode:merge"), ("🎭 Заменить лицо · 10 ₽", "mode:face_swap"),
            ("✨ Ретушь · 10 ₽", "mode:retouch"), ("🔍 Улучшить качество · 5 ₽", "mode:upscale"),
            ("🔤 Текст на фото (бесплатно)", "mode:add_text")]
        assert "Цена операции: от 5 ₽ до 12 ₽" in menu.params["text"].splitlines()
        assert "Операция стоит от 5 ₽ до 12 ₽" in (await chat.say("/help")).params["text"]

        intro = await chat.press("mode:generate")
        assert intro.params["text"].splitlines()[-1] == "Цена операции: 12 ₽"
        paid = await chat.say("a red fox")
        assert paid.params["text"].splitlines()[1:] == ["Списано 12 ₽.", "Баланс: 3 ₽"]
        refused = await chat.say("a blue fox")
        assert refused.params["text"].splitlines() == [
            "Недостаточно средств: операция стоит 12 ₽. Пополните баланс, чтобы продолжить.", "Баланс: 3 ₽"]
        assert buttons(refused) == [("Пополнить баланс", "payment_menu")]

        assert (await chat.press("mode:upscale")).params["text"].splitlines()[-1] == "Цена операции: 5 ₽"
        sizes, _ = chat.photo()
        refused = await chat.send_photo(sizes)
        assert refused.params["text"].splitlines()[0] == (
            "Недостаточно средств: операция стоит 5 ₽. Пополните баланс, чтобы продолжить.")

        english = await Chat(telegram, USER, language="en").say("/start")
        assert "Price of an operation: from 5 ₽ to 12 ₽" in english.params["text"].splitlines()
        assert buttons(english)[0] == ("🎨 Create from a description · 12 ₽", "mode:generate")
        operations = await operations_of(app.services, USER)
        assert [(op.type, op.price, op.status) for op in operations] == [("generate", 1200, "charged")]


async def test_an_update_delivered_twice_is_charged_and_queued_once(app: Running, telegram: BotApiSandbox) -> None:
    chat = Chat(telegram, USER)
    await _in_generate_mode(chat)
    prompt = telegram.message_update(USER, "a red fox")
    # Our answer got lost (the process died, the connection broke): Telegram never performs the
    # acknowledgement it carried, and sends the update again, which says it then.
    async with httpx.AsyncClient() as http:
        lost = await http.post(app.webhook_url, json=prompt, headers={SECRET_HEADER: SECRET})
    assert lost.status_code == 200 and lost.json()["text"].startswith("Принято!")
    await chat.send(prompt)
    await chat.say("/balance")  # a later update of the chat runs after it

    (operation,) = await operations_of(app.services, USER)
    assert list(await queued_requests(app.services)) == [operation.id]
    texts = telegram.texts(USER)
    assert sum(text.startswith("Принято!") for text in texts) == 1
    user = await app.services.billing.get_user_info(USER)
    assert user is not None and user.free_operations_left == 3


async def test_an_operation_whose_job_cannot_be_queued_gets_its_charge_back(app: Running, telegram: BotApiSandbox) -> None:
    """The middleware as the dispatcher wires it, starting operations on a queue whose Redis is
    not there (nothing listens on port 1): the charge is taken, the queuing fails, and what was
    taken is given back before the update fails."""
    services = app.services
    bot = create_bot(app.settings)
    assert bot is not None
    no_queue = ArqRedis(pool_or_conn=redis_client("redis://127.0.0.1:1/0", 1.0).connection_pool)
    router = Router()

    @router.message(flags={"billing": "generate"})
    async def generate(message: Message) -> ChatOrder:
        return ChatOrder(prompt=message.text)

    dispatcher = Dispatcher(storage=MemoryStorage(), billing=services.billing,
                            operations=OperationStarter(services.billing, no_queue))
    dispatcher.update.outer_middleware(LocaleMiddleware())
    dispatcher.message.middleware(BillingMiddleware())
    dispatcher.include_router(router)
    update = Update.model_validate(telegram.message_update(USER, "a red fox"), context={"bot": bot})
    try:
        with pytest.raises(RedisConnectionError):
            await dispatcher.feed_update(bot, update)
    finally:
        await no_queue.aclose()
        await bot.session.close()

    (operation,) = await operations_of(services, USER)
    assert operation.status == "refunded"
    user = await services.billing.get_user_info(USER)
    assert user is not None and user.free_operations_left == 4
    assert telegram.texts(USER) == ["Не удалось запустить операцию; списание отменено. Попробуйте ещё раз."]
    assert await queued_requests(services) == {}
    assert await check_ledger(services.sessions) == []


async def test_a_user_who_blocked_the_bot_breaks_nothing(
    app: Running, telegram: BotApiSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    chat = Chat(telegram, USER)
    await _in_generate_mode(chat)
    telegram.block_chat(USER)
    mark = telegram.checkpoint()
    assert (await telegram.deliver(telegram.message_update(USER, "a red fox"))).status_code == 200
    refused = await telegram.wait_for("sendMessage", lambda call: call.chat_id == USER, after=mark)
    assert refused.error_code == 403

    # The operation belongs to its job now: it is not undone because the user was not told.
    (operation,) = await operations_of(app.services, USER)
    assert operation.status == "free"
    assert (await queued_request(app.services, operation.id)).prompt == "a red fox"
    # Others are served as before.
    assert (await Chat(telegram, OTHER).say("/start")).params["text"].startswith("Привет")
    assert BOT_TOKEN not in caplog.text and SECRET not in caplog.text
