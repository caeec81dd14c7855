"""payments.stars and payments.telegram_charge_id: top-ups in Telegram Stars.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs: SQLite adds them without rebuilding the table (which the ledger's
    # foreign keys to payments would forbid); uniqueness comes from an index.
    op.add_column("payments", sa.Column("stars", sa.Integer(), nullable=True))
    op.add_column("payments", sa.Column("telegram_charge_id", sa.String(255), nullable=True))
    op.create_index("ix_payments_telegram_charge_id", "payments", ["telegram_charge_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_payments_telegram_charge_id", table_name="payments")
    # SQLite (3.35+) drops a column in place, as PostgreSQL does.
    op.drop_column("payments", "telegram_charge_id")
    op.drop_column("payments", "stars")
