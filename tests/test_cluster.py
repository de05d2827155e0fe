"""A real local cluster driven through the `caravan` CLI: `cluster up --nodes 3`,
VMs that spread, consoles, cordon, stop/start/delete, SIGKILL of the
controller with nothing lost, a VM gone behind the controller's back becoming
lost, a killed node going down, and connections without a certificate refused."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import time
from pathlib import Path

import grpc
import pytest

from caravan import controller_pb2, controller_pb2_grpc, node_pb2, node_pb2_grpc
from controller.cluster import pid_alive
from support import guest

from clusters import CLI, Cluster


@pytest.fixture
def cluster(tmp_path: Path):  # type: ignore[no-untyped-def]
    c = Cluster(tmp_path / "cluster")
    up = c.json("cluster", "up", "--nodes", "3", "--node-timeout", "2")
    assert [m["state"] for m in up["members"]] == ["ready"] * 4  # type: ignore[index]
    yield c
    c.run("cluster", "down", check=False)


def test_cluster_end_to_end(cluster: Cluster, tmp_path: Path) -> None:
    nodes = cluster.json("node", "list")
    assert sorted(n["name"] for n in nodes) == ["node-1", "node-2", "node-3"]  # type: ignore[union-attr]
    assert all(n["state"] == "NODE_STATE_READY" for n in nodes)  # type: ignore[union-attr]

    # VMs spread over the nodes; placement explains itself.
    for i in range(3):
        cluster.run("vm", "create", "--image", guest("dirtier"), "--name", f"busy-{i}", "--memory", "32M",
                    "--set", "iterations=0")
    placed = {cluster.vms()[f"busy-{i}"]["vm"]["node"] for i in range(3)}
    assert placed == {"node-1", "node-2", "node-3"}
    shown = cluster.json("vm", "show", "busy-0")
    assert shown["placement"]["policy"] == "spread"  # type: ignore[index]
    assert shown["placement"]["reasons"][0].startswith(shown["vm"]["node"] + ": chosen")  # type: ignore[index]
    show_text = cluster.run("vm", "show", "busy-0").stdout
    assert "placement:" in show_text and "chosen" in show_text

    # Consoles.
    cluster.run("vm", "create", "--image", guest("hello"), "--name", "hello")
    cluster.wait(lambda: cluster.vms()["hello"]["vm"]["state"] == "VM_STATE_STOPPED", what="hello finishes")
    assert cluster.run("vm", "console", "hello").stdout == "Hello from a Caravan guest!\n"
    busy_console = cluster.run("vm", "console", "busy-0").stdout
    assert busy_console.startswith("dirtier start")

    # Cordon: a cordoned node gets nothing new.
    assert cluster.json("node", "cordon", "node-1")["cordoned"] is True  # type: ignore[index]
    for i in range(2):
        cluster.run("vm", "create", "--image", guest("hello"), "--name", f"c{i}", "--no-start")
        assert cluster.vms()[f"c{i}"]["vm"]["node"] != "node-1"
    assert cluster.json("node", "uncordon", "node-1")["cordoned"] is False  # type: ignore[index]

    # Anti-affinity and capacity refusals say why, with exit codes that mean it.
    for i in range(3):
        cluster.run("vm", "create", "--image", guest("hello"), "--name", f"g{i}", "--group", "db", "--no-start")
    refused = cluster.run("vm", "create", "--image", guest("hello"), "--name", "g3", "--group", "db", check=False)
    assert refused.returncode == 5 and "group 'db'" in refused.stderr
    too_big = cluster.run("vm", "create", "--image", guest("hello"), "--name", "huge", "--memory", "4G",
                          check=False)
    assert too_big.returncode == 5 and "not enough memory" in too_big.stderr
    missing = cluster.run("vm", "show", "nope", check=False)
    assert missing.returncode == 3 and missing.stderr.count("\n") == 1

    # Stop, start, delete.
    cluster.run("vm", "stop", "busy-2")
    assert cluster.vms()["busy-2"]["vm"]["state"] == "VM_STATE_STOPPED"
    cluster.run("vm", "start", "busy-2")
    assert cluster.vms()["busy-2"]["vm"]["state"] == "VM_STATE_RUNNING"
    cluster.run("vm", "rm", "busy-2")
    assert "busy-2" not in cluster.vms()

    # Snapshot through the controller to a local file, restore as a new VM.
    snap = tmp_path / "busy0.vmstate"
    cluster.run("vm", "snapshot", "busy-0", str(snap))
    assert cluster.run("vmstate", "verify", str(snap)).returncode == 0
    restored = cluster.json("vm", "restore", str(snap), "--name", "busy-0-copy")
    assert restored["vm"]["state"] == "VM_STATE_RUNNING"  # type: ignore[index]
    refused = cluster.run("vm", "restore", str(snap), "--name", "busy-0-copy", check=False)  # a taken name
    assert refused.returncode != 0 and "busy-0-copy" in refused.stderr
    assert not list((cluster.dir / "controller" / "incoming").iterdir())  # both uploads removed

    # SIGKILL the controller right after an acknowledged change: nothing is lost.
    cluster.run("vm", "create", "--image", guest("hello"), "--name", "last-word", "--no-start")
    before = cluster.vms()
    os.kill(cluster.config["controller_pid"], signal.SIGKILL)
    assert cluster.run("vm", "list", check=False).returncode == 6
    cluster.run("cluster", "up", "--nodes", "3", "--node-timeout", "2")
    after = cluster.vms()
    assert {n: (r["vm"]["vm_id"], r["vm"]["node"]) for n, r in after.items()} == \
        {n: (r["vm"]["vm_id"], r["vm"]["node"]) for n, r in before.items()}
    cluster.wait(lambda: cluster.vms()["busy-0"]["vm"]["stats"]["instructions"] != "0", what="reconciled")
    first = int(cluster.vms()["busy-0"]["vm"]["stats"]["instructions"])
    cluster.wait(lambda: int(cluster.vms()["busy-0"]["vm"]["stats"]["instructions"]) > first, what="still running")

    # A VM destroyed behind the controller's back becomes lost (never re-created).
    victim = cluster.vms()["busy-1"]
    node = next(n for n in cluster.config["nodes"] if n["name"] == victim["vm"]["node"])
    with cluster.tls_channel(node["address"]) as channel:
        stub = node_pb2_grpc.NodeServiceStub(channel)
        stub.StopVm(node_pb2.VmRef(vm_id=victim["vm"]["vm_id"]))
        stub.DestroyVm(node_pb2.VmRef(vm_id=victim["vm"]["vm_id"]))
    cluster.wait(lambda: cluster.vms()["busy-1"]["vm"]["state"] == "VM_STATE_LOST", what="lost")
    assert "no longer has" in cluster.vms()["busy-1"]["last_error"]
    time.sleep(2.5)
    assert cluster.vms()["busy-1"]["vm"]["state"] == "VM_STATE_LOST"
    cluster.run("vm", "rm", "busy-1")

    # A killed node goes down.
    node3 = next(n for n in cluster.config["nodes"] if n["name"] == "node-3")
    os.kill(node3["pid"], signal.SIGKILL)
    cluster.wait(lambda: {n["name"]: n["state"] for n in cluster.json("node", "list")}["node-3"]  # type: ignore[index,union-attr]
                 == "NODE_STATE_DOWN", timeout=30, what="node-3 down")
    status = cluster.run("cluster", "status", check=False)
    assert status.returncode == 1 and "node-3" in status.stdout, status  # a member is not ready


def test_connections_without_a_valid_certificate_are_refused(cluster: Cluster, tmp_path: Path) -> None:
    address = cluster.config["controller"]
    request = controller_pb2.ListNodesRequest()
    with cluster.tls_channel(address) as ok:
        assert len(controller_pb2_grpc.ControllerServiceStub(ok).ListNodes(request, timeout=10).nodes) == 3
    with grpc.insecure_channel(address) as plain:
        with pytest.raises(grpc.RpcError) as info:
            controller_pb2_grpc.ControllerServiceStub(plain).ListNodes(request, timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    with cluster.tls_channel(address, with_client_cert=False) as no_cert:
        with pytest.raises(grpc.RpcError) as info:
            controller_pb2_grpc.ControllerServiceStub(no_cert).ListNodes(request, timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    # A certificate from another CA is refused too.
    from node import tls

    other = tmp_path / "other"
    tls.init_ca(str(other), "Some other CA")
    files = tls.issue(str(other), "intruder")
    creds = grpc.ssl_channel_credentials((cluster.dir / "certs" / "ca.crt").read_bytes(),
                                         Path(files.key).read_bytes(), Path(files.cert).read_bytes())
    with grpc.secure_channel(address, creds) as intruder:
        with pytest.raises(grpc.RpcError) as info:
            controller_pb2_grpc.ControllerServiceStub(intruder).ListNodes(request, timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    # Nodes too: only cluster certificates get in.
    node_address = cluster.config["nodes"][0]["address"]
    with grpc.insecure_channel(node_address) as plain:
        with pytest.raises(grpc.RpcError):
            node_pb2_grpc.NodeServiceStub(plain).GetNodeInfo(node_pb2.GetNodeInfoRequest(), timeout=10)
    # And the daemons refuse to start without certificates unless told --insecure.
    proc = subprocess.run([*CLI, "controller", "serve", "--listen", "127.0.0.1:0", "--data", str(tmp_path / "c")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "mutual TLS is required" in proc.stderr


def test_cluster_down_and_up_keeps_running_vms(cluster: Cluster) -> None:
    cluster.run("vm", "create", "--image", guest("dirtier"), "--name", "keeper", "--memory", "32M",
                "--set", "iterations=0")
    cluster.wait(lambda: int(cluster.vms()["keeper"]["vm"]["stats"]["instructions"]) > 200_000, what="runs")
    status = cluster.json("cluster", "status")
    assert all(m["state"] == "ready" for m in status["members"])  # type: ignore[index]
    cluster.run("cluster", "down")
    down = cluster.run("cluster", "status", "-o", "json", check=False)
    assert down.returncode == 6, down.stderr  # no controller: unreachable (README: exit codes)
    stopped = json.loads(down.stdout)["members"]
    assert all(m["state"] == "stopped" and m["pid"] is None for m in stopped)
    cluster.run("cluster", "up", "--nodes", "3", "--node-timeout", "2")
    cluster.wait(lambda: cluster.vms()["keeper"]["vm"]["state"] == "VM_STATE_RUNNING", what="resumed")
    cluster.wait(lambda: int(cluster.vms()["keeper"]["vm"]["stats"]["instructions"]) > 200_000, what="continues")
    console = cluster.run("vm", "console", "keeper").stdout
    assert console.count("dirtier start") == 1  # resumed, not rebooted


def test_a_restored_vm_boots_again_after_it_powers_off(cluster: Cluster, tmp_path: Path) -> None:
    """A VM restored from a snapshot came as state, not as boot images; once
    it powers off, a start boots it again exactly as the VM it was saved from
    — also after its node restarted (what it boots from is on disk)."""
    cluster.run("vm", "create", "--image", guest("dirtier"), "--name", "orig", "--memory", "32M",
                "--node", "node-1", "--set", "iterations=20000", "--set", "report_every=2000")  # ~7 s: saved first
    (tmp_path / "snaps").mkdir()
    snap = tmp_path / "snaps" / "orig.vmstate"
    # A snapshot that cannot be written whole (the file size limit, as a full disk) leaves nothing behind.
    cut = subprocess.run([*CLI, "vm", "snapshot", "orig", str(snap)], capture_output=True, text=True,
                         env=cluster.env, timeout=120, preexec_fn=_small_file_limit)
    assert cut.returncode == 1 and "cannot write" in cut.stderr, cut.stderr
    assert list((tmp_path / "snaps").iterdir()) == []
    cluster.run("vm", "snapshot", "orig", str(snap))
    cluster.run("vm", "restore", str(snap), "--name", "copy")
    first = cluster.wait_powered_off("orig", 1, "dirtier done")
    assert cluster.wait_powered_off("copy", 1, "dirtier done") == first
    cluster.run("cluster", "down")
    cluster.run("cluster", "up", "--nodes", "3", "--node-timeout", "2")
    for name in ("orig", "copy"):  # consoles start empty on a restarted node
        cluster.run("vm", "start", name)
    again = cluster.wait_powered_off("orig", 1, "dirtier done")
    assert again == first
    assert cluster.wait_powered_off("copy", 1, "dirtier done") == again
    orig, copy = cluster.vms()["orig"]["vm"], cluster.vms()["copy"]["vm"]
    assert copy["state_digest"] == orig["state_digest"]
    assert copy["exit_code"] == orig["exit_code"] == 0


def test_a_cluster_that_fails_to_start_leaves_nothing_running(tmp_path: Path) -> None:
    """`cluster up` whose nodes cannot start stops the controller it started
    (it stayed running, with no node, and nothing recorded it)."""
    c = Cluster(tmp_path / "cluster")
    # A node that cannot start (its data directory is a file): the CLI checks its options before
    # starting anything (tests/test_cli_input.py), so a bad option no longer gets this far.
    (tmp_path / "cluster" / "nodes").mkdir(parents=True)
    (tmp_path / "cluster" / "nodes" / "node-2").write_text("not a directory")
    proc = c.run("cluster", "up", "--nodes", "2", check=False)
    assert proc.returncode != 0 and "exited during start-up" in proc.stderr, proc.stderr
    assert "node-2" in proc.stderr
    pid = c.config["controller_pid"]
    assert pid > 0 and not pid_alive(pid)


def test_daemons_stop_when_the_process_they_exit_with_is_killed(tmp_path: Path) -> None:
    """`cluster up` under $CARAVAN_EXIT_WITH (as every test runs): when that
    process dies, even by SIGKILL, the controller and nodes stop gracefully
    instead of running on as orphans."""
    holder = subprocess.Popen(["sleep", "600"])
    try:
        c = Cluster(tmp_path / "cluster")
        c.env["CARAVAN_EXIT_WITH"] = str(holder.pid)
        c.run("cluster", "up", "--nodes", "2")
        pids = [c.config["controller_pid"], *(n["pid"] for n in c.config["nodes"])]
        time.sleep(1)
        assert all(pid_alive(pid) for pid in pids)  # the CLI that started them has exited; they serve on
        holder.kill()
        holder.wait()
        c.wait(lambda: not any(pid_alive(pid) for pid in pids), timeout=30, what="the daemons stop")
        logs = [p.read_text() for p in (tmp_path / "cluster").rglob("*.log")]
        assert sum('"event": "stopped"' in log for log in logs) == 3, logs  # gracefully, each of them
    finally:
        holder.kill()
        c.run("cluster", "down", check=False)


def test_exit_with_a_process_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    proc = subprocess.run([*CLI, "node", "serve", "--listen", "127.0.0.1:0", "--data", str(tmp_path),
                           "--insecure", "--exit-with", "999999999"], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "there is no process 999999999" in proc.stderr, proc.stderr


def test_a_restarted_cluster_keeps_the_options_its_members_were_started_with(tmp_path: Path) -> None:
    """`cluster up` on a stopped cluster starts each member as it first was
    (it used to give restarted nodes the default capacity); an option given
    again applies to the members it starts, and added nodes take the cluster's."""
    c = Cluster(tmp_path / "cluster")

    def capacities() -> dict[str, tuple[int, int]]:
        nodes = json.loads(c.run("node", "list", "-o", "json").stdout)
        return {n["name"]: (int(n["capacity"]["memory_bytes"]), n["capacity"]["vcpus"]) for n in nodes}

    try:
        c.run("cluster", "up", "--nodes", "1", "--capacity-memory", "64M", "--capacity-vcpus", "2")
        assert capacities() == {"node-1": (64 << 20, 2)}
        c.run("cluster", "down")
        c.run("cluster", "up", "--nodes", "2")
        assert capacities() == {"node-1": (64 << 20, 2), "node-2": (64 << 20, 2)}
        c.run("cluster", "down")
        c.run("cluster", "up", "--capacity-vcpus", "3")
        assert capacities() == {"node-1": (64 << 20, 3), "node-2": (64 << 20, 3)}
        node_1 = c.config["nodes"][0]["pid"]
        os.kill(node_1, signal.SIGTERM)
        c.wait(lambda: not pid_alive(node_1), timeout=60, what="node-1 stops")
        c.run("cluster", "up")
        assert capacities() == {"node-1": (64 << 20, 3), "node-2": (64 << 20, 3)}
    finally:
        c.run("cluster", "down", check=False)


