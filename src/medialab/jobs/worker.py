"""The arq worker: `medialab worker` runs `WorkerSettings`. Clients are opened once in
`on_startup` and put in ctx; cron jobs keep Redis honest against SQL."""

from __future__ import annotations

import logging
from typing import Any

from arq import cron
from arq.connections import RedisSettings

from medialab.billing.reconcile import reconcile
from medialab.jobs.payment_sweeper import SWEEP_PAYMENTS_CRON
from medialab.services import Services
from medialab.settings import Settings

log = logging.getLogger(__name__)


async def startup(ctx: dict[str, Any]) -> None:
    ctx["services"] = await Services.open(ctx.get("settings") or Settings.from_env())


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["services"].close()


async def reconcile_cache(ctx: dict[str, Any]) -> dict[str, int]:
    """Every minute: compare each cached user with SQL, repair drift, report it."""
    report = await reconcile(ctx["services"].billing)
    if report.drifts:
        log.warning("reconcile: %d drift(s) in %d user(s), %d repaired",
                    len(report.drifts), len({d.user_id for d in report.drifts}), report.repaired)
    return {"checked": report.users_checked, "drifts": len(report.drifts), "repaired": report.repaired}


def redis_settings(settings: Settings) -> RedisSettings:
    if settings.redis_url is None:
        raise ValueError("REDIS_URL must be set for the worker: the web app and the worker share one Redis")
    return RedisSettings.from_dsn(settings.redis_url)


class WorkerSettings:
    functions: list[Any] = []
    cron_jobs = [cron(reconcile_cache, second=0, run_at_startup=True, unique=True, timeout=300), SWEEP_PAYMENTS_CRON]
    on_startup = startup
    on_shutdown = shutdown
    # arq reads redis_settings at start; `medialab worker` fills it from the settings.
    redis_settings: RedisSettings | None = None
