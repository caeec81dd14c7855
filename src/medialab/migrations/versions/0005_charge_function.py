"""PostgreSQL: the charge the Redis cache admitted, as one function call.

On every paid prompt the four statements of `billing.charge_rule.as_cached` cost a
BEGIN, four round trips and a COMMIT; the same four statements in a function cost one round
trip, atomic on their own (bench/webhook.py). Its vocabulary (statuses, ledger kind, key) comes
from the caller, so the Python domain stays the one place that names them. SQLite keeps the
statements: it has no functions, and no network between them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

from importlib.resources import files

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The function's source lives beside the charge rule it implements; that file never changes (a
# test pins its digest: a new body is a new file and a new migration), so this one stays as it was.
SOURCE = "medialab_charge_as_cached.0005.sql"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(files("medialab.billing.charge_rule").joinpath(SOURCE).read_text(encoding="utf-8"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION medialab_charge_as_cached")
