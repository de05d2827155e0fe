"""SIGTERM and SIGHUP in the ``caravan`` command: stop a command as Ctrl-C does.

Python's default for either is to die on the spot, which leaves behind what
the command started (``caravan demo`` left its controller and three nodes
running their guests). :func:`handled` (around every command) turns the first
of them into :class:`Terminated`, raised in the main thread so that clean-ups
(``finally``) run; :func:`deferred` keeps a clean-up that is already running
from being cut short. The daemons replace these handlers with their own
(node.daemon: a graceful stop).
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from typing import Iterator

TERMINATING = (signal.SIGTERM, signal.SIGHUP)


class Terminated(BaseException):
    """SIGTERM or SIGHUP (a BaseException, as KeyboardInterrupt is, so that no
    ``except Exception`` swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _terminate(signum: int, _frame: object) -> None:
    # Once: the clean-up this unwinds to is not cut short by the same signal
    # again (``timeout`` sends it to the command and then to its process group).
    for sig in TERMINATING:
        signal.signal(sig, signal.SIG_IGN)
    raise Terminated(signum)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def handled() -> Iterator[None]:
    """SIGTERM/SIGHUP raise :class:`Terminated` while the block runs."""
    if not _main_thread():  # signal handlers belong to the main thread
        yield
        return
    previous = {sig: signal.signal(sig, _terminate) for sig in TERMINATING}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def deferred() -> Iterator[None]:
    """Run a clean-up to its end: SIGTERM, SIGHUP and SIGINT (an impatient
    second Ctrl-C) arriving meanwhile take effect after it, as they would
    have before it."""
    if not _main_thread():
        yield
        return
    arrived: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: arrived.append(signum))
                for sig in (*TERMINATING, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if arrived:
        handler = previous[arrived[0]]
        if callable(handler):
            handler(arrived[0], None)
        elif handler == signal.SIG_DFL:
            os.kill(os.getpid(), arrived[0])
