"""The controller under concurrent requests and stale state, on a real
3-node cluster: requests that race each other get one answer each (one VM
per name, anti-affinity kept, one migration per VM), names never shadow ids,
a drain waits for migrations under way, and a stale copy of a VM on a node
it has left is removed."""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path

import grpc

from caravan import controller_pb2, controller_pb2_grpc, node_pb2, node_pb2_grpc, types_pb2
from clusters import Cluster
from support import guest


def _in_parallel(calls: list) -> list[object]:  # type: ignore[type-arg]
    """Run the calls at once; each result is its return value or its RpcError."""
    def attempt(call):  # type: ignore[no-untyped-def]
        try:
            return call()
        except grpc.RpcError as exc:
            return exc
    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(attempt, calls))


def _spec(name: str, kernel: bytes, **extra: object) -> types_pb2.VmSpec:
    return types_pb2.VmSpec(name=name, memory_bytes=16 << 20, kernel=kernel, image_name="dirtier.elf", **extra)


def test_concurrent_creates_keep_names_unique_and_groups_apart(cluster: Cluster) -> None:
    kernel = Path(guest("dirtier")).read_bytes()
    with cluster.tls_channel(cluster.config["controller"]) as channel:
        controller = controller_pb2_grpc.ControllerServiceStub(channel)
        same = _in_parallel([lambda n=n: controller.CreateVm(controller_pb2.ControllerCreateVmRequest(
            spec=_spec("same", kernel), node=n, start=False)) for n in ("node-1", "node-2", "node-3")])
        refused = [r for r in same if isinstance(r, grpc.RpcError)]
        assert len(refused) == 2 and all(r.code() == grpc.StatusCode.ALREADY_EXISTS for r in refused), same
        grouped = _in_parallel([lambda i=i: controller.CreateVm(controller_pb2.ControllerCreateVmRequest(
            spec=_spec(f"g{i}", kernel), group="ga", policy="pack", start=False)) for i in range(4)])
    placed = [r.vm.node for r in grouped if not isinstance(r, grpc.RpcError)]  # type: ignore[union-attr]
    assert sorted(placed) == ["node-1", "node-2", "node-3"], grouped  # one per node; the fourth has no room
    assert [r.code() for r in grouped if isinstance(r, grpc.RpcError)] == [grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert [r["vm"]["name"] for r in cluster.json("vm", "list")].count("same") == 1  # type: ignore[index,union-attr]


def test_names_are_plain_and_never_another_vms_id(cluster: Cluster) -> None:
    cluster.run("vm", "create", "--image", guest("hello"), "--name", "first", "--no-start")
    vm_id = cluster.vms()["first"]["vm"]["vm_id"]
    taken = cluster.run("vm", "create", "--image", guest("hello"), "--name", vm_id, "--no-start", check=False)
    assert taken.returncode == 4 and "is the id of VM first" in taken.stderr, taken.stderr
    for bad in ("é", ".", "..", "a b"):
        proc = cluster.run("vm", "create", "--image", guest("hello"), "--name", bad, "--no-start", check=False)
        assert proc.returncode == 2 and "invalid VM name" in proc.stderr, (bad, proc.stderr)
    cluster.run("vm", "rm", vm_id)
    assert "first" not in cluster.vms()


def test_concurrent_migrations_of_one_vm_start_one_job(cluster: Cluster) -> None:
    cluster.run("vm", "create", "--image", guest("dirtier"), "--name", "v", "--memory", "16M", "--node", "node-1",
                "--set", "iterations=0")
    cluster.wait(lambda: cluster.vms()["v"]["vm"]["state"] == "VM_STATE_RUNNING", what="v runs")
    with cluster.tls_channel(cluster.config["controller"]) as channel:
        controller = controller_pb2_grpc.ControllerServiceStub(channel)
        answers = _in_parallel([lambda d=d: controller.Migrate(controller_pb2.MigrateRequest(vm="v", destination=d))
                                for d in ("node-2", "node-3", "node-3", "node-2")])
    jobs = [a for a in answers if not isinstance(a, grpc.RpcError)]
    refused = [a for a in answers if isinstance(a, grpc.RpcError)]
    assert len(jobs) == 1, answers
    assert all(r.code() == grpc.StatusCode.FAILED_PRECONDITION and "already migrating" in r.details()
               for r in refused), refused
    job_id = jobs[0].job_id  # type: ignore[attr-defined]
    cluster.wait(lambda: cluster.json("job", "show", job_id)["status"] == "completed",  # type: ignore[index]
                 what="the one job completes")


def test_drain_waits_for_a_migration_coming_in(cluster: Cluster) -> None:
    """A drain that starts while a VM is on its way to the node must not
    report the node empty and then leave that VM on it."""
    cluster.run("vm", "create", "--image", guest("dirtier"), "--name", "inbound", "--memory", "64M",
                "--node", "node-1", "--set", "iterations=0", "--set", "working_set_pages=8192")
    cluster.wait(lambda: int(cluster.vms()["inbound"]["vm"]["stats"]["instructions"]) > 2_000_000, what="fills")
    job_id = cluster.run("migrate", "inbound", "node-2", "--max-bandwidth", "16M", "--timeout", "4",  # ends, busy
                         "--on-timeout", "force", "--detach").stdout.strip()                      # host or not
    drained = cluster.run("node", "drain", "node-2", "-o", "json", check=False)
    assert drained.returncode == 0, drained.stderr
    assert cluster.json("job", "show", job_id)["status"] == "completed"  # type: ignore[index]
    assert cluster.vms()["inbound"]["vm"]["node"] != "node-2"
    nodes = {n["name"]: n for n in cluster.json("node", "list")}  # type: ignore[union-attr]
    assert nodes["node-2"]["cordoned"] and int(nodes["node-2"].get("vms", 0)) == 0, nodes["node-2"]


def test_a_stale_copy_of_a_vm_on_a_node_it_left_is_removed(cluster: Cluster) -> None:
    """The source of a completed migration that restarted before freeing its
    copy reloads the VM's definition from disk: a stopped copy the controller
    records elsewhere. It must go, or the VM can never come back to that node."""
    cluster.run("vm", "create", "--image", guest("dirtier"), "--name", "m", "--memory", "16M", "--node", "node-1",
                "--set", "iterations=0")
    cluster.wait(lambda: cluster.vms()["m"]["vm"]["state"] == "VM_STATE_RUNNING", what="m runs")
    cluster.run("migrate", "m", "node-2")
    vm_id = cluster.vms()["m"]["vm"]["vm_id"]
    node1 = next(n for n in cluster.config["nodes"] if n["name"] == "node-1")
    kernel = Path(guest("hello")).read_bytes()
    with cluster.tls_channel(node1["address"]) as channel:  # what the restarted source would hold
        stub = node_pb2_grpc.NodeServiceStub(channel)
        stub.CreateVm(node_pb2.CreateVmRequest(vm_id=vm_id, start=False, spec=types_pb2.VmSpec(
            name="m", memory_bytes=16 << 20, kernel=kernel)))
        deadline = time.monotonic() + 15
        while any(v.vm_id == vm_id for v in stub.ListVms(node_pb2.ListVmsRequest()).vms):
            assert time.monotonic() < deadline, "the stale copy was not removed"
            time.sleep(0.2)
    cluster.run("migrate", "m", "node-1")  # and the VM can come back
    assert cluster.vms()["m"]["vm"]["node"] == "node-1"


def test_unknown_nodes_are_not_found_and_placement_follows_migrations(cluster: Cluster, tmp_path: Path) -> None:
    proc = cluster.run("vm", "create", "--image", guest("hello"), "--node", "nosuch", check=False)
    assert proc.returncode == 3 and "no node named 'nosuch'" in proc.stderr, proc.stderr
    cluster.run("vm", "create", "--image", guest("dirtier"), "--name", "w", "--memory", "16M", "--node", "node-1",
                "--set", "iterations=0")
    cluster.wait(lambda: cluster.vms()["w"]["vm"]["state"] == "VM_STATE_RUNNING", what="w runs")
    proc = cluster.run("migrate", "w", "nosuch", check=False)
    assert proc.returncode == 3 and "no node named 'nosuch'" in proc.stderr, proc.stderr
    cluster.run("migrate", "w", "node-3")
    shown = cluster.json("vm", "show", "w")
    assert shown["placement"]["node"] == "node-3", shown  # type: ignore[index]
    assert "migrated from node-1" in shown["placement"]["reasons"][0]  # type: ignore[index]
    junk = tmp_path / "junk.vmstate"
    junk.write_bytes(b"not a snapshot at all")
    proc = cluster.run("vm", "restore", str(junk), check=False)
    assert proc.returncode == 2 and "the uploaded file" in proc.stderr and "incoming" not in proc.stderr, proc.stderr
