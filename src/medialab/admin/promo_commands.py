"""`medialab admin promo create|list|disable` and the admin chat's /admin_promo_create,
/admin_promo_list and /admin_promo_disable: one argparse definition for both (the chat's text is
parsed by the same parser, its errors turned into AdminError), the typed values checked before
any connection is opened."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, NoReturn

from medialab.admin import arguments as parse
from medialab.admin.arguments import AdminError
from medialab.domain.money import format_rub
from medialab.domain.promo import BadPromoCode, promo_code

if TYPE_CHECKING:
    from medialab.admin.commands import Command
    from medialab.admin.service import AdminService
    from medialab.billing.promo import PromoLine
    from medialab.settings import Settings

MAX_USES = 1_000_000
MAX_FREE_OPERATIONS = 1000


def add_create_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("code", help="3-32 Latin letters, digits, '_' or '-'; case does not matter")
    parser.add_argument("rubles", help="put on the balance of each user who redeems it (0 with --free-ops)")
    parser.add_argument("--uses", help="how many users may redeem it in all (default: no limit)")
    parser.add_argument("--until", help="redeemable through this day, YYYY-MM-DD, UTC (default: no end)")
    parser.add_argument("--free-ops", default="0", help="free operations it gives besides the rubles")


def add_promo_parser(actions: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    promo = actions.add_parser("promo", help="promo codes: create, list, disable")
    what = promo.add_subparsers(dest="promo_action", required=True, metavar="PROMO_ACTION")
    add_create_arguments(what.add_parser("create", help="a new promo code"))
    what.add_parser("list", help="every code with its uses")
    what.add_parser("disable", help="a code redeems no more").add_argument("code")


class _ChatParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise AdminError(f"{message}; usage: /admin_promo_create CODE RUBLES [--uses N] [--until YYYY-MM-DD] "
                         "[--free-ops K]")


def chat_create_command(text: str | None, settings: Settings, actor: str) -> Command:
    """/admin_promo_create's text, read as the CLI reads `admin promo create`."""
    parser = _ChatParser(prog="/admin_promo_create", add_help=False)
    add_create_arguments(parser)
    args = parser.parse_args((text or "").split())
    return create_command(args.code, args.rubles, settings, actor, args.uses, args.until, args.free_ops)


def command_for(args: argparse.Namespace, settings: Settings, actor: str) -> Command:
    if args.promo_action == "create":
        return create_command(args.code, args.rubles, settings, actor, args.uses, args.until, args.free_ops)
    if args.promo_action == "disable":
        return disable_command(args.code)
    return list_command()


def create_command(code: str, rubles: str, settings: Settings, actor: str, uses: str | None = None,
                   until: str | None = None, free_ops: str = "0") -> Command:
    amount = parse.grant_amount(rubles, settings.billing.max_topup * 100, allow_zero=True)
    free = _count(free_ops, "--free-ops", 0, MAX_FREE_OPERATIONS)
    if amount == 0 and free == 0:
        raise AdminError("a promo code must give rubles or --free-ops")
    max_uses = _count(uses, "--uses", 1, MAX_USES) if uses is not None else None
    return partial(_create, _code(code), amount, free, max_uses, _day(until) if until is not None else None, actor)


def list_command() -> Command:
    return _list


def disable_command(code: str) -> Command:
    return partial(_disable, _code(code))


def _code(text: str) -> str:
    try:
        return promo_code(text)
    except BadPromoCode as exc:
        raise AdminError(str(exc)) from None


def _count(text: str, name: str, minimum: int, maximum: int) -> int:
    cleaned = text.strip()
    if not (cleaned.isascii() and cleaned.isdigit() and minimum <= int(cleaned) <= maximum):
        raise AdminError(f"{name} must be a whole number from {minimum} to {maximum}, got {text!r}")
    return int(cleaned)


def _day(text: str) -> date:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise AdminError(f"--until must be a day as YYYY-MM-DD, got {text!r}") from None
    if day < datetime.now(UTC).date():
        raise AdminError(f"--until {day} is in the past")
    return day


async def _create(code: str, amount: int, free: int, max_uses: int | None, until: date | None, actor: str,
                  admin: AdminService) -> list[str]:
    return [f"created {promo_line(await admin.promo_create(code, amount, free, max_uses, until, actor))}"]


async def _list(admin: AdminService) -> list[str]:
    codes = await admin.promo_list()
    return [promo_line(code) for code in codes] or ["no promo codes"]


async def _disable(code: str, admin: AdminService) -> list[str]:
    return [f"disabled {promo_line(await admin.promo_disable(code))}"]


def promo_line(line: PromoLine) -> str:
    gives = " + ".join(part for part in (
        format_rub(line.amount) if line.amount else "", f"{line.free_operations} free ops" if line.free_operations else ""
    ) if part)
    uses = f"{line.uses}/{line.max_uses}" if line.max_uses is not None else f"{line.uses}/unlimited"
    # valid_until is the first moment it no longer works: the day before is the last one.
    until = f"through {(line.valid_until - timedelta(days=1)).date()}" if line.valid_until is not None else "no end"
    state = "disabled" if line.disabled else "active"
    return f"{line.code}: {gives}, used {uses}, {until}, {state}"
