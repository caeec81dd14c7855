"""SQLAlchemy 2.0 typed models. The migrations in `medialab/migrations/` create exactly this schema.

Money columns are BIGINT kopecks. The ledger is append-only (triggers refuse UPDATE and DELETE)
and every entry's sign is checked against its kind.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints so that migrations can address them on every backend.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, INTEGER on SQLite so that an integer primary key is the rowid alias.
Id = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON()


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


OPERATION_TYPES = ("generate", "edit", "merge", "face_swap", "retouch", "upscale", "add_text")
OPERATION_STATUSES = ("free", "charged", "refunded", "failed")
JOB_STATES = ("queued", "running", "delivered", "failed")
PAYMENT_STATUSES = ("pending", "waiting_for_capture", "succeeded", "canceled", "refunded")
LEDGER_KINDS = ("topup", "charge", "refund", "grant", "chargeback", "promo", "referral", "clawback")
# The ledger's sign rules (domain/ledger.py) as the database enforces them.
LEDGER_SIGNS = (
    "(kind IN ('topup', 'refund', 'promo', 'referral') AND amount > 0)"
    " OR (kind IN ('charge', 'chargeback', 'clawback') AND amount < 0)"
    " OR kind = 'grant'"
)


def as_utc(moment: datetime) -> datetime:
    """A stored moment as an aware datetime: SQLite keeps no zone and hands back naive
    datetimes; everything stored is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class User(Timestamps, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("free_operations_left >= 0", name="free_left_not_negative"),
        CheckConstraint("free_operations_granted >= 0", name="free_granted_not_negative"),
        Index("ix_users_created_at", "created_at"),  # new users of the dashboard's periods
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True, nullable=False)
    free_operations_left: Mapped[int] = mapped_column(Integer, nullable=False)
    # What this user was given (FREE_OPERATIONS_COUNT may change later): lets a check prove that
    # free operations left + free operations used equals what was granted.
    free_operations_granted: Mapped[int] = mapped_column(Integer, nullable=False)
    language: Mapped[str] = mapped_column(String(8), nullable=False, server_default="ru")
    # Bumped by every change of this user's balance or free operations (and the row lock it
    # takes orders those changes): the Redis cache records which version its snapshot holds.
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    # The code of the user's referral link (ref_<code>), made when they first ask for it.
    referral_code: Mapped[str | None] = mapped_column(String(16), index=True, unique=True)


class Balance(Base):
    __tablename__ = "balances"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), unique=True, nullable=False
    )
    # May go below zero only through a chargeback (a refunded top-up already spent).
    balance: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class Payment(Timestamps, Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(_in("status", PAYMENT_STATUSES), name="status_known"),
        Index("ix_payments_status_created_at", "status", "created_at"),
        Index("ix_payments_telegram_charge_id", "telegram_charge_id", unique=True),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(16), nullable=False, server_default="yookassa")
    provider_payment_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Sent as Idempotence-Key; stored before the provider is called so a retry reuses it.
    idempotence_key: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False, server_default="pending")
    raw_data: Mapped[dict[str, Any] | None] = mapped_column(Json)
    # Telegram Stars only: the Stars invoiced (amount is then the kopecks they credit, at the
    # rate of the day the invoice was made) and Telegram's charge id once it was paid. Charge
    # ids have no documented length limit, hence a column of their own beside provider_payment_id.
    stars: Mapped[int | None] = mapped_column(Integer)
    telegram_charge_id: Mapped[str | None] = mapped_column(String(255))


