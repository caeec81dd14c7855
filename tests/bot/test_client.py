"""The Bot API session (medialab/bot/client.py) sets up aiogram's AiohttpSession's state itself,
with the process's one TLS context: if an aiogram upgrade adds to that state, these fail."""

from __future__ import annotations

import ssl

import pytest
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from medialab.bot.client import BotApiSession
from medialab.http_tls import tls_context


@pytest.mark.parametrize("base", ["https://api.telegram.org", "http://127.0.0.1:8081"])
async def test_the_session_holds_aiohttps_state_with_the_processes_tls_context(base: str) -> None:
    api = TelegramAPIServer.from_base(base)
    theirs, ours = AiohttpSession(api=api, timeout=7.5), BotApiSession(api, timeout=7.5)
    try:
        assert set(vars(ours)) - {"_over_tls"} == set(vars(theirs))
        kept = set(vars(theirs)) - {"_connector_init", "middleware"}
        assert {name: getattr(ours, name) for name in kept} == {name: getattr(theirs, name) for name in kept}
        assert type(ours.middleware) is type(theirs.middleware)
        assert set(ours._connector_init) == set(theirs._connector_init)  # noqa: SLF001
        assert {k: v for k, v in ours._connector_init.items() if k != "ssl"} == {  # noqa: SLF001
            k: v for k, v in theirs._connector_init.items() if k != "ssl"}  # noqa: SLF001
        context = ours._connector_init["ssl"]  # noqa: SLF001
        assert context is tls_context()
        assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
        assert ours._over_tls is base.startswith("https:")  # noqa: SLF001
    finally:
        await theirs.close()
        await ours.close()
