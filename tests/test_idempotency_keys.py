"""Every idempotency key's format, pinned: keys already stored are matched by their text, so a
format that changed would let a redelivered payment (or a repeated grant, a second promo
redemption…) move money twice. A failure here is never fixed by editing the expected text."""

from __future__ import annotations

import re

import pytest

from medialab.domain import idempotency_keys as keys



@pytest.mark.parametrize(("made", "expected"), [
    (keys.charge_key("0f3c"), "charge:0f3c"),
    (keys.refund_key("0f3c"), "refund:0f3c"),
    (keys.grant_key("outage-28-9101"), "grant:outage-28-9101"),
    (keys.promo_key("SPRING", 7), "promo:SPRING:7"),
    (keys.referral_key(42), "referral:42"),
    (keys.clawback_key(42), "clawback:referral:42"),
    (keys.yookassa_topup_key("2d8f7e3a-000f-5000-9000-1b68e7b15f3f"), "2d8f7e3a-000f-5000-9000-1b68e7b15f3f"),
    (keys.yookassa_chargeback_key("2d8f8b2c-0015-5000-8000-18db351245c7"),
     "chargeback:2d8f8b2c-0015-5000-8000-18db351245c7"),
    (keys.stars_topup_key("stxAbC"), "stxAbC"),
    (keys.stars_refund_key("stxAbC"), "stars-refund:stxAbC"),
    (keys.yookassa_payment_key("5:1:77"), "topup-5:1:77"),
    (keys.stars_invoice_key("5:1:77"), "stars-5:1:77"),
    (keys.yookassa_capture_key("2d8f7e3a"), "capture-2d8f7e3a"),
    (keys.yookassa_cancel_key("2d8f7e3a"), "cancel-2d8f7e3a"),
])
def test_each_key_keeps_its_format(made: str, expected: str) -> None:
    assert made == expected


def test_stars_keys_too_long_for_the_ledger_become_digests() -> None:
    # 128 characters fit ledger_entries.idempotency_key; longer ones become sha256 digests.
    assert keys.stars_topup_key("c" * 128) == "c" * 128
    assert keys.stars_topup_key("c" * 129) == (
        "stars-sha256:a2efa32a90eaeb9b4f43be65f9cfbd0c191512532ffcbf5586f39ab3ad7294ac")
    assert keys.stars_refund_key("c" * 115) == "stars-refund:" + "c" * 115
    assert keys.stars_refund_key("c" * 116) == (
        "stars-refund-sha256:a24235cc05630d1ecf42e3c4e3606f5d50204f8bc5300864ec53bf17484eafb7")


def test_a_request_without_a_name_gets_a_fresh_key() -> None:
    first, second = keys.yookassa_payment_key(), keys.yookassa_payment_key()
    assert first != second and re.fullmatch(r"topup-[0-9a-f]{32}", first)
    assert re.fullmatch(r"stars-[0-9a-f]{32}", keys.stars_invoice_key())
