import os
import subprocess
import sys
from pathlib import Path

import pytest

from medialab.settings import Settings, SettingsError


def test_defaults_follow_the_design() -> None:
    s = Settings.from_env({}, env_file=None)
    assert s.database.url == "sqlite+aiosqlite:///./media_lab.db"
    assert s.redis.url is None
    assert s.billing.price_per_operation == 1000
    assert s.billing.free_operations_count == 4
    assert (s.billing.min_topup, s.billing.max_topup) == (10, 100000)
    assert s.telegram.api_url == "https://api.telegram.org"
    assert s.yookassa.api_url == "https://api.yookassa.ru/v3"
    assert s.yookassa.currency == "RUB"
    assert s.fal.api_url == "https://queue.fal.run"
    assert s.jobs.max_in_flight == 2 and s.jobs.timeout == 300
    assert (s.server.host, s.server.port) == ("0.0.0.0", 8000)
    assert s.server.web_concurrency == 1
    assert [str(n) for n in s.yookassa.allowed_ips] == [
        "185.71.76.0/27", "185.71.77.0/27", "77.75.153.0/25", "77.75.156.11/32",
        "77.75.156.35/32", "77.75.154.128/25", "2a02:5180::/32",
    ]


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("sqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgres://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("postgresql+asyncpg://h/db", "postgresql+asyncpg://h/db"),
        ("postgres://u:p@h/db?sslmode=require", "postgresql+asyncpg://u:p@h/db?ssl=require"),
    ],
)
def test_database_urls_map_to_async_drivers(raw: str, url: str) -> None:
    assert Settings.from_env({"DATABASE_URL": raw}, env_file=None).database.url == url


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PRICE_PER_OPERATION": "abc"}, "PRICE_PER_OPERATION: must be a number of rubles"),
        ({"PRICE_PER_OPERATION": "0"}, "PRICE_PER_OPERATION: must be more than 0"),
        ({"OPERATION_PRICES": "paint=12"}, "OPERATION_PRICES: 'paint' is not a paid operation type; use one of edit, "),
        ({"OPERATION_PRICES": "add_text=3"}, "OPERATION_PRICES: add_text is free and takes no price, got add_text=3"),
        ({"OPERATION_PRICES": "generate=12.50"}, "OPERATION_PRICES: the price of generate must be a whole number "
                                                 "of rubles from 1 to 1000000, got '12.50'"),
        ({"OPERATION_PRICES": "upscale=0"}, "OPERATION_PRICES: the price of upscale must be a whole number"),
        ({"OPERATION_PRICES": "upscale=-5"}, "OPERATION_PRICES: the price of upscale must be a whole number"),
        ({"OPERATION_PRICES": "upscale=" + "9" * 5000}, "OPERATION_PRICES: the price of upscale must be a whole"),
        ({"OPERATION_PRICES": "generate 12"}, "OPERATION_PRICES: expected type=rubles, got 'generate 12'"),
        ({"OPERATION_PRICES": "edit=3,edit=4"}, "OPERATION_PRICES: edit is priced twice"),
        ({"FREE_OPERATIONS_COUNT": "-1"}, "FREE_OPERATIONS_COUNT: must be at least 0, got -1"),
        ({"DATABASE_URL": "mysql://h/db"}, "DATABASE_URL: unknown scheme 'mysql://'"),
        ({"REDIS_URL": "http://h"}, "REDIS_URL: must start with redis://"),
        ({"MIN_TOPUP": "500", "MAX_TOPUP": "100"}, "MIN_TOPUP: 500 is above MAX_TOPUP 100"),
        ({"YOOKASSA_ALLOWED_IPS": "1.2.3.4,nope"}, "YOOKASSA_ALLOWED_IPS: not an IP address or CIDR range: 'nope'"),
        ({"ADMIN_TELEGRAM_IDS": "1,x"}, "ADMIN_TELEGRAM_IDS: must be a comma list"),
        ({"MAX_JOBS_IN_FLIGHT": "0"}, "MAX_JOBS_IN_FLIGHT: must be at least 1"),
        ({"WEB_CONCURRENCY": "abc"}, "WEB_CONCURRENCY: must be a whole number, got 'abc'"),
        ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY: must be at least 1, got 0"),
    ],
)
def test_wrong_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env, env_file=None)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_operation_prices_name_some_types_and_the_rest_cost_the_price_per_operation() -> None:
    env = {"OPERATION_PRICES": " generate=12, upscale = 5,face_swap=15,", "PRICE_PER_OPERATION": "10.50"}
    s = Settings.from_env(env, env_file=None)
    assert s.billing.operation_prices == (("generate", 1200), ("upscale", 500), ("face_swap", 1500))
    prices = s.billing.prices
    assert [prices.price_of(kind) for kind in ("generate", "upscale", "face_swap", "edit", "merge", "add_text")] == [
        1200, 500, 1500, 1050, 1050, 0]
    assert (prices.lowest, prices.highest) == (500, 1500)
    assert Settings.from_env({}, env_file=None).billing.operation_prices == ()


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# comment\nexport PRICE_PER_OPERATION=15\nFREE_OPERATIONS_COUNT='3'\nADMIN_TELEGRAM_IDS=1, 2\n",
        encoding="utf-8",
    )
    s = Settings.from_env({"FREE_OPERATIONS_COUNT": "7"}, env_file=env_file)
    assert s.billing.price_per_operation == 1500
    assert s.billing.free_operations_count == 7
    assert s.admin.telegram_ids == frozenset({1, 2})


def test_a_wrong_value_stops_the_command_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRICE_", "DATABASE_"))}
    env["PRICE_PER_OPERATION"] = "abc"
    done = subprocess.run(
        [sys.executable, "-m", "medialab", "migrate"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "medialab: PRICE_PER_OPERATION: must be a number of rubles (e.g. 10 or 10.50), got 'abc'"
    ]


def test_secrets_never_show_in_the_repr() -> None:
    s = Settings.from_env(
        {"TELEGRAM_BOT_TOKEN": "123:tok-SECRET", "TELEGRAM_WEBHOOK_SECRET": "hook-SECRET",
         "YOOKASSA_SECRET_KEY": "live_SECRET", "FAL_KEY": "fal-SECRET", "YOOKASSA_SHOP_ID": "100500"},
        env_file=None,
    )
    assert s.telegram.bot_token == "123:tok-SECRET" and s.fal.key == "fal-SECRET"
    assert "SECRET" not in repr(s) and "100500" in repr(s)


def test_env_example_lists_every_variable() -> None:
    from dotenv import dotenv_values

    example = Path(__file__).resolve().parents[1] / ".env.example"
    assert set(dotenv_values(example)) == Settings.variables()
    Settings.from_env({}, env_file=example)  # and every value in it is valid
