"""YooKassa's side of the app: notifications in, and a health view of the configuration.

Answers to notifications follow docs/contract.md §5: 200 once handled (a duplicate and an event we do
not use are handled too), 403 from outside the allowlist, 400 for a body that is not a
notification, 503 only when the API could not be asked, so that YooKassa delivers again.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State

from medialab.payments.notifications import NotANotification, read_notification
from medialab.payments.settlement import Undecided
from medialab.payments.source import allowed_source
from medialab.payments.topup import receipt_configured
from medialab.web.refusals import mark_refused, read_body
from medialab.web.state import AppState

log = logging.getLogger(__name__)

# A notification is a few kilobytes; a body far larger is not one.
MAX_NOTIFICATION_BYTES = 64 * 1024


class WebhookAnswer(msgspec.Struct, omit_defaults=True):
    status: str
    detail: str | None = None


class YooKassaHealth(msgspec.Struct):
    configured: bool
    shop_id_set: bool
    secret_key_set: bool
    return_url_set: bool
    receipt: bool
    api_url: str
    webhook_url: str | None


class YooKassaController(Controller):
    path = "/yookassa"

    @post("/webhook", request_max_body_size=MAX_NOTIFICATION_BYTES)
    async def webhook(self, request: Request[Any, Any, State], state: AppState) -> Response[WebhookAnswer]:
        settings = state.settings
        allowed, source = allowed_source(
            request.client.host if request.client else None,
            request.headers.getall("x-forwarded-for", []),
            settings.yookassa.allowed_ips, settings.yookassa.trusted_proxies,
        )
        if not allowed:
            mark_refused(request, "source_not_allowed", f"{source} is not an allowed source")
            return Response(WebhookAnswer("forbidden"), status_code=403)
        body = await read_body(request)
        if body is None:
            return Response(WebhookAnswer("bad_request", "the body did not arrive"), status_code=400)
        try:
            notification = read_notification(body)
        except NotANotification as exc:
            mark_refused(request, "bad_body", f"from {source}: {exc}")
            return Response(WebhookAnswer("bad_request", str(exc)), status_code=400)
        try:
            outcome = await state.payments.handle_notification(notification, str(source))
        except Undecided as exc:
            log.warning("YooKassa webhook: %s %s left for a redelivery: %s",
                        notification.event, notification.object_id, exc)
            return Response(WebhookAnswer("retry_later"), status_code=503)
        log.info("YooKassa webhook: %s %s -> %s", notification.event, notification.object_id, outcome)
        return Response(WebhookAnswer(outcome.value), status_code=200)

    @get("/health", sync_to_thread=False)
    def health(self, state: AppState) -> YooKassaHealth:
        settings = state.settings
        shop_id_set = bool(settings.yookassa.shop_id)
        secret_key_set = bool(settings.yookassa.secret_key)
        return_url_set = bool(settings.yookassa.return_url)
        return YooKassaHealth(
            configured=shop_id_set and secret_key_set and return_url_set,
            shop_id_set=shop_id_set, secret_key_set=secret_key_set, return_url_set=return_url_set,
            receipt=receipt_configured(settings), api_url=settings.yookassa.api_url,
            webhook_url=settings.yookassa.webhook_url,
        )
