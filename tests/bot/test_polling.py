"""Long polling (`medialab run --polling`) through the app's own UpdateRunner: an update is
acknowledged (the next getUpdates' offset moves past it) only once it has been handled, so one
that fails (Redis away here) is polled again until it is handled; a reply that the webhook would
carry in its answer is sent as a call; stopping confirms what was handled."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from conftest import wait_until
from medialab.bot.dispatcher import allowed_updates
from medialab.bot.polling import UpdatePolling
from medialab.sandbox.telegram import BotApiSandbox
from test_redis_loss import RestartableRedis, restartable_redis  # noqa: F401 (a fixture)

from .conftest import Launcher

USER = 7_100_200


def polled_since(telegram: BotApiSandbox, mark: int, times: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return len(telegram.calls("getUpdates")[mark:]) >= times

    return check


async def test_an_update_that_failed_is_polled_again_until_handled_then_confirmed(
    launch: Launcher, telegram: BotApiSandbox, restartable_redis: RestartableRedis  # noqa: F811
) -> None:
    async with launch(register=False, redis={"url": restartable_redis.url}) as running:
        polling = UpdatePolling(running.app.state.telegram, allowed_updates(), running.settings.telegram.timeout)
        polling.start()
        try:
            restartable_redis.stop()  # the chat's lock and state cannot be read: the update fails
            start = telegram.command_update(USER, "start")
            polls = len(telegram.calls("getUpdates"))
            telegram.enqueue(start)
            # The first poll took it and failed; once more (after the first pause) shows it comes again:
            # each further one waits twice as long.
            await wait_until(polled_since(telegram, polls, 2), "polled again after the failure")
            assert telegram.world.updates.pending == [start]  # never acknowledged
            assert not telegram.calls("sendMessage")

            restartable_redis.start()
            reply = await telegram.wait_for("sendMessage", lambda call: call.chat_id == USER, timeout=30)
            assert reply.params["text"].startswith("Привет")  # /start's reply, sent as a call
        finally:
            await polling.stop()
    assert telegram.world.updates.pending == []  # confirmed, though no poll came after it
    assert len(telegram.calls("sendMessage")) == 1
