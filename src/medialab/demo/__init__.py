"""`medialab demo`: the whole system on one machine with the stand-ins of Telegram, YooKassa and
fal.ai, and a user's journey played through the real webhooks (also the end-to-end tests')."""
