"""The operators' dashboard: indexes for its figures of a period, and ledger_checks, where each
check of the books leaves its result.


Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_ledger_entries_created_at", "ledger_entries", ["created_at"]),
    ("ix_ledger_entries_kind_created_at", "ledger_entries", ["kind", "created_at"]),
    ("ix_operations_created_at", "operations", ["created_at"]),
    ("ix_users_created_at", "users", ["created_at"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    op.create_table(
        "ledger_checks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("drifts", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_checks"),
    )


def downgrade() -> None:
    op.drop_table("ledger_checks")
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
