-- PostgreSQL's implementation of the charge rule (see __init__.py), for a charge the Redis
-- cache admitted: the four statements in one function call, atomic and in one round trip.
-- Created by migration 0005, which reads this file: it must never change (a test pins its
-- digest). A new body goes in a new file, created by a new migration (CREATE OR REPLACE).
--
-- Answers one row (outcome, version, free operations left, balance); outcome is
--   'charged'      the four statements ran;
--   'disagrees'    SQL does not agree with the cache about free operations: nothing changed;
--   'insufficient' the balance cannot pay: only the version moved (as in Python).
-- An operation id that exists already raises unique_violation: the whole call is undone.
-- Its vocabulary (statuses, ledger kind, key) comes from the caller, so the Python domain
-- stays the one place that names them.
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
