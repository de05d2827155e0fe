"""Pinning daemons to host CPUs (node.cpus): CPU lists, the plan that
`cluster up --pin` follows, and pinning a process with all its threads."""

from __future__ import annotations

import subprocess
import sys

import pytest

from node.cpus import format_cpu_list, online, parse_cpu_list, plan


def test_cpu_lists_read_and_write_the_kernel_syntax() -> None:
    assert parse_cpu_list("0") == {0}
    assert parse_cpu_list("0-2,5, 7-8") == {0, 1, 2, 5, 7, 8}
    assert format_cpu_list({8, 0, 1, 2, 5, 7}) == "0-2,5,7-8"
    assert format_cpu_list(parse_cpu_list("3,1-2")) == "1-3"
    for bad in ("", "x", "1-", "-1", "3-1", "1,,2", "0x1", "0-4000000000"):
        with pytest.raises(ValueError, match="CPU"):
            parse_cpu_list(bad)


def test_the_plan_gives_each_daemon_its_own_cpus_when_there_are_enough() -> None:
    assert plan(2, [0, 1]) == [{0}, {1}]
    assert plan(2, [0, 1, 2, 3, 4]) == [{0, 1}, {2, 3}]  # equal shares; the rest unused
    assert plan(3, [4, 6, 5]) == [{4}, {5}, {6}]
    assert plan(3, [0, 1]) == [{0}, {1}, {0}]  # fewer CPUs than daemons: one each, in turn
    with pytest.raises(ValueError):
        plan(2, [])


PIN = r"""
import os, sys, threading, time
from node.cpus import parse_cpu_list, pin_process
before = threading.Thread(target=time.sleep, args=(2,), daemon=True)
before.start()
try:
    pin_process(parse_cpu_list(sys.argv[1]))
except ValueError as exc:
    print("refused:", exc)
    sys.exit(3)
after = threading.Thread(target=time.sleep, args=(2,), daemon=True)
after.start()
masks = set()
for task in os.listdir("/proc/self/task"):
    masks.add(frozenset(os.sched_getaffinity(int(task))))
print(sorted(map(sorted, masks)))
"""


def _pin(cpus: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PIN, cpus], capture_output=True, text=True, timeout=60)


def test_pinning_a_process_pins_the_threads_it_has_and_the_ones_it_starts() -> None:
    first = min(online())
    proc = _pin(str(first))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == f"[[{first}]]"  # every thread: the one before, the one after, the main one


def test_pinning_to_a_cpu_that_is_not_online_is_refused_with_the_ones_that_are() -> None:
    missing = max(online()) + 1
    proc = _pin(f"{min(online())},{missing}")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert f"CPU {missing} is not online here (the online CPUs are {format_cpu_list(online())})" in proc.stdout
