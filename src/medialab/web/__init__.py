"""The Litestar application: one ASGI app for both webhooks, health and metrics."""
