"""fal.ai through its queue API: submit, poll the status, fetch the result, download the image.

Photos travel inside the request as data URIs, so no URL that could carry a Telegram bot token
ever leaves the process. The key is sent only to the queue's own origin, never to the host that
serves the finished image, and it appears in no message, log line or repr.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import msgspec

from medialab.domain.operations import OperationType
from medialab.http_tls import tls_context
from medialab.jobs.providers.base import (
    ImageRequest,
    ImageResult,
    ProviderError,
    mime_type,
    open_image,
    result_from_bytes,
    validate_request,
)

log = logging.getLogger(__name__)
Shape = TypeVar("Shape")

DEFAULT_MODELS: dict[str, str] = {
    OperationType.GENERATE: "fal-ai/flux/schnell",
    OperationType.EDIT: "fal-ai/flux-pro/kontext",
    OperationType.MERGE: "fal-ai/flux-pro/kontext/multi",
    OperationType.FACE_SWAP: "fal-ai/face-swap",
    OperationType.RETOUCH: "fal-ai/retoucher",
    OperationType.UPSCALE: "fal-ai/clarity-upscaler",
}
# Kontext's multi-image model needs a prompt; a merge request may come without one.
MERGE_PROMPT = "Combine these photos into one natural, coherent picture"
WAITING_STATUSES = frozenset({"IN_QUEUE", "IN_PROGRESS"})


class QueuedRequest(msgspec.Struct):
    request_id: str
    status_url: str
    response_url: str
    cancel_url: str | None = None


class QueueStatus(msgspec.Struct):
    status: str


class OutputImage(msgspec.Struct):
    url: str


class ModelOutput(msgspec.Struct):
    images: list[OutputImage]


def model_input(kind: OperationType, prompt: str | None, photos: list[str]) -> dict[str, Any]:
    """The JSON input of the default model of `kind` (a replacement model must accept the same)."""
    if kind is OperationType.GENERATE:
        return {"prompt": prompt, "image_size": "square_hd", "num_images": 1}
    if kind is OperationType.EDIT:
        return {"prompt": prompt, "image_url": photos[0]}
    if kind is OperationType.MERGE:
        return {"prompt": prompt or MERGE_PROMPT, "image_urls": photos}
    if kind is OperationType.FACE_SWAP:
        return {"base_image_url": photos[0], "swap_image_url": photos[1]}
    return {"image_url": photos[0]}


class FalProvider:
    def __init__(
        self,
        api_url: str,
        key: str,
        *,
        models: dict[str, str] | None = None,
        poll_interval: float = 1.0,
        timeout: float = 240.0,
        max_attempts: int = 4,
        backoff_base: float = 0.5,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._api_url = api_url.rstrip("/")
        self._key = key
        self._models = {**DEFAULT_MODELS, **(models or {})}
        self._poll_interval = poll_interval
        self._timeout = timeout
        self._max_attempts = max(1, max_attempts)
        self._backoff_base = backoff_base
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(30.0), verify=tls_context())

    def __repr__(self) -> str:
        return f"FalProvider(api_url={self._api_url!r}, key=<hidden>)"

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def run(self, request: ImageRequest) -> ImageResult:
        kind = validate_request(request)
        if kind is OperationType.ADD_TEXT:
            raise ProviderError("add_text is drawn locally, not by fal", retryable=False)
        photos = [data_uri(photo, index) for index, photo in enumerate(request.images, 1)]
        payload = model_input(kind, request.prompt, photos)
        queued: QueuedRequest | None = None
        try:
            async with asyncio.timeout(self._timeout):
                queued = await self._submit(self._models[kind], payload)
                await self._wait_until_completed(queued)
                output = await self._fetch_json(queued.response_url, ModelOutput, "result")
                if not output.images:
                    raise ProviderError("fal returned no image", retryable=True)
                image = await self._send("GET", self._public_url(output.images[0].url), False)
        except TimeoutError:
            await self._cancel(queued)
            raise ProviderError(f"fal did not finish within {self._timeout:g}s",
                                retryable=True) from None
        return result_from_bytes(image.content, what="fal's image", retryable=True)

    async def _submit(self, model_id: str, payload: dict[str, Any]) -> QueuedRequest:
        url = f"{self._api_url}/{model_id}"
        queued = await self._fetch_json(url, QueuedRequest, "submission", payload=payload)
        for returned in (queued.status_url, queued.response_url):
            self._queue_url(returned)
        log.info("fal request %s queued on %s", queued.request_id, model_id)
        return queued

    async def _wait_until_completed(self, queued: QueuedRequest) -> None:
        while True:
            state = await self._fetch_json(queued.status_url, QueueStatus, "status")
            if state.status == "COMPLETED":
                return
            if state.status not in WAITING_STATUSES:
                raise ProviderError(f"fal reported status {state.status!r}", retryable=True)
            await asyncio.sleep(self._poll_interval)

    async def _cancel(self, queued: QueuedRequest | None) -> None:
        # Best effort: a request nobody waits for any more should stop costing money.
        if queued is None or queued.cancel_url is None:
            return
        try:
            await self._client.put(self._queue_url(queued.cancel_url),
                                   headers=self._auth_headers(), timeout=2.0)
        except (httpx.HTTPError, ProviderError):
            log.warning("could not cancel fal request %s", queued.request_id)

    async def _fetch_json(self, url: str, shape: type[Shape], what: str,
                          payload: dict[str, Any] | None = None) -> Shape:
        method = "GET" if payload is None else "POST"
        response = await self._send(method, self._queue_url(url), True, payload)
        try:
            return msgspec.json.decode(response.content, type=shape)
        except msgspec.DecodeError:
            raise ProviderError(f"fal answered its {what} with something unexpected",
                                retryable=True) from None

    async def _send(self, method: str, url: str, authorized: bool,
                    payload: dict[str, Any] | None = None) -> httpx.Response:
        """One HTTP exchange; 429, 5xx and network failures are retried with growing pauses."""
        headers = self._auth_headers() if authorized else {}
        target = f"{method} {urlsplit(url).path}"
        failure = ""
        for attempt in range(1, self._max_attempts + 1):
            try:
                # Only the key-less image download may follow a redirect to another host.
                response = await self._client.request(method, url, json=payload, headers=headers,
                                                      follow_redirects=not authorized)
            except httpx.TransportError as error:
                failure = f"{type(error).__name__}"
            else:
                status = response.status_code
                if status < 400:
                    return response
                failure = f"HTTP {status}: {self._scrub(error_detail(response))}"
                if status != 429 and status < 500:
                    raise ProviderError(f"fal refused {target} ({failure})", retryable=False)
            log.warning("fal %s failed (attempt %d of %d): %s",
                        target, attempt, self._max_attempts, failure)
            if attempt < self._max_attempts:
                await asyncio.sleep(self._backoff_base * 2 ** (attempt - 1))
        raise ProviderError(f"fal {target} kept failing: {failure}", retryable=True)

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Key {self._key}"}

    def _queue_url(self, url: str) -> str:
        """`url`, if it is on the queue's own origin: the only place the key may be sent."""
        own, given = urlsplit(self._api_url), urlsplit(url)
        if (given.scheme, given.netloc) != (own.scheme, own.netloc):
            raise ProviderError("fal pointed to a URL outside its queue", retryable=True)
        return url

    def _public_url(self, url: str) -> str:
        if urlsplit(url).scheme not in ("http", "https"):
            raise ProviderError("fal's image URL is not an http(s) URL", retryable=True)
        return url

    def _scrub(self, text: str) -> str:
        # A server that echoes the request back must not smuggle the key into our messages.
        return text.replace(self._key, "<hidden>") if self._key else text


def data_uri(photo: bytes, index: int) -> str:
    image = open_image(photo, what=f"photo {index}", retryable=False)
    return f"data:{mime_type(image)};base64,{base64.b64encode(photo).decode('ascii')}"


def error_detail(response: httpx.Response) -> str:
    """fal's `detail` (a string, or FastAPI's list of validation errors), cut to message size."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return response.text[:200] or response.reason_phrase
    if isinstance(detail, list):
        detail = "; ".join(
            f"{'.'.join(map(str, item.get('loc', [])))}: {item.get('msg', item)}"
            if isinstance(item, dict) else str(item)
            for item in detail
        )
    return str(detail)[:300] if detail else response.reason_phrase
