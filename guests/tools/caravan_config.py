#!/usr/bin/env python3
"""Show or patch the .caravan_config block of a Caravan guest ELF.

    caravan_config.py GUEST.elf                      # print the fields
    caravan_config.py GUEST.elf -s iterations=0 -s seed=0x1234 [-o OUT.elf]

Fields can be given by name (for the known guests) or by index (#3=42).
Without -o the ELF is patched in place. The logic lives in node/guestconfig.py.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from node.guestconfig import GuestConfigError, names_for, patch, read  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("elf")
    ap.add_argument("-s", "--set", action="append", default=[], metavar="FIELD=VALUE")
    ap.add_argument("-o", "--output")
    args = ap.parse_args(argv)
    with open(args.elf, "rb") as f:
        data = f.read()
    guest = os.path.basename(args.elf).split(".")[0]
    try:
        values = read(data)
        if not args.set:
            for name, value in zip(names_for(guest, len(values)), values):
                print(f"{name} = {value} ({value:#x})")
            return 0
        changes = {}
        for item in args.set:
            key, _, value = item.partition("=")
            changes[key] = int(value, 0)
        out = patch(data, guest, changes)
    except GuestConfigError as exc:
        raise SystemExit(f"{args.elf}: {exc}")
    with open(args.output or args.elf, "wb") as f:
        f.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
