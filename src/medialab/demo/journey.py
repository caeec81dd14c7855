"""A user's journey through the real webhooks: free generations, a refusal for money, a top-up
paid on the YooKassa stand-in, paid generations, one that fails at fal.ai and is refunded."""

from __future__ import annotations

import httpx

from medialab.demo.chat import DemoChat
from medialab.demo.stack import System
from medialab.http_tls import tls_context
from medialab.sandbox.telegram import RecordedCall

PROMPTS = ("a lighthouse at dawn", "a cat in a space suit", "a bowl of ramen, watercolour",
           "a red fox in the snow", "a castle on a cloud")
PAID_PROMPTS = ("a tram in Lisbon", "a koi pond from above")
FAILING_PROMPT = "a city that the provider cannot draw"


class JourneyError(Exception):
    """The system did not do what the user should see; the message is one line."""


def expect(call: RecordedCall, *fragments: str) -> RecordedCall:
    text = str(call.params.get("text") or call.params.get("caption") or "")
    for fragment in fragments:
        if fragment not in text:
            raise JourneyError(f"expected {fragment!r} in the bot's message, got {text!r}")
    return call


def link_of(call: RecordedCall) -> str:
    markup = call.params.get("reply_markup") or {}
    urls = [b["url"] for row in markup.get("inline_keyboard", []) for b in row if b.get("url")]
    if not urls:
        raise JourneyError("the payment message has no link to pay")
    return urls[0]


async def pay_on_checkout(confirmation_url: str) -> None:
    """The payer clicks "Pay" on the stand-in's checkout page; it then notifies our webhook."""
    async with httpx.AsyncClient(timeout=30.0, verify=tls_context()) as http:
        response = await http.post(f"{confirmation_url}/pay")
    if response.status_code != 303:
        raise JourneyError(f"the checkout page refused the payment: HTTP {response.status_code}")


async def start_and_use_free_operations(chat: DemoChat, free: int = 4) -> None:
    expect(await chat.say("/start"))
    await chat.press("mode:generate")
    for prompt in PROMPTS[:free]:
        await chat.say(prompt, reply="sendPhoto")
    expect(await chat.say(PROMPTS[free], containing="Недостаточно средств"), "Недостаточно средств")


async def top_up(chat: DemoChat, rubles: int = 100) -> None:
    await chat.press("payment_menu")
    link = await chat.press(f"payment_amount_{rubles}", containing=f"{rubles} ₽")
    url = link_of(link)
    chat.write(f"you:  (pays {rubles} ₽ on the checkout page {url})")
    await pay_on_checkout(url)
    await chat.wait("sendMessage", "Баланс")


async def paid_generations(chat: DemoChat) -> None:
    await chat.press("mode:generate")
    for prompt in PAID_PROMPTS:
        await chat.say(prompt, reply="sendPhoto")


async def failing_generation(system: System, chat: DemoChat) -> None:
    """fal.ai fails every try of this job; after its retries the worker gives the money back."""
    system.stand_ins.fal.set_mode("fail")
    try:
        expect(await chat.say(FAILING_PROMPT, containing="возврат"), "возврат", "Баланс")
    finally:
        system.stand_ins.fal.set_mode("succeed")


async def play_journey(system: System, chat: DemoChat) -> None:
    await start_and_use_free_operations(chat)
    await top_up(chat)
    await paid_generations(chat)
    await failing_generation(system, chat)
    expect(await chat.say("/balance"), "Баланс: 80 ₽", "Бесплатные операции: 0 из 4")
