"""The benchmark's table: one row per timed run, then the throughput ratios of the paths."""

from __future__ import annotations

from dataclasses import dataclass

from timing import Measurement

PATHS = {"a": "(a) Redis+SQL", "b": "(b) SQL FOR UPDATE", "c": "(c) EVALSHA return 0"}


@dataclass(frozen=True)
class Row:
    backend: str
    workload: str
    path: str
    measurement: Measurement


def print_table(rows: list[Row]) -> None:
    print(f"\n{'backend':<10} {'workload':<13} {'path':<21} {'calls':>7} {'per second':>11} "
          f"{'p50 ms':>8} {'p99 ms':>8}")
    for row in rows:
        m = row.measurement
        print(f"{row.backend:<10} {row.workload:<13} {PATHS[row.path]:<21} {m.count:>7,} "
              f"{m.per_second:>11,.0f} {m.percentile_ms(0.50):>8.2f} {m.percentile_ms(0.99):>8.2f}")


def print_ratios(rows: list[Row]) -> None:
    print("\nratios of calls per second: a/b above 1 means the Redis+SQL path outpaces the row locks;"
          "\na/c is the share of a bare Redis round trip's rate that a full charge reaches")
    print(f"{'':<30} {'a/b':>7} {'a/c':>7}")
    rates = {(r.backend, r.workload, r.path): r.measurement.per_second for r in rows}
    for backend, workload in dict.fromkeys((r.backend, r.workload) for r in rows):
        a, b, c = (rates[backend, workload, path] for path in "abc")
        print(f"{backend:<10} {workload:<19} {a / b:>7.2f} {a / c:>7.3f}")
