"""The cluster commands' options are checked before any cluster is contacted:
bad input exits 2 with one line naming the option (README: exit codes), never
"internal error" (a protobuf range error) nor "no cluster" (exit 6).

These run the real CLI against a cluster directory that does not exist, so
nothing here starts a daemon: a check that passed would end in "no cluster"."""

from __future__ import annotations

import subprocess
import sys

import pytest

from support import guest

CARAVAN = [sys.executable, "-c", "from controller.cli import main; main()"]
NO_CLUSTER = "/nonexistent/caravan-cluster"


def caravan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CARAVAN, *args], capture_output=True, timeout=120)


def assert_bad_input(proc: subprocess.CompletedProcess, *words: bytes) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count(b"\n") == 1, proc.stderr
    assert b"internal error" not in proc.stderr and b"Traceback" not in proc.stderr, proc.stderr
    assert b"no cluster" not in proc.stderr, proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr


@pytest.mark.parametrize("args,words", [
    (["--shares", "-5"], [b"--shares", b"1<=x<=65536"]),
    (["--shares", "99999999999"], [b"--shares", b"1<=x<=65536"]),
    (["--shares", "0"], [b"--shares", b"1<=x<=65536"]),
    (["--memory", "99999999999999G"], [b"--memory", b"1M", b"16777215T"]),
    (["--memory", "100K"], [b"--memory", b"1M"]),
    (["--memory", "2000001"], [b"--memory", b"4K"]),
    (["--load-address", "-1"], [b"--load-address", b"0x80000000", b"0xffffffffffffffff"]),
    (["--load-address", "0"], [b"--load-address", b"0x80000000"]),
    (["--load-address", str(1 << 64)], [b"--load-address", b"0xffffffffffffffff"]),
    (["--disk-size", "99999999999999G"], [b"--disk-size", b"16777215T"]),
])
def test_vm_create_options(args: list[str], words: list[bytes]) -> None:
    assert_bad_input(caravan("vm", "create", "--image", guest("hello"), *args, "--dir", NO_CLUSTER), *words)


def test_vm_console_offset() -> None:
    assert_bad_input(caravan("vm", "console", "vm-1", "--offset", "-1", "--dir", NO_CLUSTER), b"--offset")


MIGRATE_BAD = [
    (["--max-rounds", "-1"], [b"--max-rounds", b"0<=x<=4294967295"]),
    (["--max-rounds", str(1 << 32)], [b"--max-rounds", b"0<=x<=4294967295"]),
    (["--downtime-ms", "-5"], [b"--downtime-ms", b"1", b"4294967295"]),
    (["--downtime-ms", "0"], [b"--downtime-ms", b"1", b"4294967295"]),
    (["--downtime-ms", "0.4"], [b"--downtime-ms", b"whole"]),   # was sent as 0, the default 50 ms
    (["--downtime-ms", "12.5"], [b"--downtime-ms", b"whole"]),  # was quietly 12
    (["--downtime-ms", "nan"], [b"--downtime-ms"]),
    (["--max-bandwidth", "99999999999999G"], [b"--max-bandwidth", b"16777215T"]),
    (["--timeout", "-1"], [b"--timeout", b"0"]),
    (["--timeout", "nan"], [b"--timeout", b"finite"]),
    (["--timeout", "inf"], [b"--timeout", b"finite"]),
    (["--on-timeout", "force"], [b"--on-timeout needs --timeout or --max-rounds"]),
    (["--on-timeout", "abort"], [b"--on-timeout needs --timeout or --max-rounds"]),
    (["--on-timeout", "force", "--timeout", "0"], [b"--on-timeout needs --timeout or --max-rounds"]),
]


@pytest.mark.parametrize("args,words", MIGRATE_BAD)
def test_migrate_options(args: list[str], words: list[bytes]) -> None:
    assert_bad_input(caravan("migrate", "vm-1", "node-2", *args, "--dir", NO_CLUSTER), *words)


@pytest.mark.parametrize("args,words", MIGRATE_BAD[:1] + MIGRATE_BAD[4:5] + MIGRATE_BAD[11:12])
def test_drain_options(args: list[str], words: list[bytes]) -> None:
    assert_bad_input(caravan("node", "drain", "node-1", *args, "--dir", NO_CLUSTER), *words)


