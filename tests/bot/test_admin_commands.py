"""The operators' commands in the chat (/admin_user, /admin_grant, /admin_refund, /reconcile)
over the real webhook: the CLI's answers, every change a ledger entry by tg:<operator>, a
command Telegram delivers twice granting once, refusals that change nothing, and nothing of it
for anyone who is not in ADMIN_TELEGRAM_IDS."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from medialab.db.redis_keys import user_keys
from medialab.bot.views import MESSAGE_LIMIT, fit_messages
from medialab.domain.ledger import LedgerKind
from medialab.sandbox.telegram import BotApiSandbox
from medialab.sandbox.telegram_state import bot_id_of

from stand_ins import BOT_TOKEN
from .conftest import Chat, Launcher, Running, ledger_of, operations_of, wait_for_messages

ADMIN = 760_001
USER = 760_002
STRANGER = 760_003
ACTOR = f"tg:{ADMIN}"


@pytest.fixture
async def app(launch: Launcher) -> AsyncIterator[Running]:
    async with launch(admin={"telegram_ids": frozenset({ADMIN})}) as running:
        yield running


async def _known_user(telegram: BotApiSandbox) -> None:
    await Chat(telegram, USER).say("/start")


async def _balance(app: Running, telegram_id: int) -> int:
    user = await app.services.billing.get_user_info(telegram_id)
    assert user is not None
    return user.balance


async def test_the_admin_sees_an_account_in_any_state(app: Running, telegram: BotApiSandbox) -> None:
    await _known_user(telegram)
    user = await app.services.billing.get_user_info(USER)
    assert user is not None
    admin = Chat(telegram, ADMIN)
    grant = telegram.message_update(ADMIN, f"/admin_grant {USER} 10,50 welcome")
    await admin.send(grant)
    # An open question (the custom top-up amount) does not swallow the command.
    await admin.say("/start")
    await admin.press("payment_menu")
    await admin.press("payment_custom")

    lines = (await admin.say(f"/admin_user {USER}")).params["text"].splitlines()
    assert lines[:5] == [f"user {USER} (id {user.user_id}, language ru)", "balance: 10,50 ₽",
                         "free operations: 4 of 4", "last operations (0):", "last payments (0):"]
    assert lines[5] == "last ledger entries (1):"
    grant_id = f"tg-{bot_id_of(BOT_TOKEN)}-{ADMIN}-{grant['message']['message_id']}"
    assert lines[6].endswith(f"grant +10,50 ₽ -> 10,50 ₽  grant:{grant_id}  by {ACTOR}  (welcome)")
    assert len(lines) == 7

    assert (await admin.say("/admin_user 424242")).params["text"] == "no user with Telegram id 424242"
    assert (await admin.say("/admin_user abc")).params["text"] == "not a Telegram user id: 'abc'"
    assert (await admin.say("/admin_user")).params["text"] == "usage: /admin_user <telegram_id>"


async def test_a_long_account_is_sent_in_messages_telegram_takes(app: Running, telegram: BotApiSandbox) -> None:
    await _known_user(telegram)
    user = await app.services.billing.get_user_info(USER)
    assert user is not None
    for number in range(10):
        await app.services.billing.add_balance(user.user_id, 100, f"grant:long-{number}", LedgerKind.GRANT,
                                               actor="cli:alice", reason=f"{number} " + "ж" * 490)
    mark = telegram.checkpoint()
    await Chat(telegram, ADMIN).say(f"/admin_user {USER}")
    first, second = await wait_for_messages(telegram, ADMIN, 2, after=mark)

    assert all(len(call.params["text"]) <= MESSAGE_LIMIT for call in (first, second))
    lines = first.params["text"].splitlines() + second.params["text"].splitlines()
    assert lines[1] == "balance: 10 ₽" and lines[5] == "last ledger entries (10):"
    assert [line.split("(")[-1][0] for line in lines[6:]] == [str(n) for n in range(9, -1, -1)]


def test_lines_are_packed_and_an_overlong_line_is_cut() -> None:
    assert fit_messages(["a" * 3000, "b" * 1095, "c"]) == ["a" * 3000 + "\n" + "b" * 1095, "c"]
    [cut] = fit_messages(["🙂" * 3000])  # two UTF-16 units each, as Telegram counts
    assert cut == "🙂" * 2047 + "…"


async def test_a_grant_is_one_ledger_entry_by_the_admin_and_a_redelivery_grants_nothing(
    app: Running, telegram: BotApiSandbox
) -> None:
    await _known_user(telegram)
    admin = Chat(telegram, ADMIN)
    update = telegram.message_update(ADMIN, f"/admin_grant {USER} 150,50 goodwill:   ticket_77")
    grant_id = f"tg-{bot_id_of(BOT_TOKEN)}-{ADMIN}-{update['message']['message_id']}"

    first = await admin.send(update)
    assert first.params["text"] == f"granted 150,50 ₽ to user {USER}: balance 150,50 ₽ (grant id {grant_id})"
    assert "parse_mode" not in first.params
    # Telegram delivers the same update again (our answer was lost): nothing more is granted.
    again = await admin.send(update)
    assert again.params["text"] == (f"grant {grant_id} was made before: nothing changed; "
                                    f"balance of user {USER}: 150,50 ₽")
    # Another command is another grant, with the default reason.
    await admin.say(f"/admin_grant {USER} 10")

    grants = [entry for entry in await ledger_of(app.services, USER) if entry.kind == LedgerKind.GRANT]
    assert [(g.amount, g.actor, g.reason) for g in grants] == [
        (15_050, ACTOR, "goodwill: ticket_77"), (1_000, ACTOR, "grant by an operator")]
    assert grants[0].idempotency_key == f"grant:{grant_id}"
    assert grants[1].idempotency_key != grants[0].idempotency_key
    assert await _balance(app, USER) == 16_050
    assert (await app.services.billing.cache.snapshot(grants[0].user_id)).balance == 16_050  # type: ignore[union-attr]


BAD_GRANTS = [
    ("/admin_grant", "usage: /admin_grant <telegram_id> <rubles> [reason…]"),
    (f"/admin_grant {USER}", "usage: /admin_grant <telegram_id> <rubles> [reason…]"),
    (f"/admin_grant {USER} ten", "not a number of rubles: 'ten'"),
    (f"/admin_grant {USER} -5", "a grant must be more than 0 ₽, got '-5'"),
    (f"/admin_grant {USER} 0", "a grant must be more than 0 ₽, got '0'"),
    (f"/admin_grant {USER} 1.005", "finer than a kopeck: '1.005'"),
    (f"/admin_grant {USER} 100000.01", "a grant may be at most 100000 ₽ (MAX_TOPUP), got '100000.01'"),
    (f"/admin_grant {USER} 10 {'x' * 501}", "the reason is longer than 500 characters"),
    ("/admin_grant abc 10", "not a Telegram user id: 'abc'"),
    ("/admin_grant 424242 10", "no user with Telegram id 424242"),
]


async def test_bad_grants_are_refused_one_line_each_and_change_nothing(app: Running, telegram: BotApiSandbox) -> None:
    await _known_user(telegram)
    admin = Chat(telegram, ADMIN)
    answers = [(await admin.say(text)).params["text"] for text, _ in BAD_GRANTS]
    assert answers == [refusal for _, refusal in BAD_GRANTS]
    assert await ledger_of(app.services, USER) == []
    assert await _balance(app, USER) == 0


async def test_a_charged_operation_is_refunded_once(launch: Launcher, telegram: BotApiSandbox) -> None:
    async with launch(admin={"telegram_ids": frozenset({ADMIN})}, billing={"free_operations_count": 0}) as app:
        await _known_user(telegram)
        admin = Chat(telegram, ADMIN)
        await admin.say(f"/admin_grant {USER} 100")
        user = Chat(telegram, USER)
        await user.press("mode:generate")
        await user.say("a red fox")
        [operation] = await operations_of(app.services, USER)
        assert operation.status == "charged"

        refunded = await admin.say(f"/admin_refund {operation.id} job lost")
        user_id = operation.user_id
        assert refunded.params["text"] == f"operation {operation.id}: refunded 10 ₽ to user id {user_id}: balance 100 ₽"
        again = await admin.say(f"/admin_refund {operation.id}")
        assert again.params["text"] == (
            f"operation {operation.id}: nothing to refund: the operation is refunded; nothing changed")
        assert (await admin.say("/admin_refund no-such-op")).params["text"] == "no operation 'no-such-op'"
        assert (await admin.say("/admin_refund")).params["text"] == "usage: /admin_refund <operation_id> [reason…]"

        refunds = [e for e in await ledger_of(app.services, USER) if e.kind == LedgerKind.REFUND]
        assert [(e.amount, e.operation_id, e.actor, e.reason) for e in refunds] == [
            (1_000, operation.id, ACTOR, "job lost")]
        assert [op.status for op in await operations_of(app.services, USER)] == ["refunded"]
        assert await _balance(app, USER) == 10_000


async def test_reconcile_repairs_a_drifted_cache(app: Running, telegram: BotApiSandbox) -> None:
    await _known_user(telegram)
    admin = Chat(telegram, ADMIN)
    await admin.say(f"/admin_grant {USER} 30")
    [grant] = await ledger_of(app.services, USER)
    await app.services.redis.hset(user_keys(grant.user_id).acct, "bal", 999_999)

    repaired = (await admin.say("/reconcile")).params["text"].splitlines()
    assert repaired == [
        "checked 1 cached user(s): 1 cache drift(s) in 1 user(s), 1 repaired, 0 left unrepaired; ledger: ok",
        f"cache drift: user {grant.user_id} balance: redis 999999, sql 3000",
    ]
    assert (await app.services.billing.cache.snapshot(grant.user_id)).balance == 3_000  # type: ignore[union-attr]
    assert (await admin.say("/reconcile")).params["text"] == (
        "checked 1 cached user(s): 0 cache drift(s) in 0 user(s), 0 repaired, 0 left unrepaired; ledger: ok")
    assert (await admin.say("/reconcile now")).params["text"] == "usage: /reconcile"
    # The repair moved no money: the ledger holds the one grant.
    assert [e.kind for e in await ledger_of(app.services, USER)] == [LedgerKind.GRANT]


async def test_anyone_else_gets_the_usual_answers_and_no_admin_behaviour(
    app: Running, telegram: BotApiSandbox
) -> None:
    await _known_user(telegram)
    stranger = Chat(telegram, STRANGER)
    for text in (f"/admin_grant {USER} 100", f"/admin_user {USER}", "/reconcile", "/admin_refund x"):
        assert (await stranger.say(text)).params["text"] == "Сначала выберите режим в меню: /start"
    # In a mode, the command is no prompt either: nothing is charged.
    await stranger.say("/start")
    await stranger.press("mode:generate")
    hint = await stranger.say(f"/admin_grant {USER} 100")
    assert hint.params["text"] == "Нужно текстовое описание: напишите словами, что нарисовать."

    assert await ledger_of(app.services, USER) == [] and await ledger_of(app.services, STRANGER) == []
    assert await operations_of(app.services, STRANGER) == []
    assert await _balance(app, USER) == 0
    stranger_account = await app.services.billing.get_user_info(STRANGER)
    assert stranger_account is not None and stranger_account.free_operations_left == 4
    assert not any(str(USER) in text for text in telegram.texts(STRANGER))
