"""The dashboard's routes under /admin. Every one but the login form's is behind the guard
(auth.require_admin): without a good token or session cookie the answer is 401 and the login
form, and nothing of the business is shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import NotAuthorizedException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Response, Stream, Template
from litestar.template.config import TemplateConfig

from medialab.admin import ledger_export, report
from medialab.admin.arguments import AdminError, telegram_id
from medialab.admin.dashboard import Period, figures
from medialab.admin.service import AdminService
from medialab.domain.money import format_rub
from medialab.web.admin.auth import COOKIE, COOKIE_PATH, PUBLIC, auth_of, over_https, require_admin
from medialab.web.admin.chart import revenue_svg
from medialab.web.refusals import mark_refused
from medialab.web.state import AppState

ACCOUNT_LINES = 20  # of each: operations, payments, ledger entries
MAX_LOGIN_BODY = 4096


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    def filters(engine: JinjaTemplateEngine) -> None:
        engine.engine.filters.update(rub=format_rub, percent=lambda share: "—" if share is None else f"{share:.1%}")

    return TemplateConfig(directory=Path(__file__).parent / "templates", engine=JinjaTemplateEngine,
                          engine_callback=filters)


def login_page(_: Request, __: NotAuthorizedException) -> Response[Any]:  # type: ignore[type-arg]
    return _login(401)


def _login(status: int, wrong: bool = False) -> Template:
    return Template("login.html", context={"wrong": wrong}, status_code=status,
                    headers={"WWW-Authenticate": 'Bearer realm="medialab admin"', "Cache-Control": "no-store"})


def _page(name: str, status: int = 200, **context: Any) -> Template:
    # The figures are for operators only: no cache along the way may keep them.
    return Template(name, context=context, status_code=status, headers={"Cache-Control": "no-store"})


class AdminController(Controller):
    path = "/admin"
    guards = [require_admin]
    exception_handlers = {NotAuthorizedException: login_page}

    @get("/")
    async def dashboard(self, request: Request, state: AppState) -> Template:  # type: ignore[type-arg]
        # Query parameters are read here, after the guard: a stranger's request is refused as
        # unauthorised before anything in it is looked at.
        period = request.query_params.get("period", Period.WEEK.value)
        try:
            chosen = Period(period)
        except ValueError:
            mark_refused(request, "bad_period")
            return _page("message.html", 400, message=f"unknown period {period[:20]!r}: today, 7d or 30d")
        shown = await figures(state.sessions, chosen)
        return _page("dashboard.html", figures=shown, chart=revenue_svg(shown.daily), periods=list(Period))

    @get("/user")
    async def account(self, request: Request, state: AppState) -> Template:  # type: ignore[type-arg]
        telegram = request.query_params.get("telegram_id", "")
        try:
            wanted = telegram_id(telegram)
            found = await AdminService(state.billing, state.sessions).account(wanted, ACCOUNT_LINES)
        except AdminError as exc:  # not an id (400), or no such user (404)
            status = 404 if telegram.strip().isdigit() else 400
            mark_refused(request, "no_user" if status == 404 else "bad_user_id")
            return _page("account.html", status, telegram=telegram[:40], message=str(exc), lines=[])
        return _page("account.html", telegram=telegram, message=None, lines=report.account_lines(found))

    @get("/ledger.csv")
    async def ledger_csv(self, request: Request, state: AppState) -> Response[Any]:  # type: ignore[type-arg]
        try:
            first, after = ledger_export.days(request.query_params.get("from", ""), request.query_params.get("to", ""))
        except AdminError as exc:
            mark_refused(request, "bad_days")
            return Response(f"{exc}\n", status_code=400, media_type="text/plain")
        return Stream(ledger_export.csv_chunks(state.sessions, first, after), media_type="text/csv",
                      headers={"Content-Disposition": f'attachment; filename="{ledger_export.filename(first, after)}"',
                               "Cache-Control": "no-store"})

    @get("/login", opt={PUBLIC: True})
    async def login_form(self) -> Template:
        return _login(200)

    @post("/login", opt={PUBLIC: True}, request_max_body_size=MAX_LOGIN_BODY)
    async def login(self, request: Request) -> Response[Any]:  # type: ignore[type-arg]
        form = await request.form()
        given = form.get("token")
        auth = auth_of(request)
        if not isinstance(given, str) or not auth.token_ok(given.strip()):
            mark_refused(request, "wrong_token")
            return _login(401, wrong=True)
        return Redirect("/admin", status_code=303, cookies=[auth.session_cookie(over_https(request))])

    @post("/logout", status_code=303)
    async def logout(self) -> Redirect:
        redirect = Redirect("/admin/login", status_code=303)
        redirect.delete_cookie(COOKIE, path=COOKIE_PATH)
        return redirect
