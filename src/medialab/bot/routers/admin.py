"""Operators' commands in the chat with the bot, for the Telegram ids in ADMIN_TELEGRAM_IDS:
/admin_user, /admin_grant, /admin_refund, /admin_refund_stars, /admin_promo_create, /admin_promo_list,
/admin_promo_disable and /reconcile (docs/contract.md §7, the same as `medialab admin …` and
`medialab reconcile`).

This router comes first, so the commands work in any state. Its filter hides it from everyone
else: anyone else's /admin_grant goes on to the other routers like any text they send, and gets
the answer it would get anyway, so nothing says the commands exist. No handler here carries the
billing flag: a command charges nothing. Only private chats: an account report in a group would
be read by the group.

The text is read by medialab.admin (the CLI's own parsing, whose AdminError is the refusal) and
answered with the CLI's lines: operators' text, in English like the CLI's, never Fluent texts.
Every change is a ledger entry whose actor is tg:<the operator's Telegram id>.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from medialab.admin import commands, promo_commands, report
from medialab.admin import arguments as parse
from medialab.admin.arguments import AdminError
from medialab.admin.service import AdminService
from medialab.bot.filters import IsAdmin, LooksLikeCommand, OnLoop
from medialab.bot.views import fit_messages
from medialab.settings import Settings

log = logging.getLogger(__name__)

USAGE = {
    "admin_user": "/admin_user <telegram_id>",
    "admin_grant": "/admin_grant <telegram_id> <rubles> [reason…]",
    "admin_refund": "/admin_refund <operation_id> [reason…]",
    "admin_refund_stars": "/admin_refund_stars <charge_id>",
    "reconcile": "/reconcile",
    "admin_promo_list": "/admin_promo_list",
    "admin_promo_disable": "/admin_promo_disable <CODE>",
}
# Each drift is in the logs too; the chat gets the summary and this many of them.
MAX_DRIFT_LINES = 30


def create_router() -> Router:
    router = Router(name="admin")
    router.message.filter(LooksLikeCommand(), OnLoop(F.chat.type == ChatType.PRIVATE), IsAdmin())
    router.message.register(show_user, Command("admin_user"))
    router.message.register(grant, Command("admin_grant"))
    router.message.register(refund, Command("admin_refund"))
    router.message.register(refund_stars, Command("admin_refund_stars"))
    router.message.register(reconcile, Command("reconcile"))
    router.message.register(promo_create, Command("admin_promo_create"))
    router.message.register(promo_list, Command("admin_promo_list"))
    router.message.register(promo_disable, Command("admin_promo_disable"))
    return router


def _words(command: CommandObject, required: int, optional_rest: bool = False) -> list[str]:
    """The command's arguments: exactly `required` words, or with `optional_rest` those and the
    rest of the text as one more (a reason keeps its spaces). Otherwise the usage is the refusal."""
    words = (command.args or "").split(maxsplit=required if optional_rest else -1)
    if len(words) < required or (len(words) > required and not optional_rest):
        raise AdminError(f"usage: {USAGE[command.command]}")
    return words


def _actor(message: Message) -> str:
    return parse.telegram_actor(message.from_user.id)  # type: ignore[union-attr]  # IsAdmin saw a sender


async def _answer(message: Message, admin: AdminService, command: CommandObject,
                  build: Callable[[], commands.Command]) -> None:
    """Runs what `build` makes of the command's text and sends its lines; a refusal is one line."""
    log.info("admin command /%s by %s", command.command, _actor(message))
    try:
        lines = await build()(admin)
    except AdminError as refused:
        lines = [str(refused)]
    await _send(message, lines)


async def _send(message: Message, lines: list[str]) -> None:
    for text in fit_messages(lines):
        # Plain text whatever the bot's defaults: ids and reasons are full of "_" and "<".
        await message.answer(text, parse_mode=None)


async def show_user(message: Message, command: CommandObject, admin: AdminService) -> None:
    await _answer(message, admin, command, lambda: commands.user_command(*_words(command, 1)))


async def grant(message: Message, command: CommandObject, admin: AdminService, settings: Settings) -> None:
    def build() -> commands.Command:
        telegram_id, rubles, *reason = _words(command, 2, optional_rest=True)
        grant_id = parse.telegram_grant_id(message.bot.id, message.chat.id, message.message_id)  # type: ignore[union-attr]
        return commands.grant_command(telegram_id, rubles, settings, _actor(message),
                                      reason[0] if reason else None, grant_id)

    await _answer(message, admin, command, build)


async def refund(message: Message, command: CommandObject, admin: AdminService) -> None:
    def build() -> commands.Command:
        operation_id, *reason = _words(command, 1, optional_rest=True)
        return commands.refund_command(operation_id, _actor(message), reason[0] if reason else None)

    await _answer(message, admin, command, build)


async def refund_stars(message: Message, command: CommandObject, admin: AdminService) -> None:
    await _answer(message, admin, command,
                  lambda: commands.refund_stars_command(*_words(command, 1), _actor(message)))


async def reconcile(message: Message, command: CommandObject, admin: AdminService) -> None:
    async def summary(admin: AdminService) -> list[str]:
        books = await admin.reconcile()
        drifts = report.drift_lines(books)
        more = [f"… and {len(drifts) - MAX_DRIFT_LINES} more drift(s), each in the logs"] \
            if len(drifts) > MAX_DRIFT_LINES else []
        return [report.reconcile_summary(books), *drifts[:MAX_DRIFT_LINES], *more]

    def build() -> commands.Command:
        _words(command, 0)
        return summary

    await _answer(message, admin, command, build)


async def promo_create(message: Message, command: CommandObject, admin: AdminService, settings: Settings) -> None:
    await _answer(message, admin, command,
                  lambda: promo_commands.chat_create_command(command.args, settings, _actor(message)))


async def promo_list(message: Message, command: CommandObject, admin: AdminService) -> None:
    def build() -> commands.Command:
        _words(command, 0)
        return promo_commands.list_command()

    await _answer(message, admin, command, build)


async def promo_disable(message: Message, command: CommandObject, admin: AdminService) -> None:
    await _answer(message, admin, command, lambda: promo_commands.disable_command(*_words(command, 1)))
