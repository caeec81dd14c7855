"""How the routers are put together, checked without a chat."""

from __future__ import annotations

from collections.abc import Iterator

from aiogram import Router

from medialab.bot.dispatcher import create_root_router


def routers(root: Router) -> Iterator[Router]:
    yield root
    for sub in root.sub_routers:
        yield from routers(sub)


def test_no_handler_or_filter_runs_in_a_thread() -> None:
    """aiogram runs a plain (non-async) callable in a worker thread: a thread hop per update
    for a filter such as `F.text` or a bare `State`. Every handler and filter must be async."""
    checked, in_threads = 0, []
    for router in routers(create_root_router()):
        for name, observer in router.observers.items():
            # The router's own filters (router.message.filter(...)) come before its handlers'.
            in_threads += [f"{router.name}.{name} <- {f.callback!r}"
                           for f in observer._handler.filters or [] if not f.awaitable]
            for handler in observer.handlers:
                checked += 1
                for part in (handler, *(handler.filters or [])):
                    if not part.awaitable:
                        in_threads.append(f"{router.name}.{name}: {handler.callback.__name__} <- {part.callback!r}")
    assert checked > 20  # the walk reached the routers' handlers
    assert in_threads == []
