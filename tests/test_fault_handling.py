"""Failures of what lies under the daemons — a full disk, a damaged store, a
hung member — said for what they are, with nothing leaked and nothing of a
healthy member stopped (found by fault injection against a real cluster)."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
import pytest

from caravan import node_pb2
from controller import cluster as cluster_module
from controller.client import ClientError, fail
from controller.cluster import UpOptions, down, pid_alive, up
from controller.jobs import Jobs
from controller.store import Store, VmRow
from node.rpc import Calls


class _Aborted(Exception):
    pass


class _Context:
    """What a servicer method's wrapper needs of a call's context."""

    def __init__(self) -> None:
        self.code: grpc.StatusCode | None = None
        self.details = ""

    def invocation_metadata(self) -> tuple:
        return ()

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.code, self.details = code, details
        raise _Aborted()


class _Servicer:
    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.counted: list[tuple[str, grpc.StatusCode]] = []

    def count(self, method: str, code: grpc.StatusCode) -> None:
        self.counted.append((method, code))


class _ServiceError(Exception):
    pass


CALLS = Calls(_ServiceError, {}, "vm_id", __import__("structlog").get_logger())


@CALLS.unary
async def _method(servicer: _Servicer, request: Any, context: Any) -> None:
    raise servicer.error


@pytest.mark.parametrize("error,code,words", [
    (OSError(errno.ENOSPC, "No space left on device"), grpc.StatusCode.RESOURCE_EXHAUSTED, "out of disk space"),
    (OSError(errno.EIO, "Input/output error"), grpc.StatusCode.INTERNAL, "the host failed"),
    (sqlite3.OperationalError("database or disk is full"), grpc.StatusCode.RESOURCE_EXHAUSTED, "database"),
    (sqlite3.OperationalError("disk I/O error"), grpc.StatusCode.INTERNAL, "database failed"),
])
async def test_a_failure_of_the_host_is_a_status_that_says_so(error: BaseException, code: grpc.StatusCode,
                                                             words: str) -> None:
    """A full disk under a node answered gRPC's UNKNOWN, "Unexpected <class
    'OSError'>", which the CLI took for an unreachable node (exit 6) and the
    controller for an unanswered create (it kept a ghost VM)."""
    servicer, context = _Servicer(error), _Context()
    with pytest.raises(_Aborted):
        await _method(servicer, node_pb2.VmRef(vm_id="v"), context)
    assert context.code is code and words in context.details and str(error) in context.details
    assert servicer.counted == [("_method", code)]


def test_an_empty_controller_store_is_refused(tmp_path: Path) -> None:
    """A controller.db cut to 0 bytes opened as a new store: the controller
    started knowing no VM while the nodes ran them."""
    store = Store(str(tmp_path))
    Path(store.path).write_bytes(b"")

    async def open_it() -> None:
        try:
            await store.open()
        finally:
            await store.close()
    with pytest.raises(RuntimeError, match="is empty"):
        asyncio.run(open_it())


async def test_a_job_that_cannot_be_recorded_releases_its_reservation() -> None:
    """The controller's store failing (its disk full) after the destination
    reserved capacity for a migration: the reservation was held for its
    hour-long lifetime."""
    released: list[str] = []

    class Stub:
        async def Reserve(self, request: Any, timeout: float | None = None) -> Any:
            return SimpleNamespace(reservation_id=request.reservation_id)

        async def Release(self, request: Any, timeout: float | None = None) -> Any:
            released.append(request.reservation_id)

    async def put_job(job: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    vm = VmRow(id="v1", name="v", node="a", state="running", desired="running", memory=16 << 20, shares=1024)

    async def refresh_vm(row: VmRow) -> VmRow:
        return row
    controller = SimpleNamespace(
        nodes={"a": SimpleNamespace(state="ready")}, refresh_vm=refresh_vm,
        _decide=lambda *args, **kwargs: SimpleNamespace(node="b"), node_stub=lambda name: Stub(),
        store=SimpleNamespace(put_job=put_job))
    jobs = Jobs(controller)  # type: ignore[arg-type]
    with pytest.raises(sqlite3.OperationalError):
        await jobs._start(vm, "b", node_pb2.MigrationParams())
    assert len(released) == 1 and released[0].startswith("mig-")
    assert not jobs.rows and not jobs.tasks


class _RpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def test_the_cli_blames_the_controller_only_for_its_own_connection() -> None:
    """A node the controller cannot reach was reported as "cannot reach the
    controller" (the controller's answer said "failed")."""
    own = fail(_RpcError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; last error: "
                         "UNKNOWN: ipv4:127.0.0.1:1: Failed to connect to remote host: Connection refused"))
    assert str(own).startswith("cannot reach the controller") and own.exit_code == 6
    relayed = fail(_RpcError(grpc.StatusCode.UNAVAILABLE, "node node-2 cannot take VM m1: failed to connect to "
                             "all addresses"), "cannot migrate m1")
    assert str(relayed) == "cannot migrate m1: node node-2 cannot take VM m1: failed to connect to all addresses"
    assert relayed.exit_code == 6


