"""Who may see the dashboard, over real HTTP: ADMIN_WEB_TOKEN as a bearer or through the login
form's signed cookie; anything else gets 401 and the login form, with no figure in it."""

from __future__ import annotations

import time

import httpx
import pytest

from dashboard.conftest import TOKEN
from medialab.logs import Redactor, secrets_of
from medialab.sandbox.serving import serve_in_loop
from medialab.settings import Settings, SettingsError
from medialab.web.admin.auth import COOKIE, SESSION_SECONDS, AdminAuth
from medialab.web.app import create_app

BEARER = {"Authorization": f"Bearer {TOKEN}"}
FIGURE = 'data-figure="net_in"'


async def test_without_a_token_set_there_is_no_dashboard(settings: Settings) -> None:
    async with serve_in_loop(create_app(settings.with_overrides(redis={"url": None}))) as url, \
            httpx.AsyncClient(base_url=url) as http:
        for path in ("/admin", "/admin/login", "/admin/ledger.csv?from=2026-01-01&to=2026-01-02"):
            assert (await http.get(path, headers=BEARER)).status_code == 404


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-the-token"}, {"Authorization": "Bearer"},
                                     {"Authorization": f"Basic {TOKEN}"},
                                     {"Cookie": f"{COOKIE}=1.abc"}, {"Cookie": f"{COOKIE}={TOKEN}"}])
async def test_wrong_or_missing_credentials_get_401_and_the_login_form(dashboard_url: str, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=dashboard_url) as http:
        for path in ("/admin", "/admin?period=30d", "/admin/user?telegram_id=111",
                     "/admin/ledger.csv?from=2020-01-01&to=2029-12-31"):
            answer = await http.get(path, headers=headers)
            assert answer.status_code == 401, path
            assert 'action="/admin/login"' in answer.text and FIGURE not in answer.text
            assert "111" not in answer.text and "topup" not in answer.text
        assert (await http.post("/admin/logout", headers=headers)).status_code == 401


async def test_a_bearer_token_opens_every_page(dashboard_url: str) -> None:
    async with httpx.AsyncClient(base_url=dashboard_url, headers=BEARER) as http:
        page = await http.get("/admin")
        assert page.status_code == 200 and FIGURE in page.text
        assert page.headers["cache-control"] == "no-store"
        account = await http.get("/admin/user", params={"telegram_id": "111"})
        assert account.status_code == 200 and "user 111 (id 1, language ru)" in account.text
        assert (await http.get("/admin/ledger.csv", params={"from": "2020-01-01", "to": "2029-12-31"})).status_code == 200


async def test_the_login_form_sets_a_signed_httponly_samesite_cookie(dashboard_url: str) -> None:
    async with httpx.AsyncClient(base_url=dashboard_url) as http:
        assert (await http.get("/admin/login")).status_code == 200
        wrong = await http.post("/admin/login", data={"token": TOKEN + "x"})
        assert wrong.status_code == 401 and 'id="wrong-token"' in wrong.text and "set-cookie" not in wrong.headers
        assert (await http.post("/admin/login", content=b"\xff\xfe", headers={"Content-Type": "text/plain"})).status_code == 401

        signed_in = await http.post("/admin/login", data={"token": TOKEN})
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/admin"
        cookie = signed_in.headers["set-cookie"]
        assert TOKEN not in cookie
        assert {"HttpOnly", "SameSite=strict", "Path=/admin", f"Max-Age={SESSION_SECONDS}"} <= {
            part.strip() for part in cookie.split(";")}
        page = await http.get("/admin", params={"period": "today"})  # the client sends the cookie back
        assert page.status_code == 200 and FIGURE in page.text

        out = await http.post("/admin/logout")
        assert out.status_code == 303 and 'Max-Age=0' in out.headers["set-cookie"]
        assert (await http.get("/admin")).status_code == 401
    async with httpx.AsyncClient(base_url=dashboard_url) as http:  # behind a proxy that ends TLS
        over_https = await http.post("/admin/login", data={"token": TOKEN}, headers={"X-Forwarded-Proto": "https"})
        assert "Secure" in {part.strip() for part in over_https.headers["set-cookie"].split(";")}


async def test_an_expired_or_foreign_cookie_is_refused(dashboard_url: str) -> None:
    expired = AdminAuth(TOKEN, now=time.time() - SESSION_SECONDS - 5).session_cookie(secure=False).value
    foreign = AdminAuth("another-token-of-another-app").session_cookie(secure=False).value
    future = AdminAuth(TOKEN, now=time.time() + 3600).session_cookie(secure=False).value
    good = AdminAuth(TOKEN).session_cookie(secure=False).value
    async with httpx.AsyncClient(base_url=dashboard_url) as http:
        for value in (expired, foreign, future):
            assert (await http.get("/admin", headers={"Cookie": f"{COOKIE}={value}"})).status_code == 401
        assert (await http.get("/admin", headers={"Cookie": f"{COOKIE}={good}"})).status_code == 200


async def test_bad_input_gets_a_clear_refusal(dashboard_url: str) -> None:
    async with httpx.AsyncClient(base_url=dashboard_url, headers=BEARER) as http:
        period = await http.get("/admin", params={"period": "1y"})
        assert period.status_code == 400 and "unknown period &#39;1y&#39;: today, 7d or 30d" in period.text
        for wanted, status, message in (("424242", 404, "no user with Telegram id 424242"),
                                        ("<script>", 400, "not a Telegram user id: &#39;&lt;script&gt;&#39;")):
            answer = await http.get("/admin/user", params={"telegram_id": wanted})
            assert answer.status_code == status and message in answer.text and "<script>" not in answer.text
        for days, message in ((("2026-02-01", "2026-01-01"), "'to' (2026-01-01) is before 'from' (2026-02-01)"),
                              (("2026-1-1", "2026-01-02"), "'from' must be a day as YYYY-MM-DD, got '2026-1-1'"),
                              (("", "2026-01-02"), "'from' must be a day as YYYY-MM-DD, got ''")):
            answer = await http.get("/admin/ledger.csv", params={"from": days[0], "to": days[1]})
            assert (answer.status_code, answer.text) == (400, f"{message}\n")


def test_the_token_is_a_secret_of_some_length() -> None:
    settings = Settings.from_env({"ADMIN_WEB_TOKEN": TOKEN}, env_file=None)
    assert TOKEN not in repr(settings)
    assert Redactor(secrets_of(settings))(f"login with {TOKEN}") == "login with ***"
    with pytest.raises(SettingsError, match="ADMIN_WEB_TOKEN: must be at least 16 characters"):
        Settings.from_env({"ADMIN_WEB_TOKEN": "short"}, env_file=None)
