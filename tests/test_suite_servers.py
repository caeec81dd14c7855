"""The suite's choice of servers (tests/suite_servers.py): a server the user named must answer,
embedded ones start on demand and leave nothing behind, each xdist worker has a Redis database
of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import POSTGRES_ADMIN_URL, REDIS_TEST_URL
from suite_servers import (FORCE, POSTGRES, REDIS, Servers, ServerMissing, postgres_refusal, redis_refusal,
                           worker_redis_url)


@pytest.mark.parametrize("variable", [POSTGRES, REDIS])
def test_a_named_server_that_does_not_answer_is_refused_in_one_line_without_its_password(
    variable: str, refused_port: int,
) -> None:
    down = {POSTGRES: f"postgresql://postgres:hunter2@127.0.0.1:{refused_port}/postgres",
            REDIS: f"redis://:hunter2@127.0.0.1:{refused_port}/0"}[variable]
    environ = {POSTGRES: POSTGRES_ADMIN_URL, REDIS: REDIS_TEST_URL, variable: down}
    with pytest.raises(ServerMissing) as refused:
        Servers(environ)
    message = str(refused.value)
    assert message.startswith(f"{variable}=") and "does not answer" in message
    assert "hunter2" not in message and "\n" not in message
    assert environ[variable] == down  # nothing was chosen in its place


def test_an_unknown_switch_is_refused() -> None:
    with pytest.raises(ServerMissing, match=f"^{FORCE} is 'embedded' or unset, not 'on'$"):
        Servers({FORCE: "on"})


@pytest.mark.slow
def test_embedded_servers_answer_for_the_run_and_are_gone_after_it() -> None:
    # Forced even though servers answer on 127.0.0.1 here, and even though the user named some.
    environ = {FORCE: "embedded", POSTGRES: POSTGRES_ADMIN_URL, REDIS: REDIS_TEST_URL}
    servers = Servers(environ)
    try:
        assert (environ[POSTGRES], environ[REDIS]) == (servers.postgres_url, servers.redis_url)
        assert servers.postgres_url != POSTGRES_ADMIN_URL and servers.redis_url.startswith("unix://")
        assert postgres_refusal(servers.postgres_url) is None
        assert redis_refusal(servers.redis_url) is None
        assert redis_refusal(worker_redis_url(servers.redis_url, "gw15")) is None  # room for 16 workers
    finally:
        servers.close()
    assert postgres_refusal(servers.postgres_url) is not None
    assert redis_refusal(servers.redis_url) is not None


def test_each_xdist_worker_takes_the_database_after_the_run_s_by_its_index() -> None:
    assert worker_redis_url("redis://127.0.0.1:6379/9", None) == "redis://127.0.0.1:6379/9"
    assert worker_redis_url("redis://127.0.0.1:6379/9", "gw0") == "redis://127.0.0.1:6379/9"
    assert worker_redis_url("redis://:pw@127.0.0.1:6379/9", "gw3") == "redis://:pw@127.0.0.1:6379/12"
    assert worker_redis_url("redis://127.0.0.1:6379", "gw2") == "redis://127.0.0.1:6379/2"
    assert worker_redis_url("unix:///tmp/r/redis.socket?db=0", "gw5") == "unix:///tmp/r/redis.socket?db=5"
    assert worker_redis_url("unix:///tmp/r/redis.socket", "gw1") == "unix:///tmp/r/redis.socket?db=1"


def test_a_process_a_test_starts_takes_the_run_s_servers_and_starts_none(tmp_path: Path) -> None:
    # A child that imports a test module (multiprocessing's spawn does) imports conftest too.
    probe = "import conftest; print(conftest._servers is None, conftest.POSTGRES_ADMIN_URL, conftest.REDIS_TEST_URL)"
    done = subprocess.run([sys.executable, "-c", probe], cwd=Path(__file__).parent, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", POSTGRES_ADMIN_URL, REDIS_TEST_URL]
