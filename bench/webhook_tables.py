"""The tables of bench/webhook.py: per backend, the paid prompts beside the echo bot measured
right before them under the same load, then their ratio and the check of the books."""

from __future__ import annotations

from dataclasses import dataclass

# The bench's own modules: run as a script, its folder is first on sys.path.
from timing import Measurement
from webhook_telegram import RETRY_PAUSE_SECONDS, Delivered, TelegramLoad

LOADS = ("replies", "telegram", "both")


@dataclass(frozen=True)
class Replies:
    """One backend under users who wait for the bot's reply before their next prompt."""

    echo: Measurement
    paid: Measurement
    health: Measurement
    books: str


@dataclass(frozen=True)
class Telegram:
    """One backend under Telegram's own load."""

    echo: Delivered
    paid: Delivered
    queued_after: float | None  # seconds after the load's end until every answered prompt was queued
    books: str


def _ms(m: Measurement, fraction: float) -> str:
    return f"{m.percentile_ms(fraction):.1f}" if m.count else "-"


def _row(name: str, m: Measurement) -> str:
    return f"{name:<42} {m.count:>7,} {m.per_second:>10,.0f} {_ms(m, 0.5):>8} {_ms(m, 0.99):>8}"


def print_replies(results: dict[str, Replies], users: int, per_user: int) -> None:
    print(f"\nUsers waiting for replies: {users} users at once, {per_user} prompts each, one after the other")
    print(f"{'':<42} {'updates':>7} {'per second':>10} {'p50 ms':>8} {'p99 ms':>8}")
    for backend, r in results.items():
        print(_row(f"{backend}: echo bot (aiogram + Litestar)", r.echo))
        print(_row(f"{backend}: paid prompt (charge + enqueue)", r.paid))
        print(_row(f"{backend}: GET /health (ceiling)", r.health))
    print(f"\n{'':<12} {'paid/echo':>9} {'paid/health':>11}   checked")
    for backend, r in results.items():
        print(f"{backend:<12} {r.paid.per_second / r.echo.per_second:>9.2f} "
              f"{r.paid.per_second / r.health.per_second:>11.2f}   {r.books}")


def print_telegram(results: dict[str, Telegram], load: TelegramLoad) -> None:
    bound = f"{load.seconds:g} s" + (f" or {load.updates:,} updates" if load.updates else "")
    print(f"\nTelegram's load: {load.connections} connections, {load.users} users, {bound} per run; "
          f"an update not answered 2xx is delivered again {RETRY_PAUSE_SECONDS:g} s later")
    print(f"{'':<12} {'echo 2xx/s':>10} {'paid 2xx/s':>10} {'paid/echo':>9} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'non-2xx':>8}   books")
    for backend, r in results.items():
        echo, paid = r.echo.measurement, r.paid.measurement
        print(f"{backend:<12} {echo.per_second:>10,.0f} {paid.per_second:>10,.0f} "
              f"{paid.per_second / echo.per_second:>9.2f} {_ms(paid, 0.5):>7} {_ms(paid, 0.99):>7} "
              f"{r.paid.non_2xx:>8,}   {r.books}")
    print()
    for backend, r in results.items():
        echo, paid = r.echo, r.paid
        queued = "never all" if r.queued_after is None else f"{r.queued_after:.1f} s after the load's end"
        print(f"{backend}: echo {echo.updates:,} updates in {echo.measurement.seconds:.1f} s (p50 "
              f"{_ms(echo.measurement, 0.5)}, p99 {_ms(echo.measurement, 0.99)} ms), non-2xx: {echo.refusals()}, "
              f"given up {echo.given_up}")
        print(f"{backend}: paid {paid.updates:,} updates in {paid.measurement.seconds:.1f} s, non-2xx: "
              f"{paid.refusals()}, given up {paid.given_up}; the prompts answered 2xx all queued: {queued}")
