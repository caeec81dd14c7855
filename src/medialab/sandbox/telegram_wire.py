"""The Bot API's wire conventions: how a method call arrives and how its answer is shaped."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from litestar import Request
from litestar.datastructures import UploadFile

# Parameters whose values are strings by definition. Everything else came through aiogram's
# json_dumps (numbers, booleans, nested objects), so it is decoded; a text such as "42" or
# "[draft]" must stay the string the bot sent.
STRING_PARAMETERS = frozenset(
    {
        "text", "caption", "parse_mode", "title", "description", "payload", "provider_token",
        "currency", "start_parameter", "photo_url", "url", "secret_token", "ip_address",
        "callback_query_id", "pre_checkout_query_id", "error_message", "file_id",
        "telegram_payment_charge_id", "inline_message_id", "business_connection_id",
        "message_effect_id", "action", "emoji", "language_code", "scope_type", "name",
        "short_description", "photo", "document", "thumbnail", "sticker", "video", "audio",
        "animation", "voice", "video_note", "certificate", "provider_data",
    }
)
ATTACH_PREFIX = "attach://"


class BotApiError(Exception):
    """A failed call, answered the way the Bot API answers it."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(reason: str) -> BotApiError:
    return BotApiError(400, f"Bad Request: {reason}")


def unauthorized() -> BotApiError:
    return BotApiError(401, "Unauthorized")


def method_not_found() -> BotApiError:
    return BotApiError(404, "Not Found: method not found")


def not_found() -> BotApiError:
    return BotApiError(404, "Not Found")


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str


@dataclass
class MethodCall:
    """One request's parameters, decoded, with its uploads keyed by the parameter they fill."""

    params: dict[str, Any] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)

    def upload_for(self, name: str) -> Upload | None:
        return self.uploads.get(name)


def decode_value(name: str, value: Any) -> Any:
    if name in STRING_PARAMETERS or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value  # e.g. chat_id "@channel": a plain string after all


async def read_method_call(request: Request[Any, Any, Any]) -> MethodCall:
    """Parses a call sent as a query string, a form (url-encoded or multipart) or JSON."""
    media_type = request.content_type[0]
    call = MethodCall()
    raw_values: list[tuple[str, Any]] = list(request.query_params.items())
    files_by_field: dict[str, Upload] = {}
    if media_type == "application/json":
        body = await request.body()
        if body:
            try:
                decoded = json.loads(body)
            except ValueError:
                raise bad_request("can't parse JSON encoded request body") from None
            if not isinstance(decoded, dict):
                raise bad_request("request body must be a JSON object")
            raw_values.extend(decoded.items())
    elif media_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                files_by_field[name] = Upload(await value.read(), value.filename or name)
            else:
                raw_values.append((name, value))
    for name, value in raw_values:
        call.params[name] = decode_value(name, value)
    call.uploads = _uploads_by_parameter(call.params, files_by_field)
    return call


def _uploads_by_parameter(
    params: dict[str, Any], files_by_field: dict[str, Upload]
) -> dict[str, Upload]:
    """aiogram uploads a file under a random field and sets the parameter to attach://field;
    a file may also be posted straight under the parameter's own name. Both end up keyed by
    the parameter, and files that no top-level parameter names keep their field name."""
    uploads = dict(files_by_field)
    for name, value in params.items():
        if isinstance(value, str) and value.startswith(ATTACH_PREFIX):
            field_name = value.removeprefix(ATTACH_PREFIX)
            if field_name in uploads:
                uploads[name] = uploads.pop(field_name)
    return uploads
