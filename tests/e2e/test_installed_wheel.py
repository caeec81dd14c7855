"""The package as a deployment gets it: the wheel built from this checkout, installed into a clean
venv outside it, its commands run from a directory that holds nothing of the project (what the
container image does: release = migrate, web = serve, and the demo, which runs a worker too)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory

from conftest import REDIS_TEST_URL, wait_until
from medialab.db import migrate
from medialab.demo.stack import free_port
from medialab.settings import Settings

pytestmark = pytest.mark.slow

CHECKOUT = Path(__file__).resolve().parents[2]  # the wheel is built from the checkout these tests are in
BOOKS_BALANCE = "books: every balance equals its ledger; no operation left unsettled"


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bin/ of a fresh venv holding the wheel and its dependencies, made once per run: the
    first xdist worker to ask builds it (some 20 s of CPU, pip's most of it) in the run's own
    temp directory, which every worker's lies in; the others wait for it on a lock there and use
    it. (xdist's `--dist loadgroup` would send these tests to one worker, but with pytest 9.2 it
    no longer groups anything: it renames the tests through an attribute pytest stopped reading.)"""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        yield _installed(tmp_path_factory.mktemp("installed"))
        return
    shared = tmp_path_factory.getbasetemp().parent / "installed"  # the run's, beside each worker's own
    shared.mkdir(exist_ok=True)
    with (shared / "built.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (shared / "built").exists():
                if (shared / "source").exists():
                    pytest.fail("building the installed package failed in another xdist worker (its test says why)")
                _installed(shared)
                (shared / "built").touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    yield shared / "venv" / "bin"


def _installed(root: Path) -> Path:
    """Builds the wheel and the venv in `root`.

    The dependencies come from the index pip is configured with (what a deployment does: a
    dependency the wheel forgot to declare fails here). When that install fails because no index
    serves them (a machine without network) they are this venv's own instead: the fresh venv
    sees its site-packages through a .pth file, the wheel goes in with --no-deps, and `pip check`
    proves that what the wheel declares is there in versions it accepts."""
    # The build runs on a copy of what the wheel is made of, so that setuptools' build/ and
    # egg-info land there and not in the checkout; with this venv's setuptools (a dev
    # dependency), so that it needs no index.
    source = root / "source"
    shutil.copytree(CHECKOUT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(CHECKOUT / name, source / name)
    subprocess.run([*PIP, "wheel", str(source), "--no-deps", "--no-index", "--no-build-isolation",
                    "-w", str(root / "dist")], check=True, timeout=300)
    (wheel,) = (root / "dist").glob("medialab-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    # One try per request: without network pip would back off for seconds on each package.
    from_index = subprocess.run([python, *PIP[1:], "install", "--retries", "0", str(wheel)],
                                capture_output=True, text=True, timeout=600)
    if from_index.returncode != 0:
        # A failure with an index that serves the dependencies is the wheel's: it fails the test.
        assert not index_answers(root / "probe"), from_index.stdout + from_index.stderr
        (Path(sitepackages(python)) / "reused-from-the-test-venv.pth").write_text(
            "\n".join(dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))) + "\n")
        subprocess.run([python, *PIP[1:], "install", "--no-deps", "--no-index", str(wheel)], check=True, timeout=300)
        checked = subprocess.run([python, *PIP[1:], "check"], capture_output=True, text=True, timeout=120)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    where = subprocess.run([python, "-c", "import medialab; print(medialab.__file__)"],
                           env=clean_environment(), cwd=root, capture_output=True, text=True, check=True, timeout=60)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout  # the installed copy, not the checkout
    return venv / "bin"


PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]


def index_answers(scratch: Path) -> bool:
    """Whether pip's configured indexes serve the package's dependencies (each named one, not
    theirs; one try each, no retries: without network pip would back off for seconds apiece)."""
    requires = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["project"]["dependencies"]
    probe = subprocess.run([*PIP, "download", "--no-deps", "--retries", "0", "--timeout", "10",
                            "-d", str(scratch), *requires], capture_output=True, timeout=300)
    return probe.returncode == 0


def sitepackages(python: str) -> str:
    return subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True, timeout=60).stdout.strip()


