#!/usr/bin/env python3
"""Live migration: Caravan next to raw gRPC and next to QEMU, in one run.

    python bench/migration.py [--sizes 64M,256M,1G] [--rates low,high] [--repeats 5]
                              [--downtime-ms 20] [--no-pin] [--json out.json] [--plot rounds.png]

* Caravan: a two-node cluster (mutual TLS) on this machine; for each memory
  size and dirty rate a ``dirtier`` VM (working set: half its memory) is
  migrated back and forth ``--repeats`` times. Reports setup, total and
  downtime (p50, p99), rounds, bytes, and round-0 throughput. Then the same
  VM is paused and migrated ``--paused-repeats`` times: its round 0 without
  the guest, which on a machine of few cores takes CPU time from the stream
  (reported beside, not in the live figures).
  Before the first workload, one migration each way of a 64 MiB dirtier,
  not counted, opens the nodes' channels (``--cold-channels`` skips it): a
  node keeps its channel to a destination, and only its first migration
  there runs on a new connection (round 0 at 55-85% of the pace of the
  next ones here; its figures are printed and in the JSON).
* Raw gRPC: one client-streaming call of 1 MiB messages (the size the
  migration stream uses) between two processes over the same mutual TLS, on
  a connection that has carried 256 MiB first, as round 0 runs on the
  node's kept channel to the destination (a new connection's flow-control
  windows take ~0.3 s of traffic to open: 1 GiB on a new one ran 11%
  slower, 32 MiB 33% slower, medians of 5): 1 GiB at the start (the
  steady-state ceiling round 0 is compared with), 1 GiB twice right before
  and twice right after each workload ("raw 1G now": this machine's speed
  drifts by ±20% within minutes, so each ratio also has a baseline measured
  around it), and as many bytes as its round 0 moved ("raw same size": a
  short stream spends a larger share of its time starting up).
* QEMU: two ``qemu-system-riscv64`` processes running the same dirtier image
  with the same memory size, migrated over loopback TCP through QMP
  (``migrate-set-parameters downtime-limit``, ``migrate``, ``query-migrate``),
  with the bandwidth cap lifted as for Caravan. Downtime is guest-visible for
  both: Caravan's from the guest's last instruction on the source to its first
  on the destination; QEMU's from the source's STOP event to the destination's
  RESUME event (QMP timestamps, one host clock). QEMU's own ``downtime`` figure,
  which ends when the source has sent its last bytes, is in the JSON as
  ``reported_downtime_ms``. QEMU's TCG runs the guest
  ~50x faster than Caravan's interpreter, so the same dirtier dirties memory
  ~50x faster and at 256 MiB and up never converges under a 20 ms limit;
  "qemu-paced" runs it again with ``-icount shift=7,align=on`` (the guest
  held near 7.8 MIPS, about Caravan's speed), so both move the same workload.

Each end runs on its own CPUs, as two hosts would: the nodes are started
with ``cluster up --pin`` (node-1 on the first half of the CPUs, node-2 on
the second; one each on a two-CPU machine), and the raw stream's sender and
receiver and the QEMU source and destination are held to node-1's and
node-2's CPUs in the same way. Sharing every CPU (``--no-pin``) lets the
source's guest take CPU time from the destination, which separate hosts
never do: on a two-CPU machine, over a whole run of this bench, round 0
ran at 67% of the raw stream with the CPUs shared and at 71% and 73%
pinned (three runs in a row; the machine's own speed drifted by 20%
between them, so compare the ratios, not the MiB/s).

Round 0 is compared with the raw stream per workload (against the streams
right around it) and over the whole run (every live migration's round 0
against every 1 GiB raw stream: two medians of ~30 samples each).

The bench refuses to start on a busy machine (less than 75% of the CPU time
idle over a second; --allow-busy to run anyway), and when one migration's
downtime stands far out from its workload's others it keeps the node and
controller logs in a directory it names, for finding the cause afterwards.

Dirty rates: ``low`` spins 200 iterations between writes, ``high`` none.
Writes JSON (--json) and a PNG of pages sent per round (--plot; needs matplotlib: pip install -e '.[bench]').
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from caravan import controller_pb2, node_pb2, types_pb2  # noqa: E402
from controller.client import Client  # noqa: E402
from controller.cluster import UpOptions, down, up  # noqa: E402
from node.cpus import available, format_cpu_list, parse_cpu_list  # noqa: E402
from node.guestconfig import patch  # noqa: E402
from node.machine.memory import format_size, parse_size  # noqa: E402
from bench.stream import MESSAGE, stream  # noqa: E402

MIB = 1 << 20
RATES = {"low": 200, "medium": 20, "high": 0}
DIRTIER = os.path.join(ROOT, "guests", "bin", "dirtier.elf")
MIGRATION_TIMEOUT = 60.0  # per migration, both systems (Caravan forces stop-and-copy, QEMU is cancelled)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def dirtier_image(memory: int, rate: str) -> bytes:
    with open(DIRTIER, "rb") as f:
        data = f.read()
    return patch(data, "dirtier", {"iterations": 0, "working_set_pages": memory // 2 // 4096,
                                   "spin_per_write": RATES[rate], "report_every": 1000})


# -- raw gRPC --------------------------------------------------------------------------------

WARM_CONNECTION = 256 * MIB  # streamed, untimed, before each raw stream (module docstring)
WARM_CHANNELS_MEMORY = 64 * MIB  # the dirtier migrated once each way, uncounted, before the workloads


Ends = tuple[frozenset[int], frozenset[int]]  # the CPUs of the sending end's processes, and the receiving end's


def raw_grpc_throughput(certs: str, total: int = 1024 * MIB, pin: Ends | None = None) -> float:
    """Bytes per second of one MigrateIn stream between two processes set up
    as the node daemons are, carrying ``MESSAGE``-byte messages that the
    receiver only counts (bench/stream.py's "raw" variant), on a connection
    that has carried :data:`WARM_CONNECTION` bytes first: the ceiling the
    migration stream could reach on this machine. ``pin``: each end on the
    CPUs of the node it stands for."""
    return stream(certs, total, warmup=WARM_CONNECTION, pin=pin).mib_s * MIB


# -- Caravan ------------------------------------------------------------------------------------

FILLED = "dirtier iter="  # the first progress line: the whole working set has been written once
FILL_TIMEOUT = 600.0


def wait_filled(read: Callable[[], str], what: str) -> None:
    """Wait until the guest has populated its working set, so round 0 moves real data."""
    deadline = time.monotonic() + FILL_TIMEOUT
    while FILLED not in read():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: the dirtier did not fill its working set within {FILL_TIMEOUT:.0f} s")
        time.sleep(0.2)


def console_text(client: Client, name: str) -> str:
    chunks = client.controller.StreamConsole(controller_pb2.ControllerConsoleRequest(vm=name, follow=False))
    return b"".join(c.data for c in chunks).decode(errors="replace")


def migrate_once(client: Client, name: str, target: str, params: node_pb2.MigrationParams) -> dict:
    """Migrate ``name`` to ``target`` and wait for the job's end: its figures."""
    job = client.controller.Migrate(controller_pb2.MigrateRequest(vm=name, destination=target, params=params))
    final = job
    for final in client.controller.WatchJob(controller_pb2.JobRef(job_id=job.job_id)):
        if final.status in ("completed", "failed", "cancelled"):
            break
    s = final.stats
    r0 = s.rounds[0] if s.rounds else None
    return {
        "status": final.status, "setup_ms": s.setup_ms, "total_ms": s.total_ms, "downtime_ms": s.downtime_ms,
        "rounds": len(s.rounds), "bytes": s.transferred_bytes,
        "round0_mib_s": r0.bandwidth / MIB if r0 else 0.0, "round0_mib": r0.bytes / MIB if r0 else 0.0,
        "pages_per_round": [r.pages + r.zero_pages for r in s.rounds],
        "expected_downtime_ms": s.expected_downtime_ms,
    }


def caravan_runs(client: Client, memory: int, rate: str, repeats: int, downtime_ms: float,
                 warmup: float, paused_repeats: int = 0) -> tuple[list[dict], list[dict]]:
    """``repeats`` live migrations of a running dirtier, back and forth; then
    ``paused_repeats`` more of the same VM paused (its round 0 without the
    guest taking CPU time from the stream: what the stream alone reaches)."""
    name = f"dirtier-{format_size(memory)}-{rate}"
    spec = types_pb2.VmSpec(name=name, memory_bytes=memory, kernel=dirtier_image(memory, rate),
                            image_name="dirtier.elf")
    client.controller.CreateVm(controller_pb2.ControllerCreateVmRequest(spec=spec, node="node-1", start=True))
    wait_filled(lambda: console_text(client, name), name)
    time.sleep(warmup)
    params = node_pb2.MigrationParams(downtime_ms=int(downtime_ms), timeout_seconds=int(MIGRATION_TIMEOUT), on_timeout="force")
    runs, paused = [], []
    for i in range(repeats + paused_repeats):
        if i == repeats:  # pause it where it is now (the controller has no pause: the node's own call)
            vm = client.controller.GetVm(controller_pb2.VmSelector(vm=name)).vm
            address = {n.name: n.address for n in
                       client.controller.ListNodes(controller_pb2.ListNodesRequest()).nodes}[vm.node]
            client.node(address).PauseVm(node_pb2.VmRef(vm_id=vm.vm_id))
        target = "node-2" if i % 2 == 0 else "node-1"
        (runs if i < repeats else paused).append(migrate_once(client, name, target, params))
        time.sleep(0.5)
    client.controller.StopVm(controller_pb2.VmSelector(vm=name))
    client.controller.DeleteVm(controller_pb2.VmSelector(vm=name))
    return runs, paused


# -- QEMU -------------------------------------------------------------------------------------

def read_text(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


class Qmp:
    def __init__(self, path: str) -> None:
        deadline = time.monotonic() + 20
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.file = self.sock.makefile("rw")
        self.events: list[dict] = []
        self._read()
        self.cmd("qmp_capabilities")

    def _read(self) -> dict:
        while True:
            msg = json.loads(self.file.readline())
            if "event" not in msg:
                return msg
            self.events.append(msg)

    def event_time(self, name: str, timeout: float = 5.0) -> float | None:
        """Host time of the last ``name`` event (QMP stamps events with the
        host's wall clock, the same on both QEMU processes), waiting for one."""
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.events if e["event"] == name]
            if found:
                stamp = found[-1]["timestamp"]
                return stamp["seconds"] + stamp["microseconds"] / 1e6
            if time.monotonic() > deadline:
                return None
            self.cmd("query-status")  # reads the events that came before its reply
            time.sleep(0.01)

    def cmd(self, name: str, **args: object) -> dict:
        self.file.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.file.flush()
        reply = self._read()
        if "error" in reply:
            raise RuntimeError(f"QMP {name}: {reply['error']}")
        return reply.get("return", {})


def qemu_runs(memory: int, rate: str, repeats: int, downtime_ms: float, warmup: float, tmp: str,
              icount: str | None = None, pin: Ends | None = None) -> list[dict]:
    """``pin``: the source QEMU on the first node's CPUs, the destination on
    the second's (``taskset``), as the Caravan nodes run."""
    qemu = shutil.which("qemu-system-riscv64")
    if qemu is None:
        return []
    src_cmd: list[str] = []
    dst_cmd: list[str] = []
    if pin:
        src_cmd = ["taskset", "-c", format_cpu_list(pin[0])]
        dst_cmd = ["taskset", "-c", format_cpu_list(pin[1])]
    image = os.path.join(tmp, f"dirtier-{rate}.elf")
    with open(image, "wb") as f:
        f.write(dirtier_image(memory, rate))
    base = [qemu, "-machine", "virt", "-bios", "none", "-m", f"{memory // MIB}M", "-display", "none",
            "-monitor", "none", "-kernel", image]
    if icount:
        base += ["-icount", icount]
    runs = []
    for i in range(repeats):
        src_qmp, dst_qmp = os.path.join(tmp, "src.qmp"), os.path.join(tmp, "dst.qmp")
        for p in (src_qmp, dst_qmp):
            if os.path.exists(p):
                os.unlink(p)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        serial = os.path.join(tmp, "src.serial")
        # QEMU's messages (-icount's "guest is late" warnings, a cancelled
        # migration's errors) go to a log, not over the results table.
        messages = open(os.path.join(tmp, "qemu.log"), "ab")
        src = subprocess.Popen([*src_cmd, *base, "-serial", f"file:{serial}", "-qmp", f"unix:{src_qmp},server=on,wait=off"],
                               stdout=messages, stderr=messages)
        dst = subprocess.Popen([*dst_cmd, *base, "-serial", "null", "-qmp", f"unix:{dst_qmp},server=on,wait=off",
                                "-incoming", f"tcp:127.0.0.1:{port}"], stdout=messages, stderr=messages)
        messages.close()  # the children keep their own descriptors
        try:
            a, b = Qmp(src_qmp), Qmp(dst_qmp)
            wait_filled(lambda: read_text(serial), "qemu")
            time.sleep(warmup)
            for q in (a, b):
                q.cmd("migrate-set-parameters", **{"downtime-limit": int(downtime_ms),
                                                   "max-bandwidth": 100 << 30})
            a.cmd("migrate", uri=f"tcp:127.0.0.1:{port}")
            deadline = time.monotonic() + MIGRATION_TIMEOUT
            while True:
                info = a.cmd("query-migrate")
                if info.get("status") in ("completed", "failed", "cancelled"):
                    break
                if time.monotonic() > deadline:  # QEMU has no timeout of its own: give up as Caravan's abort would
                    info = {**a.cmd("query-migrate"), "status": "timeout"}
                    a.cmd("migrate_cancel")
                    break
                time.sleep(0.01)
            ram = info.get("ram", {})
            # Guest-visible downtime, as Caravan measures it: the source's STOP to the
            # destination's RESUME. QEMU's own "downtime" ends when the source has sent
            # the last bytes, before the destination has loaded them and started.
            reported = float(info.get("downtime", 0))
            downtime, measured = reported, "qemu-reported"
            if info.get("status") == "completed":
                stopped, resumed = a.event_time("STOP"), b.event_time("RESUME")
                if stopped is not None and resumed is not None:
                    downtime, measured = (resumed - stopped) * 1000, "stop-to-resume"
                else:
                    print("qemu: no STOP/RESUME event; this run's downtime is QEMU's own figure", flush=True)
            runs.append({"status": info.get("status"), "setup_ms": float(info.get("setup-time", 0)),
                         "total_ms": float(info.get("total-time", 0)), "downtime_ms": downtime,
                         "reported_downtime_ms": reported, "downtime_measured": measured,
                         "rounds": int(ram.get("dirty-sync-count", 0)), "bytes": int(ram.get("transferred", 0)),
                         "mbps": float(ram.get("mbps", 0))})
        finally:
            for p in (src, dst):
                p.kill()
                p.wait()
        if runs[-1]["status"] == "timeout":  # it will not converge on a later try either
            print(f"qemu{' (paced)' if icount else ''}: {format_size(memory)} {rate} did not converge within "
                  f"{MIGRATION_TIMEOUT:.0f} s; remaining repeats skipped", flush=True)
            break
    return runs


# -- report ------------------------------------------------------------------------------------

OUTLIER = 3.0  # a migration whose downtime is this many times the workload's median (and over 30 ms)
BUSY_IDLE = 0.75  # share of the machine's CPU time that must be idle before the bench starts


def idle_share(seconds: float = 1.0) -> float:
    """Share of all CPUs' time spent idle over ``seconds`` (/proc/stat)."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, all
    idle0, total0 = sample()
    time.sleep(seconds)
    idle1, total1 = sample()
    return (idle1 - idle0) / max(1, total1 - total0)


def keep_outlier_logs(runs: list[dict], logs: str, what: str) -> str | None:
    """Copy the daemons' logs when a migration's downtime stands far out from
    the others, so its cause can be found after the temporary cluster is gone."""
    down = sorted(r["downtime_ms"] for r in runs if r["status"] == "completed")
    if len(down) < 3 or down[-1] < 30 or down[-1] < OUTLIER * statistics.median(down):
        return None
    kept = tempfile.mkdtemp(prefix=f"caravan-bench-outlier-{what}-")
    shutil.copytree(logs, os.path.join(kept, "logs"))
    with open(os.path.join(kept, "runs.json"), "w") as f:
        json.dump(runs, f, indent=2)
    return kept


def summarize(runs: list[dict]) -> dict:
    ok = [r for r in runs if r["status"] == "completed"]
    if not ok:
        return {"completed": 0, "runs": len(runs)}
    down = [r["downtime_ms"] for r in ok]
    return {
        "completed": len(ok), "runs": len(runs),
        "downtime_ms": {"p50": percentile(down, 0.5), "p99": percentile(down, 0.99), "max": max(down)},
        "total_ms": {"p50": percentile([r["total_ms"] for r in ok], 0.5),
                     "p99": percentile([r["total_ms"] for r in ok], 0.99)},
        "setup_ms": {"p50": percentile([r["setup_ms"] for r in ok], 0.5)},
        "rounds": {"p50": percentile([r["rounds"] for r in ok], 0.5), "max": max(r["rounds"] for r in ok)},
        "bytes": {"p50": percentile([r["bytes"] for r in ok], 0.5)},
        **({"reported_downtime_ms": {"p50": percentile([r["reported_downtime_ms"] for r in ok], 0.5),
                                     "p99": percentile([r["reported_downtime_ms"] for r in ok], 0.99)}}
           if all("reported_downtime_ms" in r for r in ok) else {}),
    }


def run_level_round0(raws: list[float], results: list[dict]) -> dict | None:
    """Round 0 of every live migration of the run against every 1 GiB raw
    stream of the run (the opening ones, and those before and after each
    workload): one ratio of two medians over ~30 samples each, steadier than
    a workload's five against its four."""
    round0 = [r["round0_mib_s"] for e in results for r in e["caravan_runs"] if r["round0_mib"] >= 8]
    streams = [r / MIB for r in raws] + [x for e in results for when in ("before", "after")
                                         for x in e.get("raw_now_runs_mib_s", {}).get(when, [])]
    if not round0 or not streams:
        return None
    return {"round0_mib_s": statistics.median(round0), "migrations": len(round0),
            "raw_mib_s": statistics.median(streams), "raw_streams": len(streams),
            "round0_vs_raw": statistics.median(round0) / statistics.median(streams)}


def plot(results: list[dict], path: str) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"(no plot: matplotlib is not installed; pip install -e '.[bench]' to write {path})")
        return
    fig, ax = plt.subplots(figsize=(9, 5))
    for r in results:
        run = r["caravan_runs"][0] if r["caravan_runs"] else None
        if run:
            ax.plot(range(len(run["pages_per_round"])), run["pages_per_round"], marker="o",
                    label=f"{format_size(r['memory'])} {r['rate']}")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # rounds are whole
    ax.set_xlabel("round")
    ax.set_ylabel("pages sent")
    ax.set_title("Caravan pre-copy: pages sent per round (first migration of each workload)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main() -> int:
    os.environ["CARAVAN_EXIT_WITH"] = str(os.getpid())  # the daemons started here stop with this process
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="64M,256M,1G")
    parser.add_argument("--rates", default="low,high")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--downtime-ms", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds the guest runs before migrating")
    parser.add_argument("--paused-repeats", type=int, default=2,
                        help="migrations of each workload's VM paused, after the live ones: round 0 "
                             "without the guest competing for the CPU (0 to skip)")
    parser.add_argument("--no-qemu", action="store_true")
    parser.add_argument("--qemu-paced", default="shift=7,align=on", metavar="ICOUNT",
                        help="also run QEMU with -icount ICOUNT, pacing its guest near Caravan's speed "
                             "(shift=7: 128 ns per instruction, ~7.8 MIPS) so both guests dirty memory "
                             "at about the same rate; '' to skip")
    parser.add_argument("--cold-channels", action="store_true",
                        help="skip the uncounted migration each way that opens the nodes' channels first")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="let every process use every CPU, instead of each end (Caravan node, raw stream "
                             "end, QEMU process) on its own CPUs as separate hosts would be")
    parser.add_argument("--json", dest="json_path")
    parser.add_argument("--plot", default=None)
    parser.add_argument("--allow-busy", action="store_true",
                        help=f"run even if less than {BUSY_IDLE * 100:.0f}%% of the CPU time is idle beforehand")
    args = parser.parse_args()
    idle = idle_share()
    if idle < BUSY_IDLE and not args.allow_busy:
        print(f"the machine is busy ({idle:.0%} of its CPU time idle over 1 s): the figures would measure "
              f"that, not migration; stop what runs (leftover clusters: pkill -f 'node serve') or pass --allow-busy",
              file=sys.stderr)
        return 2
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    rates = args.rates.split(",")
    tmp = tempfile.mkdtemp(prefix="caravan-bench-migration-")
    pin = args.pin and len(available()) >= 2
    config = up(os.path.join(tmp, "cluster"), UpOptions(nodes=2, capacity_memory="4G", pin=pin))
    ends: Ends | None = (parse_cpu_list(config.nodes[0]["cpus"]), parse_cpu_list(config.nodes[1]["cpus"])) \
        if pin else None
    results = []
    try:
        if ends:
            print(f"each end on its own CPUs (--no-pin: all share them): node-1, the raw stream's sender and "
                  f"the QEMU source on CPU {format_cpu_list(ends[0])}; node-2, the receiver and the QEMU "
                  f"destination on CPU {format_cpu_list(ends[1])}")
        else:
            print("every process may use every CPU" + ("" if args.pin else " (--no-pin)"))
        certs = os.path.join(tmp, "cluster", "certs")
        raws = [raw_grpc_throughput(certs, pin=ends) for _ in range(5)]
        raw = statistics.median(raws)
        print(f"raw gRPC stream ({format_size(MESSAGE)} messages, mutual TLS, warm connection): {raw / MIB:.0f} MiB/s "
              f"(median of {', '.join(f'{r / MIB:.0f}' for r in raws)})")
        print(f"{'memory':>7} {'rate':<6} {'who':<10} {'ok':>5} {'downtime p50':>12} {'p99':>8} "
              f"{'total p50':>10} {'rounds':>6} {'MiB sent':>9} {'round-0 MiB/s':>13} {'raw 1G now':>11} "
              f"{'raw same size':>14}")
        cold: list[dict] = []
        with Client(config, timeout=600) as client:
            if not args.cold_channels:
                # The raw streams run on warm connections; so do the migrations: a node keeps its
                # channel to a destination, and only its first migration there opens it.
                cold, _ = caravan_runs(client, WARM_CHANNELS_MEMORY, "low", 2, args.downtime_ms, 0.0)
                cold_r0 = ", ".join(f"{r['round0_mib_s']:.0f}" for r in cold)
                print(f"(the nodes' channels opened first by one migration each way of a "
                      f"{format_size(WARM_CHANNELS_MEMORY)} dirtier, not counted: round 0 on the new connections "
                      f"{cold_r0} MiB/s)", flush=True)
            for memory in sizes:
                for rate in rates:
                    # The machine's speed drifts (±20% within minutes here): the 1 GiB stream
                    # right before and right after this workload ("raw 1G now"), so the ratio
                    # compares like with like.
                    before = [raw_grpc_throughput(certs, pin=ends) for _ in range(2)]
                    runs, paused = caravan_runs(client, memory, rate, args.repeats, args.downtime_ms,
                                                args.warmup, args.paused_repeats)
                    summary = summarize(runs)
                    kept = keep_outlier_logs(runs, os.path.join(tmp, "cluster", "logs"),
                                             f"{format_size(memory)}-{rate}")
                    if kept:
                        print(f"(a downtime outlier: the node and controller logs are kept in {kept})", flush=True)
                    r0 = [r["round0_mib_s"] for r in runs if r["round0_mib"] >= 8]
                    entry = {"memory": memory, "rate": rate, "caravan": summary, "caravan_runs": runs,
                             "round0_mib_s": statistics.median(r0) if r0 else None,
                             "round0_vs_raw": (statistics.median(r0) * MIB / raw) if r0 else None}
                    if r0:
                        after = [raw_grpc_throughput(certs, pin=ends) for _ in range(2)]
                        now = before + after
                        entry["raw_now_runs_mib_s"] = {"before": [r / MIB for r in before],
                                                       "after": [r / MIB for r in after]}
                        entry["raw_now_mib_s"] = statistics.median(now) / MIB
                        entry["round0_vs_raw_now"] = statistics.median(r0) * MIB / statistics.median(now)
                        # The same stream carrying only as much as round 0 did: a short stream
                        # pays its start-up over fewer bytes.
                        size = max(1, round(statistics.median(r["round0_mib"] for r in runs))) * MIB
                        short = [raw_grpc_throughput(certs, size, ends) for _ in range(3)]
                        entry["raw_same_size_mib_s"] = statistics.median(short) / MIB
                        entry["round0_vs_raw_same_size"] = statistics.median(r0) * MIB / statistics.median(short)
                    entry["caravan_paused_runs"] = paused
                    p0 = [r["round0_mib_s"] for r in paused if r["status"] == "completed" and r["round0_mib"] >= 8]
                    if p0 and "raw_now_mib_s" in entry:
                        entry["round0_paused_mib_s"] = statistics.median(p0)
                        entry["round0_paused_vs_raw_now"] = statistics.median(p0) / entry["raw_now_mib_s"]
                    if not args.no_qemu:
                        qruns = qemu_runs(memory, rate, args.repeats, args.downtime_ms, args.warmup, tmp, pin=ends)
                        entry["qemu"] = summarize(qruns)
                        entry["qemu_runs"] = qruns
                        if args.qemu_paced:
                            pruns = qemu_runs(memory, rate, args.repeats, args.downtime_ms, args.warmup, tmp,
                                              icount=args.qemu_paced, pin=ends)
                            entry["qemu-paced"] = summarize(pruns)
                            entry["qemu-paced_runs"] = pruns
                    results.append(entry)
                    for who in ("caravan", "qemu", "qemu-paced"):
                        s = entry.get(who)
                        if not s or not s.get("completed"):
                            if s is not None:
                                statuses = sorted({r["status"] for r in entry.get(f"{who}_runs", [])})
                                print(f"{format_size(memory):>7} {rate:<6} {who:<10} {0:>2}/{s['runs']:<2}  "
                                      f"(no completed run: {', '.join(statuses) or 'not run'})")
                            continue
                        r0s = f"{entry['round0_mib_s']:.0f} ({entry['round0_vs_raw']:.0%})" \
                            if who == "caravan" and entry["round0_mib_s"] else "-"
                        same = f"{entry['raw_same_size_mib_s']:.0f} ({entry['round0_vs_raw_same_size']:.0%})" \
                            if who == "caravan" and "raw_same_size_mib_s" in entry else "-"
                        now = f"{entry['raw_now_mib_s']:.0f} ({entry['round0_vs_raw_now']:.0%})" \
                            if who == "caravan" and "raw_now_mib_s" in entry else "-"
                        print(f"{format_size(memory):>7} {rate:<6} {who:<10} {s['completed']:>2}/{s['runs']:<2} "
                              f"{s['downtime_ms']['p50']:>10.1f}ms {s['downtime_ms']['p99']:>6.1f}ms "
                              f"{s['total_ms']['p50']:>8.0f}ms {s['rounds']['p50']:>6.0f} "
                              f"{s['bytes']['p50'] / MIB:>9.1f} {r0s:>13} {now:>11} {same:>14}", flush=True)
                        if who == "caravan" and "round0_paused_mib_s" in entry:
                            print(f"{'':>7} {'':<6} {'':<10} (round 0 of the same VM paused: "
                                  f"{entry['round0_paused_mib_s']:.0f} MiB/s, {entry['round0_paused_vs_raw_now']:.0%} "
                                  f"of raw 1G now: the stream without the guest's CPU time)", flush=True)
                        if "reported_downtime_ms" in s:
                            print(f"{'':>7} {'':<6} {'':<10} (QEMU's own downtime figure, source side only: "
                                  f"p50 {s['reported_downtime_ms']['p50']:.1f} ms, "
                                  f"p99 {s['reported_downtime_ms']['p99']:.1f} ms)", flush=True)
        overall = run_level_round0(raws, results)
        if overall:
            print(f"round 0 over the whole run: median {overall['round0_mib_s']:.0f} MiB/s of "
                  f"{overall['migrations']} live migrations, {overall['round0_vs_raw']:.0%} of the median "
                  f"{overall['raw_mib_s']:.0f} MiB/s of its {overall['raw_streams']} raw 1 GiB streams", flush=True)
    finally:
        down(os.path.join(tmp, "cluster"))
        shutil.rmtree(tmp, ignore_errors=True)
    out = {"benchmark": "migration", "downtime_limit_ms": args.downtime_ms, "raw_grpc_mib_s": raw / MIB,
           "pinned": [format_cpu_list(e) for e in ends] if ends else None, "round0_run_level": overall,
           "raw_grpc_runs_mib_s": [r / MIB for r in raws], "cold_channel_runs": cold,
           "message_bytes": MESSAGE, "results": results}
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(out, f, indent=2)
        print(f"wrote {args.json_path}")
    if args.plot:
        plot(results, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
