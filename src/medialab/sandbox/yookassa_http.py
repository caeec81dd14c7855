"""HTTP face of the YooKassa stand-in: the API routes, a checkout page for the payer, and
`/_sandbox/...` controls so that another process (the demo, a shell) can drive it."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import httpx
import msgspec
from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect

from medialab.sandbox.yookassa_state import YooKassaState
from medialab.sandbox.yookassa_wire import ApiRefusal, WireObject
from medialab.web.request_logging import litestar_logging

if TYPE_CHECKING:
    from medialab.sandbox.yookassa import YooKassaSandbox

logger = logging.getLogger(__name__)

AnyRequest = Request[Any, Any, State]
# An API call on the stand-in's state: the state and the decoded JSON body in, the answer out.
StateCall = Callable[[YooKassaState, Any], WireObject]


def build_app(sandbox: YooKassaSandbox) -> Litestar:
    return Litestar(
        route_handlers=[
            create_payment, get_payment, capture_payment, cancel_payment, create_refund,
            list_refunds, get_refund, checkout_page, checkout_pay, checkout_leave, control_payments,
            control_succeed, control_wait_for_capture, control_cancel, control_notification,
            control_deliver, control_faults, control_requests,
        ],
        state=State({"sandbox": sandbox}),
        exception_handlers={ApiRefusal: _refusal_response},
        openapi_config=None,
        logging_config=litestar_logging(),
    )


async def _api(request: AnyRequest, call: StateCall) -> Response[bytes]:
    headers = {name.lower(): value for name, value in request.headers.items()}
    sandbox = _sandbox(request.app.state)
    status, answer = await sandbox.answer(
        request.method, request.url.path, headers, await request.body(),
        lambda body: call(sandbox.state, body), query=request.url.query,
    )
    return Response(answer, status_code=status, media_type=MediaType.JSON)


def _sandbox(state: State) -> YooKassaSandbox:
    return state.sandbox  # type: ignore[no-any-return]


def _refusal_response(_: AnyRequest, refusal: ApiRefusal) -> Response[WireObject]:
    return Response(refusal.body(), status_code=refusal.status, media_type=MediaType.JSON)


# The API, as in docs/wire-formats.md.
@post("/payments")
async def create_payment(request: AnyRequest) -> Response[bytes]:
    base_url = str(request.base_url).rstrip("/")
    return await _api(request, lambda state, body: state.create_payment(body, base_url))


@get("/payments/{payment_id:str}")
async def get_payment(request: AnyRequest, payment_id: FromPath[str]) -> Response[bytes]:
    return await _api(request, lambda state, _: state.payment(payment_id))


@post("/payments/{payment_id:str}/capture")
async def capture_payment(request: AnyRequest, payment_id: FromPath[str]) -> Response[bytes]:
    return await _api(request, lambda state, body: state.capture(payment_id, body))


@post("/payments/{payment_id:str}/cancel")
async def cancel_payment(request: AnyRequest, payment_id: FromPath[str]) -> Response[bytes]:
    return await _api(request, lambda state, _: state.cancel_by_merchant(payment_id))


@post("/refunds")
async def create_refund(request: AnyRequest) -> Response[bytes]:
    return await _api(request, lambda state, body: state.create_refund(body))


@get("/refunds")
async def list_refunds(request: AnyRequest) -> Response[bytes]:
    query = dict(request.query_params.items())
    return await _api(request, lambda state, _: state.list_refunds(query))


@get("/refunds/{refund_id:str}")
async def get_refund(request: AnyRequest, refund_id: FromPath[str]) -> Response[bytes]:
    return await _api(request, lambda state, _: state.refund(refund_id))


# The payer's side: the page confirmation_url points to.
@get("/checkout/{payment_id:str}", media_type=MediaType.HTML)
async def checkout_page(state: State, payment_id: FromPath[str]) -> str:
    payment = _sandbox(state).state.payment(payment_id)
    amount = payment["amount"]
    description = html.escape(payment.get("description", ""))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>YooKassa sandbox</title></head>"
        f"<body><h1>{amount['value']} {amount['currency']}</h1><p>{description}</p>"
        f"<p>status: {payment['status']}</p>"
        f"<form method='post' action='/checkout/{payment_id}/pay'><button>Pay</button></form>"
        f"<form method='post' action='/checkout/{payment_id}/leave'>"
        "<button>Leave without paying</button></form></body></html>"
    )


@post("/checkout/{payment_id:str}/pay", status_code=303)
async def checkout_pay(state: State, payment_id: FromPath[str]) -> Redirect:
    sandbox = _sandbox(state)
    payment = sandbox.state.pay(payment_id)
    await _report(sandbox, payment_id, f"payment.{payment['status']}")
    return Redirect(sandbox.state.return_urls.get(payment_id, "/"), status_code=303)


@post("/checkout/{payment_id:str}/leave", status_code=303)
async def checkout_leave(state: State, payment_id: FromPath[str]) -> Redirect:
    sandbox = _sandbox(state)
    sandbox.cancel(payment_id)
    await _report(sandbox, payment_id, "payment.canceled")
    return Redirect(sandbox.state.return_urls.get(payment_id, "/"), status_code=303)


async def _report(sandbox: YooKassaSandbox, payment_id: str, event: str) -> None:
    if sandbox.webhook_url is None:
        return
    try:
        status = await sandbox.deliver(sandbox.webhook_url, sandbox.notification(payment_id, event))
    except httpx.HTTPError as exc:
        # YooKassa would try again later; the stand-in only says so.
        logger.warning("sandbox could not deliver %s for %s: %r", event, payment_id, exc)
        return
    logger.info("sandbox delivered %s for %s: HTTP %d", event, payment_id, status)


# Controls for tests and the demo in another process.
class CancelControl(msgspec.Struct):
    reason: str = "expired_on_confirmation"


class DeliverControl(msgspec.Struct):
    webhook_url: str
    payment_id: str
    event: str = "payment.succeeded"
    headers: dict[str, str] = {}


class FaultControl(msgspec.Struct):
    kind: Literal["fail", "accept", "hang", "latency"]
    count: int = 1
    status: int = 500
    seconds: float = 1.0
    processed: bool | None = None


@get("/_sandbox/payments")
async def control_payments(state: State) -> list[WireObject]:
    return list(_sandbox(state).payments.values())


@post("/_sandbox/payments/{payment_id:str}/succeed", status_code=200)
async def control_succeed(state: State, payment_id: FromPath[str]) -> WireObject:
    return _sandbox(state).succeed(payment_id)


@post("/_sandbox/payments/{payment_id:str}/wait_for_capture", status_code=200)
async def control_wait_for_capture(state: State, payment_id: FromPath[str]) -> WireObject:
    return _sandbox(state).wait_for_capture(payment_id)


@post("/_sandbox/payments/{payment_id:str}/cancel", status_code=200)
async def control_cancel(
    state: State, payment_id: FromPath[str], data: JSONBody[CancelControl | None] = None
) -> WireObject:
    return _sandbox(state).cancel(payment_id, (data or CancelControl()).reason)


@get("/_sandbox/payments/{payment_id:str}/notification")
async def control_notification(
    state: State, payment_id: FromPath[str], event: FromQuery[str] = "payment.succeeded"
) -> WireObject:
    return _sandbox(state).notification(payment_id, event)


@post("/_sandbox/deliver", status_code=200)
async def control_deliver(state: State, data: JSONBody[DeliverControl]) -> dict[str, int]:
    sandbox = _sandbox(state)
    notification = sandbox.notification(data.payment_id, data.event)
    return {"status_code": await sandbox.deliver(data.webhook_url, notification, data.headers)}


@post("/_sandbox/faults", status_code=200)
async def control_faults(state: State, data: JSONBody[FaultControl]) -> dict[str, str]:
    sandbox = _sandbox(state)
    if data.kind == "fail":
        sandbox.fail_next(data.count, data.status, processed=data.processed)
    elif data.kind == "accept":
        sandbox.accept_next(data.count)
    elif data.kind == "latency":
        sandbox.answer_slowly(data.seconds)
    else:
        sandbox.hang_next(data.count, data.seconds)
    return {"status": "ok"}


@get("/_sandbox/requests")
async def control_requests(state: State) -> list[dict[str, Any]]:
    return [
        {"method": r.method, "path": r.path, "headers": r.headers,
         "body": r.body.decode("utf-8", "replace")}
        for r in _sandbox(state).requests
    ]
