"""Logging of every process (`medialab serve`, `worker`, the CLI): one handler on the root logger.

JSON lines when stderr is not a terminal (a log collector reads them), readable lines on a
terminal. The ids of what is being handled (HTTP request, Telegram update, operation) come from
context variables, so code deep inside does not pass them around: `log_context` sets them, for a
request in web/request_logging.py, for an update in bot/middlewares/update_logging.py, for an
operation in the jobs. Secrets are redacted from the
message, its arguments and exception text before any formatter sees them: the bot token (also
inside Bot API URLs, /bot<token>/), the YooKassa secret key (and its Basic credentials), the FAL
key, the webhook secret, the dashboard's token, the passwords in DATABASE_URL and REDIS_URL, and
any Authorization header.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO
from urllib.parse import quote, unquote, urlsplit

if TYPE_CHECKING:
    from medialab.settings import Settings

MASK = "***"
CONTEXT_IDS: dict[str, ContextVar[str | None]] = {
    name: ContextVar(f"medialab_{name}", default=None) for name in ("request_id", "update_id", "operation_id")
}
# A Bot API URL carries the token in its path: /bot<token>/getMe, /file/bot<token>/photos/1.jpg.
_BOT_URL = re.compile(r"(/bot)[^/\s:]+:[^/\s]+")
# Token-shaped strings anywhere (digits, a colon, 30+ url-safe characters), configured or not.
_BOT_TOKEN = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}")
# A header in the shapes it takes in logs: "Authorization: Key x", {'authorization': 'Basic x'},
# (b'authorization', b'Bearer x'); the scheme stays readable, the credential goes.
_HEADER = re.compile(
    r"""((?:authorization|x-telegram-bot-api-secret-token)(?:['"]?\s*[:=]\s*|['"]\s*,\s*)(?:b?['"])?)"""
    r"""((?:basic|bearer|key|token)\s+)?[^\s'",;)}\]]+""",
    re.IGNORECASE,
)
WEBHOOK_PATH = "/telegram/webhook"
# Answers that refuse a request; the web app counts and summarises them (web/refusals.py).
REFUSAL_STATUSES = frozenset({400, 401, 403, 404, 405, 413})
# Chatter that says nothing to an operator at INFO.
QUIET_LOGGERS = ("alembic.runtime.plugins",)
_RECORD_FIELDS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


@contextmanager
def log_context(**ids: object) -> Iterator[None]:
    """Every record logged inside the block carries these ids (request_id, update_id, operation_id)."""
    tokens = [(CONTEXT_IDS[name], CONTEXT_IDS[name].set(str(value))) for name, value in ids.items()]
    try:
        yield
    finally:
        for variable, token in reversed(tokens):
            variable.reset(token)


def current_ids() -> dict[str, str]:
    return {name: value for name, variable in CONTEXT_IDS.items() if (value := variable.get()) is not None}


def _password_of(url: str | None) -> str | None:
    """The password inside a database or Redis URL (a driver's error may print the URL)."""
    if not url:
        return None
    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None


def secrets_of(settings: Settings) -> list[str]:
    secrets = [settings.telegram.bot_token, settings.telegram.secret_token, settings.yookassa.secret_key, settings.fal.key,
               settings.admin.web_token,
               *(_password_of(url) for url in (settings.database.url, settings.redis.url))]
    if settings.yookassa.shop_id and settings.yookassa.secret_key:
        basic = f"{settings.yookassa.shop_id}:{settings.yookassa.secret_key}".encode()
        secrets.append(base64.b64encode(basic).decode())
    return [s for s in secrets if s]


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # A secret also appears percent-encoded (in a query string); longest first, so a
        # secret that contains another is masked whole.
        variants = {v for s in secrets if s for v in (s, quote(s, safe=""))}
        ordered = sorted(variants, key=len, reverse=True)
        self._values = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: str) -> str:
        if self._values is not None:
            text = self._values.sub(MASK, text)
        text = _BOT_URL.sub(rf"\1{MASK}", text)
        text = _BOT_TOKEN.sub(MASK, text)
        return _HEADER.sub(lambda m: f"{m.group(1)}{m.group(2) or ''}{MASK}", text)


class RedactingFilter(logging.Filter):
    """Replaces the record's text with its redacted form (message with arguments merged in,
    exception and stack text), so that no handler or formatter can print the original."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not hide the record
            message = f"{record.msg!s} {record.args!r}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for name, value in list(record.__dict__.items()):
            if name not in _RECORD_FIELDS and isinstance(value, str):
                setattr(record, name, self.redact(value))
        return True


class QuietAccessFilter(logging.Filter):
    """Drops uvicorn's access lines that would repeat what is logged better elsewhere:

    - an update Telegram delivered and we accepted (POST /telegram/webhook answered 200):
      aiogram logs each update once, when handled, with its id and duration, and a second line
      per update cost a few percent of the webhook's rate (bench/webhook.py);
    - a refused request (REFUSAL_STATUSES): the app counts each one and logs them in summary
      (web/refusals.py), so a flood of bad requests writes a few lines, not one per request.

    Every other route and status still logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not (isinstance(args, tuple) and len(args) == 5):
            return True
        accepted_update = args[1] == "POST" and args[2] == WEBHOOK_PATH and args[4] == 200
        return not (accepted_update or args[4] in REFUSAL_STATUSES)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current_ids().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


def _ids_of(record: logging.LogRecord) -> dict[str, str]:
    return {name: str(getattr(record, name)) for name in CONTEXT_IDS if getattr(record, name, None) is not None}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_ids_of(record),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        ids = " ".join(f"{name}={value}" for name, value in _ids_of(record).items())
        return super().formatMessage(record) + (f" [{ids}]" if ids else "")


def configure_logging(
    settings: Settings | None = None, *, stream: TextIO | None = None, json_lines: bool | None = None,
    level: str | int | None = None,
) -> logging.Handler:
    """Installs the one handler on the root logger (replacing one installed before) and returns it."""
    stream = stream if stream is not None else sys.stderr
    if json_lines is None:
        json_lines = not (hasattr(stream, "isatty") and stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.set_name("medialab")
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter(Redactor(secrets_of(settings) if settings else ())))
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "medialab"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level or (settings.logging.level if settings else logging.INFO))
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    access = logging.getLogger("uvicorn.access")
    for old in [f for f in access.filters if isinstance(f, QuietAccessFilter)]:
        access.removeFilter(old)
    access.addFilter(QuietAccessFilter())
    logging.captureWarnings(True)
    return handler
