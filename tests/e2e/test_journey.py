"""The demo's journey, played against web and worker as separate OS processes on SQLite and on
PostgreSQL: what the user sees, the images, and the books at the end."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
import pytest

from medialab.demo.books import books_problem, ledger_lines
from medialab.demo.chat import DemoChat
from medialab.demo.journey import play_journey
from medialab.demo.stack import System
from medialab.services import Services

from .conftest import settled_books

pytestmark = pytest.mark.slow  # the system as processes (web, worker, stand-ins)

USER = 810_001


async def test_the_journey_through_web_and_worker_processes(system: System, services: Services, tmp_path: Path) -> None:
    transcript: list[str] = []
    chat = DemoChat(system.stand_ins.telegram, USER, transcript.append, images=tmp_path / "images")
    await play_journey(system, chat)

    # Four free and two paid generations arrived as photos, each a real image.
    assert len(chat.photos) == 6
    for path in chat.photos:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size[0] > 0
    assert sum(line.startswith("bot:  [photo]") for line in transcript) == 6
    assert "you:  (presses payment_amount_100)" in transcript
    assert any("[100 ₽ → payment_amount_100]" in line for line in transcript)
    assert any("Оплата получена: 100 ₽" in line for line in transcript)
    assert any("(возврат)" in line for line in transcript)
    assert transcript[-4:-2] == ["bot:  Баланс: 80 ₽", "      Бесплатные операции: 0 из 4"]

    info = await services.billing.get_user_info(USER)
    assert info is not None and (info.balance, info.free_operations_left) == (8000, 0)
    entries, operations = await settled_books(services)
    assert entries == [("topup", 10000), ("charge", -1000), ("charge", -1000), ("charge", -1000), ("refund", 1000)]
    assert operations == sorted([("free", "delivered")] * 4 + [("charged", "delivered")] * 2
                                + [("refunded", "failed")])
    assert await books_problem(services.sessions) is None
    assert len(await ledger_lines(services.sessions)) == 1 + len(entries)
