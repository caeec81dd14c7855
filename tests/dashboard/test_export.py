"""The ledger as CSV for an accountant: streamed by GET /admin/ledger.csv and written by
`medialab admin export`, the same text, every entry of the days asked for."""

from __future__ import annotations

import csv
import io
import subprocess
from datetime import UTC, datetime, timedelta

import httpx

from conftest import REDIS_TEST_URL
from dashboard.conftest import TOKEN, Books
from medialab.domain.money import amount_value
from medialab_commands import environment, medialab_in_process


async def export(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    environ = environment(database_url=database_url, redis_url=REDIS_TEST_URL)
    return await medialab_in_process("admin", "export", *args, environ=environ)


def days_around_today() -> tuple[str, str]:
    today = datetime.now(UTC).date()
    return (today - timedelta(days=4)).isoformat(), today.isoformat()


async def test_the_web_and_the_command_export_the_same_entries(books: Books, dashboard_url: str, database_url: str) -> None:
    start, end = days_around_today()
    async with httpx.AsyncClient(base_url=dashboard_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        answer = await http.get("/admin/ledger.csv", params={"from": start, "to": end})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == f'attachment; filename="ledger-{start}-{end}.csv"'
    assert "content-length" not in answer.headers  # streamed

    rows = list(csv.DictReader(io.StringIO(answer.text)))
    expected = [(entry, provider) for entry, provider in await books.entries()
                if entry.created_at.replace(tzinfo=UTC) >= datetime.fromisoformat(start).replace(tzinfo=UTC)]
    assert [int(row["entry_id"]) for row in rows] == sorted(entry.id for entry, _ in expected)
    assert len(rows) == 8  # today's 7 entries and the top-up of 3 days ago; not those of 12 and 45 days ago
    by_id = {entry.id: (entry, provider) for entry, provider in expected}
    for row in rows:
        entry, provider = by_id[int(row["entry_id"])]
        assert (row["kind"], row["amount_rub"], row["balance_after_rub"], row["provider"]) == (
            entry.kind, amount_value(entry.amount), amount_value(entry.balance_after), provider or "")
    chargeback = next(row for row in rows if row["kind"] == "chargeback")
    assert (chargeback["telegram_id"], chargeback["amount_rub"], chargeback["idempotency_key"]) == (
        "111", "-50.00", "chargeback:r-ann")
    assert chargeback["reason"] == "'=HYPERLINK(\"x\")"  # text, not a formula, in a spreadsheet

    done = await export("--from", start, "--to", end, database_url=database_url)
    assert done.returncode == 0, done.stderr
    # The capture reads universal newlines: the CSV's \r\n arrive as \n (the file below keeps them).
    assert done.stdout == answer.text.replace("\r\n", "\n")


async def test_the_command_writes_a_file_or_refuses_in_one_line(books: Books, database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    start, end = days_around_today()
    target = tmp_path / "ledger.csv"
    done = await export("--from", start, "--to", end, "--output", str(target), database_url=database_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"ledger entries from {start} to {end} written to {target}\n"
    assert target.read_bytes().count(b"\r\n") == 9  # the header and 8 entries, RFC 4180 lines

    refusals = [(("--from", end, "--to", start), f"medialab: 'to' ({start}) is before 'from' ({end})"),
                (("--from", "yesterday", "--to", end), "medialab: 'from' must be a day as YYYY-MM-DD, got 'yesterday'"),
                (("--from", start, "--to", end, "--output", str(tmp_path / "no" / "x.csv")),
                 f"medialab: cannot write {tmp_path / 'no' / 'x.csv'}: No such file or directory")]
    for args, line in refusals:
        refused = await export(*args, database_url=database_url)
        assert (refused.returncode, refused.stdout, refused.stderr) == (2, "", line + "\n")
