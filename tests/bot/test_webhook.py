"""POST /telegram/webhook: the secret token, bodies that are not updates, answering once the
update is handled, deadlines of a handler's outside calls, draining at shutdown, and
`medialab set-webhook`."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from medialab.bot.registration import RegistrationError, register_webhook
from medialab.sandbox.telegram import BotApiSandbox
from medialab.sandbox.yookassa import YooKassaSandbox
from medialab.settings import Settings

from medialab_commands import environment, medialab_in_process, medialab_process

from stand_ins import BOT_TOKEN

from .conftest import SECRET, Chat, Launcher, Running, buttons, messages_since

USER = 710_001


async def _nothing_processed(telegram: BotApiSandbox) -> None:
    """Had the refused update been taken, it would be handled before a later update of the
    same chat (a chat's updates run in order) and its greeting would come first."""
    assert telegram.calls(chat_id=USER) == []
    reply = await Chat(telegram, USER).say("/start")
    assert [call.params["text"] for call in telegram.calls("sendMessage", chat_id=USER)] == [reply.params["text"]]


@pytest.mark.parametrize(("secret", "status"), [("wrong-secret", 403), ("", 401), (SECRET[:-1], 403)])
async def test_a_wrong_or_missing_secret_is_refused_and_nothing_is_processed(
    app: Running, telegram: BotApiSandbox, secret: str, status: int
) -> None:
    response = await telegram.deliver(telegram.command_update(USER, "start"), secret_token=secret)
    assert response.status_code == status
    await _nothing_processed(telegram)


async def test_without_a_configured_secret_the_webhook_still_needs_one_derived_from_the_token(
    launch: Launcher, telegram: BotApiSandbox
) -> None:
    """TELEGRAM_WEBHOOK_SECRET unset: an update "from" an operator granting money to himself,
    posted by anyone who found the URL, is refused; `set-webhook` registered the derived secret,
    so Telegram's own deliveries go through."""
    admin = 710_099
    async with launch(telegram={"webhook_secret": None}, admin={"telegram_ids": frozenset({admin})}) as app:
        derived = app.settings.telegram.secret_token
        assert derived and derived not in (BOT_TOKEN, SECRET)
        assert telegram.world.webhook is not None and telegram.world.webhook.secret_token == derived
        forged = telegram.command_update(admin, f"admin_grant {USER} 100000")
        for secret, status in (("", 401), ("guess", 403)):
            response = await telegram.deliver(forged, secret_token=secret)
            assert response.status_code == status
        assert await app.services.billing.get_user_info(USER) is None
        assert telegram.calls(chat_id=admin) == []
        reply = await Chat(telegram, USER).say("/start")
        assert reply.params["text"].startswith("Привет")


async def test_a_body_that_is_not_an_update_is_refused(app: Running, telegram: BotApiSandbox) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with httpx.AsyncClient() as http:
        for body in (b"not json", b"[]", b'{"message": {"text": "no update_id"}}'):
            response = await http.post(app.webhook_url, content=body, headers=headers)
            assert response.status_code == 400, body
    await _nothing_processed(telegram)


async def test_without_a_bot_token_the_webhook_says_it_is_not_configured(
    launch: Launcher, telegram: BotApiSandbox
) -> None:
    async with launch(register=False, telegram={"bot_token": None}) as app:
        response = await telegram.deliver(telegram.command_update(USER, "start"), app.webhook_url, SECRET)
        assert response.status_code == 503
        assert await app.services.billing.get_user_info(USER) is None


async def test_the_webhook_answers_once_the_update_is_handled(
    app: Running, telegram: BotApiSandbox, yookassa: YooKassaSandbox
) -> None:
    chat = Chat(telegram, USER)
    await chat.say("/start")
    yookassa.hang_next(1, seconds=1.0)
    mark = telegram.checkpoint()

    response = await telegram.deliver(telegram.callback_update(USER, "payment_amount_100"))
    assert response.status_code == 200
    # 2xx means handled: the payment link was sent before the answer, though YooKassa was slow.
    (link,) = messages_since(telegram, mark, USER)
    assert buttons(link)[0][1].startswith(app.settings.yookassa.api_url)
    # The press was answered before the handler began waiting, so the spinner stopped at once.
    made = [call.method for call in telegram.calls()[mark:]]
    assert made.index("answerCallbackQuery") < made.index("sendMessage")


async def test_a_top_up_link_past_its_deadline_asks_to_try_again_and_the_retry_reuses_the_key(
    launch: Launcher, telegram: BotApiSandbox, yookassa: YooKassaSandbox
) -> None:
    async with launch(yookassa={"topup_link_timeout": 0.5, "timeout": 5.0}) as app:
        chat = Chat(telegram, USER)
        await chat.say("/start")
        yookassa.hang_next(1, seconds=2.0)
        started = time.monotonic()
        reply = await chat.press("payment_amount_300")
        assert time.monotonic() - started < 1.5
        assert reply.params["text"] == "Оплата сейчас недоступна. Попробуйте чуть позже."
        link = await chat.press("payment_amount_300")
        assert buttons(link)[0][1].startswith(app.settings.yookassa.api_url)
    # The create that timed out reached YooKassa; the retry repeated its key: one payment.
    creates = [r for r in yookassa.requests if r.method == "POST" and r.path.endswith("/payments")]
    assert len(creates) == 2
    assert creates[0].headers["idempotence-key"] == creates[1].headers["idempotence-key"]
    assert len(yookassa.payments) == 1


async def test_a_press_too_old_to_answer_is_still_handled(app: Running, telegram: BotApiSandbox) -> None:
    chat = Chat(telegram, USER)
    await chat.say("/start")
    press = telegram.callback_update(USER, "mode:generate")
    telegram.world.answer_query(press["callback_query"]["id"])  # answered or expired meanwhile
    mark = telegram.checkpoint()
    reply = await chat.send(press)
    assert reply.params["text"].startswith("Режим «Создать по описанию»")
    (answer,) = telegram.calls()[mark:][:1]
    assert (answer.method, answer.error_code) == ("answerCallbackQuery", 400)


async def test_shutdown_waits_for_updates_in_hand(
    launch: Launcher, telegram: BotApiSandbox, yookassa: YooKassaSandbox
) -> None:
    async with launch() as app:
        await Chat(telegram, USER).say("/start")
        yookassa.hang_next(1, seconds=1.0)
        mark = telegram.checkpoint()
        delivery = asyncio.create_task(telegram.deliver(telegram.callback_update(USER, "payment_amount_300")))
        await telegram.wait_for("answerCallbackQuery", after=mark)
    # The app has stopped; the update it was handling was finished and answered, not dropped.
    assert (await delivery).status_code == 200
    sent = messages_since(telegram, mark, USER)
    assert len(sent) == 1 and sent[0].params["text"].startswith("Счёт на 300 ₽ готов")


async def test_the_registered_webhook_asks_only_for_the_updates_used(app: Running, telegram: BotApiSandbox) -> None:
    webhook = telegram.world.webhook
    assert webhook is not None
    assert (webhook.url, webhook.secret_token) == (app.webhook_url, SECRET)
    assert sorted(webhook.allowed_updates) == ["callback_query", "message", "pre_checkout_query"]


async def test_set_webhook_command_registers_url_secret_and_updates(
    telegram: BotApiSandbox, telegram_url: str, tmp_path: Path
) -> None:
    url = "https://bot.example.com/telegram/webhook"
    # The one real process of the command; the refusals below run in this process.
    done = await medialab_process("set-webhook", cwd=tmp_path, environ=environment(
        TELEGRAM_BOT_TOKEN=BOT_TOKEN, TELEGRAM_API_URL=telegram_url, TELEGRAM_WEBHOOK_URL=url, TELEGRAM_WEBHOOK_SECRET=SECRET))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (f"webhook set to {url} (with a secret token; updates: callback_query, message, pre_checkout_query)")
    webhook = telegram.world.webhook
    assert webhook is not None and webhook.url == url and webhook.secret_token == SECRET
    assert sorted(webhook.allowed_updates) == ["callback_query", "message", "pre_checkout_query"]
    assert BOT_TOKEN not in done.stdout + done.stderr and SECRET not in done.stdout + done.stderr


@pytest.mark.parametrize(("missing", "message"), [
    ("TELEGRAM_WEBHOOK_URL", "medialab: TELEGRAM_WEBHOOK_URL is not set (the public URL of /telegram/webhook)"),
    ("TELEGRAM_BOT_TOKEN", "medialab: TELEGRAM_BOT_TOKEN is not set"),
])
async def test_set_webhook_without_url_or_token_exits_2_with_one_line(
    telegram: BotApiSandbox, telegram_url: str, missing: str, message: str
) -> None:
    env = {"TELEGRAM_BOT_TOKEN": BOT_TOKEN, "TELEGRAM_API_URL": telegram_url,
           "TELEGRAM_WEBHOOK_URL": "https://bot.example.com/telegram/webhook"}
    del env[missing]
    done = await medialab_in_process("set-webhook", environ=environment(**env))
    assert (done.returncode, done.stdout, done.stderr) == (2, "", message + "\n")
    assert telegram.world.webhook is None


async def test_set_webhook_reports_telegram_refusing_without_secrets(
    bot_settings: Settings, telegram: BotApiSandbox
) -> None:
    settings = bot_settings.with_overrides(
        telegram={"webhook_url": "https://bot.example.com/telegram/webhook", "webhook_secret": "bad secret!"})
    with pytest.raises(RegistrationError) as refused:
        await register_webhook(settings)
    assert str(refused.value) == "Telegram refused the webhook: Bad Request: secret token contains unallowed characters"
    assert telegram.world.webhook is None


async def test_a_reply_travels_in_the_answer_as_the_bot_apis_json(app: Running, telegram: BotApiSandbox) -> None:
    """The reply a handler ends with is the webhook's answer, a Bot API call in JSON with its
    objects as objects (what Telegram performs); nothing is sent through the Bot API for it."""
    mark = telegram.checkpoint()
    async with httpx.AsyncClient() as http:
        response = await http.post(app.webhook_url, json=telegram.command_update(USER, "start"),
                                   headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    answer = response.json()
    assert (response.status_code, answer["method"], answer["chat_id"]) == (200, "sendMessage", USER)
    assert answer["text"].startswith("Привет")
    assert [row[0]["callback_data"] for row in answer["reply_markup"]["inline_keyboard"]][:1] == ["mode:generate"]
    assert telegram.calls()[mark:] == []
