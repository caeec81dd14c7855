"""Every text the bot sends, one Fluent file per language (`locales/<lang>.ftl`).

Russian is the default; English for users whose Telegram language is English. Money arrives
here already formatted (`format_rub`), so the texts never do arithmetic.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

from fluent.runtime import FluentBundle, FluentResource

LANGUAGES = ("ru", "en")
DEFAULT_LANGUAGE = "ru"


def language_of(language_code: str | None) -> str:
    """Telegram's `language_code` ("en", "en-GB", None, ...) to one of ours."""
    code = (language_code or "").split("-")[0].lower()
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


class Texts:
    def __init__(self, language: str) -> None:
        self.language = language
        # Bidi isolation marks around values would end up inside amounts users copy.
        self._bundle = FluentBundle([language], use_isolating=False)
        source = files("medialab.bot").joinpath(f"locales/{language}.ftl").read_text("utf-8")
        self._bundle.add_resource(FluentResource(source))

    def __call__(self, key: str, **values: Any) -> str:
        message = self._bundle.get_message(key)
        if message is None or message.value is None:
            raise KeyError(f"no text {key!r} in {self.language}")
        text, errors = self._bundle.format_pattern(message.value, values)
        if errors:
            raise ValueError(f"text {key!r} in {self.language}: {errors[0]}")
        return text

    def has(self, key: str) -> bool:
        return self._bundle.has_message(key)


@cache
def texts_for(language_code: str | None) -> Texts:
    return Texts(language_of(language_code))
