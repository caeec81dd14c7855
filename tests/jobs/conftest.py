"""The fal.ai stand-in served on 127.0.0.1 and FalProviders pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from medialab.jobs.providers.fal import FalProvider
from medialab.sandbox.fal import FalSandbox
from medialab.sandbox.serving import serve_in_loop

FAL_KEY = "fal-test-key-5f1e9c0d:do-not-leak"


@pytest.fixture
def fal_sandbox() -> FalSandbox:
    return FalSandbox(FAL_KEY)


@pytest.fixture
async def fal_url(fal_sandbox: FalSandbox) -> AsyncIterator[str]:
    async with serve_in_loop(fal_sandbox.app) as base_url:
        yield base_url


@pytest.fixture
async def make_fal(fal_url: str) -> AsyncIterator[Callable[..., FalProvider]]:
    """FalProviders on the stand-in with tiny pauses, so retries and timeouts take milliseconds."""
    made: list[FalProvider] = []

    def make(key: str = FAL_KEY, **overrides: Any) -> FalProvider:
        options = {"poll_interval": 0.01, "timeout": 5.0, "max_attempts": 3,
                   "backoff_base": 0.01, **overrides}
        made.append(FalProvider(fal_url, key, **options))
        return made[-1]

    yield make
    for provider in made:
        await provider.aclose()


@pytest.fixture
def fal(make_fal: Callable[..., FalProvider]) -> FalProvider:
    return make_fal()
