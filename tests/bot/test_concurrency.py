"""Many updates of one user at once, delivered to two web processes that share the database and
Redis: one user is created with its free operations once, and money for three operations pays
for exactly three."""

from __future__ import annotations

import asyncio
from typing import Any

from medialab.billing.audit import check_ledger
from medialab.domain.ledger import LedgerKind
from medialab.sandbox.telegram import BotApiSandbox

from .conftest import SECRET, Chat, Launcher, Running, operations_of, queued_requests, wait_for_messages

USER = 750_001


async def _deliver_all(telegram: BotApiSandbox, updates: list[dict[str, Any]], processes: list[Running]) -> None:
    responses = await asyncio.gather(*(
        telegram.deliver(update, processes[i % len(processes)].webhook_url, SECRET)
        for i, update in enumerate(updates)))
    assert [response.status_code for response in responses] == [200] * len(updates)


async def test_twenty_concurrent_starts_of_a_new_user_make_one_user(launch: Launcher, telegram: BotApiSandbox) -> None:
    async with launch() as first, launch(register=False) as second:
        mark = telegram.checkpoint()
        updates = [telegram.command_update(USER, "start") for _ in range(20)]
        await _deliver_all(telegram, updates, [first, second])

        greetings = await wait_for_messages(telegram, USER, 20, after=mark)
        assert all(call.params["text"].startswith("Привет") for call in greetings)
        assert all("Бесплатные операции: 4 из 4" in call.params["text"].splitlines() for call in greetings)
        user = await first.services.billing.get_user_info(USER)
        assert user is not None and (user.free_operations_left, user.balance) == (4, 0)
        assert await check_ledger(first.services.sessions) == []


async def test_ten_paid_prompts_at_once_with_money_for_three(launch: Launcher, telegram: BotApiSandbox) -> None:
    async with launch(jobs={"max_in_flight": 20}, billing={"free_operations_count": 0}) as first, \
            launch(register=False, jobs={"max_in_flight": 20}, billing={"free_operations_count": 0}) as second:
        services = first.services
        user = await services.billing.get_or_create_user(USER)
        await services.billing.add_balance(user.user_id, 3000, f"grant-{USER}", kind=LedgerKind.GRANT, actor="test")
        chat = Chat(telegram, USER)
        await chat.say("/start")
        await chat.press("mode:generate")

        mark = telegram.checkpoint()
        updates = [telegram.message_update(USER, f"prompt {n}") for n in range(10)]
        await _deliver_all(telegram, updates, [first, second])
        replies = [call.params["text"] for call in await wait_for_messages(telegram, USER, 10, after=mark)]

        assert sum(text.startswith("Принято!") for text in replies) == 3
        assert sum(text.startswith("Недостаточно средств") for text in replies) == 7
        operations = await operations_of(services, USER)
        assert [op.status for op in operations] == ["charged"] * 3
        jobs = await queued_requests(services)
        assert sorted(jobs) == sorted(op.id for op in operations)
        assert len({request.prompt for request in jobs.values()}) == 3
        after = await services.billing.get_user_info(USER)
        assert after is not None and after.balance == 0
        assert await check_ledger(services.sessions) == []


async def test_a_flood_of_add_text_is_held_to_the_in_flight_limit_and_another_users_prompt_runs(
    launch: Launcher, telegram: BotApiSandbox
) -> None:
    other = USER + 1
    async with launch() as first, launch(register=False) as second:
        services = first.services
        flooder, prompter = Chat(telegram, USER), Chat(telegram, other)
        for chat, mode in ((flooder, "mode:add_text"), (prompter, "mode:generate")):
            await chat.say("/start")
            await chat.press(mode)

        mark = telegram.checkpoint()
        updates = [telegram.photo_update(USER, flooder.photo()[0], caption=f"caption {n}") for n in range(30)]
        updates.append(telegram.message_update(other, "a lighthouse at dawn"))
        await _deliver_all(telegram, updates, [first, second])
        replies = [call.params["text"] for call in await wait_for_messages(telegram, USER, 30, after=mark)]
        [accepted] = await wait_for_messages(telegram, other, 1, after=mark)

        assert sum(text.endswith("Эта операция бесплатная.") for text in replies) == 2
        assert replies.count("Сейчас уже выполняется операций: 2 (одновременно можно 2). "
                             "Дождитесь результата и отправьте снова.") == 28
        assert accepted.params["text"].startswith("Принято!")
        jobs = await queued_requests(services)
        assert sorted(request.operation_type for request in jobs.values()) == ["add_text", "add_text", "generate"]
        flooded = await operations_of(services, USER)
        assert sorted(op.id for op in flooded) == sorted(j for j, r in jobs.items() if r.operation_type == "add_text")
        assert {(op.price, op.status) for op in flooded} == {(0, "charged")}
        assert [op.status for op in await operations_of(services, other)] == ["free"]
