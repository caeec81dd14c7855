"""`medialab set-webhook`: tells Telegram where to send updates, with the secret it must send
back and only the update types the handlers use."""

from __future__ import annotations

from medialab.settings import Settings


class RegistrationError(Exception):
    """The webhook cannot be registered; the message is one line without secrets."""


async def register_webhook(settings: Settings) -> list[str]:
    """Registers TELEGRAM_WEBHOOK_URL; answers the update types asked for."""
    if not settings.telegram_bot_token:
        raise RegistrationError("TELEGRAM_BOT_TOKEN is not set")
    if not settings.telegram_webhook_url:
        raise RegistrationError("TELEGRAM_WEBHOOK_URL is not set (the public URL of /telegram/webhook)")
    # aiogram takes seconds to import: a missing setting is reported before that.
    from aiogram.exceptions import TelegramAPIError

    from medialab.bot.dispatcher import allowed_updates
    from medialab.services import create_bot

    bot = create_bot(settings)
    assert bot is not None
    updates = allowed_updates()
    try:
        await bot.set_webhook(settings.telegram_webhook_url, secret_token=settings.webhook_secret,
                              allowed_updates=updates)
    except TelegramAPIError as exc:
        raise RegistrationError(f"Telegram refused the webhook: {exc.message}") from None
    finally:
        await bot.session.close()
    return updates
