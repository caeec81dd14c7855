"""The running system of the demo: the three stand-ins served in this process's event loop, the
web app and a worker as OS processes of their own, all pointed at each other."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx

import medialab
from medialab.bot.registration import register_webhook
from medialab.http_tls import tls_context
from medialab.sandbox.fal import FalSandbox
from medialab.sandbox.serving import serve_in_loop
from medialab.sandbox.telegram import BotApiSandbox
from medialab.sandbox.yookassa import YooKassaSandbox
from medialab.settings import Settings

# Made-up credentials: they only open the stand-ins on 127.0.0.1.
BOT_TOKEN = "700000:demo-bot-token"
WEBHOOK_SECRET = "demo-webhook-secret"
SHOP_ID = "demo-shop"
YOOKASSA_KEY = "demo-yookassa-secret-key"
FAL_KEY = "demo-fal-key"
READY_TIMEOUT_SECONDS = 90.0
SOURCE_ROOT = str(Path(medialab.__file__).resolve().parents[1])


PORT_ATTEMPTS = 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class StandIns:
    telegram: BotApiSandbox = field(default_factory=lambda: BotApiSandbox(BOT_TOKEN))
    yookassa: YooKassaSandbox = field(default_factory=lambda: YooKassaSandbox(SHOP_ID, YOOKASSA_KEY))
    fal: FalSandbox = field(default_factory=lambda: FalSandbox(FAL_KEY))


def system_environment(database_url: str, redis_url: str, urls: dict[str, str], web_port: int,
                       retry_delay: float = 0.05) -> dict[str, str]:
    """What web and worker are started with. Our own variables inherited from the shell are
    dropped, so that a developer's .env or exports cannot point the demo at real services."""
    ours = Settings.variables()
    env = {name: value for name, value in os.environ.items() if name not in ours}
    web = f"http://127.0.0.1:{web_port}"
    # The processes run the code this process runs (a checkout, not some installed copy).
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SOURCE_ROOT, env.get("PYTHONPATH")) if p)
    env.update({
        "DATABASE_URL": database_url, "REDIS_URL": redis_url, "LOG_LEVEL": "INFO",
        "HOST": "127.0.0.1", "PORT": str(web_port),
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN, "TELEGRAM_API_URL": urls["telegram"],
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET, "TELEGRAM_WEBHOOK_URL": f"{web}/telegram/webhook",
        "YOOKASSA_SHOP_ID": SHOP_ID, "YOOKASSA_SECRET_KEY": YOOKASSA_KEY,
        "YOOKASSA_API_URL": urls["yookassa"], "YOOKASSA_RETURN_URL": "https://t.me/medialab_test_bot",
        "YOOKASSA_WEBHOOK_URL": f"{web}/yookassa/webhook", "YOOKASSA_ALLOWED_IPS": "127.0.0.1/32",
        "YOOKASSA_MAX_ATTEMPTS": "2",
        "FAL_KEY": FAL_KEY, "FAL_API_URL": urls["fal"], "FAL_POLL_INTERVAL": "0.05",
        # A failing generation is retried, then refunded: a short pause keeps the demo quick.
        "JOB_RETRY_DELAY": str(retry_delay), "JOB_TIMEOUT": "30",
        # No worker metrics port: demos and tests running at once would contend for one.
        "WORKER_METRICS_PORT": "0",
    })
    return env


class RunningCommand(Protocol):
    """What is used of a started command: subprocess.Popen's."""

    pid: int

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def send_signal(self, sig: int) -> None: ...

    def kill(self) -> None: ...


# How a `medialab` command is started: (argv after `medialab`, environment, working directory,
# log file for its stdout and stderr). The tests fork theirs (tests/forked.py).
Launch = Callable[[list[str], dict[str, str], Path, Path], RunningCommand]


