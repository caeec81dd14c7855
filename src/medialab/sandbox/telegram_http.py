"""The sandbox over HTTP: the Bot API's routes, `/bot<token>/<method>` for calls and
`/file/bot<token>/<file_path>` for downloads, answering in the Bot API's JSON shape."""

from __future__ import annotations

import mimetypes
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from litestar import Litestar, Request, Response, get, route
from litestar.response import Stream
from litestar.enums import HttpMethod
from litestar.exceptions import HTTPException
from litestar.params import FromPath

from medialab.sandbox.telegram_wire import BotApiError, not_found, read_method_call, unauthorized
from medialab.web.request_logging import litestar_logging

if TYPE_CHECKING:
    from medialab.sandbox.telegram import BotApiSandbox

# Telegram accepts photos up to 10 MB and documents up to 50 MB from bots.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


def _answer(body: dict[str, Any], status_code: int) -> Response[dict[str, Any]]:
    return Response(body, status_code=status_code, media_type="application/json")


def _error_answer(error: BotApiError) -> Response[dict[str, Any]]:
    return _answer(error.payload(), error.error_code)


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    """Paths outside the Bot API get the Bot API's shape of an error too."""
    return _error_answer(BotApiError(exc.status_code, exc.detail))


class AnswerLost(Exception):
    """Raised mid-answer: the server closes the connection and the client gets no answer."""


def _connection_dropped() -> Stream:
    """An answer whose headers are sent and whose body never comes: the connection is closed
    under the client, which sees a broken answer (aiogram: TelegramNetworkError)."""

    async def body() -> AsyncIterator[bytes]:
        raise AnswerLost("the sandbox drops the connection before the answer")
        yield b""  # pragma: no cover  (makes this an async generator)

    return Stream(body(), media_type="application/json")


def build_app(sandbox: BotApiSandbox) -> Litestar:
    def authorized(bot_token: str) -> bool:
        return bot_token == f"bot{sandbox.token}"

    @route("/{bot_token:str}/{method_name:str}", http_method=[HttpMethod.GET, HttpMethod.POST])
    async def bot_api_method(
        bot_token: FromPath[str], method_name: FromPath[str], request: Request[Any, Any, Any]
    ) -> Response[dict[str, Any]]:
        if not authorized(bot_token):
            return _error_answer(unauthorized())
        try:
            call = await read_method_call(request)
        except BotApiError as error:
            return _error_answer(error)  # not a call at all, so nothing to record
        status_code, body = await sandbox.answer(method_name, call)
        if sandbox.answer_lost(method_name):
            return _connection_dropped()
        return _answer(body, status_code)

    @get("/file/{bot_token:str}/{file_path:path}")
    async def file_download(bot_token: FromPath[str], file_path: FromPath[str]) -> Response[Any]:
        if not authorized(bot_token):
            return _error_answer(unauthorized())
        stored = sandbox.world.files.by_path(file_path.lstrip("/"))
        if stored is None:
            return _error_answer(not_found())
        media_type = mimetypes.guess_type(stored.file_path)[0] or "application/octet-stream"
        return Response(stored.data, media_type=media_type)

    return Litestar(
        [bot_api_method, file_download],
        exception_handlers={HTTPException: _http_error},
        request_max_body_size=MAX_UPLOAD_BYTES,
        logging_config=litestar_logging(),
    )
