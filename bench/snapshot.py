#!/usr/bin/env python3
"""Snapshot save and restore throughput, next to ``cp`` of a file of the same size.

    python bench/snapshot.py [--sizes 64M,256M,1G] [--json out.json] [--dir DIR]

For each guest memory size and two memory contents — *mostly-zero* (a booted
guest, everything else untouched) and *full* (every page written with random
bytes) — it measures, in one run:

* save: plain, and with zstd (``--compress``);
* restore: reading the file into a fresh VM;
* restore by mmap of a ``--mappable`` snapshot: with the memory digest
  verified (reads the image once) and unverified (O(1) in memory size);
* ``cp`` of a file of exactly the guest's memory size, as the yardstick.

Throughput is guest memory size over wall time. Files are in the page cache
(as they would be right after a save); the figures are what a user sees.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from node.machine.machine import Machine, MachineConfig  # noqa: E402
from node.machine.memory import format_size, parse_size  # noqa: E402
from vmstate import snapshot as S  # noqa: E402

HELLO = os.path.join(ROOT, "guests", "bin", "hello.elf")


def make_machine(size: int, full: bool) -> Machine:
    m = Machine(MachineConfig(kernel=HELLO, memory_size=size))
    m.boot()
    m.run(100)
    if full:
        chunk = 64 << 20
        for off in range(0, size, chunk):
            n = min(chunk, size - off)
            m.ram.u8[off:off + n] = os.urandom(n)
    return m


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def mbps(size: int, seconds: float) -> float:
    return size / seconds / (1 << 20) if seconds > 0 else float("inf")


def bench_one(size: int, full: bool, workdir: str) -> dict:
    m = make_machine(size, full)
    plain = os.path.join(workdir, "plain.vmstate")
    zstd = os.path.join(workdir, "zstd.vmstate")
    mapped = os.path.join(workdir, "mapped.vmstate")
    t_save, report = timed(lambda: S.save(m, plain))
    t_save_z, _ = timed(lambda: S.save(m, zstd, options=S.SaveOptions(compress=True)))
    t_save_m, _ = timed(lambda: S.save(m, mapped, options=S.SaveOptions(mappable=True)))
    m.close()

    def restore(path: str, **kw: object) -> None:
        restored = S.load(path, **kw)  # type: ignore[arg-type]
        restored.machine.close()  # type: ignore[union-attr]

    t_load, _ = timed(lambda: restore(plain))
    t_load_z, _ = timed(lambda: restore(zstd))
    t_mmap_v, _ = timed(lambda: restore(mapped, use_mmap=True, verify_memory=True))
    t_mmap_u, _ = timed(lambda: restore(mapped, use_mmap=True, verify_memory=False))

    src = os.path.join(workdir, "cp-src.bin")
    with open(src, "wb") as f:
        chunk = 64 << 20
        for off in range(0, size, chunk):
            f.write(os.urandom(min(chunk, size - off)))
    dst = os.path.join(workdir, "cp-dst.bin")
    t_cp, _ = timed(lambda: subprocess.run(["cp", src, dst], check=True))
    files = {name: os.path.getsize(p) for name, p in (("plain", plain), ("zstd", zstd), ("mappable", mapped))}
    for p in (plain, zstd, mapped, src, dst):
        os.unlink(p)
    return {
        "memory": size, "contents": "full" if full else "mostly-zero",
        "data_pages": report.data_pages, "file_bytes": files,
        "seconds": {"save": t_save, "save_zstd": t_save_z, "save_mappable": t_save_m,
                    "restore": t_load, "restore_zstd": t_load_z,
                    "restore_mmap_verified": t_mmap_v, "restore_mmap_unverified": t_mmap_u,
                    "cp": t_cp},
        "mib_per_s": {"save": mbps(size, t_save), "save_zstd": mbps(size, t_save_z),
                      "restore": mbps(size, t_load), "restore_zstd": mbps(size, t_load_z),
                      "restore_mmap_verified": mbps(size, t_mmap_v),
                      "restore_mmap_unverified": mbps(size, t_mmap_u), "cp": mbps(size, t_cp)},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="64M,256M,1G")
    parser.add_argument("--json", dest="json_path")
    parser.add_argument("--dir", default=None, help="where to write the files (default: a temp dir)")
    args = parser.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    workdir = tempfile.mkdtemp(prefix="caravan-bench-", dir=args.dir)
    results = []
    try:
        header = (f"{'memory':>7} {'contents':<12} {'save':>9} {'+zstd':>9} {'restore':>9} {'+zstd':>9}"
                  f" {'mmap+vfy':>9} {'mmap':>9} {'cp':>9}   (MiB/s of guest memory; seconds in JSON)")
        print(header)
        for size in sizes:
            for full in (False, True):
                r = bench_one(size, full, workdir)
                results.append(r)
                t = r["mib_per_s"]
                print(f"{format_size(size):>7} {r['contents']:<12} {t['save']:>9.0f} {t['save_zstd']:>9.0f}"
                      f" {t['restore']:>9.0f} {t['restore_zstd']:>9.0f} {t['restore_mmap_verified']:>9.0f}"
                      f" {t['restore_mmap_unverified']:>9.0f} {t['cp']:>9.0f}", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump({"benchmark": "snapshot", "results": results}, f, indent=2)
        print(f"wrote {args.json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
