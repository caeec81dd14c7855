"""`medialab serve` SIGKILLed in the middle of Telegram's load, then started again on the same
port, database and Redis: Telegram delivers again every update not answered 2xx, and each paid
prompt is still charged once, queued once and acknowledged once, and every chat answers within
seconds of the restart (the dead process's chat locks are short leases, not 60 s locks).

The client behaves like Telegram: an update is posted until it is answered 2xx (the same
update_id and message after a short pause on any other answer or a failed connection), over a
bounded pool of connections, one update of a user in flight at most; a method in the answer's
body ({"method": "sendMessage", ...}) is performed at the Bot API stand-in. No worker runs.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from conftest import REDIS_TEST_URL
from forked import forked
from medialab.billing.audit import check_ledger
from medialab.bot.chat_orders import OPERATION_NAMESPACE
from medialab.db.models import Balance, LedgerEntry, Operation, User
from medialab.demo.stack import Process, free_port, system_environment, wait_until_ready
from medialab.domain.ledger import LedgerKind
from medialab.sandbox.telegram import BotApiSandbox
from medialab.sandbox.telegram_wire import MethodCall, decode_value
from medialab.services import Services
from medialab.settings import Settings

from stand_ins import BOT_TOKEN
from .conftest import SECRET, queued_requests

pytestmark = pytest.mark.slow

USERS, PROMPTS_EACH, CONNECTIONS = 60, 5, 24
PRICE = 1_000  # kopecks: PRICE_PER_OPERATION=10
SEEDED = 7 * PRICE
KILL_AFTER = USERS * PROMPTS_EACH // 3  # prompts answered 2xx
BALANCE_WITHIN = 5.0  # seconds after the new process is ready
RETRY_PAUSE = 0.1
UPDATE_DEADLINE = 60.0  # an update not answered 2xx by then fails the test
RUN_DEADLINE = 240.0
FIRST_USER = 930_001
NOWHERE = "http://127.0.0.1:9"  # YooKassa and fal.ai: not called here
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}


def operation_id(chat: int, message_id: int) -> str:
    """The operation a prompt's charge is keyed by (bot/chat_orders.py)."""
    return uuid.uuid5(OPERATION_NAMESPACE, f"{BOT_TOKEN.split(':')[0]}:message:{chat}:{message_id}").hex


class TelegramDelivery:
    """Telegram's side of the webhook (see the module's docstring)."""

    def __init__(self, sandbox: BotApiSandbox, url: str, http: httpx.AsyncClient) -> None:
        self.sandbox, self.url, self.http = sandbox, url, http
        self.connections = asyncio.Semaphore(CONNECTIONS)  # each holds its update until it is answered 2xx
        self.refused: Counter[str] = Counter()  # non-2xx answers by status, failed connections by error

    async def deliver(self, update: dict[str, Any]) -> None:
        async with self.connections:
            deadline = time.monotonic() + UPDATE_DEADLINE
            while True:
                try:
                    response = await self.http.post(self.url, json=update, headers=HEADERS)
                    if response.is_success:
                        return self.perform_answer(response)
                    self.refused[str(response.status_code)] += 1
                except httpx.TransportError as error:
                    self.refused[type(error).__name__] += 1
                assert time.monotonic() < deadline, f"update {update['update_id']} never answered 2xx"
                await asyncio.sleep(RETRY_PAUSE)

    def perform_answer(self, response: httpx.Response) -> None:
        body = response.json() if "json" in response.headers.get("content-type", "") else None
        if isinstance(body, dict) and isinstance(body.get("method"), str):
            params = {name: decode_value(name, value) for name, value in body.items() if name != "method"}
            self.sandbox.perform(body["method"], MethodCall(params))

    async def say(self, chat: int, update: dict[str, Any], timeout: float) -> None:
        """Delivers the update and waits for the bot's message to the chat."""
        mark = self.sandbox.checkpoint()
        await self.deliver(update)
        await self.sandbox.wait_for("sendMessage", lambda call: call.chat_id == chat and call.ok, timeout, mark)


class Load:
    """Each user sends its prompts one after the other; the web process is killed once a third
    are answered and started again; then each user's next update is /balance, and no user sends
    another prompt before every chat has answered it (what is timed is the chats' recovery, not
    the throughput of the prompts still to come)."""

    def __init__(self, telegram: TelegramDelivery, web: Process, base_url: str) -> None:
        self.telegram, self.web, self.base_url = telegram, web, base_url
        self.answered = 0
        self.prompts: dict[str, tuple[int, str]] = {}  # operation id -> (chat, prompt)
        self.restarted = asyncio.Event()
        self.all_answered_balance = asyncio.Event()
        self.ready_at = 0.0
        self.restart_seconds = 0.0
        self.balance_seconds: dict[int, float] = {}  # chat -> seconds from ready to /balance's reply

    async def user(self, chat: int) -> None:
        for n in range(PROMPTS_EACH):
            if self.restarted.is_set():
                await self.ask_balance(chat)
            update = self.telegram.sandbox.message_update(chat, f"a red fox, take {n}")
            message = update["message"]
            self.prompts[operation_id(chat, message["message_id"])] = (chat, message["text"])
            await self.telegram.deliver(update)
            self.answered += 1
        await self.restarted.wait()
        await self.ask_balance(chat)

    async def ask_balance(self, chat: int) -> None:
        if chat in self.balance_seconds:
            return
        await self.telegram.say(chat, self.telegram.sandbox.command_update(chat, "balance"), UPDATE_DEADLINE)
        self.balance_seconds[chat] = time.monotonic() - self.ready_at
        if len(self.balance_seconds) == USERS:
            self.all_answered_balance.set()
        await self.all_answered_balance.wait()

    async def kill_and_restart(self) -> None:
        while self.answered < KILL_AFTER:
            await asyncio.sleep(0.005)
        killed = time.monotonic()
        assert await self.web.stop(signal.SIGKILL) == -signal.SIGKILL
        self.web.start()
        await wait_until_ready(self.web, self.base_url)
        self.ready_at = time.monotonic()
        self.restart_seconds = self.ready_at - killed
        self.restarted.set()


