"""A stand-in for fal.ai's queue API (https://queue.fal.run): submit, status, result, cancel.

It speaks the real wire format on 127.0.0.1 and makes a real (small) PNG for every request, served
from its own /files/ URL the way fal.media serves results. Tests steer it with `set_mode` and read
what arrived in `requests`.

Modes, each taken by one submission: "succeed"; "fail" (the result answers 500 with a detail);
"invalid" (the result answers 422 with a validation detail); "hang" (the status never completes);
"garbage" (the result is not JSON); "rate_limit" (the submission answers 429); "flaky" (the
submission answers 500, so `set_mode("flaky", times=N)` fails the first N submissions only).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import deque
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import msgspec
from litestar import HttpMethod, Litestar, Request, Response, route
from litestar.params import FromPath
from PIL import Image

from medialab.web.request_logging import litestar_logging

MODES = frozenset({"succeed", "fail", "invalid", "hang", "garbage", "rate_limit", "flaky"})
SUBMIT_FAILURES = {
    "rate_limit": (429, "Rate limit exceeded, slow down"),
    "flaky": (500, "Internal server error"),
}
IMAGE_SIZE = (64, 48)
MAX_BODY_BYTES = 100 * 1024 * 1024
REQUEST_PATH = re.compile(
    r"/?(?P<app>[^/]+/[^/]+)/requests/(?P<id>[^/]+)(?P<action>/status|/cancel)?"
)
FILE_PATH = re.compile(r"/?files/(?P<id>[^/]+)/image\.png")


class RecordedRequest(msgspec.Struct):
    method: str
    path: str
    headers: dict[str, str]
    json: Any


@dataclass
class QueuedJob:
    request_id: str
    app_path: str  # the first two segments of the model id, as in fal's request URLs
    mode: str
    polls: int = 0
    cancelled: bool = False

    @property
    def completed(self) -> bool:
        # IN_QUEUE on the first poll, IN_PROGRESS on the second, COMPLETED from the third.
        return self.mode != "hang" and self.polls >= 3


class FalSandbox:
    def __init__(self, key: str) -> None:
        self.key = key
        self.requests: list[RecordedRequest] = []
        self.images: dict[str, bytes] = {}  # request_id → the PNG its result points to
        self.jobs: dict[str, QueuedJob] = {}
        self._default_mode = "succeed"
        self._next_modes: deque[str] = deque()
        self.app = self._build_app()

    def set_mode(self, mode: str, times: int | None = None) -> None:
        """`mode` for the next `times` submissions, or from now on when `times` is None."""
        if mode not in MODES:
            raise ValueError(f"unknown sandbox mode {mode!r}; known: {sorted(MODES)}")
        if times is None:
            self._default_mode = mode
            self._next_modes.clear()
        else:
            self._next_modes.extend([mode] * times)

    def requests_to(self, method: str, path_part: str = "") -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and path_part in r.path]

    async def _record(self, request: Request[Any, Any, Any]) -> None:
        body = await request.body()
        try:
            payload = msgspec.json.decode(body) if body else None
        except msgspec.DecodeError:
            payload = body.decode("utf-8", "replace")
        self.requests.append(RecordedRequest(request.method, request.url.path,
                                             dict(request.headers), payload))

    def _unauthorized(self, request: Request[Any, Any, Any]) -> Response[Any] | None:
        if request.headers.get("authorization") == f"Key {self.key}":
            return None
        return Response({"detail": "Invalid or missing API key"}, status_code=401)

    def _job(self, app_path: str, request_id: str) -> QueuedJob | None:
        job = self.jobs.get(request_id)
        return job if job is not None and job.app_path == app_path else None

    def _take_mode(self) -> str:
        return self._next_modes.popleft() if self._next_modes else self._default_mode

    def _build_app(self) -> Litestar:
        # One route for everything: a model id is a path of any depth, which Litestar cannot
        # tell apart from the fixed request URLs, so the paths are matched here.
        @route("/{path:path}", http_method=[HttpMethod.GET, HttpMethod.POST, HttpMethod.PUT])
        async def dispatch(request: Request[Any, Any, Any], path: FromPath[str]) -> Response[Any]:
            await self._record(request)
            base_url = str(request.base_url).rstrip("/")
            if request.method == "GET" and (found := FILE_PATH.fullmatch(path)):
                return self._file(found["id"])
            if refusal := self._unauthorized(request):
                return refusal
            if request.method == "POST":
                if not isinstance(self.requests[-1].json, dict):
                    return Response({"detail": "The input must be a JSON object"}, status_code=422)
                return self._submit(path, base_url)
            found = REQUEST_PATH.fullmatch(path)
            job = self._job(found["app"], found["id"]) if found else None
            if found is None or job is None:
                return Response({"detail": "Request not found"}, status_code=404)
            if request.method == "GET" and found["action"] == "/status":
                return self._status(job)
            if request.method == "GET" and not found["action"]:
                return result_answer(job, base_url)
            if request.method == "PUT" and found["action"] == "/cancel":
                job.cancelled = True
                return Response({"status": "CANCELLATION_REQUESTED"}, status_code=202)
            return Response({"detail": "Method not allowed"}, status_code=405)

        # Several photos as base64 data URIs outgrow Litestar's default 10 MB body limit.
        return Litestar(route_handlers=[dispatch], openapi_config=None,
                        request_max_body_size=MAX_BODY_BYTES, logging_config=litestar_logging())

    def _submit(self, model_id: str, base_url: str) -> Response[Any]:
        mode = self._take_mode()
        if mode in SUBMIT_FAILURES:
            status, detail = SUBMIT_FAILURES[mode]
            return Response({"detail": detail}, status_code=status)
        request_id = str(uuid.uuid4())
        app_path = "/".join(model_id.strip("/").split("/")[:2])
        self.jobs[request_id] = QueuedJob(request_id, app_path, mode)
        self.images[request_id] = make_png(request_id)
        base = f"{base_url}/{app_path}/requests/{request_id}"
        # fal answers a submission with 200; Litestar would default a POST to 201.
        return Response({"request_id": request_id, "response_url": base,
                         "status_url": f"{base}/status", "cancel_url": f"{base}/cancel"},
                        status_code=200)

    def _status(self, job: QueuedJob) -> Response[Any]:
        job.polls += 1
        if job.completed:
            return Response({"status": "COMPLETED"})
        if job.polls == 1:
            return Response({"status": "IN_QUEUE", "queue_position": 0}, status_code=202)
        return Response({"status": "IN_PROGRESS"}, status_code=202)

    def _file(self, request_id: str) -> Response[Any]:
        if (data := self.images.get(request_id)) is None:
            return Response({"detail": "File not found"}, status_code=404)
        return Response(data, media_type="image/png")


def result_answer(job: QueuedJob, base_url: str) -> Response[Any]:
    if not job.completed:
        return Response({"detail": "Request is still in progress"}, status_code=400)
    if job.mode == "fail":
        return Response({"detail": "The model crashed while generating"}, status_code=500)
    if job.mode == "invalid":
        detail = [{"loc": ["body", "prompt"], "msg": "field required", "type": "missing"}]
        return Response({"detail": detail}, status_code=422)
    if job.mode == "garbage":
        return Response("<html><body>502 Bad Gateway</body></html>", media_type="text/html")
    width, height = IMAGE_SIZE
    image = {"url": f"{base_url}/files/{job.request_id}/image.png", "width": width,
             "height": height, "content_type": "image/png"}
    return Response({"images": [image], "seed": 42, "has_nsfw_concepts": [False]})


def make_png(request_id: str) -> bytes:
    """A small gradient in colours drawn from the request id: each request's image differs."""
    digest = hashlib.sha256(request_id.encode()).digest()
    ramp = Image.linear_gradient("L").resize(IMAGE_SIZE)
    image = Image.composite(Image.new("RGB", IMAGE_SIZE, tuple(digest[:3])),
                            Image.new("RGB", IMAGE_SIZE, tuple(digest[3:6])), ramp)
    buffer = BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
