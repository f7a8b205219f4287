"""Signals while a command runs its event loop, and after it: each is handled where the
command expects it, and a Ctrl-C that comes while the command is finishing (writing what it
did, the interpreter stopping) does nothing, instead of a KeyboardInterrupt at a random
place ("Exception ignored in threading._shutdown ... KeyboardInterrupt")."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType


def on_signals(callback: Callable[[], None], *signals: signal.Signals) -> None:
    """Each of ``signals`` calls ``callback`` in the running event loop (call from it, in the
    main thread); once the loop has closed, they do nothing. Unlike the loop's own
    ``add_signal_handler``, closing the loop does not put Python's KeyboardInterrupt back."""
    import asyncio

    loop = asyncio.get_running_loop()

    def handler(signum: int, frame: FrameType | None) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(callback)

    for sig in signals:
        signal.signal(sig, handler)


def finishing() -> None:
    """From now on Ctrl-C does nothing: the command is ending (call from the main thread)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
