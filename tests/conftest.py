"""Shared pytest configuration: the --seeds option of the random differential
test; the `cluster` fixture (3 nodes); daemons that tests start stop when the
test process exits."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from clusters import Cluster

# Every `caravan node serve` / `controller serve` a test starts (directly or
# through `caravan cluster up`) inherits this and stops gracefully once this
# process is gone, even when it is killed outright and no teardown runs.
os.environ["CARAVAN_EXIT_WITH"] = str(os.getpid())

# The Ctrl-C tests send SIGINT to this process and to the CLIs it starts. A
# shell that runs the suite in the background (`.ci/run &`) hands it SIGINT
# ignored, which Python and every child would keep: the tests would see no
# Ctrl-C at all. They need the interactive default, so it is put back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_addoption(parser):  # type: ignore[no-untyped-def]
    parser.addoption("--seeds", type=int, default=None,
                     help="run the random differential test for this many seeds (default: a fixed set)")


@pytest.fixture
def cluster(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A real 3-node local cluster (`caravan cluster up`), stopped afterwards."""
    c = Cluster(tmp_path / "cluster")
    c.run("cluster", "up", "--nodes", "3", "--node-timeout", "3")
    yield c
    c.run("cluster", "down", check=False)
