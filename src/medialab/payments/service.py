"""Top-ups through YooKassa: the service the bot asks for a payment link.

A payment is stored as `pending` with its Idempotence-Key before YooKassa is called: whatever
happens to the call, a retry repeats it under the same key and YooKassa answers with the payment
it made, never a second one. The balance is not touched here; money moves only when settlement
has seen the payment succeed in YooKassa's API (payments/settlement.py).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing.service import BillingService
from medialab.domain.idempotency_keys import yookassa_payment_key
from medialab.domain.ledger import PaymentStatus
from medialab.domain.money import rubles
from medialab.notify import Notifier
from medialab.payments import store
from medialab.payments.notifications import Notification, handle_notification
from medialab.payments.refund_sweep import sweep_refunds
from medialab.payments.referral_bonus import ReferralBonus
from medialab.payments.settlement import SettlementOutcome, Settlement
from medialab.payments.payment_sweep import BATCH as SWEEP_BATCH
from medialab.payments.payment_sweep import KEY_LIFETIME, SWEEP_AFTER, PaymentSweepReport, sweep_open_payments
from medialab.payments.topup import topup_description, topup_metadata, topup_receipt
from medialab.payments.yookassa_api import Payment as YooKassaPayment
from medialab.payments.yookassa_api import YooKassaError, YooKassaUnavailable
from medialab.payments.yookassa_client import YooKassaClient
from medialab.settings import Settings

log = logging.getLogger(__name__)

# How long after a create without an answer the same request is repeated (same key) rather
# than a new one made; older unanswered creates are closed by the sweeper.
RETRY_WINDOW = timedelta(minutes=10)


class TopupLink(msgspec.Struct, frozen=True):
    payment_id: int
    amount: int  # kopecks
    confirmation_url: str


class TopupRefused(Exception):
    """The sum cannot be topped up; nothing was stored. `reason` is one of REASONS."""

    REASONS = ("not_whole_rubles", "below_minimum", "above_maximum")

    def __init__(self, reason: str, minimum: int, maximum: int) -> None:
        super().__init__(f"top-up refused: {reason} (whole rubles from {minimum} to {maximum})")
        self.reason = reason
        self.minimum = minimum
        self.maximum = maximum


class PaymentsUnavailable(Exception):
    """No payment link can be made now: YooKassa is not configured, unreachable or refused."""


def yookassa_client(settings: Settings) -> YooKassaClient | None:
    """The API client when the shop's credentials are set, else None."""
    if not (settings.yookassa.shop_id and settings.yookassa.secret_key):
        return None
    return YooKassaClient(
        api_url=settings.yookassa.api_url, shop_id=settings.yookassa.shop_id,
        secret_key=settings.yookassa.secret_key, timeout=settings.yookassa.timeout,
        max_attempts=settings.yookassa.max_attempts,
    )


