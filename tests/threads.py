"""Run work on a fresh thread, away from whatever the test session's main thread holds.

Playwright's sync API (tests/system/browser, session-scoped) keeps an asyncio loop running on the
main thread, in a greenlet, for the rest of the session: `asyncio.run` then refuses to start and
CPython 3.11's `ast` trips over the greenlet's recursion bookkeeping. A new thread has neither.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


def on_fresh_thread(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run(coro) on a fresh thread."""
    return on_fresh_thread(asyncio.run, coro)