def _small_file_limit() -> None:
    """In a child: files of at most 64 KiB (a write past it fails with EFBIG)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))


def _thread_cpus(pid: int) -> set[str]:
    """The CPU lists the threads of process ``pid`` may run on."""
    lists = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                lists.add(line.split(":", 1)[1].strip())
    return lists


def test_cluster_up_pin_gives_each_node_its_own_cpus_and_a_restart_keeps_them(tmp_path: Path) -> None:
    """`cluster up --pin`: every thread of node-i runs on the CPUs the plan
    gives it (its own ones when there are enough), recorded in cluster.json;
    a restart keeps them, and `--no-pin` undoes them."""
    from node.cpus import available, format_cpu_list, plan

    everywhere = format_cpu_list(available())  # what this process, and so the CLI, may use
    expected = [format_cpu_list(cpus) for cpus in plan(2, sorted(available()))]
    c = Cluster(tmp_path / "cluster")
    try:
        c.run("cluster", "up", "--nodes", "2", "--pin")
        nodes = c.config["nodes"]
        assert [n["cpus"] for n in nodes] == expected
        assert [_thread_cpus(n["pid"]) for n in nodes] == [{e} for e in expected]
        assert _thread_cpus(c.config["controller_pid"]) == {everywhere}  # only nodes are pinned
        log = (tmp_path / "cluster" / "logs" / "node-1.log").read_text()
        assert f'"cpus": "{expected[0]}"' in log  # the node says where it runs
        c.run("cluster", "down")
        c.run("cluster", "up")
        assert [_thread_cpus(n["pid"]) for n in c.config["nodes"]] == [{e} for e in expected]
        c.run("cluster", "down")
        c.run("cluster", "up", "--no-pin")
        assert [n["cpus"] for n in c.config["nodes"]] == [None, None]
        assert [_thread_cpus(n["pid"]) for n in c.config["nodes"]] == [{everywhere}] * 2
    finally:
        c.run("cluster", "down", check=False)


@pytest.mark.parametrize("cpus, says", [("1-0", "not a CPU range"), ("two", "is not a CPU list"),
                                         ("4096", "CPU 4096 is not online here")])
def test_node_serve_refuses_cpus_it_cannot_run_on(tmp_path: Path, cpus: str, says: str) -> None:
    proc = subprocess.run([*CLI, "node", "serve", "--listen", "127.0.0.1:0", "--data", str(tmp_path),
                           "--insecure", "--cpus", cpus], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and f"--cpus {cpus}: " in proc.stderr and says in proc.stderr, proc.stderr
    assert not any(tmp_path.iterdir())  # refused before anything was made
