"""`medialab set-webhook`: tells Telegram where to send updates, with the secret it must send
back and only the update types the handlers use; `medialab run --polling` removes the webhook."""

from __future__ import annotations

from medialab.settings import Settings


class RegistrationError(Exception):
    """The webhook cannot be registered; the message is one line without secrets."""


async def register_webhook(settings: Settings) -> list[str]:
    """Registers TELEGRAM_WEBHOOK_URL; answers the update types asked for."""
    if not settings.telegram.bot_token:
        raise RegistrationError("TELEGRAM_BOT_TOKEN is not set")
    if not settings.telegram.webhook_url:
        raise RegistrationError("TELEGRAM_WEBHOOK_URL is not set (the public URL of /telegram/webhook)")
    # aiogram takes seconds to import: a missing setting is reported before that.
    from aiogram.exceptions import TelegramAPIError

    from medialab.bot.dispatcher import allowed_updates
    from medialab.bot.client import create_bot

    bot = create_bot(settings)
    assert bot is not None
    updates = allowed_updates()
    try:
        await bot.set_webhook(settings.telegram.webhook_url, secret_token=settings.telegram.secret_token,
                              allowed_updates=updates)
    except TelegramAPIError as exc:
        raise RegistrationError(f"Telegram refused the webhook: {exc.message}") from None
    finally:
        await bot.session.close()
    return updates


async def remove_webhook(settings: Settings) -> str:
    """For long polling (`medialab run --polling`): Telegram gives updates to getUpdates only
    while the bot has no webhook. The updates waiting are kept. Answers the bot's username."""
    if not settings.telegram.bot_token:
        raise RegistrationError("TELEGRAM_BOT_TOKEN is not set: polling takes the updates of that bot")
    from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError

    from medialab.bot.client import create_bot

    bot = create_bot(settings, settings.telegram.timeout)
    assert bot is not None
    try:
        me = await bot.get_me()
        await bot.delete_webhook(drop_pending_updates=False)
    except TelegramUnauthorizedError:
        raise RegistrationError("TELEGRAM_BOT_TOKEN: Telegram does not take this token (Unauthorized)") from None
    except TelegramAPIError as exc:
        raise RegistrationError(f"TELEGRAM_API_URL: Telegram at {settings.telegram.api_url} did not answer "
                                f"as the Bot API: {exc.message}") from None
    finally:
        await bot.session.close()
    return me.username or str(me.id)
