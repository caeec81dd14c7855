"""The `medialab` command. Bad arguments and failed checks exit non-zero with one line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from medialab.admin.commands import add_admin_parser

if TYPE_CHECKING:
    from medialab.settings import Settings

# Each command imports what it uses in its handler, once its arguments are parsed: an operator's
# command then starts in a fraction of a second, and `--help` loads nothing but argparse
# (bench/cli_startup.py measures them; tests/ops/test_admin_commands.py keeps the boundary).

T = TypeVar("T")


def _run_async(main: Coroutine[Any, Any, T]) -> T:
    import asyncio

    return asyncio.run(main)


# prometheus_client's multiprocess mode (medialab.metrics); not imported from there, see below.
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


class _OneLineParser(argparse.ArgumentParser):
    """Argument errors in one line (docs/contract.md §7), like every other refusal of the command."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message}\n")


class CommandError(Exception):
    """A command that cannot do what was asked; the message is the one line to print."""


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    workers: int = args.workers if args.workers is not None else settings.server.web_concurrency
    if workers > 1 and settings.redis.url is None:
        # Without REDIS_URL each process would start an embedded Redis of its own: the balances'
        # reservations, the bot's conversations and the job queue would split between them.
        raise CommandError(f"REDIS_URL must be set to serve with {workers} workers (--workers or WEB_CONCURRENCY): "
                           "they must share one Redis, and an embedded one is per process")
    _check_dependencies(settings)

    import uvicorn

    options = _server_options(args, settings)
    if workers == 1:
        from medialab.web.app import create_app

        # In this process, with the settings already read: the fast path (no supervisor).
        uvicorn.run(create_app(settings), **options)
    else:
        # uvicorn binds the port here and starts the workers, which share it; each builds its
        # own app from the same environment (host and port are the supervisor's alone), and
        # counts into the metrics directory they share, so that /metrics on any reports the sum.
        with metrics_shared_by_workers():
            uvicorn.run("medialab.web.app:create_app_from_environment", factory=True, workers=workers, **options)
    return 0