def new_interpreter(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> RunningCommand:
    """`python -m medialab <argv>` as a new process of this Python."""
    with log.open("ab") as output:
        return subprocess.Popen([sys.executable, "-m", "medialab", *argv], env=env, cwd=cwd, stdout=output,
                                stderr=subprocess.STDOUT)


class Process:
    """One `medialab` subcommand as an OS process, its output in a log file."""

    def __init__(self, command: str, env: dict[str, str], workdir: Path, *options: str,
                 launch: Launch = new_interpreter) -> None:
        self.command = command
        self.options = options
        self.env = env
        self.workdir = workdir
        self.log_path = workdir / f"{command}.log"
        self.popen: RunningCommand | None = None
        self._launch = launch

    def start(self) -> None:
        self.popen = self._launch([self.command, *self.options], self.env, self.workdir, self.log_path)

    async def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                await asyncio.to_thread(self.popen.wait, 30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                await asyncio.to_thread(self.popen.wait)
        code, self.popen = self.popen.returncode, None
        return code

@dataclass
class System:
    stand_ins: StandIns
    env: dict[str, str]
    settings: Settings
    web: Process
    worker: Process

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.env['PORT']}"

    async def restart_worker(self, sig: int = signal.SIGTERM) -> int | None:
        code = await self.worker.stop(sig)
        self.worker.start()
        return code


async def wait_until_ready(web: Process, url: str) -> None:
    async with httpx.AsyncClient(timeout=2.0, verify=tls_context()) as http, asyncio.timeout(READY_TIMEOUT_SECONDS):
        while True:
            if web.popen is None or web.popen.poll() is not None:
                raise RuntimeError(f"the web app exited at start; its log: {web.log_path}")
            try:
                if (await http.get(f"{url}/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            await asyncio.sleep(0.1)


@asynccontextmanager
async def running_system(database_url: str, redis_url: str, workdir: Path,
                         stand_ins: StandIns | None = None, launch: Launch = new_interpreter) -> AsyncIterator[System]:
    """Serves the stand-ins, starts web and worker on this (migrated) database and Redis, and
    registers the bot's webhook; everything is stopped when the block ends."""
    stand_ins = stand_ins or StandIns()
    async with AsyncExitStack() as stack:
        urls = {name: await stack.enter_async_context(serve_in_loop(app)) for name, app in
                (("telegram", stand_ins.telegram.app), ("yookassa", stand_ins.yookassa.app),
                 ("fal", stand_ins.fal.app))}
        # Litestar's default logging config, applied as each stand-in starts, puts the root
        # logger at INFO: every request would be logged into the transcript.
        logging.getLogger().setLevel(logging.WARNING)
        env, web = await _start_web(stack, database_url, redis_url, urls, workdir, launch)
        settings = Settings.from_env(env, env_file=None)
        # The checkout page reports the payer's click to our webhook, as YooKassa does.
        stand_ins.yookassa.webhook_url = settings.yookassa.webhook_url
        system = System(stand_ins, env, settings, web, Process("worker", env, workdir, launch=launch))
        stack.push_async_callback(system.worker.stop)
        system.worker.start()
        await register_webhook(settings)
        yield system


async def _start_web(stack: AsyncExitStack, database_url: str, redis_url: str, urls: dict[str, str],
                     workdir: Path, launch: Launch) -> tuple[dict[str, str], Process]:
    """The web app on a free port, ready. A port found free can be taken by another program
    before the app binds it (tests and demos run side by side): then another port is tried."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        env = system_environment(database_url, redis_url, urls, free_port())
        web = Process("serve", env, workdir, launch=launch)
        stack.push_async_callback(web.stop)
        web.start()
        try:
            await wait_until_ready(web, f"http://127.0.0.1:{env['PORT']}")
            return env, web
        except RuntimeError:
            await web.stop()
            if attempt == PORT_ATTEMPTS or "address already in use" not in web.log_path.read_text(errors="replace"):
                raise
    raise AssertionError("unreachable")
