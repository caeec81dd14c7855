"""Local stand-ins for the outside services (Telegram Bot API, YooKassa, fal.ai), speaking their
real wire formats on 127.0.0.1: used by the tests and by `medialab demo`, never in production."""
