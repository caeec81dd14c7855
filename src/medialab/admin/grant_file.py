"""`medialab admin grant-file`: many grants from one file, one process (200 users in seconds, not
200 starts of the command). The file's text turned into grants, or an AdminError (nothing done)
that names the first wrong line."""

from __future__ import annotations

from pathlib import Path

from medialab.admin.arguments import MAX_TELEGRAM_ID, AdminError, grant_amount, grant_id, telegram_id
from medialab.domain.money import Kopecks

MAX_GRANTS = 10_000
MAX_CHARACTERS = 1_000_000
# Each user's grant id is `<the file's grant id>-<telegram id>`, at most 64 characters in all.
MAX_BATCH_ID = 64 - len(f"-{MAX_TELEGRAM_ID}")


def read(path: str) -> str:
    try:
        with Path(path).open(encoding="utf-8") as file:
            text = file.read(MAX_CHARACTERS + 1)
    except OSError as exc:
        raise AdminError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise AdminError(f"{path} is not UTF-8 text") from None
    if len(text) > MAX_CHARACTERS:
        raise AdminError(f"{path} is longer than {MAX_CHARACTERS} characters")
    return text


def grants(text: str, maximum: Kopecks) -> list[tuple[int, Kopecks]]:
    """`<telegram id> <rubles>` a line, '#' starting a comment, to (telegram id, kopecks) in the
    file's order. A user appears once: twice is more likely a mistake than a wish."""
    found: dict[int, Kopecks] = {}
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.partition("#")[0].split()
        if not fields:
            continue
        try:
            if len(fields) != 2:
                raise AdminError(f"expected '<telegram id> <rubles>', got {line.strip()!r}")
            user, amount = telegram_id(fields[0]), grant_amount(fields[1], maximum)
            if user in found:
                raise AdminError(f"user {user} is in the file twice")
        except AdminError as exc:
            raise AdminError(f"line {number}: {exc}") from None
        if len(found) == MAX_GRANTS:
            raise AdminError(f"more than {MAX_GRANTS} grants in one file")
        found[user] = amount
    if not found:
        raise AdminError("no grants in the file")
    return list(found.items())


def batch_id(text: str) -> str:
    """The file's grant id (required): running the file again, after a failure half-way or by
    mistake, grants nobody twice."""
    cleaned = grant_id(text) or ""
    if len(cleaned) > MAX_BATCH_ID:
        raise AdminError(f"a grant file's id is at most {MAX_BATCH_ID} characters, got {text!r}")
    return cleaned


def user_grant_id(batch: str, telegram_id: int) -> str:
    return f"{batch}-{telegram_id}"
