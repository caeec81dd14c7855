"""What the metrics expose, read back by prometheus_client's parser and checked by Prometheus's
promtool: in one process, and summed over processes that share PROMETHEUS_MULTIPROC_DIR (as the
workers of `medialab serve --workers N` do)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from medialab.jobs.job_metrics import JobRun
from medialab.metrics import CHARGES, JOB_DURATION, WEBHOOK_REFUSALS, exposition
from ops.scraped import parse, promtool_check, value
from test_web_workers import environment

# One process of several: counts as told, then exits (its numbers stay in the directory).
COUNT = """
import sys
from medialab.jobs.job_metrics import JobRun
from medialab.metrics import CHARGES
for _ in range(int(sys.argv[1])):
    CHARGES.labels(outcome="paid").inc()
JobRun("generate").end("delivered")
"""
SCRAPE = "import sys; from medialab.metrics import exposition; sys.stdout.buffer.write(exposition(7))"


def several_processes(directory: Path, *charges: int) -> str:
    """The exposition a further process reads after processes that charged so many times each."""
    env = environment(PROMETHEUS_MULTIPROC_DIR=str(directory))
    for count in charges:
        subprocess.run([sys.executable, "-c", COUNT, str(count)], env=env, check=True, timeout=60)
    return subprocess.run([sys.executable, "-c", SCRAPE], env=env, check=True, timeout=60,
                          capture_output=True, text=True).stdout


def one_process() -> str:
    JobRun("edit").end("failed")  # a histogram series, as a worker has
    return exposition(3).decode()


def test_the_exposition_declares_the_issue_metrics() -> None:
    families = parse(one_process())
    for outcome in ("free", "paid", "insufficient", "busy"):
        assert value(families, "medialab_charges_total", outcome=outcome) is not None
    for name, kind in {
        "medialab_refunds_total": "counter", "medialab_topups_total": "counter",
        "medialab_webhook_refusals_total": "counter", "medialab_job_duration_seconds": "histogram",
        "medialab_jobs_total": "counter", "medialab_queue_depth": "gauge",
        "medialab_ledger_drift_total": "counter", "medialab_ledger_entries_total": "counter",
        "medialab_kept_results_total": "counter", "medialab_scrape_errors_total": "counter",
    }.items():
        assert families[name].type == kind and families[name].documentation
    assert value(families, "medialab_queue_depth") == 3
    assert not [name for name in families if name.endswith("_created")]  # the same families as several processes


def test_a_queue_depth_not_read_has_no_sample() -> None:
    families = parse(exposition(None).decode())
    assert families["medialab_queue_depth"].type == "gauge"
    assert value(families, "medialab_queue_depth") is None


def test_label_names_are_checked_on_every_call() -> None:
    with pytest.raises(ValueError, match="Incorrect label names"):
        CHARGES.labels(outcom="paid")
    with pytest.raises(ValueError, match="Incorrect label names"):
        WEBHOOK_REFUSALS.labels(webhook="telegram")
    with pytest.raises(ValueError, match="missing label values"):
        CHARGES.inc()  # a labelled metric counts only through .labels(...)
    with pytest.raises(ValueError, match="non-negative"):
        CHARGES.labels(outcome="paid").inc(-1)
    with pytest.raises(ValueError, match="missing label values"):
        JOB_DURATION.observe(1.0)


def test_processes_sharing_a_directory_report_the_sum(tmp_path: Path) -> None:
    families = parse(several_processes(tmp_path, 2, 3))
    assert value(families, "medialab_charges_total", outcome="paid") == 5
    assert value(families, "medialab_charges_total", outcome="busy") == 0  # declared in each, summed
    assert value(families, "medialab_jobs_total", outcome="delivered") == 2
    assert value(families, "medialab_job_duration_seconds_count", operation_type="generate", outcome="delivered") == 2
    assert value(families, "medialab_job_duration_seconds_bucket",
                 operation_type="generate", outcome="delivered", le="+Inf") == 2
    assert value(families, "medialab_queue_depth") == 7


def test_promtool_accepts_the_sum_over_processes(tmp_path: Path) -> None:
    """(What one process's GET /metrics answers: test_metrics_endpoint.py.)"""
    promtool_check(several_processes(tmp_path, 1, 1))
