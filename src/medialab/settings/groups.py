"""The settings of each concern, read by pydantic-settings under the variable names that
docs/contract.md fixes. A field's default is written as it would be in `.env` and goes through
the same rule as a value given (settings/values.py)."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from medialab.domain.pricing import PriceList
from medialab.settings.values import (
    AdminToken, Bonus, Count, Currency, DatabaseUrl, Email, HttpUrl, LogLevel, ModelIds, Networks, OperationPrices,
    Phone, Positive, Price, RedisUrl, Seconds, StarPackages, TaxSystemCode, TelegramIds, VatCode,
)

YOOKASSA_PUBLISHED_RANGES = (
    "185.71.76.0/27,185.71.77.0/27,77.75.153.0/25,77.75.156.11,77.75.156.35,"
    "77.75.154.128/25,2a02:5180::/32"
)


def env(variable: str, default: str | None = None, *, secret: bool = False) -> Any:
    # Secrets stay out of repr() so that logging the settings can never leak them.
    return Field(default, validation_alias=variable, repr=not secret)


class Group(BaseSettings):
    """One concern's settings: a value set in the environment wins over the same one in `.env`, and
    an empty value counts as unset (its default)."""

    # No JSON decoding of list-like values: `50,100,250` is text for the field's rule.
    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True, validate_default=True,
                                      str_strip_whitespace=True, enable_decoding=False)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment arrives as init values (Settings.from_env: os.environ, or the mapping a test
        # or the demo gives instead of it), so that it wins over `.env` and nothing else is read.
        return init_settings, dotenv_settings

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        return {name: value for name, value in values.items() if not (isinstance(value, str) and not value.strip())}

    @classmethod
    def variables(cls) -> dict[str, str]:
        """The environment variable of each field."""
        return {name: str(field.validation_alias) for name, field in cls.model_fields.items()}


class DatabaseSettings(Group):
    url: DatabaseUrl = env("DATABASE_URL", "sqlite:///./media_lab.db")

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


class RedisSettings(Group):
    url: RedisUrl | None = env("REDIS_URL")
    # Connect and read deadline of every Redis call: past it money falls back to SQL alone.
    timeout: Seconds = env("REDIS_TIMEOUT", "1")


class TelegramSettings(Group):
    bot_token: str | None = env("TELEGRAM_BOT_TOKEN", secret=True)
    webhook_secret: str | None = env("TELEGRAM_WEBHOOK_SECRET", secret=True)
    webhook_url: HttpUrl | None = env("TELEGRAM_WEBHOOK_URL")
    api_url: HttpUrl = env("TELEGRAM_API_URL", "https://api.telegram.org")
    # Updates one web process handles at once; more wait for a slot (never refused).
    updates_in_progress: Positive = env("TELEGRAM_UPDATES_IN_PROGRESS", "64")
    # The deadline of a Bot API call made while an update is handled (the worker's uploads
    # have their own, longer one).
    timeout: Seconds = env("TELEGRAM_TIMEOUT", "5")

    @property
    def secret_token(self) -> str | None:
        """The secret Telegram must send with every update: TELEGRAM_WEBHOOK_SECRET, or one
        derived from the bot token when it is unset, so that `set-webhook` and `serve` agree
        with no setup and no update is ever handled unauthenticated."""
        if self.webhook_secret:
            return self.webhook_secret
        if not self.bot_token:
            return None
        return hashlib.sha256(b"medialab-telegram-webhook:" + self.bot_token.encode()).hexdigest()


class YooKassaSettings(Group):
    shop_id: str | None = env("YOOKASSA_SHOP_ID")
    secret_key: str | None = env("YOOKASSA_SECRET_KEY", secret=True)
    return_url: HttpUrl | None = env("YOOKASSA_RETURN_URL")
    currency: Currency = env("YOOKASSA_CURRENCY", "RUB")
    webhook_url: HttpUrl | None = env("YOOKASSA_WEBHOOK_URL")
    api_url: HttpUrl = env("YOOKASSA_API_URL", "https://api.yookassa.ru/v3")
    allowed_ips: Networks = env("YOOKASSA_ALLOWED_IPS", YOOKASSA_PUBLISHED_RANGES)
    trusted_proxies: Networks = env("YOOKASSA_TRUSTED_PROXIES", "")
    timeout: Seconds = env("YOOKASSA_TIMEOUT", "10")
    max_attempts: Positive = env("YOOKASSA_MAX_ATTEMPTS", "4")
    # How long a user waits for a top-up link (all attempts); past it they are asked to try
    # again, and the create, kept with its Idempotence-Key, is finished under that key.
    topup_link_timeout: Seconds = env("TOPUP_LINK_TIMEOUT", "5")
    # 54-FZ receipt: sent with every payment once an email or a phone is set.
    receipt_email: Email | None = env("YOOKASSA_RECEIPT_EMAIL")
    receipt_phone: Phone | None = env("YOOKASSA_RECEIPT_PHONE")
    vat_code: VatCode = env("YOOKASSA_VAT_CODE", "1")
    tax_system_code: TaxSystemCode | None = env("YOOKASSA_TAX_SYSTEM_CODE")


class StarsSettings(Group):
    # The packages in the payment menu and the rubles one Star puts on the balance (kopecks
    # here), fixed on the invoice when it is made.
    packages: StarPackages = env("STARS_PACKAGES", "50,100,250")
    ruble_rate: Price = env("STARS_RUBLE_RATE", "1.5")


class FalSettings(Group):
    key: str | None = env("FAL_KEY", secret=True)
    api_url: HttpUrl = env("FAL_API_URL", "https://queue.fal.run")
    models: ModelIds = env("FAL_MODELS", "")
    poll_interval: Seconds = env("FAL_POLL_INTERVAL", "1")


class JobsSettings(Group):
    # Billed jobs one user may have running at once (the charge refuses one more).
    max_in_flight: Positive = env("MAX_JOBS_IN_FLIGHT", "2")
    timeout: Positive = env("JOB_TIMEOUT", "300")
    retry_delay: Seconds = env("JOB_RETRY_DELAY", "5")


class BillingSettings(Group):
    price_per_operation: Price = env("PRICE_PER_OPERATION", "10")
    # Prices of some paid types that differ from PRICE_PER_OPERATION (see `prices`).
    operation_prices: OperationPrices = env("OPERATION_PRICES", "")
    free_operations_count: Count = env("FREE_OPERATIONS_COUNT", "4")
    min_topup: Positive = env("MIN_TOPUP", "10")
    max_topup: Positive = env("MAX_TOPUP", "100000")
    # Rubles (kopecks here) a referrer gets when a user they brought first tops up; 0: no referrals.
    referral_bonus: Bonus = env("REFERRAL_BONUS", "0")
    # Who answers payment questions (/paysupport), e.g. @shop_support or an email address.
    paysupport_contact: str | None = env("PAYSUPPORT_CONTACT")

    @model_validator(mode="after")
    def _topups_in_order(self) -> BillingSettings:
        if self.min_topup > self.max_topup:
            raise ValueError(f"MIN_TOPUP: {self.min_topup} is above MAX_TOPUP {self.max_topup}")
        return self

    @property
    def prices(self) -> PriceList:
        """What each operation type costs: OPERATION_PRICES, else PRICE_PER_OPERATION."""
        return PriceList(self.price_per_operation, self.operation_prices)


class AdminSettings(Group):
    # Operators allowed the admin bot commands.
    telegram_ids: TelegramIds = env("ADMIN_TELEGRAM_IDS", "")
    # The operators' dashboard (GET /admin): its login token; unset, the dashboard is off (404).
    web_token: AdminToken | None = env("ADMIN_WEB_TOKEN", secret=True)


class ServerSettings(Group):
    host: str = env("HOST", "0.0.0.0")
    port: Count = env("PORT", "8000")
    # Processes `medialab serve` runs on the one port (the PaaS convention); --workers overrides.
    web_concurrency: Positive = env("WEB_CONCURRENCY", "1")
    # Where `medialab worker` serves its own /metrics (on HOST); 0 serves none.
    worker_metrics_port: Count = env("WORKER_METRICS_PORT", "9100")


class LoggingSettings(Group):
    level: LogLevel = env("LOG_LEVEL", "INFO")

