"""Image providers behind one interface: fal.ai's queue API, and a local Pillow stand-in."""

from medialab.jobs.providers.base import (
    ImageProvider,
    ImageRequest,
    ImageResult,
    ProviderError,
    validate_request,
)
from medialab.jobs.providers.fal import FalProvider
from medialab.jobs.providers.local import LocalProvider

__all__ = [
    "FalProvider",
    "ImageProvider",
    "ImageRequest",
    "ImageResult",
    "LocalProvider",
    "ProviderError",
    "validate_request",
]
