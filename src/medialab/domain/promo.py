"""Promo codes and referral links as users and operators type them: what a code may look like,
and what the payload of `/start <payload>` asks for.

Promo codes are case-insensitive: `summer25` and `SUMMER25` are one code, kept upper-case. They
are 3-32 Latin letters, digits, `_` or `-`, the characters a Telegram deep link may carry
(`https://t.me/<bot>?start=promo_<CODE>` then works for every code). Referral codes are the
bot's own: 10 lower-case letters and digits, random, one per user.
"""

from __future__ import annotations

import re
import secrets
import string
from enum import StrEnum

PROMO_CODE_MIN, PROMO_CODE_MAX = 3, 32
_PROMO_CODE = re.compile(rf"[A-Z0-9_-]{{{PROMO_CODE_MIN},{PROMO_CODE_MAX}}}")
REFERRAL_CODE_LENGTH = 10
_REFERRAL_ALPHABET = string.ascii_lowercase + string.digits
_REFERRAL_CODE = re.compile(rf"[a-z0-9]{{{REFERRAL_CODE_LENGTH}}}")

PROMO_PAYLOAD_PREFIX = "promo_"
REFERRAL_PAYLOAD_PREFIX = "ref_"


class BadPromoCode(ValueError):
    """Text that cannot be a promo code; the message says what a code looks like."""


def promo_code(text: str) -> str:
    """The code as stored (upper-case), or BadPromoCode."""
    code = text.strip().upper()
    if not code.isascii() or not _PROMO_CODE.fullmatch(code):
        raise BadPromoCode(f"a promo code is {PROMO_CODE_MIN}-{PROMO_CODE_MAX} Latin letters, digits, "
                           f"'_' or '-', got {text[:40]!r}")
    return code


def new_referral_code() -> str:
    return "".join(secrets.choice(_REFERRAL_ALPHABET) for _ in range(REFERRAL_CODE_LENGTH))


def referral_code(text: str) -> str | None:
    """A referral code as a link carries it, or None when the text cannot be one."""
    code = text.strip().lower()
    return code if code.isascii() and _REFERRAL_CODE.fullmatch(code) else None


def referral_payload(code: str) -> str:
    return f"{REFERRAL_PAYLOAD_PREFIX}{code}"


class StartAsks(StrEnum):
    PROMO = "promo"
    REFERRAL = "referral"


def start_payload(payload: str | None) -> tuple[StartAsks, str] | None:
    """What `/start <payload>` asks for: a promo code (as typed: it is checked when redeemed, so
    that a bad one gets its answer) or a referral code; None for anything else (plain /start)."""
    text = (payload or "").strip()
    if text.lower().startswith(PROMO_PAYLOAD_PREFIX):
        return StartAsks.PROMO, text[len(PROMO_PAYLOAD_PREFIX):]
    if text.lower().startswith(REFERRAL_PAYLOAD_PREFIX):
        code = referral_code(text[len(REFERRAL_PAYLOAD_PREFIX):])
        return (StartAsks.REFERRAL, code) if code is not None else None
    return None
