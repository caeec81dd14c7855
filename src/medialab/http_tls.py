"""The TLS context of every httpx client this process builds (YooKassa, fal.ai, the stand-ins)."""

from __future__ import annotations

import ssl
from functools import cache

import httpx


@cache
def tls_context() -> ssl.SSLContext:
    """httpx's own default (certifi's roots, or SSL_CERT_FILE / SSL_CERT_DIR), built once per
    process: building one loads the whole CA bundle, ~20 ms of CPU, and a client built without
    it builds its own. One context may serve any number of clients."""
    return httpx.create_ssl_context()
