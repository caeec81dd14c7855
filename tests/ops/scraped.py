"""Reading what /metrics answered, with prometheus_client's own parser of the text format, and
checking it with Prometheus's `promtool check metrics` where that is installed."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from medialab.metrics import REGISTRY

Family = Metric


def parse(text: str) -> dict[str, Family]:
    """The families by the name their TYPE line gives (the parser names a counter without _total)."""
    return {family.name + ("_total" if family.type == "counter" else ""): family
            for family in text_string_to_metric_families(text)}


def value(families: dict[str, Family], sample_name: str, **labels: str) -> float | None:
    for family in families.values():
        for sample in family.samples:
            if sample.name == sample_name and sample.labels == labels:
                return sample.value
    return None


def counted(sample_name: str, **labels: str) -> float:
    """A sample of this process's registry; 0 before its series exists."""
    return REGISTRY.get_sample_value(sample_name, labels) or 0.0


def promtool_check(text: str) -> None:
    """Prometheus's own reader and linter; skips where promtool is not installed (`.ci/run`
    installs it from Debian's prometheus package)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not on PATH (Debian's prometheus package provides it)")
    done = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, f"promtool check metrics: exit {done.returncode}\n{done.stdout}{done.stderr}"
