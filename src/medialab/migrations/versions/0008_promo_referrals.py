"""Promo codes and referrals: promo_codes, promo_redemptions, referrals, users.referral_code, and
the ledger kinds promo, referral and clawback.

The database keeps the promises itself: a user redeems a code once (unique code and user), a
code is never used more than max_uses times (a CHECK on uses), nobody refers themselves, and the
new kinds have their signs.

SQLite cannot change a CHECK constraint in place: ledger_entries is rebuilt (nothing refers to
it) with its append-only triggers. A downgrade refuses while entries of the new kinds exist.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

OLD_KINDS = "kind IN ('topup', 'charge', 'refund', 'grant', 'chargeback')"
OLD_SIGNS = ("(kind IN ('topup', 'refund') AND amount > 0)"
             " OR (kind IN ('charge', 'chargeback') AND amount < 0) OR kind = 'grant'")
NEW_KINDS = "kind IN ('topup', 'charge', 'refund', 'grant', 'chargeback', 'promo', 'referral', 'clawback')"
NEW_SIGNS = ("(kind IN ('topup', 'refund', 'promo', 'referral') AND amount > 0)"
             " OR (kind IN ('charge', 'chargeback', 'clawback') AND amount < 0) OR kind = 'grant'")


def _user_fk(table: str, column: str = "user_id") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], ["users.id"], name=f"fk_{table}_{column}_users", ondelete="RESTRICT")


def upgrade() -> None:
    op.add_column("users", sa.Column("referral_code", sa.String(16), nullable=True))
    op.create_index("ix_users_referral_code", "users", ["referral_code"], unique=True)
    op.create_table(
        "promo_codes",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("free_operations", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), server_default="0", nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("amount >= 0 AND free_operations >= 0", name="ck_promo_codes_gifts_not_negative"),
        sa.CheckConstraint("amount > 0 OR free_operations > 0", name="ck_promo_codes_gives_something"),
        sa.CheckConstraint("max_uses IS NULL OR max_uses > 0", name="ck_promo_codes_max_uses_positive"),
        sa.CheckConstraint("uses >= 0 AND (max_uses IS NULL OR uses <= max_uses)",
                           name="ck_promo_codes_uses_within_limit"),
        sa.PrimaryKeyConstraint("id", name="pk_promo_codes"),
        sa.UniqueConstraint("code", name="uq_promo_codes_code"),
    )
    op.create_table(
        "promo_redemptions",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("promo_code_id", Id, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["promo_code_id"], ["promo_codes.id"], ondelete="RESTRICT",
                                name="fk_promo_redemptions_promo_code_id_promo_codes"),
        _user_fk("promo_redemptions"),
        sa.PrimaryKeyConstraint("id", name="pk_promo_redemptions"),
        sa.UniqueConstraint("promo_code_id", "user_id", name="uq_promo_redemptions_promo_code_id_user_id"),
    )
    op.create_table(
        "referrals",
        sa.Column("referred_user_id", Id, nullable=False),
        sa.Column("referrer_user_id", Id, nullable=False),
        sa.Column("first_payment_id", Id, nullable=True),
        sa.Column("revoked", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("referrer_user_id <> referred_user_id", name="ck_referrals_not_self"),
        _user_fk("referrals", "referred_user_id"),
        _user_fk("referrals", "referrer_user_id"),
        sa.ForeignKeyConstraint(["first_payment_id"], ["payments.id"], ondelete="RESTRICT",
                                name="fk_referrals_first_payment_id_payments"),
        sa.PrimaryKeyConstraint("referred_user_id", name="pk_referrals"),
    )
    op.create_index("ix_referrals_referrer_user_id", "referrals", ["referrer_user_id"])
    _ledger_checks(NEW_KINDS, NEW_SIGNS, were=(OLD_KINDS, OLD_SIGNS))


def downgrade() -> None:
    _ledger_checks(OLD_KINDS, OLD_SIGNS, were=(NEW_KINDS, NEW_SIGNS))
    op.drop_index("ix_referrals_referrer_user_id", table_name="referrals")
    op.drop_table("referrals")
    op.drop_table("promo_redemptions")
    op.drop_table("promo_codes")
    op.drop_index("ix_users_referral_code", table_name="users")
    op.drop_column("users", "referral_code")


def _ledger_checks(kinds: str, signs: str, were: tuple[str, str]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, check in (("ck_ledger_entries_kind_known", kinds), ("ck_ledger_entries_sign_matches_kind", signs)):
            op.drop_constraint(name, "ledger_entries", type_="check")
            op.create_check_constraint(name, "ledger_entries", check)
        return
    _rebuild_sqlite_ledger({f"CHECK ({were[0]})": f"CHECK ({kinds})", f"CHECK ({were[1]})": f"CHECK ({signs})"})


def _rebuild_sqlite_ledger(checks: dict[str, str]) -> None:
    """ledger_entries again with other checks: its own CREATE TABLE with the checks swapped (so
    the table stays exactly as it was otherwise), the rows copied as they are (ids kept), then
    the index and the append-only triggers of migration 0001, which go with the old table (a
    DROP TABLE fires no DELETE trigger)."""
    bind = op.get_bind()
    ddl = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'ledger_entries'").scalar_one()
    # Only the name changes: SQLite quotes it in a table it renamed ("ledger_entries" after a rebuild).
    _, _, columns = ddl.partition("(")
    new_ddl = f"CREATE TABLE ledger_entries_new ({columns}"
    for old, new in checks.items():
        if new_ddl.count(old) != 1:
            raise RuntimeError(f"ledger_entries has not the check {old} to replace: {ddl}")
        new_ddl = new_ddl.replace(old, new)
    op.execute(new_ddl)
    op.execute("INSERT INTO ledger_entries_new SELECT * FROM ledger_entries")
    op.execute("DROP TABLE ledger_entries")
    op.execute("ALTER TABLE ledger_entries_new RENAME TO ledger_entries")
    op.create_index("ix_ledger_entries_user_id_id", "ledger_entries", ["user_id", "id"])
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER ledger_entries_no_{action.lower()} BEFORE {action} ON ledger_entries"
            " BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only'); END"
        )
