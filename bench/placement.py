#!/usr/bin/env python3
"""Placement decision time with 1,000 simulated nodes and 10,000 VMs.

    python bench/placement.py [--nodes 1000] [--vms 10000] [--policy spread] [--json out.json]

Runs the controller's own decision path (its view of every node built from
its VM ledger, then filters and weighers) for each of ``--vms`` VMs placed
one after another on a fleet of ``--nodes`` nodes of mixed sizes, with
anti-affinity groups and some nodes down or cordoned. Prints the decision
time percentiles and writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from caravan import types_pb2  # noqa: E402
from controller.core import Controller, ControllerConfig  # noqa: E402
from controller.errors import ResourceExhausted  # noqa: E402
from controller.store import NodeRow, VmRow  # noqa: E402

GIB = 1 << 30
MIB = 1 << 20


def fleet(controller: Controller, count: int, rng: random.Random) -> None:
    for i in range(count):
        memory = rng.choice([32, 64, 128, 256]) * GIB
        vcpus = rng.choice([16, 32, 64])
        node = NodeRow(f"node-{i:04d}", f"10.0.{i // 250}.{i % 250}:7000", "interp", memory, vcpus,
                       cordoned=rng.random() < 0.02, state="down" if rng.random() < 0.01 else "ready")
        controller.nodes[node.name] = node
        controller.live[node.name] = types_pb2.NodeInfo(
            name=node.name, free=types_pb2.Capacity(memory_bytes=memory, vcpus=vcpus))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--vms", type=int, default=10000)
    parser.add_argument("--policy", default="spread")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    controller = Controller(ControllerConfig(data_dir=tempfile.mkdtemp(prefix="caravan-bench-placement-")))
    fleet(controller, args.nodes, rng)
    times: list[float] = []
    refused = 0
    start = time.perf_counter()
    for i in range(args.vms):
        memory = rng.choice([64, 128, 256, 512, 1024]) * MIB
        group = f"svc-{rng.randrange(200)}" if rng.random() < 0.3 else ""
        t0 = time.perf_counter()
        try:
            decision = controller._decide(memory, group, "", "", args.policy)
        except ResourceExhausted:
            refused += 1
            times.append(time.perf_counter() - t0)
            continue
        times.append(time.perf_counter() - t0)
        vm_id = f"vm-{i:05d}"
        controller.vms[vm_id] = VmRow(vm_id, vm_id, decision.node, "running", "running", memory, 1024, group)
    total = time.perf_counter() - start
    ordered = sorted(times)
    result = {
        "benchmark": "placement", "nodes": args.nodes, "vms": args.vms, "policy": args.policy,
        "placed": args.vms - refused, "refused": refused,
        "decision_ms": {"mean": statistics.mean(times) * 1e3, "p50": ordered[len(ordered) // 2] * 1e3,
                        "p99": ordered[int(len(ordered) * 0.99)] * 1e3, "max": ordered[-1] * 1e3},
        "total_seconds": total,
    }
    d = result["decision_ms"]
    print(f"{args.nodes} nodes, {args.vms} VMs ({args.policy}): placed {result['placed']}, refused {refused}")
    print(f"decision time: mean {d['mean']:.2f} ms, p50 {d['p50']:.2f} ms, p99 {d['p99']:.2f} ms, "
          f"max {d['max']:.2f} ms; total {total:.1f} s")
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {args.json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
