#!/usr/bin/env python3
"""gRPC call latency on a node while 1, 4 and 16 busy VMs run, and the
aggregate guest MIPS.

    python bench/node.py [--vms 1,4,16] [--seconds 8] [--slice-ms 1] [--json out.json]

Starts a real ``caravan node serve`` process on loopback, fills it with
``cpubench`` VMs that never finish, and from this process calls GetVm (a small
unary RPC) at a steady rate (``--rate`` per second, open loop, like a
controller polling), measuring each call's round trip; the guest instruction
counts before and after give the aggregate MIPS.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import grpc  # noqa: E402

from caravan import node_pb2, node_pb2_grpc, types_pb2  # noqa: E402
from node.guestconfig import patch  # noqa: E402


def start_node(data: str, slice_ms: float) -> tuple[subprocess.Popen, str]:
    ready = os.path.join(data, "ready.json")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from controller.cli import main; main()", "node", "serve",
         "--listen", "127.0.0.1:0", "--data", os.path.join(data, "node"), "--insecure",
         "--capacity-memory", "8G", "--capacity-vcpus", "64", "--name", "bench",
         "--slice-ms", str(slice_ms), "--ready-file", ready],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(data, "node.log"), "wb"))
    while not os.path.exists(ready):
        if proc.poll() is not None:
            raise SystemExit("the node did not start; see its log")
        time.sleep(0.05)
    with open(ready) as f:
        return proc, json.load(f)["address"]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def measure(stub: node_pb2_grpc.NodeServiceStub, vm_ids: list[str], seconds: float, rate: float) -> dict:
    time.sleep(1.0)  # let the VMs' MIPS estimates settle
    before = {v: stub.GetVm(node_pb2.VmRef(vm_id=v)).stats.instructions for v in vm_ids}
    start = time.perf_counter()
    latencies = []
    probe = vm_ids[0]
    next_call = start
    while time.perf_counter() - start < seconds:
        delay = next_call - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        next_call += 1.0 / rate
        t0 = time.perf_counter()
        stub.GetVm(node_pb2.VmRef(vm_id=probe))
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    after = {v: stub.GetVm(node_pb2.VmRef(vm_id=v)).stats.instructions for v in vm_ids}
    executed = sum(after[v] - before[v] for v in vm_ids)
    return {
        "vms": len(vm_ids), "calls": len(latencies),
        "latency_ms": {"p50": percentile(latencies, 0.5) * 1e3, "p99": percentile(latencies, 0.99) * 1e3,
                       "max": max(latencies) * 1e3, "mean": statistics.mean(latencies) * 1e3},
        "aggregate_mips": executed / elapsed / 1e6,
        "per_vm_mips": executed / elapsed / 1e6 / len(vm_ids),
    }


def main() -> int:
    os.environ["CARAVAN_EXIT_WITH"] = str(os.getpid())  # the daemons started here stop with this process
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vms", default="1,4,16")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--slice-ms", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=50.0, help="probe calls per second")
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    with open(os.path.join(ROOT, "guests", "bin", "cpubench.elf"), "rb") as f:
        kernel = patch(f.read(), "cpubench", {"iterations": 1 << 40})
    tmp = tempfile.mkdtemp(prefix="caravan-bench-node-")
    proc, address = start_node(tmp, args.slice_ms)
    results = []
    try:
        channel = grpc.insecure_channel(address)
        stub = node_pb2_grpc.NodeServiceStub(channel)
        idle = measure_idle(stub)
        print(f"idle node: GetNodeInfo p50 {idle['p50']:.2f} ms, p99 {idle['p99']:.2f} ms")
        print(f"{'busy VMs':>8} {'calls':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'guest MIPS':>11} {'per VM':>8}")
        for n in [int(x) for x in args.vms.split(",")]:
            ids = [f"busy-{n}-{i}" for i in range(n)]
            for vm_id in ids:
                stub.CreateVm(node_pb2.CreateVmRequest(vm_id=vm_id, start=True, spec=types_pb2.VmSpec(
                    name=vm_id, memory_bytes=32 << 20, kernel=kernel)))
            r = measure(stub, ids, args.seconds, args.rate)
            results.append(r)
            lat = r["latency_ms"]
            print(f"{n:>8} {r['calls']:>7} {lat['p50']:>8.2f} {lat['p99']:>8.2f} {lat['max']:>8.2f}"
                  f" {r['aggregate_mips']:>11.2f} {r['per_vm_mips']:>8.2f}", flush=True)
            for vm_id in ids:
                stub.StopVm(node_pb2.VmRef(vm_id=vm_id))
                stub.DestroyVm(node_pb2.VmRef(vm_id=vm_id))
        channel.close()
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump({"benchmark": "node", "slice_ms": args.slice_ms, "rate": args.rate, "idle": idle,
                       "results": results}, f, indent=2)
        print(f"wrote {args.json_path}")
    return 0


def measure_idle(stub: node_pb2_grpc.NodeServiceStub) -> dict:
    latencies = []
    for _ in range(300):
        t0 = time.perf_counter()
        stub.GetNodeInfo(node_pb2.GetNodeInfoRequest())
        latencies.append(time.perf_counter() - t0)
    return {"p50": percentile(latencies, 0.5) * 1e3, "p99": percentile(latencies, 0.99) * 1e3}


if __name__ == "__main__":
    sys.exit(main())