def clean_environment(**values: str) -> dict[str, str]:
    """This process's environment without our settings (a developer's exports must not leak in)
    and without anything that would point Python at the checkout."""
    ours = Settings.variables() | {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    return {k: v for k, v in os.environ.items() if k not in ours} | {"LOG_LEVEL": "WARNING"} | values


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working directory with nothing of the project in it."""
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    assert not workdir.resolve().is_relative_to(CHECKOUT)
    return workdir


def medialab_command(bin_dir: Path, workdir: Path, *args: str, timeout: float = 120,
                     **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bin_dir / "medialab"), *args], cwd=workdir, env=clean_environment(**env),
                          capture_output=True, text=True, timeout=timeout)


async def test_the_release_step_migrates_from_any_directory(installed: Path, elsewhere: Path,
                                                            empty_database: str) -> None:
    # The URL as an operator writes it (the command maps it to the async driver).
    plain_url = empty_database.replace("+aiosqlite", "").replace("+asyncpg", "")
    done = await asyncio.to_thread(medialab_command, installed, elsewhere, "migrate", DATABASE_URL=plain_url)
    assert done.returncode == 0, done.stderr[-3000:]
    head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    assert done.stdout == f"schema at revision {head}\n"
    assert await migrate.current_revision(empty_database) == head


async def test_web_serves_and_is_ready(installed: Path, elsewhere: Path, database_url: str) -> None:
    port = free_port()
    log = elsewhere / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen([str(installed / "medialab"), "serve", "--host", "127.0.0.1", "--port", str(port)],
                                  cwd=elsewhere, stdout=output, stderr=subprocess.STDOUT,
                                  env=clean_environment(DATABASE_URL=database_url, REDIS_URL=REDIS_TEST_URL, LOG_LEVEL="INFO"))
    try:
        async with httpx.AsyncClient(timeout=2.0) as http:
            async def ready() -> bool:
                assert server.poll() is None, f"serve exited at start: {log.read_text()[-3000:]}"
                try:
                    return (await http.get(f"http://127.0.0.1:{port}/ready")).status_code == 200
                except httpx.TransportError:
                    return False  # not listening yet

            await wait_until(ready, "answered /ready with 200", timeout=90)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.to_thread(server.wait, 30)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    # Stopped as a container is: uvicorn shuts down cleanly, then ends by the signal it handled.
    assert code == -signal.SIGTERM and "Application shutdown complete." in log.read_text(), log.read_text()[-3000:]


# What the demo's journey must show (`make demo` plays the same from the checkout).
KEY_LINES = [
    "you:  /start",
    "      [💰 Оплатить / Баланс → payment_menu]",
    "      Использована бесплатная операция, осталось 0 из 4.",
    "bot:  Недостаточно средств: операция стоит 10 ₽. Пополните баланс, чтобы продолжить.",
    "you:  (presses payment_amount_100)",
    "bot:  Оплата получена: 100 ₽ зачислено на баланс.",
    "bot:  Операция не удалась, мы вернули 10 ₽ на баланс (возврат).",
    "bot:  Баланс: 80 ₽",
    BOOKS_BALANCE,
]


def test_the_demo_plays_the_journey_from_the_installed_package_and_exits_0(installed: Path, elsewhere: Path) -> None:
    # Relative paths, as a person types them (web and worker, which run inside --dir, must find the database).
    done = medialab_command(installed, elsewhere, "demo", "--dir", "run", "--output", "images", timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    lines = done.stdout.splitlines()
    for line in KEY_LINES:
        assert line in lines, line
    assert lines[-1] == BOOKS_BALANCE
    assert sum(line.startswith("bot:  [photo]") for line in lines) == 6
    assert sorted(p.name for p in (elsewhere / "images").iterdir()) == [f"photo-0{n}.png" for n in range(1, 7)]
    ledger = lines[lines.index("ledger:") + 2:-1]
    assert [line.split()[1:3] for line in ledger] == [
        ["topup", "100"], ["charge", "-10"], ["charge", "-10"], ["charge", "-10"], ["refund", "10"]]
    assert done.stderr == ""
