"""Live migration on a real 3-node cluster, through the CLI: a running
dirtier moved A->B->C->A ends exactly as a run that never moved; cancelled or
failed migrations leave the VM running on its source; a workload that never
converges aborts cleanly, and with auto-converge completes; drain empties a
node."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import grpc
import pytest

from caravan import controller_pb2, controller_pb2_grpc, node_pb2, node_pb2_grpc, types_pb2
from clusters import CLI, Cluster
from controller.cluster import pid_alive
from node.guestconfig import patch
from support import guest


def instructions(c: Cluster, vm: str) -> int:
    return int(c.vms()[vm]["vm"]["stats"]["instructions"])


def node_of(c: Cluster, vm: str) -> str:
    return c.vms()[vm]["vm"]["node"]


def assert_running_on(c: Cluster, vm: str, node: str) -> None:
    def there() -> bool:  # the controller learns a node-level change at the next heartbeat
        record = c.vms()[vm]["vm"]
        return record["node"] == node and record["state"] == "VM_STATE_RUNNING"
    c.wait(there, timeout=10, what=f"{vm} reported running on {node}")
    before = instructions(c, vm)
    c.wait(lambda: instructions(c, vm) > before, timeout=30, what=f"{vm} keeps running on {node}")


def assert_collector_released(c: Cluster, *nodes: str) -> None:
    """No migration left a hold on a node's garbage collector (node.gcpolicy)."""
    for node in nodes:
        c.wait(lambda: set(c.node_metric(node, "caravan_node_gc_holds").values()) == {0.0},
               timeout=10, what=f"{node} releases its collector holds")


def test_round_trip_migration_is_bit_identical(cluster: Cluster, tmp_path: Path) -> None:
    """The same image runs twice: 'still' stays put, 'mover' goes A->B->C->A
    while it runs. Both must print the same bytes and end in the same state."""
    settings = {"iterations": 30000, "working_set_pages": 1024, "report_every": 500}
    image = tmp_path / "dirtier.elf"
    image.write_bytes(patch(Path(guest("dirtier")).read_bytes(), "dirtier", settings))
    cluster.run("vm", "create", "--image", str(image), "--name", "still", "--memory", "64M", "--node", "node-3")
    cluster.run("vm", "create", "--image", str(image), "--name", "mover", "--memory", "64M", "--node", "node-1")
    hops = ["node-2", "node-3", "node-1"]
    for target in hops:
        source = node_of(cluster, "mover")
        job = cluster.json("migrate", "mover", target)
        assert job["status"] == "completed", job  # type: ignore[index]
        assert job["source"] == source and job["destination"] == target  # type: ignore[index]
        assert job["stats"]["downtime_ms"] > 0  # type: ignore[index]
        assert node_of(cluster, "mover") == target
    jobs = cluster.json("job", "list", "--vm", "mover")
    assert [j["destination"] for j in jobs] == hops  # type: ignore[union-attr]
    assert_collector_released(cluster, "node-1", "node-2", "node-3")
    for name in ("still", "mover"):
        cluster.wait(lambda: cluster.vms()[name]["vm"]["state"] == "VM_STATE_STOPPED", timeout=300,
                     what=f"{name} finishes")
        cluster.wait(lambda: bool(cluster.vms()[name]["vm"].get("state_digest")), what="final digest")
    still, mover = cluster.vms()["still"]["vm"], cluster.vms()["mover"]["vm"]
    assert cluster.run("vm", "console", "mover").stdout == cluster.run("vm", "console", "still").stdout
    assert "dirtier done" in cluster.run("vm", "console", "mover").stdout
    assert mover["state_digest"] == still["state_digest"]
    assert mover["exit_code"] == still["exit_code"] == 0
    summary = cluster.run("job", "show", jobs[0]["job_id"]).stdout  # type: ignore[index]
    assert "downtime" in summary and "ROUND" in summary