class Operation(Timestamps, Base):
    __tablename__ = "operations"
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint(_in("type", OPERATION_TYPES), name="type_known"),
        CheckConstraint(_in("status", OPERATION_STATUSES), name="status_known"),
        CheckConstraint(_in("job_state", JOB_STATES), name="job_state_known"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index("ix_operations_user_id_created_at", "user_id", "created_at"),
        Index("ix_operations_job_state_updated_at", "job_state", "updated_at"),
        Index("ix_operations_created_at", "created_at"),  # the dashboard's periods
    )

    # Chosen by the caller (or a fresh uuid4 hex) before anything is charged, so the same id
    # names the Redis reservation, the ledger entries and the arq job.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    price: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    task_id: Mapped[str | None] = mapped_column(String(128))
    job_state: Mapped[str] = mapped_column(String(16), nullable=False, server_default="queued")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        CheckConstraint(_in("kind", LEDGER_KINDS), name="kind_known"),
        CheckConstraint(LEDGER_SIGNS, name="sign_matches_kind"),
        Index("ix_ledger_entries_user_id_id", "user_id", "id"),
        # The dashboard's periods: every kind in a period, and one kind's (top-ups') in a period.
        Index("ix_ledger_entries_created_at", "created_at"),
        Index("ix_ledger_entries_kind_created_at", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # The balance right after this entry: a statement can be read without summing.
    balance_after: Mapped[int] = mapped_column(BigInteger, nullable=False)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id", ondelete="RESTRICT"))
    operation_id: Mapped[str | None] = mapped_column(
        ForeignKey("operations.id", ondelete="RESTRICT")
    )
    actor: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class PaymentNotification(Base):
    """Every payment notification that came from an allowed source, as it arrived, and what
    settlement made of it: for debugging, never for deciding (the API is asked instead)."""

    __tablename__ = "payment_notifications"
    __table_args__ = (Index("ix_payment_notifications_object_id", "object_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(16), nullable=False, server_default="yookassa")
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    # The id of the notification's object (a payment or a refund) as the body claimed it.
    object_id: Mapped[str | None] = mapped_column(String(64))
    source_ip: Mapped[str] = mapped_column(String(45), nullable=False)
    body: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    outcome: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class SweepMark(Base):
    """How far a sweeper that walks a provider's list has come (e.g. YooKassa's refunds): the
    next pass starts from here, a little earlier, instead of from the beginning."""

    __tablename__ = "sweep_marks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Everything created before this moment was applied (in the provider's clock, UTC).
    mark: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class KeptResult(Base):
    """A finished image its user could not be sent (they blocked the bot, or the chat is gone):
    kept here, durable, until they write to the bot again and it is delivered; then the row goes.
    Its operation is settled (out of flight, not refunded): the result is what was paid for."""

    __tablename__ = "kept_results"
    __table_args__ = (Index("ix_kept_results_telegram_id", "telegram_id"),)

    operation_id: Mapped[str] = mapped_column(
        ForeignKey("operations.id", ondelete="RESTRICT"), primary_key=True
    )
    telegram_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    language: Mapped[str] = mapped_column(String(8), nullable=False)
    content_type: Mapped[str] = mapped_column(String(32), nullable=False)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    # The image itself: the provider's URL expires, and no Telegram file id exists for an
    # upload Telegram refused.
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    # A delivery in progress holds the row until then (a process that died mid-send lets go).
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class PromoCode(Base):
    """A code an operator made; `uses` counts redemptions and never passes `max_uses`."""

    __tablename__ = "promo_codes"
    __table_args__ = (
        CheckConstraint("amount >= 0 AND free_operations >= 0", name="gifts_not_negative"),
        CheckConstraint("amount > 0 OR free_operations > 0", name="gives_something"),
        CheckConstraint("max_uses IS NULL OR max_uses > 0", name="max_uses_positive"),
        CheckConstraint("uses >= 0 AND (max_uses IS NULL OR uses <= max_uses)", name="uses_within_limit"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    free_operations: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    max_uses: Mapped[int | None] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    # Redeemable before this moment (the end of the --until day, UTC); None: no end.
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class PromoRedemption(Base):
    __tablename__ = "promo_redemptions"
    __table_args__ = (UniqueConstraint("promo_code_id", "user_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    promo_code_id: Mapped[int] = mapped_column(
        ForeignKey("promo_codes.id", ondelete="RESTRICT"), nullable=False
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class Referral(Base):
    """Who brought a user: made once, when the user first starts the bot with a referral link."""

    __tablename__ = "referrals"
    __table_args__ = (CheckConstraint("referrer_user_id <> referred_user_id", name="not_self"),)

    referred_user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), primary_key=True
    )
    referrer_user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True, nullable=False
    )
    # The referred user's first top-up that succeeded: the one the bonus is for (and taken
    # back for when it is refunded).
    first_payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id", ondelete="RESTRICT"))
    # That top-up was refunded: no bonus is paid for it any more, and one paid is taken back.
    revoked: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class LedgerCheck(Base):
    """The result of each check of the books (billing/audit.py): the dashboard shows the last
    one (drift or none, and when) without running the check on every view."""

    __tablename__ = "ledger_checks"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    drifts: Mapped[int] = mapped_column(Integer, nullable=False)
    # The first drifts found, one a line, for the operator who sees "drift: yes".
    detail: Mapped[str | None] = mapped_column(Text)
