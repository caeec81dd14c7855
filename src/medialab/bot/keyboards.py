"""Inline keyboards. Callback data of the menus is fixed by DESIGN §6."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from medialab.bot.modes import MODES
from medialab.bot.texts import Texts
from medialab.domain.money import format_rub, rubles
from medialab.domain.pricing import PriceList

PAYMENT_MENU = "payment_menu"
PAYMENT_AMOUNT_PREFIX = "payment_amount_"
PAYMENT_CUSTOM = "payment_custom"
PAYMENT_CANCEL = "payment_cancel"
STARS_AMOUNT_PREFIX = "stars_amount_"
MERGE_GO = "merge:go"
# history:<ledger entry id>: the movements before that entry (ours, not fixed by the contract).
HISTORY_PREFIX = "history:"
TOPUP_AMOUNTS = (100, 300, 500, 1000)


def main_menu(texts: Texts, prices: PriceList) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for mode in MODES:
        label = texts(mode.button_key)
        if mode.operation.billable:  # add_text's button says it is free
            label = texts("button-mode-price", mode=label, price=format_rub(prices.price_of(mode.operation)))
        builder.button(text=label, callback_data=mode.callback_data)
    builder.button(text=texts("button-payment-menu"), callback_data=PAYMENT_MENU)
    # Two modes a row; add_text and the payment button get a row each.
    builder.adjust(2, 2, 2, 1, 1)
    return builder.as_markup()


def topup_button(texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("button-topup"), callback_data=PAYMENT_MENU)
    return builder.as_markup()


def payment_menu(texts: Texts, stars_packages: tuple[int, ...] = ()) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for amount in TOPUP_AMOUNTS:
        builder.button(text=format_rub(rubles(amount)), callback_data=f"{PAYMENT_AMOUNT_PREFIX}{amount}")
    # Stars packages beside the ruble amounts: a row of them under the rubles.
    for stars in stars_packages:
        builder.button(text=texts("button-stars", stars=stars), callback_data=f"{STARS_AMOUNT_PREFIX}{stars}")
    builder.button(text=texts("button-custom-amount"), callback_data=PAYMENT_CUSTOM)
    builder.button(text=texts("button-payment-cancel"), callback_data=PAYMENT_CANCEL)
    stars_rows = (len(stars_packages),) if stars_packages else ()
    builder.adjust(2, 2, *stars_rows, 1, 1)
    return builder.as_markup()


def pay_link(texts: Texts, amount_kopecks: int, url: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("button-pay", amount=format_rub(amount_kopecks)), url=url)
    return builder.as_markup()


def history_button(texts: Texts, before_entry_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("button-history-older"), callback_data=f"{HISTORY_PREFIX}{before_entry_id}")
    return builder.as_markup()


def merge_button(texts: Texts, count: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("button-merge-go", count=count), callback_data=MERGE_GO)
    return builder.as_markup()
