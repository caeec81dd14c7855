"""`medialab serve` and `medialab worker` check what they cannot run without before they start:
the database answers and holds this release's schema, Redis answers, every URL is well formed.
Anything wrong is one line on stderr naming the setting (passwords masked) and exit code 2."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REDIS_TEST_URL
from medialab.db import migrate
from test_web_workers import environment, free_port

PASSWORD = "pg-secret-9d2f"
COMMANDS = pytest.mark.parametrize("command", ["serve", "worker"])


def refusal(command: str, tmp_path: Path, **env: str) -> str:
    """What the command printed, having exited 2 with nothing on stdout (PORT: only used if it
    wrongly went on to serve; the worker's metrics port is off for the same reason)."""
    done = subprocess.run([sys.executable, "-m", "medialab", command], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env=environment(HOST="127.0.0.1", PORT=str(free_port()), WORKER_METRICS_PORT="0",
                                                      **{"REDIS_URL": REDIS_TEST_URL} | env))
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    return done.stderr


@COMMANDS
@pytest.mark.parametrize(("env", "line"), [
    ({"DATABASE_URL": f"postgresql://medialab:{PASSWORD}@127.0.0.1:{{port}}/medialab"},
     "DATABASE_URL: could not connect to the database at postgresql+asyncpg://medialab:***@127.0.0.1:{port}/medialab "
     "(connection refused)"),
    ({"DATABASE_URL": "sqlite:///./never-made.db"},
     "DATABASE_URL: there is no database file {tmp}/never-made.db: run `medialab migrate` to make it"),
    ({"DATABASE_URL": "sqlite:///./empty.db"},
     "DATABASE_URL: the database at sqlite+aiosqlite:///./empty.db has no schema (never migrated): run `medialab migrate`"),
    ({"REDIS_URL": "redis://127.0.0.1:{port}/0"},
     "REDIS_URL: could not connect to Redis at redis://127.0.0.1:{port}/0 (connection refused)"),
])
def test_a_dependency_missing_at_start_is_one_line_naming_its_setting(
    command: str, env: dict[str, str], line: str, tmp_path: Path, refused_port: int, sqlite_template: Path
) -> None:
    shutil.copyfile(sqlite_template, tmp_path / "migrated.db")  # where the case is about Redis
    (tmp_path / "empty.db").touch()  # a SQLite file that `medialab migrate` never saw
    env = {"DATABASE_URL": "sqlite:///./migrated.db"} | {name: value.format(port=refused_port)
                                                          for name, value in env.items()}
    assert refusal(command, tmp_path, **env) == f"medialab: {line.format(port=refused_port, tmp=tmp_path)}\n"


@COMMANDS
async def test_a_schema_behind_the_release_is_refused_on_both_databases(
    command: str, empty_database: str, tmp_path: Path
) -> None:
    await migrate.run(empty_database, "upgrade", "0006")
    said = refusal(command, tmp_path, DATABASE_URL=empty_database)
    assert said.startswith("medialab: DATABASE_URL: the database at ") and said.count("\n") == 1, said
    assert said.endswith(f"has schema at revision 0006, not at this release's {migrate.head_revision()}: "
                         "run `medialab migrate`\n")


@pytest.mark.parametrize(("command", "env", "line"), [
    ("worker", {"REDIS_URL": "redis://:6379:x"},
     "REDIS_URL: malformed URL: Port could not be cast to integer value as '6379:x'"),
    ("serve", {"DATABASE_URL": f"postgres://medialab:{PASSWORD}@db.internal:54x32/medialab"},
     "DATABASE_URL: malformed URL: Port could not be cast to integer value as '54x32'"),
])
def test_a_malformed_url_is_one_line(command: str, env: dict[str, str], line: str, tmp_path: Path) -> None:
    # Read with the settings, before any command runs: the same line from every command.
    assert refusal(command, tmp_path, **env) == f"medialab: {line}\n"