async def test_a_web_process_killed_under_load_charges_and_queues_each_prompt_once(
    database_url: str, redis: Redis, telegram: BotApiSandbox, telegram_url: str, tmp_path: Path
) -> None:  # `redis`: the test's Redis database is emptied first
    port = free_port()
    env = system_environment(database_url, REDIS_TEST_URL, {"telegram": telegram_url, "yookassa": NOWHERE,
                                                            "fal": NOWHERE}, port)
    env.update(TELEGRAM_BOT_TOKEN=BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET=SECRET, FREE_OPERATIONS_COUNT="0",
               PRICE_PER_OPERATION=str(PRICE // 100), MAX_JOBS_IN_FLIGHT=str(PROMPTS_EACH + 1))
    services = await Services.open(Settings.from_env(env, env_file=None))
    web = Process("serve", env, tmp_path, launch=forked)
    base_url = f"http://127.0.0.1:{port}"
    http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, pool=None), limits=httpx.Limits(max_connections=CONNECTIONS))
    chats = list(range(FIRST_USER, FIRST_USER + USERS))
    started = time.monotonic()
    try:
        for chat in chats:
            user = await services.billing.get_or_create_user(chat, "ru")
            await services.billing.add_balance(user.user_id, SEEDED, f"seed-{chat}")
        web.start()
        await wait_until_ready(web, base_url)
        delivery = TelegramDelivery(telegram, f"{base_url}/telegram/webhook", http)

        async def into_generate_mode(chat: int) -> None:
            await delivery.say(chat, telegram.command_update(chat, "start"), 10.0)
            await delivery.say(chat, telegram.callback_update(chat, "mode:generate"), 10.0)

        async with asyncio.timeout(RUN_DEADLINE):
            await asyncio.gather(*(into_generate_mode(chat) for chat in chats))
            load = Load(delivery, web, base_url)
            mark = telegram.checkpoint()
            loaded = time.monotonic()
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(load.kill_and_restart())
                for chat in chats:
                    tasks.create_task(load.user(chat))
        load_seconds = time.monotonic() - loaded

        # Every prompt charged once: one operation and one charge entry each, nothing refunded.
        async with services.sessions() as session:
            operations = dict((await session.execute(select(Operation.id, Operation.price))).all())
            entries = (await session.execute(select(LedgerEntry.kind, LedgerEntry.operation_id))).all()
            balances = dict((await session.execute(
                select(User.telegram_id, Balance.balance).join(Balance, Balance.user_id == User.id))).all())
        assert len(load.prompts) == USERS * PROMPTS_EACH
        missing, extra = set(load.prompts) - set(operations), set(operations) - set(load.prompts)
        assert not missing and not extra, f"{len(missing)} prompts not charged, {len(extra)} charges unknown"
        assert set(operations.values()) == {PRICE}
        charges = Counter(op for kind, op in entries if kind == LedgerKind.CHARGE)
        assert charges == Counter(load.prompts.keys()), [op for op, n in charges.items() if n > 1]
        assert Counter(kind for kind, _ in entries) == {LedgerKind.TOPUP: USERS, LedgerKind.CHARGE: len(load.prompts)}
        # Every prompt queued once: its job under its operation id, with its chat and prompt.
        queued = await queued_requests(services)
        assert {op: (job.telegram_id, job.prompt) for op, job in queued.items()} == load.prompts
        assert balances == dict.fromkeys(chats, SEEDED - PROMPTS_EACH * PRICE)
        # Every prompt acknowledged once: a lost answer's message is said on the next delivery.
        acks = Counter(call.chat_id for call in telegram.calls()[mark:]
                       if call.method == "sendMessage" and call.params["text"].startswith("Принято!"))
        assert acks == dict.fromkeys(chats, PROMPTS_EACH)
        assert await check_ledger(services.sessions) == []
        # The kill cut updates in hand, and no chat waited on the dead process.
        cut = sum(n for error, n in load.telegram.refused.items() if error != "ConnectError")
        assert cut, "no update was in flight when the process was killed"
        slowest = max(load.balance_seconds.values())
        assert len(load.balance_seconds) == USERS and slowest <= BALANCE_WITHIN, (
            f"/balance answered {slowest:.1f} s after the restart: {sorted(load.balance_seconds.values())[-5:]}")
        print(f"\n{database_url.split(':')[0]}: load {load_seconds:.1f} s, restart {load.restart_seconds:.1f} s, "
              f"/balance after ready: max {slowest:.2f} s, refused {dict(load.telegram.refused)}, "
              f"total {time.monotonic() - started:.1f} s")
    finally:
        await http.aclose()
        await web.stop()
        await services.close()
