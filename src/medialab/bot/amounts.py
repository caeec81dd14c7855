"""A top-up amount typed by a user: whole rubles within MIN_TOPUP..MAX_TOPUP, or the text key
that tells them precisely what is wrong with what they typed."""

from __future__ import annotations

import re

from medialab.domain.money import MoneyError, parse_whole_rubles

# parse_whole_rubles says "not a whole number" for all of these; users deserve to know which.
_NEGATIVE = re.compile(r"^-\s*\d+([.,]\d+)?\s*₽?$")
_FRACTION = re.compile(r"^\d+[.,]\d+\s*₽?$")
_REASON_KEYS = {"empty": "amount-empty", "too small": "amount-too-small", "too large": "amount-too-large"}


class AmountRefused(ValueError):
    def __init__(self, text_key: str) -> None:
        super().__init__(text_key)
        self.text_key = text_key


def read_amount(text: str | None, minimum: int, maximum: int) -> int:
    """Rubles, or AmountRefused with the key of the text that explains the refusal."""
    if text is None:
        raise AmountRefused("amount-not-text")
    try:
        return parse_whole_rubles(text, minimum, maximum)
    except MoneyError as exc:
        reason = str(exc)
    cleaned = text.strip().replace("\u00a0", "").replace(" ", "")
    if _NEGATIVE.match(cleaned):
        raise AmountRefused("amount-negative")
    if _FRACTION.match(cleaned):
        raise AmountRefused("amount-fraction")
    raise AmountRefused(_REASON_KEYS.get(reason, "amount-not-number"))
