"""Runs the flush-under-traffic scenario many times on a loaded machine and counts drifts.

    .venv/bin/python scripts/flush_drift.py --runs 30 --burners 2

Each run is `tests/test_reservations_processes.py::test_flushing_redis_in_the_middle_of_the_traffic_loses_and_doubles_nothing`
on SQLite and PostgreSQL: 4 processes charge 1,000 operations, Redis is emptied a third of the way
through, and afterwards every charge was taken once and the cache equals SQL without a repair.
`--burners` processes spin on the CPU meanwhile (the "loaded machine" under which the drift of
issue #14 showed). Exit status 1 if any run failed; each failing run's log is kept.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = ("tests/test_reservations_processes.py::"
        "test_flushing_redis_in_the_middle_of_the_traffic_loses_and_doubles_nothing")


def burn() -> None:
    while True:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--burners", type=int, default=2, help="CPU-bound processes running meanwhile")
    args = parser.parse_args()

    burners = [multiprocessing.Process(target=burn, daemon=True) for _ in range(args.burners)]
    for proc in burners:
        proc.start()
    logs = Path(tempfile.mkdtemp(prefix="flush-drift-"))
    failed: list[Path] = []
    started = time.monotonic()
    try:
        for run in range(1, args.runs + 1):
            log = logs / f"run-{run}.log"
            with log.open("w") as out:
                code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST],
                                       cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
            if code != 0:
                failed.append(log)
            else:
                log.unlink()
            print(f"run {run}/{args.runs}: {'FAILED, see ' + str(log) if code else 'no drift'}", flush=True)
    finally:
        for proc in burners:
            proc.kill()
    print(f"{args.runs} runs (x2 databases) with {args.burners} CPU burners in {time.monotonic() - started:.0f} s: "
          f"{len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