def _server_options(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    return {
        "host": args.host or settings.server.host,
        "port": args.port if args.port is not None else settings.server.port,
        "proxy_headers": False,
        "log_config": None,  # uvicorn's records go through medialab.logs (JSON, redaction) too
        "log_level": settings.logging.level.lower(),
        "timeout_graceful_shutdown": 30,
    }


def _run(args: argparse.Namespace, settings: Settings) -> int:
    """`medialab run`: web app and worker in this process (web/local_run.py), the schema
    upgraded first; with --polling the bot takes its updates by long polling."""
    from medialab.db.redis import EmbeddedRedis

    # One embedded Redis for the app and the worker alike: they share this process.
    embedded = EmbeddedRedis() if settings.redis.url is None else None
    try:
        if embedded is not None:
            settings = settings.with_overrides(redis={"url": embedded.url})
        _check_dependencies(settings, upgrade=True)
        if args.polling:
            _remove_webhook(settings)
        import logging
        import signal

        import uvicorn

        from medialab.web.app import create_app
        from medialab.web.local_run import beside_the_app

        logging.getLogger("httpx").setLevel(logging.WARNING)  # as the worker: a line for every poll of fal
        app = create_app(settings, beside_the_app(settings, args.polling))
        # uvicorn stops gracefully on SIGTERM, then raises the signal again for the handler it
        # found: the default one would end the process before the embedded Redis is shut down.
        previous = signal.signal(signal.SIGTERM, lambda *_: None)
        try:
            uvicorn.run(app, **_server_options(args, settings))
        finally:
            signal.signal(signal.SIGTERM, previous)
    finally:
        if embedded is not None:
            embedded.close()
    return 0


def _remove_webhook(settings: Settings) -> None:
    from medialab.bot.registration import RegistrationError, remove_webhook

    try:
        username = _run_async(remove_webhook(settings))
    except RegistrationError as exc:
        raise CommandError(str(exc)) from None
    print(f"polling Telegram for @{username}'s updates (its webhook removed)", flush=True)


@contextmanager
def metrics_shared_by_workers() -> Iterator[None]:
    """For the supervisor about to start the web workers (they inherit its environment): a fresh
    PROMETHEUS_MULTIPROC_DIR where each worker's prometheus_client writes its numbers and reads
    everyone's (an inherited one could hold another run's); removed afterwards, the variable put
    back as it was. The supervisor itself must not load medialab.metrics: it would count in
    whatever directory it was started with."""
    import tempfile

    inherited = os.environ.get(MULTIPROC_DIR)
    with tempfile.TemporaryDirectory(prefix="medialab-metrics-") as directory:
        os.environ[MULTIPROC_DIR] = directory
        try:
            yield
        finally:
            if inherited is None:
                os.environ.pop(MULTIPROC_DIR, None)
            else:
                os.environ[MULTIPROC_DIR] = inherited


def _check_dependencies(settings: Settings, upgrade: bool = False) -> None:
    """The database and Redis answer and the schema is at the head (db/startup_checks.py)."""
    from medialab.db.startup_checks import StartupCheckFailed, check_dependencies

    try:
        _run_async(check_dependencies(settings, upgrade))
    except StartupCheckFailed as exc:
        raise CommandError(str(exc)) from None


def _worker_count(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from medialab.db import migrate

    _run_async(migrate.run(settings.database.url, "upgrade", args.revision))
    revision = _run_async(migrate.current_revision(settings.database.url))
    print(f"schema at revision {revision}")
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from medialab.jobs.queue import job_queue, redis_settings

    try:
        connection = redis_settings(settings)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    _check_dependencies(settings)
    # The jobs import aiogram (seconds of CPU): a refusal above does not wait for them.
    from arq.worker import run_worker

    from medialab.jobs.worker import worker_limits
    from medialab.worker_app import WorkerSettings

    queue = job_queue(settings)
    import logging

    # arq configures no logging when run this way: without this, a worker says nothing.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line for every poll of fal otherwise
    run_worker(WorkerSettings, redis_settings=connection, redis_pool=queue, ctx={"settings": settings},  # type: ignore[arg-type]
               **worker_limits(settings))
    return 0


def _reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from medialab.admin import report
    from medialab.admin.service import AdminService
    from medialab.storage import Storage

    async def run() -> int:
        storage = await Storage.open(settings)
        try:
            books = await AdminService(storage.billing, storage.sessions).reconcile(repair=not args.no_repair)
        finally:
            await storage.close()
        print("\n".join([*report.drift_lines(books), report.reconcile_summary(books)]))
        if books.ledger:
            raise CommandError(f"{len(books.ledger)} ledger drift(s) that only an operator can correct")
        unrepaired = books.cache.unrepaired or (books.cache.drifts if args.no_repair else [])
        if unrepaired:
            raise CommandError(f"{len(unrepaired)} cache drift(s) left unrepaired")
        return 0

    return _run_async(run())


def _sweep(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import timedelta

    from medialab.admin import report
    from medialab.services import Services

    async def run() -> int:
        services = await Services.open(settings)
        try:
            if services.payments.client is None:
                raise CommandError("YooKassa is not configured: set YOOKASSA_SHOP_ID and YOOKASSA_SECRET_KEY")
            # Every open payment, however young: an operator runs this after an outage.
            swept = await services.payments.sweep(older_than=timedelta(0), batch=None)
        finally:
            await services.close()
        print("\n".join(report.sweep_lines(swept)))
        if swept.trouble:
            raise CommandError(f"{swept.trouble} payment(s) or refund(s) could not be settled now (see the log); "
                               "run it again later")
        return 0

    return _run_async(run())


def _set_webhook(args: argparse.Namespace, settings: Settings) -> int:
    from medialab.bot.registration import RegistrationError, register_webhook

    try:
        updates = _run_async(register_webhook(settings))
    except RegistrationError as exc:
        raise CommandError(str(exc)) from None
    secret = "with a secret token" if settings.telegram.webhook_secret else "with a secret token derived from the bot token"
    print(f"webhook set to {settings.telegram.webhook_url} ({secret}; updates: {', '.join(updates)})")
    return 0


def _admin(args: argparse.Namespace, settings: Settings) -> int:
    from medialab.admin.arguments import AdminError, cli_actor
    from medialab.admin.commands import command_for

    async def run() -> list[str]:
        command = command_for(args, settings, cli_actor())
        # Imported once the arguments are good: a refusal should not wait for SQLAlchemy to load.
        from medialab.admin.service import AdminService
        from medialab.storage import Storage

        if args.action == "refund-stars":  # the one command that talks to Telegram: it needs the Bot
            from medialab.services import Services

            services: Storage = await Services.open(settings)
        else:
            services = await Storage.open(settings)
        try:
            return await command(AdminService(services.billing, services.sessions, getattr(services, "bot", None)))
        finally:
            await services.close()

    try:
        lines = _run_async(run())
    except AdminError as exc:
        raise CommandError(str(exc)) from None
    if lines:  # `admin export` to standard output prints the CSV alone
        print("\n".join(lines))
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    from medialab.demo.run import DemoFailed, run_demo

    # The transcript is the output: our own processes' records would bury it (web and worker
    # log to files in the demo's directory).
    logging.getLogger().setLevel(logging.WARNING)
    try:
        _run_async(run_demo(args.dir, args.output, args.interactive, lambda line: print(line, flush=True)))
    except (DemoFailed, OSError) as exc:  # OSError: e.g. a --dir that cannot be a directory
        print(f"medialab demo: FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="medialab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the web app (webhooks, health, metrics)")
    serve.add_argument("--host", default=None, help="default: HOST")
    serve.add_argument("--port", type=int, default=None, help="default: PORT")
    serve.add_argument("--workers", type=_worker_count, default=None,
                       help="processes serving the port (default: WEB_CONCURRENCY, else 1; more than 1 needs REDIS_URL)")
    serve.set_defaults(run=_serve)

    run = commands.add_parser("run", help="web app and worker in one process, for local runs (schema upgraded first; "
                                          "an embedded Redis without REDIS_URL)")
    run.add_argument("--polling", action="store_true",
                     help="the bot takes its updates by long polling (removes its webhook): a real token, no public URL")
    run.add_argument("--host", default=None, help="default: HOST")
    run.add_argument("--port", type=int, default=None, help="default: PORT")
    run.set_defaults(run=_run)

    migrate = commands.add_parser("migrate", help="upgrade the database schema")
    migrate.add_argument("--revision", default="head")
    migrate.set_defaults(run=_migrate)

    worker = commands.add_parser("worker", help="run the arq worker (needs REDIS_URL)")
    worker.set_defaults(run=_worker)

    reconcile = commands.add_parser("reconcile", help="check the ledger and repair the Redis cache from SQL")
    reconcile.add_argument("--no-repair", action="store_true", help="only report")
    reconcile.set_defaults(run=_reconcile)

    sweep = commands.add_parser("sweep", help="the payment sweep at once: every open payment, refunds made in YooKassa")
    sweep.set_defaults(run=_sweep)

    set_webhook = commands.add_parser("set-webhook", help="register TELEGRAM_WEBHOOK_URL with Telegram")
    set_webhook.set_defaults(run=_set_webhook)
    demo = commands.add_parser("demo", help="the whole system locally with stand-ins, and a user's journey")
    demo.add_argument("--dir", type=Path, default=None, help="for the database, Redis and logs (default: a new temp dir)")
    demo.add_argument("--output", type=Path, default=Path("demo-output"), help="where the generated images go")
    demo.add_argument("--interactive", action="store_true", help="type into the chat yourself")
    demo.set_defaults(run=_demo)
    add_admin_parser(commands, run=_admin)
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """`environ`: the command's whole environment, read instead of the process's own and the
    working directory's .env file (tests run commands in their process: tests/medialab_commands.py)."""
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace, Settings], int] = args.run
    from medialab.logs import configure_logging
    from medialab.settings import Settings, SettingsError

    try:
        settings = Settings.from_env() if environ is None else Settings.from_env(environ, env_file=None)
        configure_logging(settings)
        return run(args, settings)
    except (SettingsError, CommandError) as exc:
        print(f"medialab: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
