"""Which provider makes an operation's image: fal.ai when FAL_KEY is set, else the local Pillow
provider; add_text is always drawn locally (a caption needs no model)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from medialab.domain.operations import OperationType
from medialab.jobs.providers import FalProvider, ImageProvider, LocalProvider
from medialab.settings import Settings


def uses_fal(settings: Settings, kind: OperationType) -> bool:
    return bool(settings.fal.key) and kind is not OperationType.ADD_TEXT


@asynccontextmanager
async def open_provider(settings: Settings, kind: OperationType, timeout: float) -> AsyncIterator[ImageProvider]:
    """A provider for one run; `timeout` bounds fal's wait so that it cancels its request
    before the job's own deadline cuts it off."""
    if not uses_fal(settings, kind):
        yield LocalProvider()
        return
    provider = FalProvider(
        settings.fal.api_url, settings.fal.key,  # type: ignore[arg-type]
        models=dict(settings.fal.models),
        poll_interval=settings.fal.poll_interval,
        backoff_base=settings.fal.poll_interval,
        timeout=max(timeout, 0.1),
    )
    try:
        yield provider
    finally:
        await provider.aclose()
