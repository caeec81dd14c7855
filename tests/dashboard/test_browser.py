"""The dashboard in a real browser: headless Chromium (Debian's package, driven by Playwright)
signs in through the form, switches periods, finds a user, and reads figures that must match
the ledger. Screenshots of each step go to the test's directory (MEDIALAB_SCREENSHOTS=dir keeps
them elsewhere: docs/dashboard.png is the top of the 30 days one)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dashboard.conftest import TOKEN, Books
from medialab.admin.dashboard import MONEY_IN, Period
from medialab.db.models import as_utc
from medialab.domain.money import format_rub

CHROMIUM = os.environ.get("MEDIALAB_CHROMIUM", "/usr/bin/chromium")
PHONE = {"width": 390, "height": 844}  # the page must work on a phone: the test uses one's screen

playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed (pip install -e '.[dev]')")
pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None,
                                reason=f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)")


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = await browser.new_context(viewport=PHONE, device_scale_factor=2)
            context.set_default_timeout(30_000)
            yield await context.new_page()
        finally:
            await browser.close()


def screenshots(tmp_path: Path) -> Path:
    return Path(os.environ.get("MEDIALAB_SCREENSHOTS", tmp_path))


async def net_in(books: Books, since: datetime) -> str:
    return format_rub(sum(entry.amount for entry, _ in await books.entries()
                          if entry.kind in MONEY_IN and as_utc(entry.created_at) >= since))


async def test_sign_in_switch_periods_and_find_a_user(page: Any, dashboard_url: str, books: Books,
                                                      tmp_path: Path, database_url: str) -> None:
    shots = screenshots(tmp_path)
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    await page.goto(f"{dashboard_url}/admin")
    assert await page.locator("[data-figure]").count() == 0  # the login form, nothing else
    await page.fill("#token", "not the token")
    await page.click("button[type=submit]")
    assert await page.locator("#wrong-token").is_visible()
    await page.fill("#token", TOKEN)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{dashboard_url}/admin")

    now = datetime.now(UTC)
    for label, period in (("7 days", Period.WEEK), ("Today", Period.TODAY), ("30 days", Period.MONTH)):
        await page.click(f"nav.periods >> text={label}")
        await page.wait_for_url(f"{dashboard_url}/admin?period={period.value}")
        assert await page.text_content('[aria-current="page"]') == label
        assert await page.text_content('[data-figure="net_in"]') == await net_in(books, period.since(now))
        await page.screenshot(path=shots / f"dashboard-{backend}-{period.value}.png", full_page=True)
    # The chart's bars are the days' money in, and fit the phone's screen.
    bars = await page.eval_on_selector_all("svg.chart rect", "rects => rects.map(r => +r.dataset.kopecks)")
    assert len(bars) == 30 and sum(bars) == sum(
        entry.amount for entry, _ in await books.entries() if entry.kind in MONEY_IN
        and as_utc(entry.created_at) >= Period.MONTH.since(now))
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert await page.text_content('[data-figure="new_users"]') == "5"
    assert await page.text_content('#ledger [data-kind="grant"] td:last-child') == "20,50 ₽"

    await page.fill("#search", "111")
    await page.press("#search", "Enter")
    await page.wait_for_url(f"{dashboard_url}/admin/user?telegram_id=111")
    account = await page.text_content("#account")
    assert account.startswith("user 111 (id 1, language ru)\nbalance: 240 ₽\nfree operations: 0 of 4")
    assert "chargeback -50 ₽ -> 240 ₽  chargeback:r-ann  by yookassa" in account
    await page.screenshot(path=shots / f"account-{backend}.png", full_page=True)

    await page.click("text=Sign out")
    await page.wait_for_url(f"{dashboard_url}/admin/login")
    await page.goto(f"{dashboard_url}/admin")
    assert await page.locator("[data-figure]").count() == 0
