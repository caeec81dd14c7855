"""payment_notifications: each payment notification as it arrived and what settlement made of it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "payment_notifications",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(16), server_default="yookassa", nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("object_id", sa.String(64), nullable=True),
        sa.Column("source_ip", sa.String(45), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payment_notifications"),
    )
    op.create_index("ix_payment_notifications_object_id", "payment_notifications", ["object_id"])


def downgrade() -> None:
    op.drop_index("ix_payment_notifications_object_id", table_name="payment_notifications")
    op.drop_table("payment_notifications")
