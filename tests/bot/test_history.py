"""/history over the real webhook: the user's balance movements, newest first, ten at a time with
a button for older ones (`history:<entry id>`), dates and words in the user's language, forged
buttons refused, and `/admin_user` showing the same movements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from babel.dates import get_month_names

from medialab.domain.ledger import LedgerKind
from medialab.sandbox.telegram import BotApiSandbox
from medialab.services import Services

from .conftest import Chat, Launcher, Running, buttons, ledger_of, queued_requests

USER = 780_001
OTHER = 780_002
ADMIN = 780_003


@pytest.fixture
async def app(launch: Launcher) -> AsyncIterator[Running]:
    async with launch(
        billing={"free_operations_count": 0, "operation_prices": (("generate", 1200),)},
        admin={"telegram_ids": frozenset({ADMIN})}) as running:
        yield running


def ru_date(moment: datetime) -> str:
    month = get_month_names("abbreviated", locale="ru")[moment.month]
    return f"{moment.day} {month} {moment.year}\u202fг., {moment:%H:%M}"


def en_date(moment: datetime) -> str:
    month = get_month_names("abbreviated", locale="en")[moment.month]
    hour = moment.hour % 12 or 12
    return f"{month} {moment.day}, {moment.year}, {hour}:{moment:%M}\u202f{'AM' if moment.hour < 12 else 'PM'}"


async def _movements(services: Services) -> None:
    """A top-up, eleven charges (one refunded), a grant and a chargeback: 15 movements."""
    billing = services.billing
    user = await billing.get_or_create_user(USER)
    await billing.add_balance(user.user_id, 50_000, "yookassa:2e8f6b7c")
    for number in range(11):
        await billing.charge_operation(user.user_id, "generate" if number % 2 else "upscale",
                                       operation_id=f"op-{number}")
        await billing.settle_operation(f"op-{number}")  # delivered: its in-flight slot is free
    await billing.refund_operation("op-9", reason="job failed")
    await billing.add_balance(user.user_id, 1_050, "grant:sorry", kind=LedgerKind.GRANT, actor="cli:alice")
    await billing.add_balance(user.user_id, -10_000, "chargeback:2e8f6b7c", kind=LedgerKind.CHARGEBACK)


async def test_history_pages_through_every_movement_in_russian(app: Running, telegram: BotApiSandbox) -> None:
    await _movements(app.services)
    ledger = list(reversed(await ledger_of(app.services, USER)))  # newest first
    chat = Chat(telegram, USER)
    await chat.say("/start")
    await chat.press("mode:generate")  # a chosen mode does not keep /history from working

    first = await chat.say("/history")
    lines = first.params["text"].splitlines()
    assert lines[0] == "История баланса (время UTC):"
    assert lines[1:5] == [
        f"{ru_date(ledger[0].created_at)} — Отмена пополнения: -100 ₽, баланс 302,50 ₽",
        f"{ru_date(ledger[1].created_at)} — Корректировка от поддержки: +10,50 ₽, баланс 402,50 ₽",
        f"{ru_date(ledger[2].created_at)} — Возврат, 🎨 Создать по описанию: +12 ₽, баланс 392 ₽",
        f"{ru_date(ledger[3].created_at)} — Оплата, 🔍 Улучшить качество: -10 ₽, баланс 380 ₽",
    ]
    assert lines[5].endswith(" — Оплата, 🎨 Создать по описанию: -12 ₽, баланс 390 ₽")
    assert len(lines) == 11
    assert buttons(first) == [("⬅️ Ранее", f"history:{ledger[9].id}")]

    older = await chat.press(f"history:{ledger[9].id}")
    lines = older.params["text"].splitlines()
    assert lines[1:] == [
        f"{ru_date(ledger[10].created_at)} — Оплата, 🎨 Создать по описанию: -12 ₽, баланс 456 ₽",
        f"{ru_date(ledger[11].created_at)} — Оплата, 🔍 Улучшить качество: -10 ₽, баланс 468 ₽",
        f"{ru_date(ledger[12].created_at)} — Оплата, 🎨 Создать по описанию: -12 ₽, баланс 478 ₽",
        f"{ru_date(ledger[13].created_at)} — Оплата, 🔍 Улучшить качество: -10 ₽, баланс 490 ₽",
        f"{ru_date(ledger[14].created_at)} — Пополнение: +500 ₽, баланс 500 ₽",
    ]
    assert buttons(older) == []
    # Reading the statement charged nothing and queued nothing.
    assert len(await ledger_of(app.services, USER)) == 15 and await queued_requests(app.services) == {}


async def test_history_in_english_and_for_a_new_user(app: Running, telegram: BotApiSandbox) -> None:
    await _movements(app.services)
    ledger = list(reversed(await ledger_of(app.services, USER)))
    english = await Chat(telegram, USER, language="en").say("/history")
    lines = english.params["text"].splitlines()
    assert lines[:3] == [
        "Balance history (UTC times):",
        f"{en_date(ledger[0].created_at)} — Top-up reversed: -100 ₽, balance 302,50 ₽",
        f"{en_date(ledger[1].created_at)} — Adjustment by support: +10,50 ₽, balance 402,50 ₽",
    ]
    assert lines[3].endswith(" — Refund, 🎨 Create from a description: +12 ₽, balance 392 ₽")
    assert buttons(english) == [("⬅️ Earlier", f"history:{ledger[9].id}")]

    assert (await Chat(telegram, OTHER).say("/history")).params["text"] == (
        "Движений по балансу пока нет. Пополнить баланс: /balance")
    assert (await Chat(telegram, OTHER, language="en").say("/history")).params["text"] == (
        "No balance movements yet. Top up: /balance")


async def test_forged_history_buttons_show_only_the_presser_s_own_movements(
    app: Running, telegram: BotApiSandbox
) -> None:
    await _movements(app.services)
    newest = (await ledger_of(app.services, USER))[-1]
    other, owner = Chat(telegram, OTHER), Chat(telegram, USER)
    await other.say("/history")
    await owner.say("/history")
    # Another user's entry id: only OTHER's own movements before it, of which there are none.
    assert (await other.press(f"history:{newest.id + 1}")).params["text"] == "Более ранних движений по балансу нет."
    for forged in ("history:", "history:abc", "history:-5", "history:" + "9" * 40, "history:1e9"):
        assert (await other.press(forged)).params["text"] == "Эта кнопка больше не действует. Меню: /start"
    # The owner's own press reads from their movements only.
    mine = await owner.press(f"history:{newest.id + 1_000}")
    assert len(mine.params["text"].splitlines()) == 11


async def test_the_admin_sees_the_same_movements(app: Running, telegram: BotApiSandbox) -> None:
    await _movements(app.services)
    history = (await Chat(telegram, USER).say("/history")).params["text"].splitlines()[1:]
    report = (await Chat(telegram, ADMIN).say(f"/admin_user {USER}")).params["text"].splitlines()
    start = report.index("last ledger entries (10):")
    statement = report[start + 1:]
    assert statement[-1] == "  (older entries not shown)"
    assert [line.split("  ")[2].rsplit(" -> ")[1] for line in statement[:-1]] == [
        line.rsplit("баланс ", 1)[1] for line in history]
    assert statement[0].endswith("chargeback -100 ₽ -> 302,50 ₽  chargeback:2e8f6b7c")
    assert statement[2].endswith("refund generate +12 ₽ -> 392 ₽  refund:op-9  (job failed)")
