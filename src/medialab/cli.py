"""The `medialab` command. Bad arguments and failed checks exit non-zero with one line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence

from medialab.settings import Settings, SettingsError


class CommandError(Exception):
    """A command that cannot do what was asked; the message is the one line to print."""


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from medialab.web.app import create_app

    uvicorn.run(
        create_app(settings),
        host=args.host or settings.host,
        port=args.port if args.port is not None else settings.port,
        proxy_headers=False,
        log_level="info",
        timeout_graceful_shutdown=30,
    )
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from medialab.db import migrate

    asyncio.run(migrate.run(settings.database_url, "upgrade", args.revision))
    revision = asyncio.run(migrate.current_revision(settings.database_url))
    print(f"schema at revision {revision}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medialab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the web app (webhooks, health, metrics)")
    serve.add_argument("--host", default=None, help="default: HOST")
    serve.add_argument("--port", type=int, default=None, help="default: PORT")
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser("migrate", help="upgrade the database schema")
    migrate.add_argument("--revision", default="head")
    migrate.set_defaults(run=_migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace, Settings], int] = args.run
    try:
        settings = Settings.from_env()
        return run(args, settings)
    except (SettingsError, CommandError) as exc:
        print(f"medialab: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
