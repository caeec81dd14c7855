"""`medialab admin user|grant|grant-file|refund|refund-stars|promo|export`: argparse definitions, and the typed
text turned into a call of AdminService before any connection is opened (a bad argument costs
nothing). The admin chat (bot/routers/admin.py) builds its calls with the same builders."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from medialab.admin import arguments as parse
from medialab.admin import grant_file, promo_commands, report

if TYPE_CHECKING:  # the CLI builds its parser without loading the database layers
    from medialab.admin.service import AdminService
    from medialab.settings import Settings

Command = Callable[["AdminService"], Awaitable[list[str]]]

GRANT_REASON = "grant by an operator"
REFUND_REASON = "refund by an operator"
USER_LIMIT = 10  # operations, payments and ledger entries shown of each


def add_admin_parser(commands: argparse._SubParsersAction, run: Callable[..., int]) -> None:  # type: ignore[type-arg]
    admin = commands.add_parser("admin", help="operators' commands: look at a user, grant, refund")
    actions = admin.add_subparsers(dest="action", required=True, metavar="ACTION")
    user = actions.add_parser("user", help="balance, free operations, last operations, payments and ledger")
    user.add_argument("telegram_id")
    user.add_argument("--limit", type=int, default=USER_LIMIT, help=f"how many of each to show (default {USER_LIMIT})")
    grant = actions.add_parser("grant", help="add rubles to a balance (a ledger entry of kind grant)")
    grant.add_argument("telegram_id")
    grant.add_argument("rubles", help='e.g. 100 or 10.50')
    grant.add_argument("--reason", help="recorded in the ledger")
    grant.add_argument("--grant-id", help="idempotency: the same id again changes nothing (default: a new id)")
    many = actions.add_parser("grant-file", help="a grant to each user of a file: '<telegram id> <rubles>' a line")
    many.add_argument("file")
    many.add_argument("--grant-id", required=True,
                      help="each user's grant id is <this>-<telegram id>: the file run again grants nobody twice")
    many.add_argument("--reason", help="recorded in the ledger")
    refund = actions.add_parser("refund", help="give back what an operation took (money or its free operation)")
    refund.add_argument("operation_id")
    refund.add_argument("--reason", help="recorded in the ledger")
    stars = actions.add_parser("refund-stars", help="refund a Telegram Stars payment and take its rubles back")
    stars.add_argument("charge_id", help="telegram_payment_charge_id of the payment")
    promo_commands.add_promo_parser(actions)
    export = actions.add_parser("export", help="the ledger entries of some days as CSV, amounts in rubles")
    export.add_argument("--from", dest="start", required=True, help="first day, YYYY-MM-DD (UTC)")
    export.add_argument("--to", dest="end", required=True, help="last day, YYYY-MM-DD (UTC), included")
    export.add_argument("--output", help="a file to write (default: standard output)")
    admin.set_defaults(run=run)


def command_for(args: argparse.Namespace, settings: Settings, actor: str) -> Command:
    """The call that args ask for; AdminError when an argument is wrong."""
    if args.action == "user":
        return user_command(args.telegram_id, args.limit)
    if args.action == "grant":
        return grant_command(args.telegram_id, args.rubles, settings, actor, args.reason, args.grant_id)
    if args.action == "grant-file":
        return grant_file_command(args.file, settings, actor, args.reason, args.grant_id)
    if args.action == "refund-stars":
        return refund_stars_command(args.charge_id, actor)
    if args.action == "promo":
        return promo_commands.command_for(args, settings, actor)
    if args.action == "export":
        return export_command(args.start, args.end, args.output)
    return refund_command(args.operation_id, actor, args.reason)


# One builder a command: typed text in, the call out, or AdminError (nothing done) when a piece
# of the text is wrong.

def user_command(telegram_id: str, limit: int = USER_LIMIT) -> Command:
    if not 1 <= limit <= 1000:
        raise parse.AdminError(f"--limit must be 1..1000, got {limit}")
    return partial(_user, parse.telegram_id(telegram_id), limit)


def grant_command(telegram_id: str, rubles: str, settings: Settings, actor: str,
                  reason: str | None = None, grant_id: str | None = None) -> Command:
    return partial(_grant, parse.telegram_id(telegram_id), parse.grant_amount(rubles, settings.billing.max_topup * 100),
                   actor, parse.reason(reason, GRANT_REASON), parse.grant_id(grant_id))


def grant_file_command(path: str, settings: Settings, actor: str, reason: str | None, grant_id: str) -> Command:
    batch = grant_file.batch_id(grant_id)
    grants = grant_file.grants(grant_file.read(path), settings.billing.max_topup * 100)
    return partial(_grant_file, grants, actor, parse.reason(reason, GRANT_REASON), batch)


def refund_command(operation_id: str, actor: str, reason: str | None = None) -> Command:
    return partial(_refund, parse.operation_id(operation_id), actor, parse.reason(reason, REFUND_REASON))


def refund_stars_command(charge_id: str, actor: str) -> Command:
    return partial(_refund_stars, parse.charge_id(charge_id), actor)


def export_command(start: str, end: str, output: str | None) -> Command:
    from medialab.admin.ledger_export import days  # SQLAlchemy: not for `medialab --help`

    return partial(_export, *days(start, end), output)


async def _user(telegram_id: int, limit: int, admin: AdminService) -> list[str]:
    return report.account_lines(await admin.account(telegram_id, limit))


async def _grant(telegram_id: int, amount: int, actor: str, reason: str, grant_id: str | None,
                 admin: AdminService) -> list[str]:
    return [report.grant_line(await admin.grant(telegram_id, amount, actor, reason, grant_id))]


async def _grant_file(grants: list[tuple[int, int]], actor: str, reason: str, batch: str,
                      admin: AdminService) -> list[str]:
    return report.grant_file_lines(await admin.grant_each(grants, actor, reason, batch))


async def _refund(operation_id: str, actor: str, reason: str, admin: AdminService) -> list[str]:
    return [report.refund_line(await admin.refund(operation_id, actor, reason))]


async def _refund_stars(charge_id: str, actor: str, admin: AdminService) -> list[str]:
    return [report.stars_refund_line(await admin.refund_stars(charge_id, actor))]


async def _export(start: datetime, end: datetime, output: str | None, admin: AdminService) -> list[str]:
    """The CSV to standard output (and nothing else there), or to a file and a line saying so."""
    if output is None:
        async for chunk in admin.ledger_csv(start, end):
            sys.stdout.write(chunk)
        return []
    try:
        with open(output, "w", encoding="utf-8", newline="") as file:
            async for chunk in admin.ledger_csv(start, end):
                file.write(chunk)
    except OSError as exc:
        raise parse.AdminError(f"cannot write {output}: {exc.strerror or exc}") from None
    return [f"ledger entries from {start.date()} to {(end - timedelta(days=1)).date()} written to {output}"]
