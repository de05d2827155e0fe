#!/usr/bin/env python3
"""Show or patch the .caravan_config block of a Caravan guest ELF.

    caravan_config.py GUEST.elf                      # print the fields
    caravan_config.py GUEST.elf -s iterations=0 -s seed=0x1234 [-o OUT.elf]

Fields can be given by name (for the known guests) or by index (#3=42).
Without -o the ELF is patched in place. Standard library only.
"""
import argparse
import struct
import sys

MAGIC = b"CRVNCFG1"

# Field order per guest (ABI, see guests/README.md).
FIELDS = {
    "cpubench": ["iterations", "seed"],
    "dirtier": ["working_set_pages", "writes_per_iteration", "spin_per_write",
                "report_every", "iterations", "seed"],
}


def find_config(elf: bytes) -> int:
    """Return the file offset of the config block."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise SystemExit("not a little-endian ELF64 file")
    e_shoff, = struct.unpack_from("<Q", elf, 0x28)
    e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
    def shdr(i):
        return struct.unpack_from("<IIQQQQIIQQ", elf, e_shoff + i * e_shentsize)
    stroff = shdr(e_shstrndx)[4]
    for i in range(e_shnum):
        name, _typ, _flags, _addr, off, size = shdr(i)[:6]
        end = elf.index(b"\0", stroff + name)
        if elf[stroff + name:end] == b".caravan_config":
            if elf[off:off + 8] != MAGIC:
                raise SystemExit("bad config magic")
            return off
    raise SystemExit("no .caravan_config section")


def guess_names(elf: bytes, count: int):
    for guest, names in FIELDS.items():
        if len(names) == count and (b"\0" + guest.encode()) in elf:
            return names
    return [f"#{i}" for i in range(count)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("elf")
    ap.add_argument("-s", "--set", action="append", default=[],
                    metavar="NAME=VALUE")
    ap.add_argument("-g", "--guest", choices=sorted(FIELDS),
                    help="field names to use (default: guessed)")
    ap.add_argument("-o", "--output")
    args = ap.parse_args(argv)

    data = bytearray(open(args.elf, "rb").read())
    off = find_config(bytes(data))
    version, count = struct.unpack_from("<II", data, off + 8)
    if version != 1:
        raise SystemExit(f"unsupported config version {version}")
    names = FIELDS[args.guest] if args.guest else guess_names(bytes(data), count)
    if len(names) != count:
        names = [f"#{i}" for i in range(count)]

    for item in args.set:
        key, _, val = item.partition("=")
        if key.startswith("#"):
            idx = int(key[1:])
        elif key in names:
            idx = names.index(key)
        else:
            raise SystemExit(f"unknown field {key!r} (fields: {', '.join(names)})")
        if not 0 <= idx < count:
            raise SystemExit(f"field index {idx} out of range")
        struct.pack_into("<Q", data, off + 16 + 8 * idx, int(val, 0) & (2**64 - 1))

    if args.set:
        open(args.output or args.elf, "wb").write(data)
    for i in range(count):
        v, = struct.unpack_from("<Q", data, off + 16 + 8 * i)
        print(f"{names[i]:>22} = {v} (0x{v:x})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
