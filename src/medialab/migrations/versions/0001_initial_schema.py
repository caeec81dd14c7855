"""Initial schema: users, balances, payments, operations and the append-only ledger.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    ]


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.id"], name=f"fk_{table}_user_id_users", ondelete="RESTRICT"
    )


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("telegram_id", sa.BigInteger(), nullable=False),
        sa.Column("free_operations_left", sa.Integer(), nullable=False),
        sa.Column("free_operations_granted", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(8), server_default="ru", nullable=False),
        *_timestamps(),
        sa.CheckConstraint("free_operations_left >= 0", name="ck_users_free_left_not_negative"),
        sa.CheckConstraint("free_operations_granted >= 0", name="ck_users_free_granted_not_negative"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("telegram_id", name="uq_users_telegram_id"),
    )
    op.create_table(
        "balances",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("balance", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        _user_fk("balances"),
        sa.PrimaryKeyConstraint("id", name="pk_balances"),
        sa.UniqueConstraint("user_id", name="uq_balances_user_id"),
    )
    op.create_table(
        "operations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("task_id", sa.String(128), nullable=True),
        sa.Column("job_state", sa.String(16), server_default="queued", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "job_state IN ('queued', 'running', 'delivered', 'failed')", name="ck_operations_job_state_known"
        ),
        sa.CheckConstraint(
            "status IN ('free', 'charged', 'refunded', 'failed')", name="ck_operations_status_known"
        ),
        sa.CheckConstraint(
            "type IN ('generate', 'edit', 'merge', 'face_swap', 'retouch', 'upscale', 'add_text')",
            name="ck_operations_type_known",
        ),
        sa.CheckConstraint("attempts >= 0", name="ck_operations_attempts_not_negative"),
        sa.CheckConstraint("price >= 0", name="ck_operations_price_not_negative"),
        _user_fk("operations"),
        sa.PrimaryKeyConstraint("id", name="pk_operations"),
    )
    op.create_index("ix_operations_job_state_updated_at", "operations", ["job_state", "updated_at"])
    op.create_index("ix_operations_user_id_created_at", "operations", ["user_id", "created_at"])
    op.create_table(
        "payments",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(16), server_default="yookassa", nullable=False),
        sa.Column("provider_payment_id", sa.String(64), nullable=True),
        sa.Column("idempotence_key", sa.String(64), nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(24), server_default="pending", nullable=False),
        sa.Column("raw_data", sa.JSON(), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "status IN ('pending', 'waiting_for_capture', 'succeeded', 'canceled', 'refunded')",
            name="ck_payments_status_known",
        ),
        sa.CheckConstraint("amount > 0", name="ck_payments_amount_positive"),
        _user_fk("payments"),
        sa.PrimaryKeyConstraint("id", name="pk_payments"),
        sa.UniqueConstraint("idempotence_key", name="uq_payments_idempotence_key"),
        sa.UniqueConstraint("provider_payment_id", name="uq_payments_provider_payment_id"),
    )
    op.create_index("ix_payments_status_created_at", "payments", ["status", "created_at"])
    op.create_table(
        "ledger_entries",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("payment_id", Id, nullable=True),
        sa.Column("operation_id", sa.String(64), nullable=True),
        sa.Column("actor", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "(kind IN ('topup', 'refund') AND amount > 0)"
            " OR (kind IN ('charge', 'chargeback') AND amount < 0) OR kind = 'grant'",
            name="ck_ledger_entries_sign_matches_kind",
        ),
        sa.CheckConstraint(
            "kind IN ('topup', 'charge', 'refund', 'grant', 'chargeback')", name="ck_ledger_entries_kind_known"
        ),
        sa.CheckConstraint("amount <> 0", name="ck_ledger_entries_amount_not_zero"),
        sa.ForeignKeyConstraint(
            ["operation_id"], ["operations.id"], name="fk_ledger_entries_operation_id_operations",
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name="fk_ledger_entries_payment_id_payments", ondelete="RESTRICT"
        ),
        _user_fk("ledger_entries"),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_entries"),
        sa.UniqueConstraint("idempotency_key", name="uq_ledger_entries_idempotency_key"),
    )
    op.create_index("ix_ledger_entries_user_id_id", "ledger_entries", ["user_id", "id"])
    _create_append_only_triggers()


def _create_append_only_triggers() -> None:
    # The ledger is immutable: corrections are new entries. The database refuses the rest.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN RAISE EXCEPTION 'ledger_entries is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER ledger_entries_no_update_delete BEFORE UPDATE OR DELETE ON ledger_entries"
            " FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER ledger_entries_no_{action.lower()} BEFORE {action} ON ledger_entries"
            " BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ledger_entries_no_update_delete ON ledger_entries")
        op.execute("DROP FUNCTION IF EXISTS ledger_entries_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS ledger_entries_no_update")
        op.execute("DROP TRIGGER IF EXISTS ledger_entries_no_delete")
    op.drop_index("ix_ledger_entries_user_id_id", table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_index("ix_payments_status_created_at", table_name="payments")
    op.drop_table("payments")
    op.drop_index("ix_operations_user_id_created_at", table_name="operations")
    op.drop_index("ix_operations_job_state_updated_at", table_name="operations")
    op.drop_table("operations")
    op.drop_table("balances")
    op.drop_table("users")
