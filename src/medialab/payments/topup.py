"""What a top-up asks YooKassa for (description, metadata, the 54-FZ receipt), and whether a
payment YooKassa shows is the one we asked for.

Everything here is built from the stored payment and the settings alone, so a repeated create
sends byte for byte the same body under the same Idempotence-Key (YooKassa refuses a reused key
with another body).
"""

from __future__ import annotations

from medialab.domain.money import Kopecks, format_rub
from medialab.payments.yookassa_api import Amount, Customer, Payment, Receipt, ReceiptItem
from medialab.payments.yookassa_limits import DESCRIPTION_MAX_CHARS
from medialab.settings import Settings

# The metadata keys name the user and our payment; settlement checks both against our row.
TELEGRAM_USER_KEY = "telegram_user_id"
PAYMENT_KEY = "payment_id"


def topup_description(kopecks: Kopecks, payment_id: int) -> str:
    return f"Пополнение баланса на {format_rub(kopecks)} (№{payment_id})"[:DESCRIPTION_MAX_CHARS]


def topup_metadata(telegram_id: int, payment_id: int) -> dict[str, str]:
    return {TELEGRAM_USER_KEY: str(telegram_id), PAYMENT_KEY: str(payment_id)}


def receipt_configured(settings: Settings) -> bool:
    return bool(settings.yookassa.receipt_email or settings.yookassa.receipt_phone)


def topup_receipt(settings: Settings, kopecks: Kopecks, currency: str) -> Receipt | None:
    """A receipt with one item (the top-up) when a receipt contact is configured, else None."""
    if not receipt_configured(settings):
        return None
    # YooKassa takes one contact: the email when both are set.
    if settings.yookassa.receipt_email:
        customer = Customer(email=settings.yookassa.receipt_email)
    else:
        customer = Customer(phone=settings.yookassa.receipt_phone)
    item = ReceiptItem(
        description="Пополнение баланса",
        quantity="1.00",
        amount=Amount.of(kopecks, currency),
        vat_code=settings.yookassa.vat_code,
    )
    return Receipt(customer=customer, items=[item], tax_system_code=settings.yookassa.tax_system_code)


def mismatch(payment: Payment, kopecks: Kopecks, currency: str, telegram_id: int, payment_id: int) -> str | None:
    """What differs between the payment in YooKassa's API and ours; None when nothing does."""
    if payment.amount.currency != currency or payment.amount_kopecks != kopecks:
        return f"the API says {payment.amount.value} {payment.amount.currency}"
    if payment.metadata.get(TELEGRAM_USER_KEY) != str(telegram_id):
        return f"the API names user {payment.metadata.get(TELEGRAM_USER_KEY)!r}"
    if payment.metadata.get(PAYMENT_KEY) != str(payment_id):
        return f"the API names payment {payment.metadata.get(PAYMENT_KEY)!r}"
    return None
