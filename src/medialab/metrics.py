"""The metrics of medialab, served by GET /metrics (web/metrics.py). Label values in the help
texts are the vocabulary: use them, so that dashboards and alerts can rely on them."""

from __future__ import annotations

# Re-exported: the metric types and the media type are used from here.
from medialab.prometheus import MEDIA_TYPE, Counter, Gauge, Histogram, Registry, declare  # noqa: F401

REGISTRY = Registry()

LEDGER_DRIFT = REGISTRY.counter(
    "medialab_ledger_drift_total", "Differences found between the Redis cache and SQL, by field", ["field"])
RECONCILE_RUNS = REGISTRY.counter("medialab_reconcile_runs_total", "Reconciler passes, by outcome", ["outcome"])

CHARGE_OUTCOMES = ("free", "paid", "insufficient", "busy")
CHARGES = REGISTRY.counter(
    "medialab_charges_total",
    "Charge attempts by outcome: free (a free operation used), paid (the price taken), "
    "insufficient (refused: no money), busy (refused: too many jobs in flight); replays not counted",
    ["outcome"])
declare(CHARGES, "outcome", CHARGE_OUTCOMES)
REFUNDS = REGISTRY.counter(
    "medialab_refunds_total", "Operations compensated, by what went back: money or free_operation", ["returned"])
declare(REFUNDS, "returned", ("money", "free_operation"))
LEDGER_ENTRIES = REGISTRY.counter(
    "medialab_ledger_entries_total", "Ledger entries written through BillingService, by kind", ["kind"])
TOPUP_OUTCOMES = ("credited", "duplicate", "mismatch", "canceled", "pending", "unknown", "charged_back")
TOPUPS = REGISTRY.counter(
    "medialab_topups_total",
    "YooKassa payments settled from the API, by outcome: credited (money added now), duplicate (done "
    "before), mismatch (not what we asked for: nothing moved), canceled, pending, unknown (not ours), "
    "charged_back (a refund taken off the balance)",
    ["outcome"])
declare(TOPUPS, "outcome", TOPUP_OUTCOMES)
WEBHOOK_REFUSALS = REGISTRY.counter(
    "medialab_webhook_refusals_total",
    "Requests refused, by webhook (telegram, yookassa; none for any other path) and reason: the "
    "webhooks' own (bad_secret, source_not_allowed, bad_body, not_configured, failed) or the "
    "answer's (bad_request, unauthorized, forbidden, not_found, method_not_allowed, too_large)",
    ["webhook", "reason"])
JOB_DURATION = REGISTRY.histogram(
    "medialab_job_duration_seconds", "Time from a generation job's start to its end, by operation type and outcome",
    ["operation_type", "outcome"])
JOB_OUTCOMES = ("delivered", "kept", "refused", "failed", "timed_out", "lost", "retried", "skipped")
JOBS = REGISTRY.counter(
    "medialab_jobs_total",
    "Generation job runs, by outcome: delivered, kept (the user blocked the bot: the result waits for "
    "them, nothing refunded), refused (add_text to a user who blocked the bot: dropped), failed, timed_out, "
    "lost (compensated by the sweeper), retried (to run again), skipped (finished before)",
    ["outcome"])
declare(JOBS, "outcome", JOB_OUTCOMES)
KEPT_RESULTS = REGISTRY.counter(
    "medialab_kept_results_total",
    "Results of users who could not be sent them, by event: kept (stored for their next message, "
    "counted by the worker), delivered (sent when they wrote again, counted by the web process)",
    ["event"])
declare(KEPT_RESULTS, "event", ("kept", "delivered"))
QUEUE_DEPTH = REGISTRY.gauge("medialab_queue_depth", "Jobs waiting in the arq queue, read at scrape time")
SCRAPE_ERRORS = REGISTRY.counter(
    "medialab_scrape_errors_total", "Values /metrics could not read at scrape time, by source", ["source"])
