"""STARS_PACKAGES and STARS_RUBLE_RATE: defaults, and one line naming the variable when wrong."""

from __future__ import annotations

import pytest

from medialab.settings import Settings, SettingsError


def test_defaults() -> None:
    settings = Settings.from_env({}, env_file=None)
    assert settings.stars.packages == (50, 100, 250)
    assert settings.stars.ruble_rate == 150  # kopecks a Star credits
    assert settings.billing.paysupport_contact is None


def test_configured() -> None:
    settings = Settings.from_env({"STARS_PACKAGES": " 10, 2500 ,", "STARS_RUBLE_RATE": "1.25"}, env_file=None)
    assert (settings.stars.packages, settings.stars.ruble_rate) == ((10, 2500), 125)


@pytest.mark.parametrize(("name", "raw", "message"), [
    ("STARS_PACKAGES", "50,abc", "STARS_PACKAGES: each package is a whole number of Stars from 1 to 10000, got 'abc'"),
    ("STARS_PACKAGES", "0", "STARS_PACKAGES: each package is a whole number of Stars from 1 to 10000, got '0'"),
    ("STARS_PACKAGES", "10001", "STARS_PACKAGES: each package is a whole number of Stars from 1 to 10000, got '10001'"),
    ("STARS_PACKAGES", "50,50", "STARS_PACKAGES: package 50 is listed twice"),
    ("STARS_PACKAGES", "1,2,3,4,5,6,7", "STARS_PACKAGES: at most 6 packages fit the menu, got 7"),
    ("STARS_RUBLE_RATE", "0", "STARS_RUBLE_RATE: must be more than 0, got '0'"),
    ("STARS_RUBLE_RATE", "1.555", "STARS_RUBLE_RATE: must be a number of rubles (e.g. 10 or 10.50), got '1.555'"),
])
def test_refused(name: str, raw: str, message: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({name: raw}, env_file=None)
    assert str(refused.value) == message
