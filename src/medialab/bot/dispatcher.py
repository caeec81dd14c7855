"""The aiogram Dispatcher, built once per web process at start-up.

Routers are joined here, in the order they are tried: the operators' commands (seen only by
ADMIN_TELEGRAM_IDS) and the users' commands (and /history's button) work in every state, then
Telegram Stars (a successful payment is never read as an answer or a prompt), the payment menu (its amount question outranks a mode), the mode buttons, the modes' own flows, and
last the fallback. Handlers receive what they name of `BotDependencies` (bot/dependencies.py)
as dispatcher workflow data (`billing`, `payments`, `operations`, …). The
conversation state lives in Redis, so any web process can take a user's next update, and events
of one user are processed one at a time across processes (bot/fsm.py).
"""

from __future__ import annotations

from aiogram import Dispatcher, Router
from aiogram.fsm.storage.base import DefaultKeyBuilder
from redis.asyncio import Redis

from medialab.bot.dependencies import BotDependencies
from medialab.bot.fsm import BatchedRedisIsolation, BatchedRedisStorage
from medialab.bot.known_users import KnownUsers
from medialab.bot.middlewares.billing import BillingMiddleware
from medialab.bot.middlewares.callbacks import AnswerCallbacksMiddleware
from medialab.bot.middlewares.kept_results import DeliverKeptResults
from medialab.bot.middlewares.locale import LocaleMiddleware
from medialab.bot.middlewares.private_chats import PrivateChatsOnly
from medialab.bot.middlewares.update_logging import UpdateLogContext
from medialab.bot.routers import (
    admin,
    commands,
    face_swap,
    fallback,
    generate,
    history,
    merge,
    modes,
    payments,
    photo_text,
    single_photo,
    stars,
)
from medialab.db.redis_keys import FSM_PREFIX

# An abandoned conversation (a mode chosen, a question asked) is forgotten after a week.
STATE_TTL_SECONDS = 7 * 24 * 3600


def create_root_router() -> Router:
    root = Router(name="medialab")
    root.include_routers(
        admin.create_router(),
        commands.create_router(),
        history.create_router(),
        stars.create_router(),
        payments.create_router(),
        modes.create_router(),
        generate.create_router(),
        photo_text.create_router(),
        single_photo.create_router(),
        merge.create_router(),
        face_swap.create_router(),
        fallback.create_router(),
    )
    return root


def allowed_updates() -> list[str]:
    """The update types the handlers use: what setWebhook asks Telegram to send."""
    return create_root_router().resolve_used_update_types()


def build_dispatcher(dependencies: BotDependencies, redis: Redis) -> Dispatcher:
    """`redis` keeps the conversations' states and the chats' locks."""
    keys = DefaultKeyBuilder(prefix=FSM_PREFIX)
    storage = BatchedRedisStorage(redis, key_builder=keys, state_ttl=STATE_TTL_SECONDS, data_ttl=STATE_TTL_SECONDS)
    dispatcher = Dispatcher(storage=storage, events_isolation=BatchedRedisIsolation(redis, keys),
                            **dependencies.workflow_data())
    # First, so that the locale's and every later record carries the update_id.
    dispatcher.update.outer_middleware(UpdateLogContext())
    dispatcher.update.outer_middleware(LocaleMiddleware())
    private = PrivateChatsOnly()  # before any filter: groups, channels, bots and no sender stop here
    for observer in (dispatcher.message, dispatcher.callback_query, dispatcher.pre_checkout_query):
        observer.outer_middleware(private)
    kept = DeliverKeptResults()  # a user who is back gets what was kept for them
    for observer in (dispatcher.message, dispatcher.callback_query):
        observer.outer_middleware(kept)
    dispatcher.callback_query.middleware(AnswerCallbacksMiddleware())
    billing = BillingMiddleware(KnownUsers())  # one for both: a user is looked up once
    for observer in (dispatcher.message, dispatcher.callback_query):
        observer.middleware(billing)
    dispatcher.include_router(create_root_router())
    return dispatcher