class PaymentService:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], settings: Settings,
        billing: BillingService, notifier: Notifier, client: YooKassaClient | None,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._billing = billing
        self.client = client
        self.referrals = ReferralBonus(sessions, billing, settings, notifier)
        self.settlement = Settlement(sessions, billing, notifier, client, self.referrals)

    async def create_payment(self, telegram_id: int, amount_rub: int, request_id: str | None = None) -> TopupLink:
        """A YooKassa payment of amount_rub whole rubles and the URL where the user pays it.

        `request_id` names the user's request (the button press): asked again (Telegram
        delivering the update again), the same payment is answered, never a second one."""
        kopecks = self._checked_amount(amount_rub)
        client, _ = self._configured()
        user = await self._billing.get_or_create_user(telegram_id)
        currency = self._settings.yookassa.currency
        key = yookassa_payment_key(request_id) if request_id else None
        try:
            payment_id, key, made = await self._attempt(user.user_id, kopecks, currency, key)
        except IntegrityError:  # the same request, handled at this moment elsewhere
            payment_id, key, made = await self._attempt(user.user_id, kopecks, currency, key)
        if made is not None:
            return made
        try:
            # The user is waiting in the chat: past the deadline they are asked to try again,
            # and the next try (or the sweeper) repeats this create under the same key.
            async with asyncio.timeout(self._settings.yookassa.topup_link_timeout):
                created = await self._create(client, payment_id, kopecks, currency, telegram_id, key)
        except TimeoutError:
            log.warning("payment %s: no answer from YooKassa within %s s", payment_id, self._settings.yookassa.topup_link_timeout)
            raise PaymentsUnavailable("YooKassa did not answer in time; try again") from None
        except YooKassaUnavailable as exc:
            # The payment stays pending without a YooKassa id: the next try repeats this key.
            log.warning("payment %s: %s", payment_id, exc)
            raise PaymentsUnavailable("YooKassa cannot be reached now; try again later") from None
        except YooKassaError as exc:
            raise PaymentsUnavailable(f"YooKassa refused the payment ({exc.code})") from None
        if not created.confirmation_url:
            raise PaymentsUnavailable("YooKassa gave no confirmation URL for the payment")
        log.info("payment %s created: YooKassa %s, %s kopecks", payment_id, created.id, kopecks)
        return TopupLink(payment_id, kopecks, created.confirmation_url)

    async def _create(self, client: YooKassaClient, payment_id: int, kopecks: int, currency: str,
                      telegram_id: int, key: str) -> YooKassaPayment:
        """One create under the payment's key, its answer kept on the row; a refusal closes it."""
        try:
            created = await client.create_payment(
                amount_kopecks=kopecks, currency=currency, return_url=self._settings.yookassa.return_url or "",
                description=topup_description(kopecks, payment_id),
                metadata=topup_metadata(telegram_id, payment_id), idempotence_key=key,
                receipt=topup_receipt(self._settings, kopecks, currency),
            )
        except YooKassaError as exc:
            log.error("payment %s: %s", payment_id, exc)
            async with self._sessions.begin() as session:
                await store.move_status(session, payment_id, PaymentStatus.CANCELED,
                                        {"error": exc.code, "parameter": exc.parameter})
            raise
        async with self._sessions.begin() as session:
            await store.attach(session, payment_id, created.id, msgspec.to_builtins(created))
        return created

    async def finish_unanswered(
        self, now: datetime | None = None, older_than: timedelta = SWEEP_AFTER
    ) -> tuple[int, int]:
        """Repeats the creates that got no answer (a deadline, YooKassa away) under their keys,
        so each ends attached to the one payment YooKassa made of it, or closed if it refused:
        (finished, still undecided)."""
        if self.client is None:
            return 0, 0
        now = now or datetime.now(UTC)
        async with self._sessions() as session:
            rows = await store.unanswered_between(session, now - KEY_LIFETIME, now - older_than, SWEEP_BATCH)
        finished = undecided = 0
        for payment, telegram_id in rows:
            try:
                await self._create(self.client, payment.id, payment.amount, payment.currency, telegram_id,
                                   payment.idempotence_key)
                finished += 1
            except YooKassaUnavailable as exc:
                undecided += 1
                log.warning("sweeper: unanswered payment %s not finished now: %s", payment.id, exc)
            except YooKassaError:
                finished += 1  # refused: closed by _create
            except Exception:  # noqa: BLE001 - one payment's trouble must not stop the pass
                undecided += 1
                log.exception("sweeper: unanswered payment %s could not be finished", payment.id)
        return finished, undecided

    async def _attempt(
        self, user_id: int, kopecks: int, currency: str, key: str | None
    ) -> tuple[int, str, TopupLink | None]:
        """The payment row to create (id, Idempotence-Key), or the link it already has."""
        async with self._sessions.begin() as session:
            payment = await store.by_idempotence_key(session, key) if key else None
            if payment is not None and payment.provider_payment_id is not None:
                # Answered before (whatever became of it since): the same link again, no new create.
                url = (payment.raw_data or {}).get("confirmation", {}).get("confirmation_url")
                if url:
                    return payment.id, payment.idempotence_key, TopupLink(payment.id, payment.amount, url)
            if payment is None:
                since = datetime.now(UTC) - RETRY_WINDOW
                payment = await store.unanswered_attempt(session, user_id, kopecks, currency, since)
            if payment is None:
                payment = await store.new_attempt(session, user_id, kopecks, currency, key)
            return payment.id, payment.idempotence_key, None

    async def get_payment_status(self, payment_id: int) -> PaymentStatus | None:
        """Our payment's status as last seen in YooKassa; None for an unknown payment."""
        async with self._sessions() as session:
            payment = await store.by_id(session, payment_id)
        return PaymentStatus(payment.status) if payment is not None else None

    async def handle_notification(self, notification: Notification, source_ip: str) -> SettlementOutcome:
        """A webhook notification, kept and settled; raises Undecided when the API could not
        be asked (the webhook then answers 5xx so that YooKassa delivers it again)."""
        return await handle_notification(self._sessions, self.settlement, notification, source_ip)

    async def sweep(
        self, now: datetime | None = None, older_than: timedelta = SWEEP_AFTER, batch: int | None = SWEEP_BATCH
    ) -> PaymentSweepReport:
        """The payment sweep (the worker's cron, and `medialab sweep` over every open payment):
        finishes creates that got no answer, settles payments still open `older_than` after
        they were made (lost notifications), then applies the refunds made in YooKassa since
        the last pass (lost refund.succeeded)."""
        finished, undecided = await self.finish_unanswered(now, older_than)
        report = await sweep_open_payments(self._sessions, self.settlement, now, older_than, batch)
        report.finished_unanswered = finished
        report.undecided += undecided
        report.refunds = await sweep_refunds(self._sessions, self.settlement, self.client)
        return report

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    def _checked_amount(self, amount_rub: int) -> int:
        low, high = self._settings.billing.min_topup, self._settings.billing.max_topup
        if isinstance(amount_rub, bool) or not isinstance(amount_rub, int):
            raise TopupRefused("not_whole_rubles", low, high)
        if amount_rub < low:
            raise TopupRefused("below_minimum", low, high)
        if amount_rub > high:
            raise TopupRefused("above_maximum", low, high)
        return rubles(amount_rub)

    def _configured(self) -> tuple[YooKassaClient, str]:
        missing = [name for name, value in (
            ("YOOKASSA_SHOP_ID and YOOKASSA_SECRET_KEY", self.client),
            ("YOOKASSA_RETURN_URL", self._settings.yookassa.return_url),
        ) if not value]
        if missing:
            raise PaymentsUnavailable(f"YooKassa is not configured: set {', '.join(missing)}")
        return self.client, self._settings.yookassa.return_url  # type: ignore[return-value]
