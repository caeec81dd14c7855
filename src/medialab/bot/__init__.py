"""The Telegram bot (aiogram 3): routers per feature, the billing-flag middleware, keyboards, texts."""
