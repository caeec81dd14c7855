"""Who may see the dashboard: whoever shows ADMIN_WEB_TOKEN, as `Authorization: Bearer <token>`
(scripts) or through the login form, which answers with a signed cookie (HttpOnly, SameSite=
Strict, Secure over HTTPS) good for SESSION_SECONDS. The cookie holds no token: its time of
issue and an HMAC of it under a key derived from the token, so a new token ends every session.

Every comparison is of two fixed-length digests with hmac.compare_digest: its time tells nothing
of how much of a guess was right."""

from __future__ import annotations

import hashlib
import hmac
import time

from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

COOKIE = "medialab_admin"
COOKIE_PATH = "/admin"
SESSION_SECONDS = 12 * 3600
PUBLIC = "admin_public"  # opt of the handlers anyone may reach (the login form and its post)


class AdminAuth:
    def __init__(self, token: str, now: float | None = None) -> None:
        self._token = hashlib.sha256(token.encode()).digest()
        self._key = hmac.new(token.encode(), b"medialab admin session", hashlib.sha256).digest()
        self._now = int(now if now is not None else time.time())

    def token_ok(self, given: str) -> bool:
        return hmac.compare_digest(hashlib.sha256(given.encode()).digest(), self._token)

    def session_cookie(self, secure: bool) -> Cookie:
        value = f"{self._now}.{self._mac(self._now)}"
        return Cookie(key=COOKIE, value=value, max_age=SESSION_SECONDS, path=COOKIE_PATH, httponly=True, samesite="strict",
                      secure=secure)

    def cookie_ok(self, value: str) -> bool:
        issued, _, mac = value.partition(".")
        if not (issued.isascii() and issued.isdigit() and len(issued) <= 12):
            return False
        fresh = 0 <= self._now - int(issued) < SESSION_SECONDS
        return hmac.compare_digest(mac.encode(), self._mac(int(issued)).encode()) and fresh

    def allows(self, connection: ASGIConnection) -> bool:  # type: ignore[type-arg]
        scheme, _, credential = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credential:
            return self.token_ok(credential.strip())
        cookie = connection.cookies.get(COOKIE)
        return cookie is not None and self.cookie_ok(cookie)

    def _mac(self, issued: int) -> str:
        return hmac.new(self._key, str(issued).encode(), hashlib.sha256).hexdigest()


def auth_of(connection: ASGIConnection) -> AdminAuth:  # type: ignore[type-arg]
    return AdminAuth(connection.app.state.settings.admin.web_token)


def over_https(connection: ASGIConnection) -> bool:  # type: ignore[type-arg]
    # X-Forwarded-Proto is believed here only to add the Secure flag: a lie can only withhold it.
    return connection.url.scheme == "https" or connection.headers.get("x-forwarded-proto") == "https"


async def require_admin(connection: ASGIConnection, handler: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    """The guard of every dashboard route but the login form's (async: a sync guard would be
    run in a thread)."""
    if not handler.opt.get(PUBLIC) and not auth_of(connection).allows(connection):
        raise NotAuthorizedException()
