"""The user's side of the chat: sends messages and button presses to the bot through the Bot API
stand-in (to its webhook, or for its getUpdates when it polls), waits for the bot's answers and
writes the chat as the user sees it."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from medialab.sandbox.telegram import BotApiSandbox, RecordedCall

# The bot's calls that put something in the chat; the rest (answers to presses, chat actions,
# file downloads) are not shown.
SHOWN = ("sendMessage", "editMessageText", "sendPhoto")
REPLY_TIMEOUT_SECONDS = 30.0


def buttons_of(call: RecordedCall) -> list[list[tuple[str, str]]]:
    """Rows of (text, callback data or url) of a message's inline keyboard."""
    markup = call.params.get("reply_markup") or {}
    return [[(b["text"], b.get("callback_data") or b.get("url") or "") for b in row]
            for row in markup.get("inline_keyboard", [])]


def render(call: RecordedCall) -> list[str]:
    if call.method == "sendPhoto":
        caption = call.params.get("caption")
        lines = ["bot:  [photo]" + (f" {caption}" if caption else "")]
    else:
        text_lines = str(call.params.get("text", "")).splitlines() or [""]
        edited = " (edited)" if call.method == "editMessageText" else ""
        lines = [f"bot{edited}:  {text_lines[0]}"] + [f"      {line}" for line in text_lines[1:]]
    lines += ["      " + "  ".join(f"[{text} → {data}]" for text, data in row) for row in buttons_of(call)]
    return lines


class DemoChat:
    def __init__(self, telegram: BotApiSandbox, user_id: int, write: Callable[[str], None],
                 images: Path | None = None, first_name: str = "Анна") -> None:
        self.telegram = telegram
        self.user_id = user_id
        self.write = write
        self.images = images
        self.first_name = first_name
        self.photos: list[Path] = []
        self._shown = 0  # position in the Bot API call log up to which the chat is written

    def _mine(self, text: str | None) -> Callable[[RecordedCall], bool]:
        def matches(call: RecordedCall) -> bool:
            return (call.chat_id == self.user_id and call.ok
                    and (text is None or text in str(call.params.get("text") or call.params.get("caption"))))
        return matches

    async def wait(self, method: str, text: str | None = None, after: int | None = None,
                   timeout: float = REPLY_TIMEOUT_SECONDS) -> RecordedCall:
        """The bot's next call of `method` to this chat (with `text` in it, when given)."""
        call = await self.telegram.wait_for(method, self._mine(text), timeout=timeout,
                                            after=self._shown if after is None else after)
        self.flush()
        return call

    def flush(self) -> None:
        """Writes what the bot put in the chat since the last flush; keeps its photos."""
        calls = self.telegram.calls()
        for call in calls[self._shown:]:
            if call.chat_id == self.user_id and call.ok and call.method in SHOWN:
                for line in render(call):
                    self.write(line)
                if call.method == "sendPhoto":
                    self._keep_photo(call)
        self._shown = len(calls)

    def _keep_photo(self, call: RecordedCall) -> None:
        data = call.files.get("photo")
        if self.images is None or data is None:
            return
        self.images.mkdir(parents=True, exist_ok=True)
        path = self.images / f"photo-{len(self.photos) + 1:02d}.png"
        path.write_bytes(data)
        self.photos.append(path)

    async def _deliver(self, update: dict[str, Any]) -> None:
        self.flush()
        if self.telegram.world.webhook is None:  # a bot that polls (`medialab run --polling`)
            self.telegram.enqueue(update)
            return
        response = await self.telegram.deliver(update)
        if response.status_code != 200:
            raise RuntimeError(f"the webhook refused an update: HTTP {response.status_code}")

    async def send_text(self, text: str) -> int:
        """Sends a message; answers the call log position from which the bot's reply counts."""
        self.write(f"you:  {text}")
        mark = self.telegram.checkpoint()
        await self._deliver(self.telegram.message_update(self.user_id, text, first_name=self.first_name))
        return mark

    async def send_press(self, data: str) -> int:
        self.write(f"you:  (presses {data})")
        mark = self.telegram.checkpoint()
        await self._deliver(self.telegram.callback_update(self.user_id, data))
        return mark

    async def send_photo(self, caption: str | None = None) -> int:
        """Sends a photo (a picture drawn here, as a user's camera would give one), with a caption."""
        self.write(f"you:  [photo]{f' {caption}' if caption else ''}")
        mark = self.telegram.checkpoint()
        file_id = self.telegram.add_file(demo_photo(len(self.telegram.calls())), "photos/file.jpg")
        await self._deliver(self.telegram.photo_update(self.user_id, [file_id], caption=caption))
        return mark

    def last_link(self) -> str | None:
        """The last link (a checkout page) the bot put under a message in this chat."""
        for call in reversed(self.telegram.calls()):
            if call.chat_id == self.user_id and call.ok:
                urls = [data for row in buttons_of(call) for _, data in row if data.startswith("http")]
                if urls:
                    return urls[0]
        return None

    async def say(self, text: str, reply: str = "sendMessage", containing: str | None = None) -> RecordedCall:
        """Sends a message and waits for the bot's answer to it (`reply` with `containing`)."""
        return await self.wait(reply, containing, after=await self.send_text(text))

    async def press(self, data: str, reply: str = "sendMessage", containing: str | None = None) -> RecordedCall:
        mark = await self.send_press(data)
        # Every press is answered, so that the user's button stops spinning.
        await self.telegram.wait_for("answerCallbackQuery", timeout=REPLY_TIMEOUT_SECONDS, after=mark)
        return await self.wait(reply, containing, after=mark)


def demo_photo(seed: int) -> bytes:
    """A 512×512 JPEG: a gradient and a sun, different for each seed, for the modes that take photos."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (512, 512))
    draw = ImageDraw.Draw(image)
    for y in range(512):
        draw.line([(0, y), (511, y)], fill=(40 + y // 4, 90 + (seed * 37) % 120, 200 - y // 4))
    x = 120 + (seed * 53) % 280
    draw.ellipse([x - 60, 100, x + 60, 220], fill=(250, 210, 80))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()
