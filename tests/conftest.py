"""Shared pytest configuration: the --seeds option of the random differential
test; daemons that tests start stop when the test process exits."""

from __future__ import annotations

import os

# Every `caravan node serve` / `controller serve` a test starts (directly or
# through `caravan cluster up`) inherits this and stops gracefully once this
# process is gone, even when it is killed outright and no teardown runs.
os.environ["CARAVAN_EXIT_WITH"] = str(os.getpid())


def pytest_addoption(parser):  # type: ignore[no-untyped-def]
    parser.addoption("--seeds", type=int, default=None,
                     help="run the random differential test for this many seeds (default: a fixed set)")
