from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medialab.domain.money import (
    MoneyError,
    amount_value,
    format_rub,
    parse_amount_value,
    parse_whole_rubles,
    rubles,
)


@pytest.mark.parametrize(
    ("kopecks", "text"),
    [(0, "0 ₽"), (1000, "10 ₽"), (1050, "10,50 ₽"), (12000, "120 ₽"), (5, "0,05 ₽"), (-1000, "-10 ₽")],
)
def test_format_rub(kopecks: int, text: str) -> None:
    assert format_rub(kopecks) == text


@pytest.mark.parametrize(("value", "kopecks"), [("100.00", 10000), ("0.01", 1), ("10.5", 1050)])
def test_parse_amount_value(value: str, kopecks: int) -> None:
    assert parse_amount_value(value) == kopecks


@pytest.mark.parametrize("value", ["", "abc", "1.001", " 1.00", "NaN", "Infinity", 100])
def test_parse_amount_value_refuses(value: object) -> None:
    with pytest.raises(MoneyError):
        parse_amount_value(value)  # type: ignore[arg-type]


@given(st.integers(min_value=-10**12, max_value=10**12))
def test_amount_value_round_trips(kopecks: int) -> None:
    assert parse_amount_value(amount_value(kopecks)) == kopecks
    assert Decimal(amount_value(kopecks)) * 100 == kopecks


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("abc", "not a whole number"),
        ("5", "too small"),
        ("-10", "not a whole number"),
        ("10.5", "not a whole number"),
        ("1e9", "not a whole number"),
        ("1" * 40, "too large"),
        ("", "empty"),
        ("   ", "empty"),
        ("١٠٠", "not a whole number"),  # Arabic-Indic digits pass isdigit() but are not ours
        ("100001", "too large"),
    ],
)
def test_parse_whole_rubles_refuses(text: str, why: str) -> None:
    with pytest.raises(MoneyError, match=why):
        parse_whole_rubles(text, 10, 100000)


@pytest.mark.parametrize(("text", "amount"), [("10", 10), (" 250 ", 250), ("1 000", 1000), ("500₽", 500), ("100000", 100000)])
def test_parse_whole_rubles_accepts(text: str, amount: int) -> None:
    assert parse_whole_rubles(text, 10, 100000) == amount


def test_rubles_refuses_fractions_of_kopecks() -> None:
    assert rubles("10.50") == 1050
    with pytest.raises(MoneyError):
        rubles("10.505")