def test_a_migrated_vm_boots_again_as_it_did_on_its_first_node(cluster: Cluster, tmp_path: Path) -> None:
    """A VM migrated while it runs arrives as state, not as boot images; once
    it powers off on its new node, a start boots it again exactly as the same
    VM that never moved: same console bytes, same final state."""
    settings = {"iterations": 20000, "working_set_pages": 256, "report_every": 2000}  # runs ~7 s: moves first
    image = tmp_path / "dirtier.elf"
    image.write_bytes(patch(Path(guest("dirtier")).read_bytes(), "dirtier", settings))
    for name, node in (("short-still", "node-3"), ("short-mover", "node-1")):
        cluster.run("vm", "create", "--image", str(image), "--name", name, "--memory", "32M", "--node", node)
    job = cluster.json("migrate", "short-mover", "node-2")
    assert job["status"] == "completed", job  # type: ignore[index]
    first = cluster.wait_powered_off("short-mover", 1, "dirtier done")
    assert first == cluster.wait_powered_off("short-still", 1, "dirtier done")
    for name in ("short-still", "short-mover"):
        cluster.run("vm", "start", name)
    again = cluster.wait_powered_off("short-mover", 2, "dirtier done")
    assert node_of(cluster, "short-mover") == "node-2"
    assert again == cluster.wait_powered_off("short-still", 2, "dirtier done")
    assert again.startswith(first) and again.count("dirtier done") == 2
    still, mover = cluster.vms()["short-still"]["vm"], cluster.vms()["short-mover"]["vm"]
    assert mover["state_digest"] == still["state_digest"]
    assert mover["exit_code"] == still["exit_code"] == 0
    # What it boots from is on the node's disk, and goes with the VM.
    vm_dir = cluster.dir / "nodes" / "node-2" / "vms" / mover["vm_id"]
    assert (vm_dir / "boot.vmstate").is_file()
    cluster.run("vm", "rm", "short-mover")
    assert not vm_dir.exists()


