"""Process-local counters and histograms rendered in the Prometheus text format for /metrics."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

Labels = tuple[tuple[str, str], ...]


def _labels(labels: dict[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


def _render_labels(labels: Labels, extra: tuple[tuple[str, str], ...] = ()) -> str:
    items = labels + extra
    if not items:
        return ""
    escaped = (f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"' for k, v in items)
    return "{" + ",".join(escaped) + "}"


class Counter:
    def __init__(self, name: str, help_text: str) -> None:
        self.name, self.help = name, help_text
        self._values: dict[Labels, float] = defaultdict(float)
        self._lock = threading.Lock()

    def inc(self, amount: float = 1, **labels: str) -> None:
        with self._lock:
            self._values[_labels(labels)] += amount

    def value(self, **labels: str) -> float:
        return self._values.get(_labels(labels), 0.0)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        lines += [f"{self.name}{_render_labels(k)} {v:g}" for k, v in sorted(self._values.items())]
        return lines


class Histogram:
    BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

    def __init__(self, name: str, help_text: str) -> None:
        self.name, self.help = name, help_text
        self._series: dict[Labels, list[float]] = {}
        self._lock = threading.Lock()

    def observe(self, seconds: float, **labels: str) -> None:
        key = _labels(labels)
        with self._lock:
            # Per series: one count per bucket, then the sum and the total count.
            series = self._series.setdefault(key, [0.0] * (len(self.BUCKETS) + 2))
            bucket = bisect.bisect_left(self.BUCKETS, seconds)
            if bucket < len(self.BUCKETS):  # beyond the last bound it counts only in +Inf
                series[bucket] += 1
            series[-2] += seconds
            series[-1] += 1

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for key, series in sorted(self._series.items()):
            cumulative = 0.0
            for bound, count in zip(self.BUCKETS, series, strict=False):
                cumulative += count
                lines.append(f"{self.name}_bucket{_render_labels(key, (('le', f'{bound:g}'),))} {cumulative:g}")
            lines.append(f"{self.name}_bucket{_render_labels(key, (('le', '+Inf'),))} {series[-1]:g}")
            lines.append(f"{self.name}_sum{_render_labels(key)} {series[-2]:g}")
            lines.append(f"{self.name}_count{_render_labels(key)} {series[-1]:g}")
        return lines


class Registry:
    def __init__(self) -> None:
        self._metrics: list[Counter | Histogram] = []

    def counter(self, name: str, help_text: str) -> Counter:
        metric = Counter(name, help_text)
        self._metrics.append(metric)
        return metric

    def histogram(self, name: str, help_text: str) -> Histogram:
        metric = Histogram(name, help_text)
        self._metrics.append(metric)
        return metric

    def render(self) -> str:
        return "\n".join(line for m in self._metrics for line in m.render()) + "\n"


REGISTRY = Registry()
LEDGER_DRIFT = REGISTRY.counter("medialab_ledger_drift_total", "Differences found between the Redis cache and SQL, by field")
RECONCILE_RUNS = REGISTRY.counter("medialab_reconcile_runs_total", "Reconciler passes, by outcome")
