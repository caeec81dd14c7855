"""`medialab demo --interactive`: a person types into the chat. A line is a message;
`/press <callback_data>` presses a button; `/quit` (or end of input) ends the demo."""

from __future__ import annotations

import asyncio
import contextlib
import sys

from medialab.demo.chat import DemoChat

HELP = "type a message, /press <callback_data> for a button, /quit to finish"
# How often what the bot sent (in the background, e.g. a photo from the worker) is shown.
SHOW_EVERY_SECONDS = 0.2
# A line typed (or piped) before the bot has answered the last one would overtake it.
ANSWER_TIMEOUT_SECONDS = 10.0


async def read_line() -> str | None:
    line = await asyncio.to_thread(sys.stdin.readline)
    return line.rstrip("\n") if line else None


async def keep_showing(chat: DemoChat) -> None:
    while True:
        chat.flush()
        await asyncio.sleep(SHOW_EVERY_SECONDS)


async def wait_for_answer(chat: DemoChat, mark: int) -> None:
    try:
        await chat.wait("sendMessage", after=mark, timeout=ANSWER_TIMEOUT_SECONDS)
    except TimeoutError:
        chat.write("demo: no answer from the bot yet")


async def chat_with_person(chat: DemoChat) -> None:
    chat.write(HELP)
    shower = asyncio.create_task(keep_showing(chat))
    try:
        while (line := await read_line()) is not None and line.strip() != "/quit":
            command, _, data = line.strip().partition(" ")
            try:
                if command == "/press" and data.strip():
                    await wait_for_answer(chat, await chat.send_press(data.strip()))
                elif line.strip():
                    await wait_for_answer(chat, await chat.send_text(line.strip()))
            except (ValueError, RuntimeError) as exc:  # a press before any bot message; a refusal
                chat.write(f"demo: {exc}")
    finally:
        shower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await shower
