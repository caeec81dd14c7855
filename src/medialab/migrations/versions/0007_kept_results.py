"""kept_results: finished images waiting for a user who could not be sent them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kept_results",
        sa.Column("operation_id", sa.String(64), nullable=False),
        sa.Column("telegram_id", sa.BigInteger(), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["operation_id"], ["operations.id"], ondelete="RESTRICT",
                                name="fk_kept_results_operation_id_operations"),
        sa.PrimaryKeyConstraint("operation_id", name="pk_kept_results"),
    )
    op.create_index("ix_kept_results_telegram_id", "kept_results", ["telegram_id"])


def downgrade() -> None:
    op.drop_index("ix_kept_results_telegram_id", table_name="kept_results")
    op.drop_table("kept_results")
