"""What the bot's handlers, filters and middlewares receive, by name and type: each field is a key
of aiogram's workflow data, so a handler that declares `billing: BillingService` gets `billing`.

The composition root (web/telegram.py, from the clients web/app.py opened) builds one per
process and the dispatcher is made from it (bot/dispatcher.py).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from medialab.admin.service import AdminService
from medialab.billing.service import BillingService
from medialab.db.engine import Sessions
from medialab.jobs.clients import JobClients
from medialab.jobs.start_operation import OperationStarter
from medialab.notify import Notifier
from medialab.payments.service import PaymentService
from medialab.payments.stars import StarsPayments
from medialab.settings import Settings


@dataclass(frozen=True, kw_only=True)
class BotDependencies:
    settings: Settings
    sessions: Sessions
    billing: BillingService
    # Starting a paid operation: the billing flag's middleware calls it (jobs/start_operation.py).
    operations: OperationStarter
    # Top-ups through YooKassa, and through Telegram Stars.
    payments: PaymentService
    stars: StarsPayments
    notifier: Notifier
    # The delivery of results kept for a user who had blocked the bot (jobs/kept_results.py).
    jobs: JobClients
    # The operators' commands in the chat.
    admin: AdminService

    def workflow_data(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in fields(self)}
