"""One generation job run, counted once when it ends: medialab_jobs_total by outcome and
medialab_job_duration_seconds (this run's time) by operation type and outcome."""

from __future__ import annotations

import time

from medialab.metrics import JOB_DURATION, JOBS


class JobRun:
    def __init__(self, operation_type: str) -> None:
        self.operation_type = operation_type
        self._started = time.perf_counter()
        self._ended = False

    def end(self, outcome: str) -> None:
        """Counts the run; a second call (an outer catch-all after an inner outcome) is ignored."""
        if self._ended:
            return
        self._ended = True
        JOBS.labels(outcome=outcome).inc()
        JOB_DURATION.labels(operation_type=self.operation_type, outcome=outcome).observe(
            time.perf_counter() - self._started)


def job_lost() -> None:
    """A job the sweeper found dead and compensated: no run of it ended to be timed."""
    JOBS.labels(outcome="lost").inc()
