"""Files through the sandbox: uploads stored and served back, seeded files, downloads."""

from __future__ import annotations

import io

import httpx
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BufferedInputFile

from medialab.sandbox.telegram import BotApiSandbox

USER = 7001


async def test_uploaded_photo_is_stored_and_readable_back(
    bot: Bot, telegram: BotApiSandbox, png: bytes
) -> None:
    telegram.message_update(USER, "/start")
    sent = await bot.send_photo(USER, BufferedInputFile(png, "result.png"), caption="Готово")

    assert sent.photo is not None and sent.caption == "Готово"
    full = sent.photo[-1]
    assert (full.width, full.height) == (320, 240) and sent.photo[0].width == 90
    call = telegram.calls("sendPhoto")[0]
    assert call.files["photo"] == png and call.params["caption"] == "Готово"
    downloaded = await bot.download(full.file_id)
    assert downloaded is not None and downloaded.read() == png


async def test_photo_that_is_not_an_image_is_refused(bot: Bot, telegram: BotApiSandbox) -> None:
    telegram.message_update(USER, "/start")
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(USER, BufferedInputFile(b"not an image", "x.jpg"))


async def test_send_document_keeps_name_and_bytes(bot: Bot, telegram: BotApiSandbox) -> None:
    telegram.message_update(USER, "/start")
    sent = await bot.send_document(USER, BufferedInputFile(b"%PDF-1.4 receipt", "receipt.pdf"))
    assert sent.document is not None
    assert (sent.document.file_name, sent.document.mime_type) == ("receipt.pdf", "application/pdf")
    downloaded = await bot.download(sent.document.file_id)
    assert downloaded is not None and downloaded.read() == b"%PDF-1.4 receipt"


async def test_seeded_file_is_served_by_get_file_and_download(
    bot: Bot, telegram: BotApiSandbox, telegram_url: str, png: bytes
) -> None:
    file_id = telegram.add_file(png, "photos/file.jpg")
    info = await bot.get_file(file_id)
    assert info.file_size == len(png) and info.file_path is not None
    assert info.file_path.startswith("photos/file_") and info.file_path.endswith(".jpg")
    buffer = io.BytesIO()
    await bot.download(file_id, destination=buffer)
    assert buffer.getvalue() == png
    async with httpx.AsyncClient(base_url=telegram_url) as client:
        missing = await client.get(f"/file/bot{telegram.token}/photos/nothing.jpg")
        foreign = await client.get(f"/file/bot1:wrong/{info.file_path}")
    assert missing.status_code == 404 and foreign.status_code == 401
