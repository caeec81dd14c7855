"""Schema upgrades and downgrades through Alembic, configured from `pyproject.toml`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from medialab.db.engine import create_engine


def _project_root() -> Path:
    # The checkout that holds `migrations/` (run from it, or an editable install of it).
    for candidate in (Path.cwd(), Path(__file__).resolve().parents[3]):
        if (candidate / "migrations" / "env.py").is_file() and (candidate / "pyproject.toml").is_file():
            return candidate
    raise RuntimeError("migrations/ not found: run medialab migrate from the project's checkout")


def alembic_config() -> Config:
    root = _project_root()
    return Config(toml_file=str(root / "pyproject.toml"))


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
