"""`medialab sweep` (once as a real process) against the YooKassa and Bot API stand-ins: every open
payment and every refund since the last pass, a summary, and an exit status that says whether
something could not be settled."""

from __future__ import annotations

from redis.asyncio import Redis

import pytest

from conftest import REDIS_TEST_URL
from medialab_commands import environment, medialab_in_process, medialab_process
from medialab.billing.audit import check_ledger
from medialab.sandbox.telegram import BotApiSandbox
from medialab.sandbox.yookassa import YooKassaSandbox
from medialab.settings import Settings
from payments.conftest import RETURN_URL, opened
from stand_ins import BOT_TOKEN, SECRET_KEY, SHOP_ID

pytestmark = pytest.mark.slow  # runs medialab sweep in a process of its own

PAID, WAITING = 920_001, 920_002


async def test_sweep_settles_every_open_payment_and_the_refunds_and_says_what_it_did(
    database_url: str, redis: Redis, yookassa: YooKassaSandbox, yookassa_url: str, telegram: BotApiSandbox,
    telegram_url: str,
) -> None:
    shop = {"YOOKASSA_SHOP_ID": SHOP_ID, "YOOKASSA_SECRET_KEY": SECRET_KEY, "YOOKASSA_API_URL": yookassa_url,
            "YOOKASSA_RETURN_URL": RETURN_URL, "YOOKASSA_MAX_ATTEMPTS": "1",
            "TELEGRAM_BOT_TOKEN": BOT_TOKEN, "TELEGRAM_API_URL": telegram_url}
    settings = Settings.from_env({**shop, "DATABASE_URL": database_url, "REDIS_URL": REDIS_TEST_URL}, env_file=None)
    async with opened(settings) as services:
        for user in (PAID, WAITING):
            telegram.message_update(user, "/start")  # the users have talked to the bot
        paid = await services.payments.create_payment(PAID, 100)
        await services.payments.create_payment(WAITING, 200)  # a minute old at most, never paid
        provider_id = paid.confirmation_url.rsplit("/", 1)[-1]
        yookassa.succeed(provider_id)
        yookassa.refund_in_dashboard(provider_id, 4_000)  # before any notification

        environ = environment(database_url=database_url, redis_url=REDIS_TEST_URL, **shop)
        # The real process: the entry point, its output and exit status. Then in this process
        # (a process of its own spends ~3 s importing aiogram).
        done = await medialab_process("sweep", environ=environ)

        assert done.returncode == 0, done.stderr
        payments, creates, refunds = done.stdout.splitlines()
        assert payments == "payments: 2 open checked: 1 credited, 1 still pending; 0 undecided, 0 failed"
        assert creates == "creates without an answer: 0 finished, 0 closed"
        assert refunds.startswith("refunds since ")
        assert refunds.endswith(" UTC: 1 listed: 1 done before; 0 undecided, 0 failed")
        user = await services.billing.get_user_info(PAID)
        assert user is not None and user.balance == 6_000
        assert [text for text in telegram.texts(PAID) if "Баланс: 60 ₽" in text]

        # YooKassa away: the open payment and the list of refunds both wait for the next pass.
        yookassa.fail_next(2, status=503, processed=False)
        failed = await medialab_in_process("sweep", environ=environ)

        assert failed.returncode == 2
        assert failed.stdout.splitlines()[0] == "payments: 1 open checked: none; 1 undecided, 0 failed"
        assert failed.stderr.splitlines()[-1] == (
            "medialab: 2 payment(s) or refund(s) could not be settled now (see the log); run it again later")
        assert await check_ledger(services.sessions) == []