@pytest.mark.parametrize("args", [
    [],
    ["--downtime-ms", "20", "--max-rounds", "5", "--on-timeout", "force"],
    ["--downtime-ms", "20.0", "--timeout", "2.5", "--on-timeout", "abort", "--max-bandwidth", "100M"],
    ["--max-rounds", "4294967295", "--compress", "zstd", "--detach"],
])
def test_good_migrate_options_reach_the_cluster(args: list[str]) -> None:
    proc = caravan("migrate", "vm-1", "node-2", *args, "--dir", NO_CLUSTER)
    assert proc.returncode == 6, proc.stderr
    assert b"no cluster" in proc.stderr


@pytest.mark.parametrize("args,words", [
    (["--nodes", "0"], [b"--nodes", b"x>=1"]),
    (["--capacity-memory", "64Q"], [b"--capacity-memory", b"invalid size"]),
    (["--capacity-memory", "100K"], [b"--capacity-memory", b"1M"]),
    (["--capacity-vcpus", "0"], [b"--capacity-vcpus", b"x>=1"]),
    (["--node-timeout", "0.5"], [b"--node-timeout", b"1"]),   # must outlast the 1 s heartbeat
    (["--backend", "kvm"], [b"--backend", b"interp"]),
])
def test_cluster_up_refuses_bad_options_before_starting_anything(tmp_path, args: list[str],
                                                                 words: list[bytes]) -> None:  # type: ignore[no-untyped-def]
    directory = tmp_path / "cluster"
    proc = caravan("cluster", "up", "--insecure", *args, "--dir", str(directory))
    assert_bad_input(proc, *words)
    assert not directory.exists()  # nothing started, no half-made cluster directory


DAEMON_MODULES = ("node.hypervisor", "node.server", "node.machine.machine", "controller.core", "controller.server")


@pytest.mark.parametrize("args", [["vm", "list"], ["migrate", "x", "node-2"], ["job", "list"], ["node", "list"],
                                  ["node", "drain", "node-1"]])
def test_a_cluster_command_does_not_load_the_emulator_or_the_daemons(args: list[str]) -> None:
    """Each command family is imported when it is used (controller.cli.lazy):
    `caravan vm list` loaded the whole emulator and both daemons, 0.8 s of a
    1 s command (2.5 s beside busy nodes)."""
    code = ("import atexit, sys\n"
            f"atexit.register(lambda: print('loaded:', [m for m in {DAEMON_MODULES!r} if m in sys.modules]))\n"
            "from controller.cli import main\n"
            f"main({[*args, '--dir', NO_CLUSTER]!r})\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert b"no cluster" in proc.stderr and proc.returncode == 6, proc.stderr
    assert proc.stdout.splitlines()[-1] == b"loaded: []", proc.stdout


def test_caravan_run_does_not_load_grpc() -> None:
    """`caravan run` reaches no cluster: the CLI's entry point imported gRPC
    (~0.17 s) only to catch the client's error type (controller.client_error)."""
    code = ("import atexit, sys\n"
            "atexit.register(lambda: print('grpc loaded:', 'grpc' in sys.modules))\n"
            "from controller.cli import main\n"
            f"main(['run', {guest('hello')!r}])\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert b"Hello from a Caravan guest!" in proc.stdout
    assert proc.stdout.splitlines()[-1] == b"grpc loaded: False", proc.stdout


def test_help_lists_every_command_family() -> None:
    top = caravan("--help")
    assert top.returncode == 0, top.stderr
    listed = {line.split()[0] for line in top.stdout.decode().split("Commands:")[1].splitlines() if line.strip()}
    assert listed == {"certs", "cluster", "controller", "demo", "job", "migrate", "node", "run", "vm", "vmstate"}
    node = caravan("node", "--help")
    assert all(f"  {name} ".encode() in node.stdout for name in ("cordon", "drain", "list", "serve", "uncordon"))
    assert caravan("nosuch").returncode == 2
