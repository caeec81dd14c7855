"""The input photos of a job, fetched from Telegram by file id (getFile, then the file URL).

The file URL holds the bot token, so it never leaves this module: providers get the bytes, and
errors say what failed in our own words, never the exception text of the HTTP client (which
quotes the URL).
"""

from __future__ import annotations

import asyncio
import io

import aiohttp
from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

# Bots may download files of up to 20 MB; the request gets this long.
DOWNLOAD_TIMEOUT_SECONDS = 60


class PhotoUnavailable(Exception):
    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


async def download_photos(bot: Bot | None, file_ids: tuple[str, ...]) -> list[bytes]:
    if file_ids and bot is None:
        raise PhotoUnavailable("no TELEGRAM_BOT_TOKEN: the photos cannot be fetched", retryable=False)
    return [await _download(bot, file_id, index) for index, file_id in enumerate(file_ids, 1)]  # type: ignore[arg-type]


async def _download(bot: Bot, file_id: str, index: int) -> bytes:
    try:
        file = await bot.get_file(file_id)
        if not file.file_path:
            raise PhotoUnavailable(f"photo {index}: Telegram gave no file path", retryable=False)
        buffer = io.BytesIO()
        await bot.download_file(file.file_path, buffer, timeout=DOWNLOAD_TIMEOUT_SECONDS)
    except (TelegramNetworkError, TelegramServerError, TelegramRetryAfter) as exc:
        raise PhotoUnavailable(f"photo {index}: Telegram unavailable ({type(exc).__name__})",
                               retryable=True) from None
    except TelegramAPIError as exc:
        # Telegram's own description ("wrong file identifier", "file is too big"): no URL in it.
        raise PhotoUnavailable(f"photo {index}: Telegram refused it ({exc.message})", retryable=False) from None
    except aiohttp.ClientResponseError as exc:
        raise PhotoUnavailable(f"photo {index}: download answered HTTP {exc.status}",
                               retryable=exc.status >= 500 or exc.status == 429) from None
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise PhotoUnavailable(f"photo {index}: download failed ({type(exc).__name__})", retryable=True) from None
    return buffer.getvalue()
