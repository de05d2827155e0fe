#!/usr/bin/env python3
"""Regenerate the Python stubs in proto/caravan from proto/caravan/*.proto.

    python proto/generate.py            # rewrite the committed stubs
    python proto/generate.py --check    # exit 1 if they are stale

Uses grpcio-tools (the version pinned in pyproject's test extras), so the
output is the same on every machine.
"""

from __future__ import annotations

import filecmp
import glob
import os
import shutil
import sys
import tempfile

from grpc_tools import protoc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTOS = sorted(glob.glob(os.path.join(HERE, "caravan", "*.proto")))
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def generate(out_dir: str) -> None:
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    args = ["protoc", f"-I{HERE}", f"-I{include}", f"--python_out={out_dir}",
            f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}"]
    args += [os.path.relpath(p, HERE) for p in PROTOS]
    cwd = os.getcwd()
    os.chdir(HERE)
    try:
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
    finally:
        os.chdir(cwd)


def generated_files(root: str) -> list[str]:
    return sorted(os.path.relpath(p, root) for p in glob.glob(os.path.join(root, "caravan", "*"))
                  if p.endswith(GENERATED_SUFFIXES))


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        generate(tmp)
        fresh = generated_files(tmp)
        if "--check" in sys.argv:
            stale = [f for f in fresh if not os.path.exists(os.path.join(HERE, f))
                     or not filecmp.cmp(os.path.join(tmp, f), os.path.join(HERE, f), shallow=False)]
            stale += [f for f in generated_files(HERE) if f not in fresh]
            if stale:
                print("stale generated stubs (run `python proto/generate.py`): " + ", ".join(stale))
                return 1
            print("generated stubs are up to date")
            return 0
        for f in generated_files(HERE):
            if f not in fresh:
                os.unlink(os.path.join(HERE, f))
        for f in fresh:
            shutil.copyfile(os.path.join(tmp, f), os.path.join(HERE, f))
        print("regenerated: " + ", ".join(fresh))
    return 0


if __name__ == "__main__":
    sys.exit(main())
