"""The in-process runner of `medialab` (tests/medialab_commands.py) leaves the test process's
logging as it found it: main() sets it up for a process of its own."""

from __future__ import annotations

import logging
import warnings

from medialab.logs import QUIET_LOGGERS
from medialab_commands import environment, medialab_in_process


def logging_state() -> list[object]:
    loggers = [logging.getLogger(), *map(logging.getLogger, QUIET_LOGGERS), logging.getLogger("uvicorn.access")]
    return [(logger.level, logger.handlers[:], logger.filters[:]) for logger in loggers] + [warnings.showwarning]


async def test_a_command_in_this_process_leaves_logging_as_it_was() -> None:
    before = logging_state()
    # Settings read, logging configured (medialab.logs), then the refusal: no shared Redis.
    done = await medialab_in_process("worker", environ=environment())
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("medialab: REDIS_URL must be set for the worker")
    assert logging_state() == before
