"""`medialab admin user|grant|refund` against real Redis and both databases: in the test's process,
and as real processes where the process is what is tested (at once, a refusal, what loads)."""

from __future__ import annotations

import asyncio
import getpass
import json
import subprocess
import sys
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conftest import REDIS_TEST_URL
from medialab_commands import environment, medialab_in_process, medialab_process, run_process
from medialab.billing.audit import check_ledger
from medialab.billing.cache import BalanceCache
from medialab.billing.service import BillingService
from medialab.db.models import LedgerEntry, Payment
from medialab.domain.ledger import LedgerKind
from medialab.settings import Settings

ACTOR = f"cli:{getpass.getuser()}"


def admin_environment(database_url: str, redis_url: str | None = REDIS_TEST_URL) -> dict[str, str]:
    return environment(database_url=database_url, redis_url=redis_url)


async def medialab(*args: str, database_url: str, redis_url: str | None = REDIS_TEST_URL) -> subprocess.CompletedProcess[str]:
    """In this process (one at a time): the operator's commands in processes of their own took
    ~1 s of CPU each, some hundred of them a run; the processes below keep the boundary."""
    return await medialab_in_process(*args, environ=admin_environment(database_url, redis_url))


@pytest.fixture
def billing(settings: Settings, sessions: async_sessionmaker[AsyncSession], redis: Redis) -> BillingService:
    """The same Redis cache the commands use, so both sides keep it in step."""
    return BillingService(sessions, settings, BalanceCache(redis))


async def paying_user(billing: BillingService, telegram_id: int) -> tuple[int, list[str]]:
    """A user who paid 100 ₽ and ran 4 free and 1 paid operations (balance 90 ₽)."""
    user = await billing.get_or_create_user(telegram_id)
    await billing.add_balance(user.user_id, 10_000, f"seed-{telegram_id}")
    operations = []
    for number in range(5):
        operations.append(f"op-{telegram_id}-{number}")
        await billing.charge_operation(user.user_id, "generate", operation_id=operations[-1])
        await billing.settle_operation(operations[-1])
    return user.user_id, operations


async def entries(sessions: async_sessionmaker[AsyncSession], user_id: int, kind: str) -> list[LedgerEntry]:
    async with sessions() as session:
        return list((await session.scalars(
            select(LedgerEntry).where(LedgerEntry.user_id == user_id, LedgerEntry.kind == kind))).all())


