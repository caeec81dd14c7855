"""Files the sandbox holds: what users sent and what the bot uploaded, readable back by file_id
and downloadable by file_path, as Telegram's file storage behaves."""

from __future__ import annotations

import io
import mimetypes
import secrets
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from PIL import Image, UnidentifiedImageError

from medialab.sandbox.telegram_wire import bad_request

# Telegram sends the bot a small preview beside every photo; its longest side is 90 pixels.
THUMBNAIL_SIDE = 90


@dataclass(frozen=True)
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    file_name: str
    width: int | None = None
    height: int | None = None

    @property
    def file_size(self) -> int:
        return len(self.data)

    @property
    def mime_type(self) -> str:
        return mimetypes.guess_type(self.file_name)[0] or "application/octet-stream"

    def file_json(self) -> dict[str, Any]:
        """The Bot API File object, as getFile answers it."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.file_size,
            "file_path": self.file_path,
        }

    def photo_size_json(self) -> dict[str, Any]:
        if self.width is None or self.height is None:
            raise ValueError(f"file {self.file_id} is not an image")
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "width": self.width,
            "height": self.height,
            "file_size": self.file_size,
        }

    def document_json(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_name": self.file_name,
            "mime_type": self.mime_type,
            "file_size": self.file_size,
        }


def image_size(data: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError):
        return None


def thumbnail_of(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        preview = image.convert("RGB")
    preview.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    out = io.BytesIO()
    preview.save(out, format="JPEG")
    return out.getvalue()


class FileStore:
    def __init__(self) -> None:
        self._by_id: dict[str, StoredFile] = {}
        self._by_path: dict[str, StoredFile] = {}
        self._count = 0

    def add(self, data: bytes, file_path_hint: str, file_name: str | None = None) -> StoredFile:
        """Stores bytes under a fresh file_id; the path follows Telegram's "photos/file_7.jpg"."""
        hint = PurePosixPath(file_path_hint)
        folder = str(hint.parent) if str(hint.parent) != "." else "documents"
        path = f"{folder}/{hint.stem or 'file'}_{self._count}{hint.suffix}"
        self._count += 1
        dimensions = image_size(data)
        stored = StoredFile(
            # Real ids are opaque url-safe strings, a long one and a short stable one.
            file_id="AgAC" + secrets.token_urlsafe(32),
            file_unique_id="AQAD" + secrets.token_urlsafe(8),
            file_path=path,
            data=data,
            file_name=file_name or hint.name,
            width=dimensions[0] if dimensions else None,
            height=dimensions[1] if dimensions else None,
        )
        self._by_id[stored.file_id] = stored
        self._by_path[path] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        return self._by_id.get(file_id)

    def by_path(self, file_path: str) -> StoredFile | None:
        return self._by_path.get(file_path)

    def require(self, file_id: str) -> StoredFile:
        """The file a call refers to by file_id, or the Bot API's answer to an unknown id."""
        stored = self._by_id.get(file_id)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        return stored

    def add_photo(self, data: bytes) -> list[StoredFile]:
        """Stores an uploaded photo as Telegram does: a preview size, then the full one."""
        if image_size(data) is None:
            raise bad_request("IMAGE_PROCESS_FAILED")
        preview = self.add(thumbnail_of(data), "photos/file.jpg")
        return [preview, self.add(data, "photos/file.jpg")]
