#!/usr/bin/env python3
"""Guest instructions per second: Caravan's interpreter on ``cpubench``, with
QEMU (TCG) running the same image in the same invocation.

    python bench/mips.py [--repeat 3] [--json out.json] [--guest PATH]

Prints Caravan's MIPS (best of the repeats), QEMU's wall time for the same
program and the wall-time ratio; writes the figures as JSON with --json. The
instruction count is Caravan's exact retired count; QEMU's "MIPS" is that
count over QEMU's wall time (including its start-up, which is small next to
the run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from node.machine.machine import Machine, MachineConfig, StopReason  # noqa: E402


def run_caravan(image: str, backend: str) -> tuple[float, int, bytes, int | None]:
    out = bytearray()
    machine = Machine(MachineConfig(kernel=image, backend=backend), console=out.extend)
    machine.boot()
    start = time.perf_counter()
    while machine.run(10_000_000) is StopReason.LIMIT:
        pass
    seconds = time.perf_counter() - start
    return seconds, machine.instructions, bytes(out), machine.exit_code


def run_qemu(image: str) -> tuple[float, bytes, int] | None:
    qemu = shutil.which("qemu-system-riscv64")
    if qemu is None:
        return None
    cmd = [qemu, "-machine", "virt", "-bios", "none", "-m", "128M", "-nographic",
           "-display", "none", "-kernel", image]
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=600)
    return time.perf_counter() - start, proc.stdout, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--guest", default=os.path.join(ROOT, "guests", "bin", "cpubench.elf"))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--backend", default="interp")
    parser.add_argument("--json", dest="json_path", default=None)
    args = parser.parse_args()

    runs = [run_caravan(args.guest, args.backend) for _ in range(args.repeat)]
    best = min(runs, key=lambda r: r[0])
    seconds, instructions, output, code = best
    mips = instructions / seconds / 1e6
    print(f"caravan {args.backend}: {instructions:,} instructions in {seconds:.3f} s = {mips:.2f} MIPS"
          f" (best of {args.repeat}; exit {code})")
    result: dict[str, object] = {
        "benchmark": "mips",
        "guest": os.path.basename(args.guest),
        "instructions": instructions,
        "caravan": {"backend": args.backend, "seconds": seconds, "mips": mips,
                    "all_seconds": [r[0] for r in runs]},
        "host": {"python": platform.python_version(), "machine": platform.machine(),
                 "cpus": os.cpu_count()},
    }
    qemu_runs = [run_qemu(args.guest) for _ in range(args.repeat)]
    if qemu_runs[0] is None:
        print("qemu: qemu-system-riscv64 not installed; no comparison")
    else:
        q_seconds, q_out, q_code = min(qemu_runs, key=lambda r: r[0])  # type: ignore[index]
        same = q_out == output and q_code == (code or 0)
        ratio = seconds / q_seconds
        print(f"qemu tcg: {q_seconds:.3f} s wall ({instructions / q_seconds / 1e6:.1f} MIPS);"
              f" caravan/qemu wall-time ratio {ratio:.1f}x; outputs {'identical' if same else 'DIFFER'}")
        result["qemu"] = {"seconds": q_seconds, "mips": instructions / q_seconds / 1e6,
                          "identical_output": same}
        result["ratio_caravan_over_qemu"] = ratio
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {args.json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
