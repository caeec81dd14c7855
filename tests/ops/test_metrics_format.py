"""The registry's text output read back by a strict reader of the Prometheus text format."""

from __future__ import annotations

import pytest

from medialab.metrics import REGISTRY
from medialab.prometheus import Registry
from ops.prometheus_text import FormatError, parse, value


def test_labels_help_and_values_are_escaped_and_exact() -> None:
    registry = Registry()
    counter = registry.counter("demo_events_total", 'Events, by "kind"\nand a back\\slash', ["kind"])
    counter.inc(kind='say "hi"\\now\nplease')
    counter.inc(1_234_567, kind="big")
    counter.inc(0.5, kind="half")
    gauge = registry.gauge("demo_depth", "Depth")
    gauge.set(7)
    gauge.dec(2)
    families = parse(registry.render())

    assert families["demo_events_total"].type == "counter"
    assert families["demo_events_total"].help == 'Events, by "kind"\nand a back\\slash'
    assert value(families, "demo_events_total", kind='say "hi"\\now\nplease') == 1
    assert value(families, "demo_events_total", kind="big") == 1_234_567  # not 1.23457e+06
    assert value(families, "demo_events_total", kind="half") == 0.5
    assert families["demo_depth"].type == "gauge"
    assert value(families, "demo_depth") == 5


def test_histogram_buckets_are_cumulative_and_end_at_inf() -> None:
    registry = Registry()
    histogram = registry.histogram("demo_seconds", "Durations", ["outcome"], buckets=(0.1, 1, 10))
    for seconds in (0.05, 0.1, 0.7, 3, 45, 45):
        histogram.observe(seconds, outcome="ok")
    histogram.observe(2, outcome="failed")
    families = parse(registry.render())

    def bucket(le: str, outcome: str = "ok") -> float | None:
        return value(families, "demo_seconds_bucket", outcome=outcome, le=le)

    # A value on a bound counts in that bound's bucket (le means "less or equal").
    assert [bucket("0.1"), bucket("1"), bucket("10"), bucket("+Inf")] == [2, 3, 4, 6]
    assert value(families, "demo_seconds_count", outcome="ok") == 6
    assert value(families, "demo_seconds_sum", outcome="ok") == pytest.approx(93.85)
    assert [bucket("1", "failed"), bucket("10", "failed"), bucket("+Inf", "failed")] == [0, 1, 1]


def test_labels_are_checked_when_used() -> None:
    registry = Registry()
    counter = registry.counter("demo_total", "Demo", ["outcome"])
    with pytest.raises(ValueError, match="takes labels"):
        counter.inc(outcom="typo")
    with pytest.raises(ValueError, match="only goes up"):
        counter.inc(-1, outcome="x")
    with pytest.raises(ValueError, match="defined twice"):
        registry.counter("demo_total", "again")
    with pytest.raises(ValueError, match="label name"):
        registry.histogram("demo_seconds", "Demo", ["le"])
    with pytest.raises(ValueError, match="metric name"):
        registry.gauge("demo-depth", "Demo")


def test_the_shared_registry_is_valid_and_declares_the_issue_metrics() -> None:
    families = parse(REGISTRY.render())
    for outcome in ("free", "paid", "insufficient", "busy"):
        assert value(families, "medialab_charges_total", outcome=outcome) is not None
    for name, kind in {
        "medialab_refunds_total": "counter", "medialab_topups_total": "counter",
        "medialab_webhook_refusals_total": "counter", "medialab_job_duration_seconds": "histogram",
        "medialab_jobs_total": "counter", "medialab_queue_depth": "gauge",
        "medialab_ledger_drift_total": "counter", "medialab_ledger_entries_total": "counter",
    }.items():
        assert families[name].type == kind and families[name].help


@pytest.mark.parametrize("broken", [
    "x_total 1",  # no final newline
    "# TYPE x_total counter\nx_total{a=\"1\"} 1\ny 2\nx_total{a=\"2\"} 1\n",  # family split
    "x_total{a=\"1\",a=\"2\"} 1\n",
    "x_total{a=\"\\t\"} 1\n",
    "x_total{a=\"1\"} one\n",
    "x 1\nx 2\n",
    "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
    "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
    "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
    "# TYPE c counter\nc -1\n",
    "x 1\n# TYPE x gauge\n",
])
def test_the_reader_refuses_what_the_format_forbids(broken: str) -> None:
    with pytest.raises(FormatError):
        parse(broken)
