"""One private event loop per process, on a thread of its own: a host calls flo from any
thread and any event loop (or none), and what flo keeps open across calls (one client per
account) lives on this loop, so it is never used from a loop it was not made on."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class Portal:
    """An event loop running forever on a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="flo-hosts", daemon=True)
        self.thread.start()

    def call(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the portal and wait for it: for synchronous callers, with or
        without an event loop of their own running in their thread. Interrupting the wait
        (Ctrl-C, a host's timeout) cancels the work."""
        if threading.current_thread() is self.thread:
            work.close()
            raise RuntimeError("flo's host calls cannot wait for themselves on their own loop")
        running = asyncio.run_coroutine_threadsafe(work, self.loop)
        try:
            return running.result()
        except BaseException:
            running.cancel()
            raise

    async def call_async(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the portal and await it from any event loop; cancelling the
        caller cancels the work."""
        if asyncio.get_running_loop() is self.loop:
            return await work
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self.loop))


_portal: Portal | None = None
_lock = threading.Lock()


def portal() -> Portal:
    """This process's portal."""
    global _portal
    with _lock:
        if _portal is None:
            _portal = Portal()
        return _portal


def _forget_in_child() -> None:
    """A forked child has no portal thread (threads do not survive a fork): it makes its
    own, under a lock of its own."""
    global _portal, _lock
    _portal, _lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)
