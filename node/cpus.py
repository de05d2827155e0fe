"""Pinning a daemon to host CPUs: ``node serve --cpus LIST`` and
``caravan cluster up --pin``.

A node that shares the host's CPUs with other nodes competes with them for
every cycle: on a small machine running a whole local cluster, a migration's
source guest and sender take CPU time from its destination, which separate
hosts never do. Pinning gives each node its own CPUs, as libvirt's
``<emulatorpin>`` and Firecracker's jailer cpuset do for a VMM: the node's
threads, its event loop, its guests and gRPC's, then run only there.

CPU lists use the kernel's syntax (``0-3,6``, as in ``taskset -c`` and
``/sys/devices/system/cpu/online``).
"""

from __future__ import annotations

import os
from typing import Iterable, Sequence

MAX_CPU = 8191  # CONFIG_NR_CPUS at most (x86-64's MAXSMP)


def parse_cpu_list(text: str) -> frozenset[int]:
    """``"0-2,5"`` -> {0, 1, 2, 5}. Raises ValueError naming what is wrong."""
    cpus: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        low, dash, high = part.partition("-")
        try:
            first = int(low)
            last = int(high) if dash else first
        except ValueError:
            raise ValueError(f"{text!r} is not a CPU list (expected e.g. 0, 0-3 or 0,2-3)") from None
        if first < 0 or last < first:
            raise ValueError(f"{part!r} in {text!r} is not a CPU range")
        if last > MAX_CPU:
            raise ValueError(f"CPU {last} in {text!r} is past the largest CPU number Linux has ({MAX_CPU})")
        cpus.update(range(first, last + 1))
    return frozenset(cpus)


def format_cpu_list(cpus: Iterable[int]) -> str:
    """{0, 1, 2, 5} -> ``"0-2,5"``."""
    runs: list[list[int]] = []
    for cpu in sorted(cpus):
        if runs and cpu == runs[-1][1] + 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def online() -> frozenset[int]:
    """The host's online CPUs (``/sys/devices/system/cpu/online``)."""
    try:
        with open("/sys/devices/system/cpu/online") as f:
            return parse_cpu_list(f.read().strip())
    except (OSError, ValueError):
        return frozenset(range(os.cpu_count() or 1))


def available() -> frozenset[int]:
    """The CPUs this thread may run on now (and the processes it starts)."""
    return frozenset(os.sched_getaffinity(0))


def pin_process(cpus: frozenset[int]) -> None:
    """Run every thread of this process, and every thread it starts later,
    on ``cpus`` only. Raises ValueError when a CPU is not online, or not
    one this process may use (a container's cpuset)."""
    if not cpus:
        raise ValueError("an empty CPU list")
    missing = cpus - online()
    if missing:
        raise ValueError(f"CPU {format_cpu_list(missing)} is not online here "
                         f"(the online CPUs are {format_cpu_list(online())})")
    try:
        os.sched_setaffinity(0, cpus)  # this thread: the threads it starts inherit it
    except OSError as exc:  # EINVAL: none of them allowed here
        raise ValueError(f"cannot run on CPUs {format_cpu_list(cpus)}: {exc.strerror}") from None
    if available() != cpus:  # the kernel keeps only the allowed ones
        raise ValueError(f"CPU {format_cpu_list(cpus - available())} may not be used by this process "
                         f"(it may use {format_cpu_list(available())})")
    for task in os.listdir("/proc/self/task"):  # threads already running (none, usually)
        try:
            os.sched_setaffinity(int(task), cpus)
        except ProcessLookupError:  # ended meanwhile
            pass


def plan(count: int, cpus: Sequence[int]) -> list[frozenset[int]]:
    """CPU sets for ``count`` daemons sharing ``cpus``: disjoint, of equal
    size, when there are at least as many CPUs as daemons (a remainder
    unused); one CPU each, taken in turn, when there are fewer."""
    ordered = sorted(cpus)
    if not ordered or count < 1:
        raise ValueError("nothing to plan: no CPUs or no daemons")
    each = len(ordered) // count
    if each == 0:
        return [frozenset({ordered[i % len(ordered)]}) for i in range(count)]
    return [frozenset(ordered[i * each:(i + 1) * each]) for i in range(count)]
