"""Process-local counters, gauges and histograms rendered in the Prometheus text format
(version 0.0.4). The metrics themselves are defined in medialab.metrics.

Each metric declares its label names; a call with other labels raises at once, so a typo in a
label cannot quietly start a new series.
"""

from __future__ import annotations

import bisect
import math
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable

Labels = tuple[tuple[str, str], ...]

# Litestar appends "; charset=utf-8" to text/ media types.
MEDIA_TYPE = "text/plain; version=0.0.4"
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_number(value: float) -> str:
    """Exact for whole numbers (`:g` would print 1234567 as 1.23457e+06); +Inf/-Inf/NaN as
    the format spells them."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _render_labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape_value(v)}"' for k, v in labels) + "}"


class _Metric(ABC):
    kind = ""

    def __init__(self, name: str, help_text: str, labels: Iterable[str] = ()) -> None:
        self.name, self.help = name, help_text
        self.labelnames = tuple(labels)
        if not _NAME.fullmatch(name):
            raise ValueError(f"not a metric name: {name!r}")
        for label in self.labelnames:
            if not _LABEL.fullmatch(label) or label.startswith("__") or label == "le":
                raise ValueError(f"{name}: not a usable label name: {label!r}")
        self._lock = threading.Lock()

    def _key(self, labels: dict[str, str]) -> Labels:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {sorted(self.labelnames)}, got {sorted(labels)}")
        return tuple((name, str(labels[name])) for name in self.labelnames)

    def _header(self) -> list[str]:
        return [f"# HELP {self.name} {_escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]

    @abstractmethod
    def render(self) -> list[str]:
        """The metric's lines in the text exposition format."""


class _Scalar(_Metric):
    """One number per label set (counters and gauges)."""

    def __init__(self, name: str, help_text: str, labels: Iterable[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self._values: dict[Labels, float] = {}
        if not self.labelnames:
            self._values[()] = 0.0  # an unlabelled series exists from the start

    def _add(self, amount: float, labels: dict[str, str]) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(self._key(labels), 0.0)

    def render(self) -> list[str]:
        with self._lock:
            samples = sorted(self._values.items())
        return self._header() + [f"{self.name}{_render_labels(k)} {format_number(v)}" for k, v in samples]


class Counter(_Scalar):
    kind = "counter"

    def inc(self, amount: float = 1, **labels: str) -> None:
        """inc(0, …) declares a series so that it shows 0 before its first event."""
        if amount < 0:
            raise ValueError(f"{self.name}: a counter only goes up")
        self._add(amount, labels)


class Gauge(_Scalar):
    kind = "gauge"

    def set(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)

    def inc(self, amount: float = 1, **labels: str) -> None:
        self._add(amount, labels)

    def dec(self, amount: float = 1, **labels: str) -> None:
        self._add(-amount, labels)

    def clear(self, **labels: str) -> None:
        """No sample for these labels until the next set (the value is unknown)."""
        key = self._key(labels)
        with self._lock:
            self._values.pop(key, None)


class Histogram(_Metric):
    kind = "histogram"
    BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

    def __init__(self, name: str, help_text: str, labels: Iterable[str] = (),
                 buckets: Iterable[float] | None = None) -> None:
        super().__init__(name, help_text, labels)
        self.buckets = tuple(sorted(buckets or self.BUCKETS))
        self._series: dict[Labels, list[float]] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            # Per series: one count per bucket, then the sum and the total count.
            series = self._series.setdefault(key, [0.0] * (len(self.buckets) + 2))
            bucket = bisect.bisect_left(self.buckets, value)  # le: a value on a bound counts in it
            if bucket < len(self.buckets):  # beyond the last bound it counts only in +Inf
                series[bucket] += 1
            series[-2] += value
            series[-1] += 1

    def count(self, **labels: str) -> float:
        series = self._series.get(self._key(labels))
        return series[-1] if series else 0.0

    def render(self) -> list[str]:
        with self._lock:
            snapshot = sorted((key, list(series)) for key, series in self._series.items())
        lines = self._header()
        for key, series in snapshot:
            cumulative = 0.0
            for bound, count in zip(self.buckets, series, strict=False):
                cumulative += count
                le = (("le", format_number(bound)),)
                lines.append(f"{self.name}_bucket{_render_labels(key + le)} {format_number(cumulative)}")
            lines.append(f"{self.name}_bucket{_render_labels(key + (('le', '+Inf'),))} {format_number(series[-1])}")
            lines.append(f"{self.name}_sum{_render_labels(key)} {format_number(series[-2])}")
            lines.append(f"{self.name}_count{_render_labels(key)} {format_number(series[-1])}")
        return lines


class Registry:
    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}

    def _add(self, metric: _Metric) -> _Metric:
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} is defined twice")
        self._metrics[metric.name] = metric
        return metric

    def counter(self, name: str, help_text: str, labels: Iterable[str] = ()) -> Counter:
        return self._add(Counter(name, help_text, labels))  # type: ignore[return-value]

    def gauge(self, name: str, help_text: str, labels: Iterable[str] = ()) -> Gauge:
        return self._add(Gauge(name, help_text, labels))  # type: ignore[return-value]

    def histogram(self, name: str, help_text: str, labels: Iterable[str] = (),
                  buckets: Iterable[float] | None = None) -> Histogram:
        return self._add(Histogram(name, help_text, labels, buckets))  # type: ignore[return-value]

    def render(self) -> str:
        return "\n".join(line for m in self._metrics.values() for line in m.render()) + "\n"


def declare(counter: Counter, label: str, values: Iterable[str]) -> None:
    """Series for every known value of a one-label counter, shown as 0 until used."""
    for value in values:
        counter.inc(0, **{label: value})