def test_cancel_or_failure_before_handover_leaves_the_vm_on_its_source(cluster: Cluster) -> None:
    cluster.run("vm", "create", "--image", guest("dirtier"), "--name", "stay", "--memory", "256M",
                "--node", "node-1", "--set", "iterations=0", "--set", "working_set_pages=32768",
                "--set", "spin_per_write=100")
    cluster.wait(lambda: instructions(cluster, "stay") > 3_000_000, what="working set grows")
    # Cancel right away (setting up or just started).
    job = cluster.run("migrate", "stay", "node-2", "--detach", "--max-bandwidth", "4M").stdout.strip()
    assert cluster.json("job", "cancel", job)["status"] == "cancelled"  # type: ignore[index]
    assert cluster.json("job", "show", job)["status"] == "cancelled"  # type: ignore[index]
    assert_running_on(cluster, "stay", "node-1")
    # Cancel while iterating (a slow, capped transfer).
    job = cluster.run("migrate", "stay", "node-2", "--detach", "--max-bandwidth", "4M").stdout.strip()
    created = time.monotonic()
    cluster.wait(lambda: cluster.json("job", "show", job)["status"] == "active", what="active")  # type: ignore[index]
    time.sleep(0.5)
    lasted = time.monotonic() - created
    cancelled = cluster.run("job", "cancel", job)
    assert "cancelled" in cancelled.stdout
    shown = cluster.json("job", "show", job)
    assert shown["status"] == "cancelled"  # type: ignore[index]
    # Its total time runs to the cancel, not to the source's last progress report before it.
    assert shown["stats"]["total_ms"] >= lasted * 1000, (shown["stats"]["total_ms"], lasted)  # type: ignore[index]
    assert_running_on(cluster, "stay", "node-1")
    # A migration watched in the foreground and cancelled by someone else: a failure (1), not
    # the Ctrl-C code (130) its own cancel gives.
    watched = subprocess.Popen([*CLI, "migrate", "stay", "node-2", "--max-bandwidth", "4M"], env=cluster.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        cluster.wait(lambda: any(j["status"] == "active" and j["vm_name"] == "stay"  # type: ignore[index]
                                 for j in cluster.json("job", "list")), what="active")  # type: ignore[union-attr]
        job = next(j["job_id"] for j in cluster.json("job", "list")  # type: ignore[union-attr,index]
                   if j["status"] == "active" and j["vm_name"] == "stay")  # type: ignore[index]
        cluster.run("job", "cancel", job)
        _, err = watched.communicate(timeout=60)
    finally:
        watched.kill()
    assert watched.returncode == 1 and f"job {job} was cancelled" in err, (watched.returncode, err)
    assert_running_on(cluster, "stay", "node-1")
    # The destination dies mid-transfer: the job fails, the VM stays.
    job = cluster.run("migrate", "stay", "node-3", "--detach", "--max-bandwidth", "4M").stdout.strip()
    cluster.wait(lambda: cluster.json("job", "show", job)["status"] == "active", what="active")  # type: ignore[index]
    node3 = next(n for n in cluster.config["nodes"] if n["name"] == "node-3")
    os.kill(node3["pid"], signal.SIGKILL)
    cluster.wait(lambda: cluster.json("job", "show", job)["status"] == "failed", what="fails")  # type: ignore[index]
    error = cluster.json("job", "show", job)["error"]  # type: ignore[index]
    assert "destination" in error and "Unexpected" not in error, error  # said, not a stray exception's repr
    assert_running_on(cluster, "stay", "node-1")
    free = {n["name"]: int(n["free"]["memory_bytes"]) for n in cluster.json("node", "list")}  # type: ignore[union-attr]
    assert free["node-2"] == 2 << 30  # the cancelled jobs' reservations were released
    assert_collector_released(cluster, "node-1", "node-2")


def test_cancel_after_verification_resumes_on_the_source(cluster: Cluster) -> None:
    """Stop-and-copy done, destination verified, hand-over not recorded: an
    abort still leaves the VM running where it was (driven at node level)."""
    cluster.run("vm", "create", "--image", guest("dirtier"), "--name", "v", "--memory", "32M",
                "--node", "node-1", "--set", "iterations=0")
    vm_id = cluster.vms()["v"]["vm"]["vm_id"]
    nodes = {n["name"]: n["address"] for n in cluster.config["nodes"]}
    with cluster.tls_channel(nodes["node-1"]) as a, cluster.tls_channel(nodes["node-2"]) as b:
        src, dst = node_pb2_grpc.NodeServiceStub(a), node_pb2_grpc.NodeServiceStub(b)
        reservation = dst.Reserve(node_pb2.ReserveRequest(memory_bytes=32 << 20, vcpus=1))
        statuses = [p.stats.status for p in src.MigrateOut(node_pb2.MigrateOutRequest(
            job_id="manual", vm_id=vm_id, destination=nodes["node-2"], reservation_id=reservation.reservation_id))]
        assert statuses[-1] == "verified"
        before = src.GetVm(node_pb2.VmRef(vm_id=vm_id))
        assert before.state == 5  # migrating, paused for stop-and-copy
        time.sleep(0.3)
        assert src.GetVm(node_pb2.VmRef(vm_id=vm_id)).stats.instructions == before.stats.instructions
        dst.FinishMigration(node_pb2.FinishMigrationRequest(job_id="manual", commit=False))
        src.FinishMigration(node_pb2.FinishMigrationRequest(job_id="manual", commit=False))
        with pytest.raises(grpc.RpcError):
            dst.GetVm(node_pb2.VmRef(vm_id=vm_id))
    assert_running_on(cluster, "v", "node-1")
    assert_collector_released(cluster, "node-1", "node-2")


def _record_handover(controller_data: Path, job_id: str, vm_id: str, source: str, destination: str,
                     reservation_id: str) -> None:
    """Write the hand-over record as the controller does (controller.jobs), for a
    controller that died right after it: the job past its hand-over, the VM on
    ``destination``."""
    from controller.store import JobRow, Store

    async def write() -> None:
        store = Store(str(controller_data))
        await store.open()
        try:
            vm = next(v for v in await store.load_vms() if v.id == vm_id)
            vm.node = destination
            job = JobRow(id=job_id, vm_id=vm_id, vm_name=vm.name, source=source, destination=destination,
                         status="handover", params=node_pb2.MigrationParams().SerializeToString(),
                         reservation_id=reservation_id, created_at=time.time())
            await store.commit_migration(job, vm)
        finally:
            await store.close()
    asyncio.run(write())


def test_a_destination_that_restarts_before_resuming_hands_the_vm_back(cluster: Cluster) -> None:
    """The hand-over is recorded, then the destination restarts before it
    resumes the VM, discarding the copy it had verified. The source's paused
    copy is then the only one: the controller must give the VM back to the
    source, never tell it to free that copy (which lost the VM)."""
    cluster.run("vm", "create", "--image", guest("dirtier"), "--name", "v", "--memory", "32M",
                "--node", "node-1", "--set", "iterations=0")
    cluster.wait(lambda: instructions(cluster, "v") > 1_000_000, what="v runs")
    vm_id = cluster.vms()["v"]["vm"]["vm_id"]
    members = {n["name"]: n for n in cluster.config["nodes"]}
    with cluster.tls_channel(members["node-1"]["address"]) as a, \
            cluster.tls_channel(members["node-2"]["address"]) as b:
        src, dst = node_pb2_grpc.NodeServiceStub(a), node_pb2_grpc.NodeServiceStub(b)
        reservation = dst.Reserve(node_pb2.ReserveRequest(memory_bytes=32 << 20, vcpus=1))
        statuses = [p.stats.status for p in src.MigrateOut(node_pb2.MigrateOutRequest(
            job_id="lost-copy", vm_id=vm_id, destination=members["node-2"]["address"],
            reservation_id=reservation.reservation_id))]
        assert statuses[-1] == "verified"
        paused = src.GetVm(node_pb2.VmRef(vm_id=vm_id)).stats.instructions
    # The controller dies just after writing the hand-over record...
    os.kill(cluster.config["controller_pid"], signal.SIGKILL)
    cluster.wait(lambda: not pid_alive(cluster.config["controller_pid"]), what="the controller gone")
    _record_handover(cluster.dir / "controller", "lost-copy", vm_id, "node-1", "node-2",
                     reservation.reservation_id)
    # ... and the destination restarts before anyone tells it to resume.
    os.kill(members["node-2"]["pid"], signal.SIGKILL)
    cluster.wait(lambda: not pid_alive(members["node-2"]["pid"]), what="node-2 gone")
    cluster.run("cluster", "up", "--nodes", "3", "--node-timeout", "3")  # restarts both

    def finished() -> bool:
        return cluster.json("job", "show", "lost-copy")["status"] in ("completed", "failed")  # type: ignore[index]
    cluster.wait(finished, timeout=90, what="the job finished")
    job = cluster.json("job", "show", "lost-copy")
    assert job["status"] == "failed", job  # type: ignore[index]
    assert "the VM continues on node-1" in job["error"] and "holds no copy" in job["error"], job  # type: ignore[index]
    assert_running_on(cluster, "v", "node-1")
    assert instructions(cluster, "v") > paused  # the paused copy went on, not a reboot
    assert cluster.run("vm", "console", "v").stdout.count("dirtier start") == 1
    assert_collector_released(cluster, "node-1")


def test_a_console_follower_follows_the_vm_across_migrations(cluster: Cluster) -> None:
    """`vm console --follow` keeps printing while the VM moves node to node:
    every byte once, in order, as `vm console` shows afterwards."""
    cluster.run("vm", "create", "--image", guest("dirtier"), "--name", "talker", "--memory", "32M",
                "--node", "node-1", "--set", "iterations=0")
    follower = subprocess.Popen([*CLI, "vm", "console", "talker", "--follow"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=cluster.env)
    try:
        cluster.wait(lambda: cluster.run("vm", "console", "talker").stdout.count("iter=") >= 3, what="talker talks")
        cluster.run("migrate", "talker", "node-2")
        cluster.run("migrate", "talker", "node-3")
        after = cluster.run("vm", "console", "talker").stdout.count("iter=")
        cluster.wait(lambda: cluster.run("vm", "console", "talker").stdout.count("iter=") >= after + 3,
                     what="talker talks on node-3")
        shown = cluster.run("vm", "console", "talker").stdout
        time.sleep(2)  # the follower catches up
    finally:
        follower.terminate()
        followed, errors = follower.communicate(timeout=30)
    final = cluster.run("vm", "console", "talker").stdout
    follower_log = [line for line in (cluster.dir / "logs" / "controller.log").read_text().splitlines()
                    if "console follower" in line]  # what the controller did for the follower, if this fails
    assert len(followed) >= len(shown), (len(followed), len(shown), errors, follower_log)  # it went on after the moves
    assert final.startswith(followed), errors  # each byte once, in order
    # It moved with the VM (maybe straight to node-3, if its record named node-3 by then), and never ended.
    events = [json.loads(line)["event"] for line in follower_log]
    assert "console follower moves with the VM" in events and "console follower ends" not in events, follower_log


HOT = ["--set", "iterations=0", "--set", "working_set_pages=4096", "--set", "writes_per_iteration=512"]


def wait_dirtying(cluster: Cluster, vm: str) -> None:
    """Wait until the dirtier VM has filled its working set and rewrites it at
    random (its first "dirtier iter=" line). While it fills the set it writes
    each page once, in order, at ~2000 instructions a page: slow enough for
    a migration started then to converge, which a "never converges" test
    must not (the fill takes ~8.5 M instructions for HOT's 4096 pages)."""
    cluster.wait(lambda: "dirtier iter=" in cluster.run("vm", "console", vm).stdout, what=f"{vm} rewrites its set")


def test_a_long_round_reports_progress_and_ends_at_the_timeout(cluster: Cluster) -> None:
    """Round 0 of ~60 MiB capped at 4 MB/s takes ~15 s. Its progress shows
    while it runs (the figures used to move only between rounds), and
    `--timeout 6` ends the job in round 0 (it used to wait for the round)."""
    cluster.run("vm", "create", "--image", guest("dirtier"), "--name", "slow", "--memory", "64M",
                "--node", "node-1", "--set", "iterations=0", "--set", "working_set_pages=15000")
    cluster.wait(lambda: instructions(cluster, "slow") > 20_000_000, what="slow touches its memory")
    job_id = cluster.run("migrate", "slow", "node-2", "--max-bandwidth", "4M", "--timeout", "6",
                         "--on-timeout", "abort", "--detach").stdout.strip()

    def show() -> dict:
        return cluster.json("job", "show", job_id)  # type: ignore[return-value]
    cluster.wait(lambda: int(show()["stats"].get("transferred_bytes", 0)) > 2 << 20, what="round 0 under way")
    during = show()
    assert during["status"] == "active" and not during["stats"]["rounds"], during
    assert int(during["stats"]["remaining_bytes"]) > 20 << 20, during  # most of round 0 is still to send
    cluster.wait(lambda: show()["status"] == "failed", timeout=60, what="the job ends at its timeout")
    ended = show()
    assert "round 0 was still being sent at the 6 s timeout" in ended["error"], ended
    assert int(ended["stats"]["transferred_bytes"]) < 45 << 20, ended  # not the whole round
    assert_running_on(cluster, "slow", "node-1")
    cluster.run("vm", "rm", "slow")


def test_a_workload_that_never_converges_aborts_cleanly_or_converges_with_auto_converge(cluster: Cluster) -> None:
    cluster.run("vm", "create", "--image", guest("dirtier"), "--name", "hot", "--memory", "128M",
                "--node", "node-1", *HOT)
    wait_dirtying(cluster, "hot")
    # Capped at 32 MB/s the guest re-dirties its 16 MiB working set faster than
    # a round can send it: expected downtime stays near 500 ms.
    aborted = cluster.run("migrate", "hot", "node-2", "--downtime-ms", "20", "--max-bandwidth", "32M",
                          "--timeout", "5", "--on-timeout", "abort", "-o", "json", check=False)
    job = json.loads(aborted.stdout)
    assert aborted.returncode == 1 and job["status"] == "failed"
    assert "did not converge" in job["error"] and len(job["stats"]["rounds"]) >= 2
    assert_running_on(cluster, "hot", "node-1")
    converged = cluster.run("migrate", "hot", "node-2", "--downtime-ms", "20", "--max-bandwidth", "32M",
                            "--auto-converge", "--timeout", "120", "-o", "json", check=False)
    job = json.loads(converged.stdout)
    assert job["status"] == "completed", job
    assert job["stats"]["throttle"] > 0 and any(r["throttle"] > 0 for r in job["stats"]["rounds"])
    # Round 0 leaves out the pages the guest never wrote: they count as zero pages (they used to count 0).
    round_0 = job["stats"]["rounds"][0]
    assert int(round_0["zero_pages"]) > 16384 and int(job["stats"]["zero_pages"]) >= int(round_0["zero_pages"])
    assert int(round_0["pages"]) + int(round_0["zero_pages"]) == int(job["stats"]["total_pages"])
    assert_running_on(cluster, "hot", "node-2")


def test_a_vm_that_powered_off_since_the_last_heartbeat_is_refused_not_migrated(cluster: Cluster) -> None:
    """The controller's view of a VM is as old as the node's last heartbeat
    (up to a second). A guest that powered itself off since then must be
    refused with FAILED_PRECONDITION, not started as a job that then fails."""
    kernel = Path(guest("hello")).read_bytes()
    nodes = {n["name"]: n["address"] for n in cluster.config["nodes"]}
    with cluster.tls_channel(cluster.config["controller"]) as c, cluster.tls_channel(nodes["node-1"]) as n:
        controller, node = controller_pb2_grpc.ControllerServiceStub(c), node_pb2_grpc.NodeServiceStub(n)
        for attempt in range(20):
            record = controller.CreateVm(controller_pb2.ControllerCreateVmRequest(
                spec=types_pb2.VmSpec(name=f"short-{attempt}", memory_bytes=16 << 20, kernel=kernel),
                node="node-1", start=True))
            ref = node_pb2.VmRef(vm_id=record.vm.vm_id)
            deadline = time.monotonic() + 10
            while node.GetVm(ref).state != types_pb2.VM_STATE_STOPPED:
                assert time.monotonic() < deadline, "hello did not power off"
                time.sleep(0.01)
            if controller.GetVm(controller_pb2.VmSelector(vm=record.vm.vm_id)).vm.state == types_pb2.VM_STATE_STOPPED:
                continue  # a heartbeat came in between: no stale view to test this time
            with pytest.raises(grpc.RpcError) as refused:
                controller.Migrate(controller_pb2.MigrateRequest(vm=record.vm.vm_id, destination="node-2"))
            assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "is stopped" in refused.value.details()
            jobs = controller.ListJobs(controller_pb2.ListJobsRequest(vm=record.vm.vm_id)).jobs
            assert not jobs
            return
    pytest.fail("every heartbeat beat the test to it; the stale view never happened")


def test_drain_empties_a_node(cluster: Cluster) -> None:
    """Drain moves every running VM. One that powers itself off before or
    during its own migration has nothing left to move: it is not a failure."""
    # 'ends' is drained first (the oldest). Once past filling its 16 MiB
    # working set it rewrites all of it in every round; at 1 MiB/s that needs
    # a pause of ~16 s, over the 2 s allowed, so its job runs until the guest
    # powers itself off (2000 iterations). Its last, read-only pass over the
    # set is far shorter than a round, so it cannot converge on that either.
    # The others (1 MiB sets, fit in a 1 s pause) take little of the CPU.
    cluster.run("vm", "create", "--image", guest("dirtier"), "--name", "ends", "--memory", "128M",
                "--node", "node-3", *HOT[2:], "--set", "iterations=2000")
    wait_dirtying(cluster, "ends")
    for i in range(3):
        cluster.run("vm", "create", "--image", guest("dirtier"), "--name", f"d{i}", "--memory", "32M",
                    "--node", "node-3", "--set", "iterations=0", "--shares", "128")
    cluster.run("vm", "create", "--image", guest("hello"), "--name", "done", "--node", "node-3")
    drained = cluster.run("node", "drain", "node-3", "--max-bandwidth", "1M", "--downtime-ms", "2000")
    assert "3 of 3 VMs moved" in drained.stdout, drained.stdout
    ends = cluster.json("job", "list", "--vm", "ends")
    assert [j["status"] for j in ends] == ["failed"], ends  # type: ignore[index]
    assert "stopped running during the migration" in ends[0]["error"]  # type: ignore[index]
    nodes = {n["name"]: n for n in cluster.json("node", "list")}  # type: ignore[union-attr]
    assert nodes["node-3"]["cordoned"]
    for i in range(3):
        assert node_of(cluster, f"d{i}") in ("node-1", "node-2")
        assert_running_on(cluster, f"d{i}", node_of(cluster, f"d{i}"))
        # The new node's record of the VM is complete: it survives that node's restart.
        record = cluster.vms()[f"d{i}"]["vm"]
        stored = json.loads((cluster.dir / "nodes" / record["node"] / "vms" / record["vm_id"] / "vm.json").read_text())
        assert stored["migrating_in"] == "" and stored["desired"] == "running"
    assert not [n for n, r in cluster.vms().items() if r["vm"]["node"] == "node-3"
                and r["vm"]["state"] in ("VM_STATE_RUNNING", "VM_STATE_PAUSED")]


def test_demo_runs_the_main_job_and_cleans_up(tmp_path: Path) -> None:
    """`caravan demo` (the README's first command): a 3-node cluster, the
    dirtier migrated around it while printing, a gapless console, exit 0,
    and nothing left running."""
    demo = Cluster(tmp_path / "demo")
    proc = demo.run("demo", "--hops", "2", "--dir", str(demo.dir), timeout=300)
    text = " ".join(proc.stdout.split())  # rich wraps lines at the terminal's width
    assert "in order, no gaps or repeats" in text, proc.stdout
    assert text.count("completed, downtime") == 2, proc.stdout
    assert "cluster stopped" in text
    config = json.loads((demo.dir / "cluster.json").read_text())
    for pid in [config["controller_pid"], *(n.get("pid", 0) for n in config["nodes"])]:
        if pid:
            with pytest.raises(OSError):
                os.kill(pid, 0)


def test_demo_stopped_by_sigterm_stops_its_cluster(tmp_path: Path) -> None:
    """SIGTERM (a service manager, `timeout`, a CI runner giving up) stops
    `caravan demo` as Ctrl-C does: its controller and nodes are stopped too.
    They stayed running their guests, with nothing left to stop them."""
    demo = Cluster(tmp_path / "demo")
    proc = subprocess.Popen([*CLI, "demo", "--dir", str(demo.dir)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=demo.env)
    try:
        deadline = time.monotonic() + 120
        while not (demo.dir / "cluster.json").exists() or not demo.config["nodes"]:  # the cluster is up
            assert proc.poll() is None and time.monotonic() < deadline, "the demo's cluster did not start"
            time.sleep(0.05)
        pids = [demo.config["controller_pid"], *(n["pid"] for n in demo.config["nodes"])]
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM and "stopped by SIGTERM" in stderr, stderr
    assert len(pids) == 4 and not [pid for pid in pids if pid_alive(pid)]


def _interrupted(cluster: Cluster, *args: str) -> tuple[int, str, str]:
    """Run `caravan ARGS` (a migration of 'hot' that never converges, see the
    test above) and press Ctrl-C once the migration iterates."""
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cluster.env)
    try:
        cluster.wait(lambda: any(j["status"] == "active" and len(j["stats"].get("rounds", [])) >= 1
                                 for j in cluster.json("job", "list", "--vm", "hot")),  # type: ignore[union-attr]
                     timeout=30, what="the migration iterates")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return proc.returncode, stdout, stderr


def test_ctrl_c_cancels_a_watched_migration_and_stops_a_drain(cluster: Cluster) -> None:
    """As `virsh migrate`: Ctrl-C on `caravan migrate` cancels the job (the
    VM stays on its source) instead of leaving it running unwatched. Ctrl-C
    on `caravan node drain` moves no further VM and says what is left."""
    cluster.run("vm", "create", "--image", guest("dirtier"), "--name", "hot", "--memory", "128M",
                "--node", "node-1", *HOT)
    cluster.run("vm", "create", "--image", guest("dirtier"), "--name", "calm", "--memory", "32M",
                "--node", "node-1", "--set", "iterations=0", "--shares", "128")
    wait_dirtying(cluster, "hot")
    never = ["--downtime-ms", "20", "--max-bandwidth", "32M"]

    code, stdout, stderr = _interrupted(cluster, "migrate", "hot", "node-2", *never, "-o", "json")
    assert code == 130 and "cancelling job" in stderr, stderr
    assert json.loads(stdout)["status"] == "cancelled"
    assert_running_on(cluster, "hot", "node-1")

    code, _, stderr = _interrupted(cluster, "node", "drain", "node-1", *never)  # 'hot' is the oldest: first
    assert code == 130 and "stays cordoned" in stderr, stderr
    [job] = [j for j in cluster.json("job", "list", "--vm", "hot") if j["status"] == "active"]  # type: ignore[union-attr]
    cluster.run("job", "cancel", job["job_id"])
    assert_running_on(cluster, "hot", "node-1")
    time.sleep(1)  # a drain that went on would now move 'calm'
    assert node_of(cluster, "calm") == "node-1" and not cluster.json("job", "list", "--vm", "calm")
    assert {n["name"]: n for n in cluster.json("node", "list")}["node-1"]["cordoned"]  # type: ignore[union-attr]
