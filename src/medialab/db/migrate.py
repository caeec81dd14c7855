"""Schema upgrades and downgrades through Alembic, on the scripts shipped inside the package
(`medialab/migrations/`), so that an installed wheel migrates from any directory."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from medialab.db.engine import create_engine


def script_location() -> str:
    """The directory of env.py and versions/, wherever the package is installed. (The `alembic`
    command run in a checkout finds the same directory through pyproject.toml's [tool.alembic].)"""
    return str(resources.files("medialab") / "migrations")


def alembic_config() -> Config:
    config = Config()
    # Config options go through configparser's interpolation: a % in the path must be doubled.
    config.set_main_option("script_location", script_location().replace("%", "%%"))
    return config


async def run(database_url: str, action: str = "upgrade", revision: str = "head") -> None:
    """Runs `alembic upgrade|downgrade <revision>` on the database behind the URL."""
    engine = create_engine(database_url, statement_timeout=None)

    def _apply(connection: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        getattr(command, action)(cfg, revision)

    try:
        async with engine.begin() as connection:
            await connection.run_sync(_apply)
    finally:
        await engine.dispose()


def head_revision() -> str | None:
    """The revision `upgrade head` leads to: the schema this release runs on."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(database_url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(database_url, statement_timeout=None)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda c: MigrationContext.configure(c).get_current_revision()
            )
    finally:
        await engine.dispose()
