"""The rules a setting's value must follow, each a type that pydantic applies to the raw text.

The messages are part of the contract (docs/contract.md §7): `Settings.from_env` prefixes the one
that fails with its variable's name. A rule sees only text (from the environment, `.env` or a
default written as it would be in `.env`); a value already typed (`Settings.with_overrides`,
a default of None) passes through untouched.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator

from medialab.domain.money import Kopecks, MoneyError, rubles
from medialab.domain.operations import BILLABLE_TYPES, OperationType

# Telegram takes invoices of up to 10000 Stars; more buttons than this crowd the payment menu.
MAX_STARS_PER_INVOICE = 10_000
MAX_STARS_PACKAGES = 6
# Rubles; far above any real price, and far below what a BIGINT of kopecks holds.
MAX_OPERATION_PRICE = 1_000_000

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def rule(parse: Callable[[str], Any]) -> BeforeValidator:
    return BeforeValidator(lambda raw: parse(raw) if isinstance(raw, str) else raw)


def whole(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(f"must be a whole number, got {raw!r}") from None
        if value < minimum:
            raise ValueError(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise ValueError(f"must be from {minimum} to {maximum}, got {value}")
        return value

    return parse


def _seconds(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError(f"must be a number of seconds, got {raw!r}") from None
    if not 0 < value <= 600:
        raise ValueError(f"must be more than 0 and at most 600 seconds, got {raw!r}")
    return value


def _rubles(example: str, *, zero: bool) -> Callable[[str], Kopecks]:
    """Rubles in the text (`10.50`), kopecks in the program; 0 allowed or not."""
    def parse(raw: str) -> Kopecks:
        try:
            kopecks = rubles(raw)
        except MoneyError:
            raise ValueError(f"must be a number of rubles (e.g. {example}), got {raw!r}") from None
        if kopecks < 0 or (kopecks == 0 and not zero):
            raise ValueError(f"must be {'0 or more' if zero else 'more than 0'}, got {raw!r}")
        return kopecks

    return parse


def _items(raw: str) -> Iterator[str]:
    return (part for part in (p.strip() for p in raw.split(",")) if part)


def _pairs(raw: str, form: str) -> Iterator[tuple[str, str]]:
    """`key=value,…` as (key, value) pairs; `form` says what a pair should look like."""
    for part in _items(raw):
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
    packages: list[int] = []
    for part in _items(raw):
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
    for part in _items(raw):
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or CIDR range: {part!r}") from None
    return tuple(nets)


def _ids(raw: str) -> frozenset[int]:
    try:
        return frozenset(int(p) for p in _items(raw))
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


def _url(*schemes: str) -> Callable[[str], str]:
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


# The types the groups (settings/groups.py) declare their fields with.
Count = Annotated[int, rule(whole(0))]  # 0 or more
Positive = Annotated[int, rule(whole(1))]  # 1 or more
Seconds = Annotated[float, rule(_seconds)]  # more than 0, at most 600
Price = Annotated[Kopecks, rule(_rubles("10 or 10.50", zero=False))]  # rubles in the text, more than 0
Bonus = Annotated[Kopecks, rule(_rubles("50 or 10.50", zero=True))]  # rubles in the text, 0 or more
OperationPrices = Annotated[tuple[tuple[str, Kopecks], ...], rule(_operation_prices)]
StarPackages = Annotated[tuple[int, ...], rule(_star_packages)]
Networks = Annotated[tuple[Network, ...], rule(_networks)]
TelegramIds = Annotated[frozenset[int], rule(_ids)]
ModelIds = Annotated[tuple[tuple[str, str], ...], rule(_model_ids)]
Currency = Annotated[str, rule(_currency)]
DatabaseUrl = Annotated[str, rule(async_database_url)]
RedisUrl = Annotated[str, rule(_url("redis", "rediss", "unix"))]
HttpUrl = Annotated[str, rule(_url("https", "http"))]
LogLevel = Annotated[str, rule(_log_level)]
Email = Annotated[str, rule(_email)]
Phone = Annotated[str, rule(_phone)]
AdminToken = Annotated[str, rule(_admin_token)]
VatCode = Annotated[int, rule(whole(1, 12))]
TaxSystemCode = Annotated[int, rule(whole(1, 6))]
