"""One typed settings object, read from the environment and an optional `.env` file.

A wrong value stops start-up with one line that names the variable and what is wrong
(`SettingsError`). The process environment wins over `.env`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from medialab.domain.money import Kopecks, MoneyError, rubles
from medialab.domain.operations import BILLABLE_TYPES, OperationType
from medialab.domain.pricing import PriceList

YOOKASSA_PUBLISHED_RANGES = (
    "185.71.76.0/27,185.71.77.0/27,77.75.153.0/25,77.75.156.11,77.75.156.35,"
    "77.75.154.128/25,2a02:5180::/32"
)

# Telegram takes invoices of up to 10000 Stars; more buttons than this crowd the payment menu.
MAX_STARS_PER_INVOICE = 10_000
MAX_STARS_PACKAGES = 6
# Rubles; far above any real price, and far below what a BIGINT of kopecks holds.
MAX_OPERATION_PRICE = 1_000_000

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message is one line naming the variable."""


def _whole(minimum: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(f"must be a whole number, got {raw!r}") from None
        if value < minimum:
            raise ValueError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _price(raw: str) -> Kopecks:
    try:
        kopecks = rubles(raw)
    except MoneyError:
        raise ValueError(f"must be a number of rubles (e.g. 10 or 10.50), got {raw!r}") from None
    if kopecks <= 0:
        raise ValueError(f"must be more than 0, got {raw!r}")
    return kopecks


def _rubles_or_nothing(raw: str) -> Kopecks:
    try:
        kopecks = rubles(raw)
    except MoneyError:
        raise ValueError(f"must be a number of rubles (e.g. 50 or 10.50), got {raw!r}") from None
    if kopecks < 0:
        raise ValueError(f"must be 0 or more, got {raw!r}")
    return kopecks


def _pairs(raw: str, form: str) -> Iterator[tuple[str, str]]:
    """`key=value,…` as (key, value) pairs; `form` says what a pair should look like."""
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        key, sep, value = (piece.strip() for piece in part.partition("="))
        if not sep or not key or not value:
            raise ValueError(f"expected {form}, got {part!r}")
        yield key, value


def _operation_prices(raw: str) -> tuple[tuple[str, Kopecks], ...]:
    """`generate=12,upscale=5`: whole rubles for some paid types (the others cost
    PRICE_PER_OPERATION), each type once; add_text is free and takes no price."""
    prices: dict[str, Kopecks] = {}
    for kind, price in _pairs(raw, "type=rubles"):
        if kind == OperationType.ADD_TEXT:
            raise ValueError(f"{kind} is free and takes no price, got {kind}={price}")
        if kind not in BILLABLE_TYPES:
            known = ", ".join(sorted(BILLABLE_TYPES))
            raise ValueError(f"{kind!r} is not a paid operation type; use one of {known}")
        # The length first: int() of a thousand digits is work, and is refused past 4300.
        if not (price.isascii() and price.isdigit() and len(price) <= 8 and 1 <= int(price) <= MAX_OPERATION_PRICE):
            raise ValueError(f"the price of {kind} must be a whole number of rubles from 1 to "
                             f"{MAX_OPERATION_PRICE}, got {price!r}")
        if kind in prices:
            raise ValueError(f"{kind} is priced twice")
        prices[kind] = rubles(price)
    return tuple(prices.items())


def _star_packages(raw: str) -> tuple[int, ...]:
    """`50,100,250`: the Stars packages offered in the payment menu, each 1..10000 Stars."""
    packages = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        if not part.isascii() or not part.isdigit() or not 1 <= int(part) <= MAX_STARS_PER_INVOICE:
            raise ValueError(f"each package is a whole number of Stars from 1 to {MAX_STARS_PER_INVOICE}, got {part!r}")
        if int(part) in packages:
            raise ValueError(f"package {part} is listed twice")
        packages.append(int(part))
    if len(packages) > MAX_STARS_PACKAGES:
        raise ValueError(f"at most {MAX_STARS_PACKAGES} packages fit the menu, got {len(packages)}")
    return tuple(packages)


def _networks(raw: str) -> tuple[Network, ...]:
    nets = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or CIDR range: {part!r}") from None
    return tuple(nets)


def _ids(raw: str) -> frozenset[int]:
    try:
        return frozenset(int(p) for p in (p.strip() for p in raw.split(",")) if p)
    except ValueError:
        raise ValueError(f"must be a comma list of Telegram ids, got {raw!r}") from None


def _model_ids(raw: str) -> tuple[tuple[str, str], ...]:
    """`mode=model/id,…`: fal model ids that replace the defaults of some modes."""
    pairs = []
    for mode, model in _pairs(raw, "mode=model_id"):
        if mode not in BILLABLE_TYPES:
            known = ", ".join(sorted(BILLABLE_TYPES))
            raise ValueError(f"{mode!r} is not a mode fal runs; use one of {known}")
        pairs.append((mode, model))
    return tuple(pairs)


def _currency(raw: str) -> str:
    code = raw.strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError(f"must be a 3-letter currency code, got {raw!r}")
    return code


def _url(schemes: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().rstrip("/")
        if not value.startswith(tuple(f"{s}://" for s in schemes)):
            raise ValueError(f"must start with {' or '.join(s + '://' for s in schemes)}")
        return _well_formed(value)

    return parse


def _well_formed(url: str) -> str:
    """Refused here, a malformed host part is one line; left to the driver, a traceback."""
    try:
        urlsplit(url).port
    except ValueError as exc:  # e.g. redis://:6379:x; the message names the port, not the password
        raise ValueError(f"malformed URL: {exc}") from None
    return url


_DB_SCHEMES = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def async_database_url(raw: str) -> str:
    """Maps the URL forms docs/contract.md allows onto the async drivers."""
    scheme, sep, rest = raw.strip().partition("://")
    if not sep or scheme not in _DB_SCHEMES:
        known = ", ".join(f"{s}://" for s in _DB_SCHEMES)
        raise ValueError(f"unknown scheme {scheme + sep!r}; use one of {known}")
    driver = _DB_SCHEMES[scheme]
    if driver == "postgresql+asyncpg":
        # PaaS URLs say ?sslmode=require (libpq); asyncpg's name for it is ssl.
        rest = rest.replace("?sslmode=", "?ssl=").replace("&sslmode=", "&ssl=")
    return _well_formed(f"{driver}://{rest}")


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError(f"must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {raw!r}")
    return level


def _str(raw: str) -> str:
    return raw.strip()


def _seconds(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError(f"must be a number of seconds, got {raw!r}") from None
    if not 0 < value <= 600:
        raise ValueError(f"must be more than 0 and at most 600 seconds, got {raw!r}")
    return value


def _code(lowest: int, highest: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = _whole(lowest)(raw)
        if value > highest:
            raise ValueError(f"must be from {lowest} to {highest}, got {value}")
        return value

    return parse


def _email(raw: str) -> str:
    value = raw.strip()
    name, at, domain = value.partition("@")
    if not (name and at and "." in domain) or " " in value:
        raise ValueError(f"not an email address: {raw!r}")
    return value


def _phone(raw: str) -> str:
    # YooKassa wants the digits alone in ITU-T E.164 form: 79000000000.
    digits = raw.strip().removeprefix("+").replace(" ", "").replace("-", "")
    if not (digits.isascii() and digits.isdigit() and 11 <= len(digits) <= 15):
        raise ValueError(f"must be a phone number in international form like 79000000000, got {raw!r}")
    return digits


def _admin_token(raw: str) -> str:
    # Anyone who guesses it reads the business's figures: a short token is refused outright.
    value = raw.strip()
    if len(value) < 16:
        raise ValueError("must be at least 16 characters (e.g. `openssl rand -hex 24`)")
    return value


def _setting(
    env: str, default: str | None, parse: Callable[[str], Any] = _str, *, secret: bool = False
) -> Any:
    # Secrets stay out of repr() so that logging the settings can never leak them.
    return field(repr=not secret, metadata={"env": env, "default": default, "parse": parse})


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = _setting("DATABASE_URL", "sqlite:///./media_lab.db", async_database_url)
    redis_url: str | None = _setting("REDIS_URL", None, _url(("redis", "rediss", "unix")))
    # Connect and read deadline of every Redis call: past it money falls back to SQL alone.
    redis_timeout: float = _setting("REDIS_TIMEOUT", "1", _seconds)
    price_per_operation: Kopecks = _setting("PRICE_PER_OPERATION", "10", _price)
    # Prices of some paid types that differ from PRICE_PER_OPERATION (see `prices`).
    operation_prices: tuple[tuple[str, Kopecks], ...] = _setting("OPERATION_PRICES", "", _operation_prices)
    free_operations_count: int = _setting("FREE_OPERATIONS_COUNT", "4", _whole(0))
    min_topup: int = _setting("MIN_TOPUP", "10", _whole(1))
    max_topup: int = _setting("MAX_TOPUP", "100000", _whole(1))
    telegram_bot_token: str | None = _setting("TELEGRAM_BOT_TOKEN", None, secret=True)
    telegram_webhook_secret: str | None = _setting("TELEGRAM_WEBHOOK_SECRET", None, secret=True)
    telegram_webhook_url: str | None = _setting("TELEGRAM_WEBHOOK_URL", None, _url(("https", "http")))
    telegram_api_url: str = _setting("TELEGRAM_API_URL", "https://api.telegram.org", _url(("https", "http")))
    # Updates one web process handles at once; more wait for a slot (never refused).
    telegram_updates_in_progress: int = _setting("TELEGRAM_UPDATES_IN_PROGRESS", "64", _whole(1))
    # The deadline of a Bot API call made while an update is handled (the worker's uploads
    # have their own, longer one).
    telegram_timeout: float = _setting("TELEGRAM_TIMEOUT", "5", _seconds)
    yookassa_shop_id: str | None = _setting("YOOKASSA_SHOP_ID", None)
    yookassa_secret_key: str | None = _setting("YOOKASSA_SECRET_KEY", None, secret=True)
    yookassa_return_url: str | None = _setting("YOOKASSA_RETURN_URL", None, _url(("https", "http")))
    yookassa_currency: str = _setting("YOOKASSA_CURRENCY", "RUB", _currency)
    yookassa_webhook_url: str | None = _setting("YOOKASSA_WEBHOOK_URL", None, _url(("https", "http")))
    yookassa_api_url: str = _setting("YOOKASSA_API_URL", "https://api.yookassa.ru/v3", _url(("https", "http")))
    yookassa_allowed_ips: tuple[Network, ...] = _setting("YOOKASSA_ALLOWED_IPS", YOOKASSA_PUBLISHED_RANGES, _networks)
    yookassa_trusted_proxies: tuple[Network, ...] = _setting("YOOKASSA_TRUSTED_PROXIES", "", _networks)
    yookassa_timeout: float = _setting("YOOKASSA_TIMEOUT", "10", _seconds)
    yookassa_max_attempts: int = _setting("YOOKASSA_MAX_ATTEMPTS", "4", _whole(1))
    # How long a user waits for a top-up link (all attempts); past it they are asked to try
    # again, and the create, kept with its Idempotence-Key, is finished under that key.
    topup_link_timeout: float = _setting("TOPUP_LINK_TIMEOUT", "5", _seconds)
    # 54-FZ receipt: sent with every payment once an email or a phone is set.
    yookassa_receipt_email: str | None = _setting("YOOKASSA_RECEIPT_EMAIL", None, _email)
    yookassa_receipt_phone: str | None = _setting("YOOKASSA_RECEIPT_PHONE", None, _phone)
    yookassa_vat_code: int = _setting("YOOKASSA_VAT_CODE", "1", _code(1, 12))
    yookassa_tax_system_code: int | None = _setting("YOOKASSA_TAX_SYSTEM_CODE", None, _code(1, 6))
    # Telegram Stars: the packages in the payment menu and the rubles
    # one Star puts on the balance (kopecks here), fixed on the invoice when it is made.
    stars_packages: tuple[int, ...] = _setting("STARS_PACKAGES", "50,100,250", _star_packages)
    stars_ruble_rate: Kopecks = _setting("STARS_RUBLE_RATE", "1.5", _price)
    # Rubles (kopecks here) a referrer gets when a user they brought first tops up; 0: no referrals.
    referral_bonus: Kopecks = _setting("REFERRAL_BONUS", "0", _rubles_or_nothing)
    # Who answers payment questions (/paysupport), e.g. @shop_support or an email address.
    paysupport_contact: str | None = _setting("PAYSUPPORT_CONTACT", None)
    fal_key: str | None = _setting("FAL_KEY", None, secret=True)
    fal_api_url: str = _setting("FAL_API_URL", "https://queue.fal.run", _url(("https", "http")))
    fal_models: tuple[tuple[str, str], ...] = _setting("FAL_MODELS", "", _model_ids)
    fal_poll_interval: float = _setting("FAL_POLL_INTERVAL", "1", _seconds)
    admin_telegram_ids: frozenset[int] = _setting("ADMIN_TELEGRAM_IDS", "", _ids)
    # The operators' dashboard (GET /admin): its login token; unset, the dashboard is off (404).
    admin_web_token: str | None = _setting("ADMIN_WEB_TOKEN", None, _admin_token, secret=True)
    max_jobs_in_flight: int = _setting("MAX_JOBS_IN_FLIGHT", "2", _whole(1))
    job_timeout: int = _setting("JOB_TIMEOUT", "300", _whole(1))
    job_retry_delay: float = _setting("JOB_RETRY_DELAY", "5", _seconds)
    host: str = _setting("HOST", "0.0.0.0")
    port: int = _setting("PORT", "8000", _whole(0))
    # Processes `medialab serve` runs on the one port (the PaaS convention); --workers overrides.
    web_concurrency: int = _setting("WEB_CONCURRENCY", "1", _whole(1))
    # Where `medialab worker` serves its own /metrics (on HOST); 0 serves none.
    worker_metrics_port: int = _setting("WORKER_METRICS_PORT", "9100", _whole(0))
    log_level: str = _setting("LOG_LEVEL", "INFO", _log_level)

    def __post_init__(self) -> None:
        if self.min_topup > self.max_topup:
            raise SettingsError(f"MIN_TOPUP: {self.min_topup} is above MAX_TOPUP {self.max_topup}")

    @property
    def webhook_secret(self) -> str | None:
        """The secret Telegram must send with every update: TELEGRAM_WEBHOOK_SECRET, or one
        derived from the bot token when it is unset, so that `set-webhook` and `serve` agree
        with no setup and no update is ever handled unauthenticated."""
        if self.telegram_webhook_secret:
            return self.telegram_webhook_secret
        if not self.telegram_bot_token:
            return None
        return hashlib.sha256(b"medialab-telegram-webhook:" + self.telegram_bot_token.encode()).hexdigest()

    @property
    def prices(self) -> PriceList:
        """What each operation type costs: OPERATION_PRICES, else PRICE_PER_OPERATION."""
        return PriceList(self.price_per_operation, self.operation_prices)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
    ) -> Settings:
        values: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            values.update(read_env_file(Path(env_file)))
        values.update(os.environ if environ is None else environ)
        parsed: dict[str, Any] = {}
        for f in fields(cls):
            meta = f.metadata
            raw = values.get(meta["env"])
            if raw is None or raw.strip() == "":
                raw = meta["default"]
            if raw is None:
                parsed[f.name] = None
                continue
            try:
                parsed[f.name] = meta["parse"](raw)
            except ValueError as exc:
                raise SettingsError(f"{meta['env']}: {exc}") from None
        return cls(**parsed)

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some values replaced (already typed): tests and the demo use it."""
        current = {f.name: getattr(self, f.name) for f in fields(self)}
        current.update(changes)
        return type(self)(**current)


def read_env_file(path: Path) -> dict[str, str]:
    """`KEY=value` lines; `#` comments, `export ` prefixes and matching quotes are allowed."""
    out: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            raise SettingsError(f"{path}:{number}: expected KEY=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out
