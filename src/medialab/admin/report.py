"""Operators' answers as text lines (the CLI prints them; an admin chat can send them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from medialab.domain.money import format_rub, format_signed_rub

if TYPE_CHECKING:
    from medialab.admin.service import Account, Books, Grant
    from medialab.billing.results import RefundResult
    from medialab.payments.payment_sweep import PaymentSweepReport
    from medialab.payments.stars_refund import StarsRefund


def _time(moment: datetime) -> str:
    # SQLite gives naive UTC, PostgreSQL aware datetimes: both shown in UTC.
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def account_lines(account: Account) -> list[str]:
    user = account.user
    lines = [
        f"user {user.telegram_id} (id {user.user_id}, language {user.language})",
        f"balance: {format_rub(user.balance)}",
        f"free operations: {user.free_operations_left} of {user.free_operations_total}",
        f"last operations ({len(account.operations)}):",
    ]
    lines += [f"  {_time(o.created_at)}  {o.id}  {o.type}  {o.status}"
              f"{' ' + format_rub(o.price) if o.price else ''}  job {o.job_state}" for o in account.operations]
    lines.append(f"last payments ({len(account.payments)}):")
    lines += [f"  {_time(p.created_at)}  #{p.id} {p.provider} {p.provider_payment_id or '-'}  "
              f"{format_rub(p.amount)} {p.currency}  {p.status}" for p in account.payments]
    # The user's statement, as /history shows it to them, with what operators need beside it.
    movements = account.statement.movements
    lines.append(f"last ledger entries ({len(movements)}):")
    lines += [f"  {_time(e.created_at)}  {e.kind}{' ' + e.operation_type if e.operation_type else ''} "
              f"{format_signed_rub(e.amount)} -> {format_rub(e.balance_after)}  {e.idempotency_key}"
              f"{'  by ' + e.actor if e.actor else ''}{'  (' + e.reason + ')' if e.reason else ''}"
              for e in movements]
    if account.statement.older:
        lines.append("  (older entries not shown)")
    return lines


def grant_line(grant: Grant) -> str:
    credit = grant.credit
    if not credit.credited:
        return (f"grant {grant.grant_id} was made before: nothing changed; "
                f"balance of user {grant.telegram_id}: {format_rub(credit.balance)}")
    return (f"granted {format_rub(credit.amount)} to user {grant.telegram_id}: balance {format_rub(credit.balance)} "
            f"(grant id {grant.grant_id})")


def grant_file_lines(grants: list[Grant]) -> list[str]:
    made = [grant.credit.amount for grant in grants if grant.credit.credited]
    return [*map(grant_line, grants),
            f"{len(made)} granted ({format_rub(sum(made))} in all), {len(grants) - len(made)} made before"]


def refund_line(result: RefundResult) -> str:
    if not result.refunded:
        return f"operation {result.operation_id}: {result.note}; nothing changed"
    if result.free_operation:
        return f"operation {result.operation_id}: its free operation given back to user id {result.user_id}"
    return (f"operation {result.operation_id}: refunded {format_rub(result.amount)} to user id {result.user_id}: "
            f"balance {format_rub(result.balance)}")


def stars_refund_line(refund: StarsRefund) -> str:
    if not refund.debited:
        return (f"Stars payment {refund.charge_id} was refunded before: nothing changed; "
                f"balance of user {refund.telegram_id}: {format_rub(refund.balance)}")
    checked = ("Telegram's answer was lost; asked again, it says the Stars went back: "
               if refund.checked_after_lost_answer else "")
    return (f"Stars payment {refund.charge_id}: {checked}{refund.stars} XTR refunded to user {refund.telegram_id}, "
            f"{format_rub(refund.amount)} taken back: balance {format_rub(refund.balance)}")


def drift_lines(books: Books) -> list[str]:
    """One line per broken ledger invariant, then one per cached counter that differs from SQL."""
    from medialab.billing.audit import describe  # here: `medialab --help` loads report, not SQLAlchemy

    lines = [describe(d) for d in books.ledger]
    lines += [f"cache drift: user {d.user_id} {d.field}: redis {d.cached}, sql {d.truth}" for d in books.cache.drifts]
    return lines


def reconcile_summary(books: Books) -> str:
    cache = books.cache
    drifted = len({d.user_id for d in cache.drifts})
    if books.repair:
        outcome = f"{cache.repaired} repaired, {len(cache.unrepaired)} left unrepaired"
    else:
        outcome = "none repaired (report only)"
    busy = f", {cache.users_busy} busy (left for the next pass)" if cache.users_busy else ""
    ledger = "ok" if not books.ledger else f"{len(books.ledger)} drift(s)"
    return (f"checked {cache.users_checked} cached user(s){busy}: {len(cache.drifts)} cache drift(s) "
            f"in {drifted} user(s), {outcome}; ledger: {ledger}")


# What each settlement outcome means to an operator reading `medialab sweep`.
_SWEEP_OUTCOMES = {
    "credited": "credited", "debited": "taken back", "done_before": "done before", "canceled": "canceled",
    "pending": "still pending", "unknown": "not ours", "rejected": "rejected (see the security log)",
}


def _outcomes(outcomes: dict[str, int]) -> str:
    return ", ".join(f"{count} {_SWEEP_OUTCOMES.get(name, name)}" for name, count in sorted(outcomes.items())) or "none"


def sweep_lines(report: PaymentSweepReport) -> list[str]:
    refunds = report.refunds
    since = f"since {_time(refunds.since)} UTC" if refunds.since else "(no YooKassa payment yet: none listed)"
    return [
        f"payments: {report.checked} open checked: {_outcomes(report.outcomes)}; "
        f"{report.undecided} undecided, {report.failed} failed",
        f"creates without an answer: {report.finished_unanswered} finished, {report.closed_unanswered} closed",
        f"refunds {since}: {refunds.checked} listed: {_outcomes(refunds.outcomes)}; "
        f"{refunds.undecided} undecided, {refunds.failed} failed",
    ]