async def test_grant_is_one_ledger_entry_with_actor_and_reason(
    database_url: str, billing: BillingService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    user_id, _ = await paying_user(billing, 9001)
    args = ("admin", "grant", "9001", "150,50", "--reason", "goodwill: ticket 77", "--grant-id", "t77")

    done = await medialab(*args, database_url=database_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "granted 150,50 ₽ to user 9001: balance 240,50 ₽ (grant id t77)\n"
    again = await medialab(*args, database_url=database_url)
    assert again.returncode == 0, again.stderr
    assert again.stdout == "grant t77 was made before: nothing changed; balance of user 9001: 240,50 ₽\n"
    other = await medialab("admin", "grant", "9001", "10", "--grant-id", "t77", database_url=database_url)
    assert other.returncode == 2 and other.stdout == ""
    assert other.stderr.splitlines() == [
        f"medialab: grant:t77 is already in the ledger for another entry (grant of 15050 kopecks to user id {user_id})"]

    [grant] = await entries(sessions, user_id, "grant")
    assert (grant.amount, grant.balance_after, grant.idempotency_key) == (15_050, 24_050, "grant:t77")
    assert (grant.actor, grant.reason) == (ACTOR, "goodwill: ticket 77")
    assert (await billing.cache.snapshot(user_id)).balance == 24_050  # type: ignore[union-attr]
    assert await check_ledger(sessions) == []


@pytest.mark.slow  # runs the command in processes of its own
async def test_a_grant_without_an_id_gets_a_fresh_one_each_time(
    database_url: str, billing: BillingService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    user = await billing.get_or_create_user(9004)
    environ = admin_environment(database_url)
    first, second = await asyncio.gather(  # two processes at once
        medialab_process("admin", "grant", "9004", "5", environ=environ),
        medialab_process("admin", "grant", "9004", "5", environ=environ),
    )
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    grants = await entries(sessions, user.user_id, "grant")
    assert sorted(g.amount for g in grants) == [500, 500]
    assert len({g.idempotency_key for g in grants}) == 2
    assert all(g.actor == ACTOR and g.reason == "grant by an operator" for g in grants)
    assert (await billing.get_user_info(9004)).balance == 1000  # type: ignore[union-attr]
    assert await check_ledger(sessions) == []


async def test_a_grant_file_grants_each_user_once_however_often_it_runs(
    database_url: str, billing: BillingService, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    first, second = await billing.get_or_create_user(9101), await billing.get_or_create_user(9102)
    grants = tmp_path / "grants.txt"
    grants.write_text("# the outage of 28 November\n9101 10\n\n  9102\t2,50  # asked twice\n", encoding="utf-8")
    args = ("admin", "grant-file", str(grants), "--grant-id", "outage-28", "--reason", "outage")

    done = await medialab(*args, database_url=database_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "granted 10 ₽ to user 9101: balance 10 ₽ (grant id outage-28-9101)",
        "granted 2,50 ₽ to user 9102: balance 2,50 ₽ (grant id outage-28-9102)",
        "2 granted (12,50 ₽ in all), 0 made before"]
    again = await medialab(*args, database_url=database_url)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == "0 granted (0 ₽ in all), 2 made before"

    made = [*await entries(sessions, first.user_id, "grant"), *await entries(sessions, second.user_id, "grant")]
    assert [(e.amount, e.idempotency_key, e.actor, e.reason) for e in made] == [
        (1000, "grant:outage-28-9101", ACTOR, "outage"), (250, "grant:outage-28-9102", ACTOR, "outage")]
    assert (await billing.cache.snapshot(second.user_id)).balance == 250  # type: ignore[union-attr]
    assert await check_ledger(sessions) == []


BAD_GRANT_FILES = [
    ("9104 10\n9104 5\n", "line 2: user 9104 is in the file twice"),
    ("9104 10\nabc 5\n", "line 2: not a Telegram user id: 'abc'"),
    ("9104 10\n9104\n", "line 2: expected '<telegram id> <rubles>', got '9104'"),
    ("9104 ten\n", "line 1: not a number of rubles: 'ten'"),
    ("9104 100000.01\n", "line 1: a grant may be at most 100000 ₽ (MAX_TOPUP), got '100000.01'"),
    ("# nobody\n\n", "no grants in the file"),
    ("9104 10\n424242 5\n", "no user with Telegram id 424242"),  # found before anything is granted
]


async def test_a_grant_file_with_a_wrong_line_or_unknown_user_grants_nothing(
    database_url: str, billing: BillingService, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    user = await billing.get_or_create_user(9104)
    calls = []
    for number, (text, _) in enumerate(BAD_GRANT_FILES):
        (tmp_path / f"{number}.txt").write_text(text, encoding="utf-8")
        calls.append(("admin", "grant-file", str(tmp_path / f"{number}.txt"), "--grant-id", f"bad-{number}"))
    (tmp_path / "latin1.txt").write_bytes("9104 10 # caf\xe9\n".encode("latin-1"))
    calls += [("admin", "grant-file", str(tmp_path / "missing.txt"), "--grant-id", "x"),
              ("admin", "grant-file", str(tmp_path / "latin1.txt"), "--grant-id", "x"),
              ("admin", "grant-file", str(tmp_path / "0.txt"), "--grant-id", "a" * 45)]
    errors = [error for _, error in BAD_GRANT_FILES] + [
        f"cannot read {tmp_path / 'missing.txt'}: No such file or directory",
        f"{tmp_path / 'latin1.txt'} is not UTF-8 text",
        f"a grant file's id is at most 44 characters, got '{'a' * 45}'"]

    done = await asyncio.gather(*(medialab(*args, database_url=database_url) for args in calls))
    assert [(d.returncode, d.stdout, d.stderr) for d in done] == [(2, "", f"medialab: {error}\n") for error in errors]
    without_id = await medialab("admin", "grant-file", str(tmp_path / "0.txt"), database_url=database_url)
    assert (without_id.returncode, without_id.stderr) == (
        2, "medialab admin grant-file: the following arguments are required: --grant-id\n")
    assert await entries(sessions, user.user_id, "grant") == []
    assert await check_ledger(sessions) == []


async def test_refund_gives_back_once(
    database_url: str, billing: BillingService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    user_id, operations = await paying_user(billing, 9002)
    paid, free = operations[4], operations[0]

    done = await medialab("admin", "refund", paid, "--reason", "job lost", database_url=database_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"operation {paid}: refunded 10 ₽ to user id {user_id}: balance 100 ₽\n"
    again, freed = await asyncio.gather(
        medialab("admin", "refund", paid, database_url=database_url),
        medialab("admin", "refund", free, database_url=database_url),
    )
    assert again.returncode == 0 and again.stdout == (
        f"operation {paid}: nothing to refund: the operation is refunded; nothing changed\n")
    assert freed.returncode == 0 and freed.stdout == (
        f"operation {free}: its free operation given back to user id {user_id}\n")

    [refund] = await entries(sessions, user_id, "refund")
    assert (refund.amount, refund.operation_id, refund.actor, refund.reason) == (1000, paid, ACTOR, "job lost")
    info = await billing.get_user_info(9002)
    assert (info.balance, info.free_operations_left) == (10_000, 1)  # type: ignore[union-attr]
    assert await check_ledger(sessions) == []


async def test_user_shows_balance_operations_payments_and_ledger(
    database_url: str, billing: BillingService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    user = await billing.get_or_create_user(9005, "en")
    async with sessions.begin() as session:
        payment = Payment(provider_payment_id="2e8f6b7c-000f-5000-9000-1b6e0d3c8a11", idempotence_key="ik-9005",
                          user_id=user.user_id, amount=30_000, currency="RUB", status="succeeded")
        session.add(payment)
    await billing.add_balance(user.user_id, 30_000, "yookassa:2e8f6b7c", payment_id=payment.id)
    for number in range(5):
        await billing.charge_operation(user.user_id, "edit", operation_id=f"op-9005-{number}")
        await billing.settle_operation(f"op-9005-{number}")
    await billing.add_balance(user.user_id, 1_050, "grant:seen", kind=LedgerKind.GRANT,
                              actor="cli:alice", reason="sorry")

    # Without REDIS_URL the command starts an embedded Redis and logs it: JSON lines, as stderr
    # is not a terminal.
    done = await medialab("admin", "user", "9005", "--limit", "3", database_url=database_url, redis_url=None)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:4] == [f"user 9005 (id {user.user_id}, language en)", "balance: 300,50 ₽",
                         "free operations: 0 of 4", "last operations (3):"]
    operation_lines = lines[4:7]
    # Newest first: the paid one, then the last two free ones.
    assert operation_lines[0].endswith("op-9005-4  edit  charged 10 ₽  job delivered")
    assert operation_lines[1].endswith("op-9005-3  edit  free  job delivered")
    assert operation_lines[2].endswith("op-9005-2  edit  free  job delivered")
    assert lines[7:9] == ["last payments (1):", lines[8]]
    assert lines[8].endswith(f"#{payment.id} yookassa 2e8f6b7c-000f-5000-9000-1b6e0d3c8a11  300 ₽ RUB  succeeded")
    assert lines[9] == "last ledger entries (3):"
    assert lines[10].endswith("grant +10,50 ₽ -> 300,50 ₽  grant:seen  by cli:alice  (sorry)")
    assert lines[11].endswith("charge edit -10 ₽ -> 290 ₽  charge:op-9005-4")
    assert lines[12].endswith("topup +300 ₽ -> 300 ₽  yookassa:2e8f6b7c")
    assert len(lines) == 13
    logged = [json.loads(line) for line in done.stderr.splitlines()]
    assert any(r["message"] == "started an embedded Redis server (REDIS_URL is unset)" for r in logged)


BAD_ARGUMENTS = [
    (("user", "424242"), "no user with Telegram id 424242"),
    (("user", "abc"), "not a Telegram user id: 'abc'"),
    (("user", "9003", "--limit", "0"), "--limit must be 1..1000, got 0"),
    (("grant", "424242", "10"), "no user with Telegram id 424242"),
    (("grant", "9003", "ten"), "not a number of rubles: 'ten'"),
    (("grant", "9003", "-5"), "a grant must be more than 0 ₽, got '-5'"),
    (("grant", "9003", "0"), "a grant must be more than 0 ₽, got '0'"),
    (("grant", "9003", "1.005"), "finer than a kopeck: '1.005'"),
    (("grant", "9003", "100000.01"), "a grant may be at most 100000 ₽ (MAX_TOPUP), got '100000.01'"),
    (("grant", "9003", "10", "--reason", " "), "the reason is empty"),
    (("grant", "9003", "10", "--grant-id", "a b"), "a grant id is 1-64 letters, digits, '.', '_' or '-', got 'a b'"),
    (("refund", "no-such-op"), "no operation 'no-such-op'"),
    (("promo", "create", "x!", "10"), "a promo code is 3-32 Latin letters, digits, '_' or '-', got 'x!'"),
    (("promo", "create", "ABC", "0"), "a promo code must give rubles or --free-ops"),
    (("promo", "create", "ABC", "-1"), "an amount cannot be below 0 ₽, got '-1'"),
    (("promo", "create", "ABC", "10", "--uses", "0"), "--uses must be a whole number from 1 to 1000000, got '0'"),
    (("promo", "create", "ABC", "10", "--until", "31.12.2030"), "--until must be a day as YYYY-MM-DD, got '31.12.2030'"),
    (("promo", "create", "ABC", "10", "--until", "2020-01-01"), "--until 2020-01-01 is in the past"),
    (("promo", "disable", "NOPE"), "no promo code NOPE"),
]


async def test_bad_arguments_exit_2_with_one_line_and_change_nothing(
    database_url: str, billing: BillingService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    user = await billing.get_or_create_user(9003)
    done = await asyncio.gather(*(medialab("admin", *args, database_url=database_url) for args, _ in BAD_ARGUMENTS))
    assert [(d.returncode, d.stdout, d.stderr) for d in done] == [
        (2, "", f"medialab: {error}\n") for _, error in BAD_ARGUMENTS]
    assert await entries(sessions, user.user_id, "grant") == []
    assert (await billing.get_user_info(9003)).balance == 0  # type: ignore[union-attr]
    assert await check_ledger(sessions) == []


@pytest.mark.slow  # runs the command in processes of its own
def test_a_missing_argument_is_one_line_too(tmp_path: Path) -> None:
    done = run_process("admin", "grant", "9003", environ=admin_environment(f"sqlite:///{tmp_path}/none.db"))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "medialab admin grant: the following arguments are required: rubles\n"


# What an operator's command must not load (bench/cli_startup.py times them): the Bot API client
# and the HTTP stack and models under it, the web app, the job queue, images, migrations, the
# bot's texts (pydantic itself reads the settings: aiogram's hundreds of models are what cost).
# `--help` loads no settings, database, Redis or event loop either.
HEAVY = {"aiogram", "aiohttp", "litestar", "uvicorn", "arq", "PIL", "alembic", "fluent", "httpx"}
HELP_ONLY = HEAVY | {"pydantic", "pydantic_settings", "sqlalchemy", "redis", "msgspec", "asyncio"}
# Runs commands one after the other in one process, noting after each the modules loaded so far.
PROBE = """
import json, sys
from medialab.cli import main
after = []
for command in json.loads(sys.argv[1]):
    try:
        code = main(command)
    except SystemExit as exit:  # --help
        code = exit.code
    after.append([code, sorted(sys.modules)])
print(json.dumps(after))
"""


def packages(modules: list[str]) -> set[str]:
    return {name.partition(".")[0] for name in modules}


@pytest.mark.slow  # runs the command in processes of its own
async def test_operators_commands_load_no_bot_web_or_jobs(database_url: str, billing: BillingService) -> None:
    user_id, operations = await paying_user(billing, 9006)
    commands = [["--help"], ["admin", "user", "9006"], ["admin", "grant", "9006", "10"],
                ["admin", "refund", operations[4]], ["admin", "export", "--from", "2020-01-01", "--to", "2020-01-02"],
                ["admin", "promo", "create", "cli10", "10", "--uses", "2"],
                ["admin", "promo", "list"], ["admin", "promo", "disable", "CLI10"], ["reconcile"]]

    done = await medialab_process("-c", PROBE, json.dumps(commands), environ=admin_environment(database_url),
                                  program=sys.executable)
    assert done.returncode == 0, done.stderr
    *printed, last = done.stdout.splitlines()
    (help_code, after_help), *after_commands = json.loads(last)
    assert help_code == 0 and HELP_ONLY & packages(after_help) == set()
    assert [code for code, _ in after_commands] == [0] * 8
    assert [HEAVY & packages(loaded) for _, loaded in after_commands] == [set()] * 8
    if database_url.startswith("sqlite"):  # PostgreSQL's dialect only where it is the database
        _, everything = after_commands[-1]
        assert [name for name in everything if name.startswith("sqlalchemy.dialects.postgresql")] == []
    # They did their work: the account shown, the grant and the refund made, the books checked.
    assert "balance: 90 ₽" in printed
    assert any(line.startswith("granted 10 ₽ to user 9006: balance 100 ₽ (grant id ") for line in printed)
    assert f"operation {operations[4]}: refunded 10 ₽ to user id {user_id}: balance 110 ₽" in printed
    assert printed[-1].startswith("checked ") and printed[-1].endswith("ledger: ok")
    assert printed[-4:-1] == ["created CLI10: 10 ₽, used 0/2, no end, active",
                              "CLI10: 10 ₽, used 0/2, no end, active",
                              "disabled CLI10: 10 ₽, used 0/2, no end, disabled"]
