"""The YooKassa settings added for top-ups: receipt contacts, tax codes, timeout and attempts."""

from __future__ import annotations

import pytest

from medialab.settings import Settings, SettingsError


def test_receipt_and_client_settings_are_read() -> None:
    s = Settings.from_env(
        {"YOOKASSA_RECEIPT_EMAIL": " shop@example.com ", "YOOKASSA_RECEIPT_PHONE": "+7 900 000-00-00",
         "YOOKASSA_VAT_CODE": "6", "YOOKASSA_TAX_SYSTEM_CODE": "2", "YOOKASSA_TIMEOUT": "2.5",
         "YOOKASSA_MAX_ATTEMPTS": "3"},
        env_file=None,
    )
    assert (s.yookassa.receipt_email, s.yookassa.receipt_phone) == ("shop@example.com", "79000000000")
    assert (s.yookassa.vat_code, s.yookassa.tax_system_code) == (6, 2)
    assert (s.yookassa.timeout, s.yookassa.max_attempts) == (2.5, 3)


def test_receipt_is_off_by_default() -> None:
    s = Settings.from_env({}, env_file=None)
    assert s.yookassa.receipt_email is None and s.yookassa.receipt_phone is None
    assert (s.yookassa.vat_code, s.yookassa.tax_system_code) == (1, None)
    assert (s.yookassa.timeout, s.yookassa.max_attempts) == (10.0, 4)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"YOOKASSA_RECEIPT_EMAIL": "shop.example.com"}, "YOOKASSA_RECEIPT_EMAIL: not an email address"),
        ({"YOOKASSA_RECEIPT_PHONE": "call me"}, "YOOKASSA_RECEIPT_PHONE: must be a phone number"),
        ({"YOOKASSA_RECEIPT_PHONE": "12345"}, "YOOKASSA_RECEIPT_PHONE: must be a phone number"),
        ({"YOOKASSA_VAT_CODE": "13"}, "YOOKASSA_VAT_CODE: must be from 1 to 12, got 13"),
        ({"YOOKASSA_TAX_SYSTEM_CODE": "0"}, "YOOKASSA_TAX_SYSTEM_CODE: must be at least 1"),
        ({"YOOKASSA_TIMEOUT": "0"}, "YOOKASSA_TIMEOUT: must be more than 0"),
        ({"YOOKASSA_TIMEOUT": "soon"}, "YOOKASSA_TIMEOUT: must be a number of seconds"),
        ({"YOOKASSA_MAX_ATTEMPTS": "0"}, "YOOKASSA_MAX_ATTEMPTS: must be at least 1"),
    ],
)
def test_wrong_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env, env_file=None)
    assert str(caught.value).startswith(message)
