"""SIGTERM/SIGHUP in the `caravan` command (controller.cli.signals): they stop
a command as Ctrl-C does, and a clean-up under way finishes first."""

from __future__ import annotations

import os
import signal

import pytest

from controller.cli import signals


def test_sigterm_raises_once_and_a_clean_up_under_way_finishes_first() -> None:
    before = signal.getsignal(signal.SIGTERM)
    cleaned = []
    with pytest.raises(signals.Terminated) as raised:
        with signals.handled():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                cleaned.append("not reached")  # the handler raised at once
            finally:
                os.kill(os.getpid(), signal.SIGTERM)  # the same signal again: ignored now
                cleaned.append("first")
    assert raised.value.signum == signal.SIGTERM and cleaned == ["first"]
    assert signal.getsignal(signal.SIGTERM) == before  # put back after the command

    with pytest.raises(signals.Terminated) as raised:
        with signals.handled():
            with signals.deferred():
                os.kill(os.getpid(), signal.SIGHUP)  # arrives during the clean-up...
                cleaned.append("second")  # ...which runs to its end
            cleaned.append("not reached")  # then it takes effect
    assert raised.value.signum == signal.SIGHUP and cleaned == ["first", "second"]


def test_a_second_ctrl_c_waits_for_the_clean_up_under_way() -> None:
    """`caravan demo` interrupted twice in quick succession left its daemons
    running: the second Ctrl-C cut the cluster's teardown short."""
    cleaned = []
    with pytest.raises(KeyboardInterrupt):
        with signals.deferred():
            os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C, during the teardown...
            cleaned.append("torn down")  # ...which runs to its end
        cleaned.append("not reached")  # then it takes effect
    assert cleaned == ["torn down"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
