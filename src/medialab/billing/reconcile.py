"""The reconciler: compares every cached user's Redis counters with SQL, reports each drift in
logs and metrics, and repairs the cache from SQL (SQL is the system of record).

A user with a Redis step still pending (taken, its SQL commit not yet confirmed) is skipped for
this pass; a step pending longer than `pending_grace` belongs to a process that died between the
two, and SQL's numbers replace it.
"""

from __future__ import annotations

import logging
import time

import msgspec

from medialab.billing import transactions as tx
from medialab.db.redis_keys import ACCOUNT_PATTERN, user_id_of
from medialab.billing.service import BillingService
from medialab.metrics import LEDGER_DRIFT, RECONCILE_RUNS

log = logging.getLogger(__name__)


class Drift(msgspec.Struct, frozen=True):
    user_id: int
    field: str
    cached: str
    truth: str


class ReconcileReport(msgspec.Struct):
    users_checked: int = 0
    users_busy: int = 0
    drifts: list[Drift] = msgspec.field(default_factory=list)
    repaired: int = 0
    unrepaired: list[int] = msgspec.field(default_factory=list)
    # Users whose check failed (logged with its cause); the pass went on with the others.
    failed: list[int] = msgspec.field(default_factory=list)


async def reconcile(billing: BillingService, *, repair: bool = True, pending_grace: float = 60.0) -> ReconcileReport:
    cache = billing.cache
    if cache is None:
        raise ValueError("the billing service has no Redis cache to reconcile")
    report = ReconcileReport()
    async for key in cache.redis.scan_iter(match=ACCOUNT_PATTERN, count=500):
        try:
            user_id = user_id_of(key)
        except ValueError:
            log.error("reconcile: a key that names no user: %r", key)
            continue
        try:
            await _reconcile_user(billing, user_id, report, repair, pending_grace)
        except Exception:  # noqa: BLE001 - one user's trouble must not stop the pass
            log.exception("reconcile: user %s could not be checked", user_id)
            report.failed.append(user_id)
    RECONCILE_RUNS.labels(outcome="drift" if report.drifts else "failed" if report.failed else "clean").inc()
    return report


async def _reconcile_user(
    billing: BillingService, user_id: int, report: ReconcileReport, repair: bool, pending_grace: float
) -> None:
    cached = await billing.cache.snapshot(user_id)  # type: ignore[union-attr]
    if cached is None:
        return
    now = time.time()
    if any(now - taken < pending_grace for _, taken in cached.pending):
        report.users_busy += 1
        return
    report.users_checked += 1
    async with billing._sessions() as session:  # noqa: SLF001 - the reconciler is billing's own
        balance, free, _, in_flight = await tx.snapshot(session, user_id)
    found = [
        Drift(user_id, name, str(mine), str(truth))
        for name, mine, truth in (
            ("balance", cached.balance, balance),
            ("free_operations", cached.free, free),
            ("in_flight", sorted(cached.in_flight), sorted(in_flight)),
            ("abandoned_steps", [m for m, _ in cached.pending], []),
        )
        if mine != truth
    ]
    if not found:
        return
    for drift in found:
        LEDGER_DRIFT.labels(field=drift.field).inc()
        log.warning("cache drift user=%s %s: redis=%s sql=%s", user_id, drift.field, drift.cached, drift.truth)
    report.drifts.extend(found)
    if not repair:
        return
    outcome = await billing.load_cache(user_id, force=True, expected_seq=cached.seq)
    if outcome == "loaded":
        report.repaired += 1
    else:  # a reservation moved the counters since we looked: the next pass sees it settled
        report.unrepaired.append(user_id)
