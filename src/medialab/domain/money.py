"""Money is integer kopecks everywhere inside; rubles exist only at the edges.

Edges are: texts for people ("120 ₽", "10,50 ₽"), YooKassa's "100.00" amount strings (parsed with
Decimal, never float) and configuration values given in rubles.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

Kopecks = int
KOPECKS_PER_RUBLE = 100


class MoneyError(ValueError):
    """An amount that cannot be money: not a number, fractional kopecks, wrong sign."""


def rubles(amount: int | str | Decimal) -> Kopecks:
    """Whole or fractional rubles to kopecks, refusing anything finer than a kopeck."""
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise MoneyError(f"not a number of rubles: {amount!r}") from None
    if not value.is_finite():
        raise MoneyError(f"not a number of rubles: {amount!r}")
    kopecks = value * KOPECKS_PER_RUBLE
    if kopecks != kopecks.to_integral_value():
        raise MoneyError(f"finer than a kopeck: {amount!r}")
    return int(kopecks)


def parse_amount_value(value: str) -> Kopecks:
    """YooKassa's amount string ("100.00") to kopecks."""
    if not isinstance(value, str) or not value or value.strip() != value:
        raise MoneyError(f"not an amount string: {value!r}")
    return rubles(value)


def amount_value(kopecks: Kopecks) -> str:
    """Kopecks to YooKassa's amount string: 10050 -> "100.50"."""
    sign = "-" if kopecks < 0 else ""
    whole, part = divmod(abs(kopecks), KOPECKS_PER_RUBLE)
    return f"{sign}{whole}.{part:02d}"


def format_rub(kopecks: Kopecks) -> str:
    """Kopecks for people: 12000 -> "120 ₽", 1050 -> "10,50 ₽", -1000 -> "-10 ₽"."""
    sign = "-" if kopecks < 0 else ""
    whole, part = divmod(abs(kopecks), KOPECKS_PER_RUBLE)
    if part:
        return f"{sign}{whole},{part:02d} ₽"
    return f"{sign}{whole} ₽"


def format_signed_rub(kopecks: Kopecks) -> str:
    """A movement of money for people, its direction always shown: "+100 ₽", "-10,50 ₽"."""
    return ("+" if kopecks > 0 else "") + format_rub(kopecks)


def parse_whole_rubles(text: str, minimum: int, maximum: int) -> int:
    """A person's top-up amount: whole rubles within [minimum, maximum], else MoneyError.

    The message says what is wrong so the chat can repeat it to the user.
    """
    cleaned = text.strip().replace("\u00a0", "").replace(" ", "")
    if cleaned.endswith("₽"):
        cleaned = cleaned[:-1]
    if not cleaned:
        raise MoneyError("empty")
    if not cleaned.isdigit() or not cleaned.isascii():
        raise MoneyError("not a whole number")
    # A 40-digit number is refused by its length before int() has to build it.
    if len(cleaned.lstrip("0")) > len(str(maximum)):
        raise MoneyError("too large")
    amount = int(cleaned)
    if amount < minimum:
        raise MoneyError("too small")
    if amount > maximum:
        raise MoneyError("too large")
    return amount
