"""The one interface between a generation job and whatever makes its image.

A job builds an `ImageRequest`, hands it to an `ImageProvider` and gets an `ImageResult` back, or a
`ProviderError` that says whether trying again could help. The input rules of each operation type
live here so that every provider refuses the same malformed requests with the same words.
"""

from __future__ import annotations

from io import BytesIO
from typing import Protocol

import msgspec
from PIL import Image, UnidentifiedImageError

from medialab.domain.operations import OperationType

# A photo bigger than this is a decompression bomb for our purposes (Pillow stops at ~179 Mpx).
MAX_INPUT_PIXELS = 50_000_000


class ImageRequest(msgspec.Struct, frozen=True):
    operation_type: str
    prompt: str | None = None
    images: list[bytes] = msgspec.field(default_factory=list)

    def __repr__(self) -> str:
        sizes = ", ".join(f"<{len(photo)} bytes>" for photo in self.images)
        return (f"ImageRequest(operation_type={self.operation_type!r}, prompt={self.prompt!r}, "
                f"images=[{sizes}])")


FILENAMES = {"image/png": "result.png", "image/jpeg": "result.jpg", "image/webp": "result.webp"}


class ImageResult(msgspec.Struct, frozen=True):
    data: bytes
    content_type: str
    width: int
    height: int

    @property
    def filename(self) -> str:
        """The name it is sent under: Telegram goes by the extension."""
        return FILENAMES.get(self.content_type, "result.bin")

    def __repr__(self) -> str:
        # The bytes are megabytes of noise in a log line; their size says enough.
        return (
            f"ImageResult(content_type={self.content_type!r}, width={self.width}, "
            f"height={self.height}, data=<{len(self.data)} bytes>)"
        )


class ProviderError(Exception):
    """A provider could not make the image. `retryable` tells the job whether to try again."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable

    def __repr__(self) -> str:
        return f"ProviderError({self.message!r}, retryable={self.retryable})"


class ImageProvider(Protocol):
    async def run(self, request: ImageRequest) -> ImageResult: ...


# How many photos each type takes: (at least, at most); None means no upper bound.
PHOTO_COUNTS: dict[OperationType, tuple[int, int | None]] = {
    OperationType.GENERATE: (0, 0),
    OperationType.EDIT: (1, 1),
    OperationType.MERGE: (2, None),
    OperationType.FACE_SWAP: (2, 2),
    OperationType.RETOUCH: (1, 1),
    OperationType.UPSCALE: (1, 1),
    OperationType.ADD_TEXT: (1, 1),
}
TEXT_NEEDED: dict[OperationType, str] = {
    OperationType.GENERATE: "a text prompt",
    OperationType.EDIT: "an instruction",
    OperationType.ADD_TEXT: "the text to put on the photo",
}


def validate_request(request: ImageRequest) -> OperationType:
    """The request's operation type once its inputs fit it, else ProviderError(retryable=False)."""
    try:
        kind = OperationType(request.operation_type)
    except ValueError:
        raise ProviderError(
            f"unknown operation type {request.operation_type!r}", retryable=False
        ) from None
    least, most = PHOTO_COUNTS[kind]
    count = len(request.images)
    if count < least or (most is not None and count > most):
        raise ProviderError(f"{kind.value} needs {_photos_wanted(least, most)}, got {count}",
                            retryable=False)
    if any(not photo for photo in request.images):
        raise ProviderError(f"{kind.value}: a photo is empty", retryable=False)
    if kind in TEXT_NEEDED and not (request.prompt or "").strip():
        raise ProviderError(f"{kind.value} needs {TEXT_NEEDED[kind]}", retryable=False)
    return kind


def _photos_wanted(least: int, most: int | None) -> str:
    if most == 0:
        return "no photos"
    if most is None:
        return f"{least} or more photos"
    return "one photo" if least == 1 else f"exactly {least} photos"


def open_image(data: bytes, *, what: str, retryable: bool) -> Image.Image:
    """Decodes image bytes fully, or raises ProviderError naming `what` could not be read."""
    try:
        image = Image.open(BytesIO(data))
        if image.width * image.height > MAX_INPUT_PIXELS:
            raise ProviderError(f"{what} is too large ({image.width}x{image.height})",
                                retryable=False)
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise ProviderError(f"{what} is not a readable image", retryable=retryable) from None
    return image


def mime_type(image: Image.Image) -> str:
    return Image.MIME.get(image.format or "", "application/octet-stream")


def result_from_bytes(data: bytes, *, what: str, retryable: bool) -> ImageResult:
    """Describes already encoded image bytes by what they really are, not what anyone claimed."""
    image = open_image(data, what=what, retryable=retryable)
    return ImageResult(data=data, content_type=mime_type(image), width=image.width,
                       height=image.height)
