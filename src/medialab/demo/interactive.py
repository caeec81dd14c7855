"""`medialab demo --interactive`: a person types into the chat. A line is a message;
`/press <callback_data>` presses a button; `/photo [caption]` sends a photo (so the modes that
edit photos can be tried); `/pay` pays the last checkout link on the stand-in's checkout page, as
the payer's click would; `/quit` (or end of input) ends the demo."""

from __future__ import annotations

import asyncio
import contextlib
import sys

from medialab.demo.chat import DemoChat
from medialab.demo.journey import JourneyError, pay_on_checkout

HELP = ("type a message; /press <callback_data> presses a button, /photo [caption] sends a photo, "
        "/pay pays the last payment link, /quit finishes")
PROMPT = "you> "
# How often what the bot sent (in the background, e.g. a photo from the worker) is shown.
SHOW_EVERY_SECONDS = 0.2
# A line typed (or piped) before the bot has answered the last one would overtake it.
ANSWER_TIMEOUT_SECONDS = 10.0


async def read_line() -> str | None:
    if sys.stdin.isatty():  # a person at a terminal sees where to type; piped input does not need it
        sys.stdout.write(PROMPT)
        sys.stdout.flush()
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
                elif command == "/photo":
                    await wait_for_answer(chat, await chat.send_photo(data.strip() or None))
                elif command == "/pay":
                    await pay_last_link(chat)
                elif line.strip():
                    await wait_for_answer(chat, await chat.send_text(line.strip()))
            except (ValueError, RuntimeError, JourneyError) as exc:  # a press before any message; a refusal
                chat.write(f"demo: {exc}")
    finally:
        shower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await shower


async def pay_last_link(chat: DemoChat) -> None:
    link = chat.last_link()
    if link is None:
        chat.write("demo: the bot has sent no payment link yet: press payment_menu, then an amount")
        return
    chat.write(f"you:  (pays on the checkout page {link})")
    mark = chat.telegram.checkpoint()
    await pay_on_checkout(link)
    await wait_for_answer(chat, mark)
