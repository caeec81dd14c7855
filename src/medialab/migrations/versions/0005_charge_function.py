"""PostgreSQL: the charge the Redis cache admitted, as one function call.

On every paid prompt the four statements of `billing.transactions.charge_as_cached` cost a
BEGIN, four round trips and a COMMIT; the same four statements in a function cost one round
trip, atomic on their own (bench/webhook.py). Its vocabulary (statuses, ledger kind, key) comes
from the caller, so the Python domain stays the one place that names them. SQLite keeps the
statements: it has no functions, and no network between them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Answers one row (outcome, version, free operations left, balance); outcome is
#   'charged'      the four statements ran;
#   'disagrees'    SQL does not agree with the cache about free operations: nothing changed;
#   'insufficient' the balance cannot pay: only the version moved (as in Python).
# An operation id that exists already raises unique_violation: the whole call is undone.
CHARGE_AS_CACHED = """
CREATE FUNCTION medialab_charge_as_cached(
    p_user_id bigint, p_operation_id text, p_type text, p_price bigint, p_task_id text,
    p_paid_with_free boolean, p_status text, p_ledger_kind text, p_ledger_key text,
    OUT outcome text, OUT version bigint, OUT free_left integer, OUT balance bigint)
LANGUAGE plpgsql AS $$
BEGIN
    IF p_paid_with_free THEN
        UPDATE users SET version = users.version + 1,
                         free_operations_left = users.free_operations_left - 1, updated_at = now()
        WHERE id = p_user_id AND free_operations_left > 0
        RETURNING users.version, users.free_operations_left INTO version, free_left;
    ELSE
        UPDATE users SET version = users.version + 1, updated_at = now()
        WHERE id = p_user_id AND free_operations_left = 0
        RETURNING users.version, users.free_operations_left INTO version, free_left;
    END IF;
    IF NOT FOUND THEN
        outcome := 'disagrees';
        RETURN;
    END IF;
    IF p_paid_with_free THEN
        SELECT balances.balance INTO balance FROM balances WHERE user_id = p_user_id;
    ELSE
        UPDATE balances SET balance = balances.balance - p_price, updated_at = now()
        WHERE user_id = p_user_id AND balances.balance - p_price >= 0
        RETURNING balances.balance INTO balance;
        IF NOT FOUND THEN
            SELECT balances.balance INTO balance FROM balances WHERE user_id = p_user_id;
            outcome := 'insufficient';
            RETURN;
        END IF;
    END IF;
    INSERT INTO operations (id, user_id, type, price, status, task_id)
    VALUES (p_operation_id, p_user_id, p_type, CASE WHEN p_paid_with_free THEN 0 ELSE p_price END,
            p_status, p_task_id)
    ON CONFLICT (id) DO NOTHING;
    IF NOT FOUND THEN
        RAISE unique_violation USING MESSAGE = 'operation ' || p_operation_id || ' exists';
    END IF;
    IF NOT p_paid_with_free THEN
        INSERT INTO ledger_entries (user_id, kind, amount, balance_after, idempotency_key, operation_id)
        VALUES (p_user_id, p_ledger_kind, -p_price, balance, p_ledger_key, p_operation_id);
    END IF;
    outcome := 'charged';
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CHARGE_AS_CACHED)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION medialab_charge_as_cached")
