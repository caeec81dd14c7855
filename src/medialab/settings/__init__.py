"""One typed settings object, grouped by concern (`settings.telegram.bot_token`), read by
pydantic-settings from the environment and an optional `.env` file.

A wrong value stops start-up with one line that names the variable and what is wrong
(`SettingsError`). The process environment wins over `.env`; an empty value is unset.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv.parser import parse_stream
from pydantic import BaseModel, ConfigDict, ValidationError

from medialab.settings.groups import (
    YOOKASSA_PUBLISHED_RANGES, AdminSettings, BillingSettings, DatabaseSettings, FalSettings, Group, JobsSettings,
    LoggingSettings, RedisSettings, ServerSettings, StarsSettings, TelegramSettings, YooKassaSettings,
)
from medialab.settings.values import Network, async_database_url


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message is one line naming the variable."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    database: DatabaseSettings
    redis: RedisSettings
    telegram: TelegramSettings
    yookassa: YooKassaSettings
    stars: StarsSettings
    fal: FalSettings
    jobs: JobsSettings
    billing: BillingSettings
    admin: AdminSettings
    server: ServerSettings
    logging: LoggingSettings

    @classmethod
    def groups(cls) -> dict[str, type[Group]]:
        return {name: field.annotation for name, field in cls.model_fields.items()}  # type: ignore[misc]

    @classmethod
    def variables(cls) -> set[str]:
        """Every environment variable a setting is read from (.env.example lists them all)."""
        return {variable for group in cls.groups().values() for variable in group.variables().values()}

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
    ) -> Settings:
        """Reads `environ` (default: the process environment) over `env_file` (None: no file)."""
        environ = os.environ if environ is None else environ
        if env_file is not None and Path(env_file).is_file():
            _refuse_malformed_lines(Path(env_file))
        try:
            return cls(**{name: group(_env_file=env_file, **_given(group, environ))
                          for name, group in cls.groups().items()})
        except ValidationError as exc:
            raise SettingsError(_one_line(exc)) from None

    def with_overrides(self, **groups: Mapping[str, Any]) -> Settings:
        """A copy with some values replaced, already typed, by group: tests and the demo use it,
        e.g. `settings.with_overrides(billing={"free_operations_count": 0})`."""
        changed = {name: getattr(self, name).model_copy(update=values) for name, values in groups.items()}
        return self.model_copy(update=changed)


def _given(group: type[Group], environ: Mapping[str, str]) -> dict[str, str]:
    """The group's variables that `environ` sets, under their names (pydantic takes them by alias)."""
    return {variable: environ[variable] for variable in group.variables().values() if variable in environ}


def _refuse_malformed_lines(path: Path) -> None:
    # python-dotenv would log and skip such a line (once per group); refused, it is one line.
    with path.open(encoding="utf-8") as stream:
        for binding in parse_stream(stream):
            if binding.error:
                raise SettingsError(f"{path}:{binding.original.line}: expected KEY=value")


def _one_line(exc: ValidationError) -> str:
    """`VARIABLE: what is wrong`, from the first error; a rule's own message when it has one."""
    error = exc.errors()[0]
    cause = error.get("ctx", {}).get("error")
    reason = str(cause) if cause is not None else error["msg"]
    variable = error["loc"][0] if error["loc"] else None
    # A check across fields (MIN_TOPUP above MAX_TOPUP) names its variables itself.
    return f"{variable}: {reason}" if variable is not None else reason


__all__ = [
    "YOOKASSA_PUBLISHED_RANGES", "AdminSettings", "BillingSettings", "DatabaseSettings", "FalSettings", "JobsSettings",
    "LoggingSettings", "Network", "RedisSettings", "ServerSettings", "Settings", "SettingsError", "StarsSettings",
    "TelegramSettings", "YooKassaSettings", "async_database_url",
]