def test_the_cli_says_when_the_controller_stopped_during_a_call() -> None:
    """`vm console --follow` ended with gRPC's bare "Cancelling all calls"
    when the controller shut down under it."""
    stopped = fail(_RpcError(grpc.StatusCode.UNAVAILABLE, "Cancelling all calls"), "console of t")
    assert str(stopped) == "console of t: the controller stopped during the call (Cancelling all calls)"
    assert stopped.exit_code == 6


def test_cluster_up_with_a_hung_node_keeps_the_rest_running(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """`cluster up` restarting a dead controller beside a hung node (SIGSTOP)
    waited for that node, gave up and stopped the controller it had just
    started: the healthy nodes were left without one."""
    directory = str(tmp_path / "c")
    config = up(directory, UpOptions(nodes=2))
    hung = next(int(n["pid"]) for n in config.nodes if n["name"] == "node-2")
    try:
        os.kill(hung, signal.SIGSTOP)
        os.kill(config.controller_pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while pid_alive(config.controller_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        monkeypatch.setattr(cluster_module, "START_TIMEOUT", 6.0)
        with pytest.raises(ClientError, match="node-2 is running but did not register .* the rest of the cluster "
                                              "is up"):
            up(directory, UpOptions())
        restarted = cluster_module.ClusterConfig.load(directory)
        assert restarted.controller_pid != config.controller_pid and pid_alive(restarted.controller_pid)
        assert pid_alive(hung)
    finally:
        os.kill(hung, signal.SIGCONT)
        down(directory)


def test_cluster_down_says_which_vm_states_were_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A node that could not save a VM at shutdown (its disk full) logged it
    and exited; `cluster down` printed "stopped ..." and exited 0, as it did
    for a node it had to kill. Now the node's exit report (`node serve
    --exit-file`) names the VM, a killed node is named, so is a node that
    could not write its report, and the command exits 1."""
    from click.testing import CliRunner

    from clusters import CLI
    from controller.cli import cli
    from support import guest

    directory = str(tmp_path / "c")
    config = up(directory, UpOptions(nodes=3))
    hung = next(int(n["pid"]) for n in config.nodes if n["name"] == "node-2")
    try:
        env = {**os.environ, "CARAVAN_DIR": directory}
        created = subprocess.run([*CLI, "vm", "create", "--image", guest("dirtier"), "--name", "keeper",
                                  "--memory", "16M", "--node", "node-1", "--set", "iterations=0", "-o", "json"],
                                 capture_output=True, text=True, env=env, timeout=120)
        assert created.returncode == 0, created.stderr
        vm_id = json.loads(created.stdout)["vm"]["vm_id"]
        # Where the node saves the VM's state is taken (as by a full disk: the save fails).
        (Path(directory) / "nodes" / "node-1" / "vms" / vm_id / "saved.vmstate").mkdir()
        (Path(directory) / "node-3.exit.tmp").mkdir()  # where node-3 writes its report is taken too
        os.kill(hung, signal.SIGSTOP)
        monkeypatch.setattr(cluster_module, "STOP_TIMEOUT", 2.0)
        result = CliRunner().invoke(cli, ["cluster", "down", "--dir", directory])
        assert result.exit_code == 1, result.output
        assert result.stdout == "stopped node-1, node-2, node-3, controller\n"
        errors = result.stderr.splitlines()
        assert len(errors) == 3, errors
        assert errors[0].startswith(f"error: node-1: the state of VM keeper ({vm_id}) could not be saved at "
                                    f"shutdown, it is stopped: "), errors
        assert errors[1].startswith("error: node-2 did not stop within 2 s and was killed"), errors
        assert errors[2].startswith("error: node-3 stopped without an exit report: whether it saved its running "
                                    "VMs is in its log"), errors
        report = json.loads((Path(directory) / "node-1.exit").read_text())
        assert [lost["vm_id"] for lost in report["lost"]] == [vm_id]
        assert not pid_alive(hung)
    finally:
        if pid_alive(hung):
            os.kill(hung, signal.SIGCONT)
        down(directory)


def test_a_vm_whose_definition_is_damaged_is_lost_and_rm_removes_its_files(tmp_path: Path) -> None:
    """A node skips a VM directory whose vm.json it cannot read (the VM is
    lost to the controller), but `vm rm` of that VM only forgot it: the
    directory stayed on the node for good, its disk image with it."""
    from clusters import Cluster
    from support import guest

    cluster = Cluster(tmp_path / "c")
    cluster.run("cluster", "up", "--nodes", "1")
    try:
        created = cluster.json("vm", "create", "--image", guest("hello"), "--name", "damaged", "--memory", "16M",
                               "--disk-size", "1M")
        vm_dir = tmp_path / "c" / "nodes" / "node-1" / "vms" / created["vm"]["vm_id"]  # type: ignore[index]
        cluster.run("cluster", "down")
        (vm_dir / "vm.json").write_text("{")  # cut short (a crash of the disk under it, an edit gone wrong)
        cluster.run("cluster", "up")
        cluster.wait(lambda: cluster.vms()["damaged"]["vm"]["state"] == "VM_STATE_LOST", what="lost")
        assert vm_dir.exists()  # kept while the VM is known: its disk may be wanted
        cluster.run("vm", "rm", "damaged")
        assert not vm_dir.exists() and "damaged" not in cluster.vms()
    finally:
        cluster.run("cluster", "down", check=False)
