"""Message filters shared by the mode routers."""

from __future__ import annotations

from aiogram import F

# A prompt is text that is not blank and not a command (a command is never an operation).
PROMPT_TEXT = F.text & ~F.text.startswith("/") & F.text.strip()
CAPTIONED_PHOTO = F.photo & F.caption.strip()
