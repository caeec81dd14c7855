"""One chat pressing a top-up button as fast as it can while YooKassa is slow holds one update
slot at most: another user's /start, mode choice and paid prompt are answered within seconds
meanwhile, no delivery of either user is answered 5xx, and the books balance afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from medialab.bot.updates import UpdateRunner
from medialab.domain.ledger import LedgerKind
from medialab.sandbox.telegram import BotApiSandbox, RecordedCall
from medialab.sandbox.yookassa import YooKassaSandbox

from .conftest import Chat, Launcher, ledger_of, operations_of, queued_requests

pytestmark = pytest.mark.slow  # long concurrency runs

PRESSER = 760_001
OTHER = 760_002
PRESSES_AT_ONCE = 12  # the pressing chat's deliveries in flight at every moment
YOOKASSA_LATENCY = 0.5  # every create waits this long: each press holds its chat for as long
PRESSES_HANDLED = 8  # the pressing goes on until this many presses have been answered (~4 s)
REPLY_WITHIN = 3.0
PRICE = 1000
LINK = "Счёт на 100 ₽ готов."


async def until(condition: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    """Polls a condition until it holds; fails with `what` past the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, f"not within {seconds} s: {what}"
        await asyncio.sleep(0.01)


def links_to(telegram: BotApiSandbox, chat_id: int) -> int:
    return sum(1 for call in telegram.calls("sendMessage", chat_id)
               if call.ok and call.params["text"].startswith(LINK))


@pytest.mark.parametrize("in_progress", [4, 64])
async def test_a_chat_pressing_top_up_buttons_leaves_room_for_another_user(
    launch: Launcher, telegram: BotApiSandbox, yookassa: YooKassaSandbox, in_progress: int
) -> None:
    yookassa.answer_slowly(YOOKASSA_LATENCY)
    async with launch(telegram={"updates_in_progress": in_progress}, billing={"free_operations_count": 0}) as app:
        runner: UpdateRunner = app.app.state.telegram
        loop = asyncio.get_running_loop()
        presser = Chat(telegram, PRESSER)
        await presser.say("/start")  # a message with buttons to press on
        other_user = await app.services.billing.get_or_create_user(OTHER)
        await app.services.billing.add_balance(other_user.user_id, 3 * PRICE, f"grant-{OTHER}",
                                               kind=LedgerKind.GRANT, actor="test")

        statuses: list[int] = []
        stop = asyncio.Event()

        async def keep_pressing() -> None:
            for _ in range(1_000):  # bounded; `stop` ends it long before
                if stop.is_set():
                    return
                response = await telegram.deliver(telegram.callback_update(PRESSER, "payment_amount_100"))
                statuses.append(response.status_code)

        pressing = [asyncio.create_task(keep_pressing()) for _ in range(PRESSES_AT_ONCE)]
        try:
            # The chat is saturated: most of its presses wait in the process, one is at YooKassa.
            await until(lambda: runner.in_hand >= PRESSES_AT_ONCE - 1 and len(yookassa.requests) >= 1,
                        "the pressing chat saturated")

            other = Chat(telegram, OTHER)
            waiting_presses: list[int] = []
            timings: list[tuple[str, float]] = []
            replies: list[RecordedCall] = []

            async def timed(what: str, step: Callable[[], Awaitable[RecordedCall]]) -> None:
                waiting_presses.append(runner.in_hand)
                started = loop.time()
                replies.append(await step())  # answered 200, and its reply came
                timings.append((what, loop.time() - started))

            await timed("/start", lambda: other.say("/start"))
            await timed("mode:generate", lambda: other.press("mode:generate"))
            await timed("prompt", lambda: other.say("a red fox on the moon"))

            # The pressing went on the whole time and goes on a little longer.
            await until(lambda: links_to(telegram, PRESSER) >= PRESSES_HANDLED, "presses answered", 30.0)
        finally:
            stop.set()
            # Each presser has at most one delivery left, answered in turn (~PRESSES_AT_ONCE
            # times the latency); none hangs past this.
            await asyncio.wait_for(asyncio.gather(*pressing), 30.0)

        assert all(seconds < REPLY_WITHIN for _, seconds in timings), timings
        # While the other user waited, the pressing chat had more updates in hand than the
        # small variant's slots: only the per-chat bound left one for the other user.
        assert min(waiting_presses) > 4, waiting_presses
        assert replies[0].params["text"].startswith("Привет")
        assert replies[1].params["text"].startswith("Режим «Создать по описанию»")
        assert replies[2].params["text"].startswith("Принято!")

        # Every press was answered 200 with its link: nothing refused, nothing dropped.
        assert statuses and set(statuses) == {200}, sorted(set(statuses))
        assert links_to(telegram, PRESSER) == len(statuses)
        presser_payments = [p for p in yookassa.payments.values()
                            if p["metadata"]["telegram_user_id"] == str(PRESSER)]
        assert len(presser_payments) == len(statuses)
        assert runner.in_hand == 0

        # The prompt was paid for once and its job queued; top-ups credit nothing before paid.
        (operation,) = await operations_of(app.services, OTHER)
        assert operation.status == "charged" and operation.price == PRICE
        assert operation.id in await queued_requests(app.services)
        assert [(entry.kind, entry.amount) for entry in await ledger_of(app.services, OTHER)] == [
            ("grant", 3 * PRICE), ("charge", -PRICE)]
        info = await app.services.billing.get_user_info(OTHER)
        assert info is not None and info.balance == 2 * PRICE
        presser_info = await app.services.billing.get_user_info(PRESSER)
        assert presser_info is not None and presser_info.balance == 0
