"""`medialab demo` as a user runs it, and the checks that decide its exit code. (The journey the
demo plays by itself runs from the installed package, tests/e2e/test_installed_wheel.py: each demo
starts a web and a worker process, so it is played once.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import medialab
from medialab.billing.service import BillingService
from medialab.db.models import Balance
from medialab.domain.ledger import LedgerKind
from medialab.demo.books import books_problem
from medialab.settings import Settings

SOURCE_ROOT = Path(medialab.__file__).resolve().parents[1]


def run_demo(tmp_path: Path, *options: str, typed: str | None = None,
             keep: bool = True) -> subprocess.CompletedProcess[str]:
    # Only what a machine with nothing but Python has: no REDIS_URL, no DATABASE_URL.
    env = {name: value for name, value in os.environ.items() if name not in ("REDIS_URL", "DATABASE_URL")}
    env["PYTHONPATH"] = str(SOURCE_ROOT)
    env["TMPDIR"] = str(tmp_path / "tmp")  # where a demo without --dir makes its directory
    (tmp_path / "tmp").mkdir(exist_ok=True)
    where = ["--dir", str(tmp_path / "run")] if keep else []
    return subprocess.run([sys.executable, "-m", "medialab", "demo", *where,
                           "--output", str(tmp_path / "images"), *options], cwd=tmp_path, env=env,
                          input=typed, capture_output=True, text=True, timeout=180)


def test_medialab_demo_that_cannot_start_exits_1_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "run").write_text("a file where the demo's directory should be")
    done = run_demo(tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("medialab demo: FAILED: ") and done.stderr.count("\n") == 1, done.stderr
    assert str(tmp_path / "run") in done.stderr


async def test_the_books_check_names_unsettled_operations_and_drifts(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    billing = BillingService(sessions, settings.with_overrides(billing={"free_operations_count": 0}))
    user = await billing.get_or_create_user(830_001, "ru")
    await billing.add_balance(user.user_id, 5000, idempotency_key="grant:e2e", kind=LedgerKind.GRANT)
    charged = await billing.charge_operation(user.user_id, "generate")
    assert await books_problem(sessions) == f"1 operation(s) left unsettled: {charged.operation_id}"
    await billing.settle_operation(charged.operation_id)
    assert await books_problem(sessions) is None
    # A balance written behind the ledger's back, as a bug or a hand in the database would.
    async with sessions.begin() as session:
        await session.execute(update(Balance).values(balance=Balance.balance + 1))
    problem = await books_problem(sessions)
    assert problem is not None and problem.startswith("2 drift(s) between balances and the ledger (user 830001 ")
    assert problem.endswith("ledger says 4000, found 4001)")


@pytest.mark.slow
def test_medialab_demo_interactive_takes_typed_messages_presses_photos_and_payments(tmp_path: Path) -> None:
    """One interactive session (each demo starts a web and a worker process): a press and a pay
    before the bot offered either, typed messages, a photo upscaled and one edited by its caption,
    a top-up paid on the checkout page; without --dir nothing is left but the images."""
    typed = ("/press payment_menu\n/start\n/pay\n/press mode:upscale\n/photo\n/press mode:edit\n"
             "/photo make it snow\n/press payment_menu\n/press payment_amount_100\n/pay\n/quit\n")
    done = run_demo(tmp_path, "--interactive", typed=typed, keep=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    lines = done.stdout.splitlines()
    chat = lines[lines.index("you:  (presses payment_menu)"):]
    assert chat[1:4] == ["demo: the bot has sent no message to chat 100200300 to press on", "you:  /start",
                         "bot:  Привет, Анна! Я создаю и редактирую изображения с помощью нейросетей."]
    assert "demo: the bot has sent no payment link yet: press payment_menu, then an amount" in lines
    assert lines.count("you:  [photo]") == 1 and "you:  [photo] make it snow" in lines
    assert sum(line.startswith("bot:  [photo]") for line in lines) == 2  # upscaled, then edited
    paid = next(n for n, line in enumerate(lines) if line.startswith("you:  (pays on the checkout page http"))
    assert any(line.startswith("bot:  Оплата получена: 100 ₽") for line in lines[paid:]), lines[paid:]
    assert lines[lines.index("ledger:") + 2].split()[1:3] == ["topup", "100"]
    # Nothing left behind but what was asked for: the images.
    assert list((tmp_path / "tmp").iterdir()) == []
    assert lines[-2].startswith("demo: removed ") or lines[-1].startswith("demo: removed "), lines[-3:]
