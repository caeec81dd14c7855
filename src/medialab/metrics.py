"""The metrics of medialab, on prometheus_client: served by GET /metrics (web/metrics.py) and by
the worker (jobs/metrics_server.py). Label values in the help texts are the vocabulary: use
them, so that dashboards and alerts can rely on them.

Label names are checked on every call: `CHARGES.labels(outcome="paid").inc()` raises ValueError
for any other label name, so a typo cannot quietly start a new series.

`medialab serve --workers N` runs its web workers with PROMETHEUS_MULTIPROC_DIR set to a fresh
directory (`cli.metrics_shared_by_workers`): each process writes its numbers to its own files there, and a
scrape of any of them reports the sum over all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

# Litestar appends "; charset=utf-8" to text/ media types.
MEDIA_TYPE = "text/plain; version=0.0.4"
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"

# A `_created` family beside every counter and histogram would double the exposition, and the
# multiprocess mode has none: without them a scrape reads the same families in both modes.
disable_created_metrics()
REGISTRY = CollectorRegistry()


def counter(name: str, help_text: str, labels: Iterable[str]) -> Counter:
    return Counter(name, help_text, list(labels), registry=REGISTRY)


def declare(metric: Counter, label: str, values: Iterable[str]) -> None:
    """Series for every known value of a one-label counter, shown as 0 until used."""
    for value in values:
        metric.labels(**{label: value})


LEDGER_DRIFT = counter(
    "medialab_ledger_drift_total", "Differences found between the Redis cache and SQL, by field", ["field"])
RECONCILE_RUNS = counter("medialab_reconcile_runs_total", "Reconciler passes, by outcome", ["outcome"])
CACHE_BEHIND = counter(
    "medialab_cache_behind_total",
    "Cache updates left to the next load or the reconciler because Redis did not answer in time, by what: "
    "step (a reservation's confirm or undo) or user (a rebuild after an SQL-only change)", ["what"])
declare(CACHE_BEHIND, "what", ("step", "user"))

CHARGE_OUTCOMES = ("free", "paid", "insufficient", "busy")
CHARGES = counter(
    "medialab_charges_total",
    "Charge attempts by outcome: free (a free operation used), paid (the price taken), "
    "insufficient (refused: no money), busy (refused: too many jobs in flight); replays not counted",
    ["outcome"])
declare(CHARGES, "outcome", CHARGE_OUTCOMES)
REFUNDS = counter(
    "medialab_refunds_total", "Operations compensated, by what went back: money or free_operation", ["returned"])
declare(REFUNDS, "returned", ("money", "free_operation"))
LEDGER_ENTRIES = counter(
    "medialab_ledger_entries_total", "Ledger entries written through BillingService, by kind", ["kind"])
TOPUP_OUTCOMES = ("credited", "duplicate", "mismatch", "canceled", "pending", "unknown", "charged_back")
TOPUPS = counter(
    "medialab_topups_total",
    "YooKassa payments settled from the API, by outcome: credited (money added now), duplicate (done "
    "before), mismatch (not what we asked for: nothing moved), canceled, pending, unknown (not ours), "
    "charged_back (a refund taken off the balance)",
    ["outcome"])
declare(TOPUPS, "outcome", TOPUP_OUTCOMES)
WEBHOOK_REFUSALS = counter(
    "medialab_webhook_refusals_total",
    "Requests refused, by webhook (telegram, yookassa; none for any other path) and reason: the "
    "webhooks' own (bad_secret, source_not_allowed, bad_body, not_configured, failed) or the "
    "answer's (bad_request, unauthorized, forbidden, not_found, method_not_allowed, too_large)",
    ["webhook", "reason"])
JOB_DURATION = Histogram(
    "medialab_job_duration_seconds", "Time from a generation job's start to its end, by operation type and outcome",
    ["operation_type", "outcome"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
JOB_OUTCOMES = ("delivered", "kept", "refused", "failed", "timed_out", "lost", "retried", "skipped")
JOBS = counter(
    "medialab_jobs_total",
    "Generation job runs, by outcome: delivered, kept (the user blocked the bot: the result waits for "
    "them, nothing refunded), refused (add_text to a user who blocked the bot: dropped), failed, timed_out, "
    "lost (compensated by the sweeper), retried (to run again), skipped (finished before)",
    ["outcome"])
declare(JOBS, "outcome", JOB_OUTCOMES)
KEPT_RESULTS = counter(
    "medialab_kept_results_total",
    "Results of users who could not be sent them, by event: kept (stored for their next message, "
    "counted by the worker), delivered (sent when they wrote again, counted by the web process)",
    ["event"])
declare(KEPT_RESULTS, "event", ("kept", "delivered"))
SCRAPE_ERRORS = counter(
    "medialab_scrape_errors_total", "Values /metrics could not read at scrape time, by source", ["source"])
# Not kept in a process: read from arq's queue by each scrape (every process sees the same queue).
QUEUE_DEPTH = "medialab_queue_depth"
QUEUE_DEPTH_HELP = "Jobs waiting in the arq queue, read at scrape time"


class _Scrape:
    """What one scrape reports: the counted metrics and the queue depth it read."""

    def __init__(self, counted: CollectorRegistry | MultiProcessCollector, queue_depth: int | None) -> None:
        self.counted, self.queue_depth = counted, queue_depth

    def collect(self) -> Iterator[Metric]:
        yield from self.counted.collect()
        depth = GaugeMetricFamily(QUEUE_DEPTH, QUEUE_DEPTH_HELP)
        if self.queue_depth is not None:  # no sample rather than a stale one: alerts can see it is absent
            depth.add_metric([], self.queue_depth)
        yield depth


def exposition(queue_depth: int | None) -> bytes:
    """Every metric in the text format: this process's, or with PROMETHEUS_MULTIPROC_DIR set the
    sum over the processes writing to that directory."""
    counted = MultiProcessCollector(None) if os.environ.get(MULTIPROC_DIR) else REGISTRY
    return generate_latest(_Scrape(counted, queue_depth))


def process_exiting() -> None:
    """A worker's last word under `medialab serve --workers N`: its live gauges (prometheus_client's
    live* modes) stop counting. Its counters and histograms stay in the sum, as they happened."""
    if os.environ.get(MULTIPROC_DIR):
        mark_process_dead(os.getpid())
