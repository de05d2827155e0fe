"""Guest config blocks: parameters a guest image carries in its
``.caravan_config`` section (``guests/README.md``), patched without rebuilding.

Layout: magic ``CRVNCFG1``, u32 version (1), u32 field count, then the u64
fields, little-endian. Field names per guest follow the guests' documented order.
"""

from __future__ import annotations

import struct

MAGIC = b"CRVNCFG1"
SECTION = ".caravan_config"

FIELDS: dict[str, list[str]] = {
    "cpubench": ["iterations", "seed"],
    "dirtier": ["working_set_pages", "writes_per_iteration", "spin_per_write",
                "report_every", "iterations", "seed"],
    "htif-exit": ["fail_code"],
}


class GuestConfigError(ValueError):
    """The image has no usable config block, or a field is unknown."""


def _section_offset(elf: bytes) -> int:
    if elf[:4] != b"\x7fELF" or len(elf) < 64 or elf[4] != 2 or elf[5] != 1:
        raise GuestConfigError("not a little-endian ELF64 image")
    e_shoff, = struct.unpack_from("<Q", elf, 0x28)
    e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
    try:
        def shdr(i: int) -> tuple:
            return struct.unpack_from("<IIQQQQIIQQ", elf, e_shoff + i * e_shentsize)
        stroff = shdr(e_shstrndx)[4]
        for i in range(e_shnum):
            name, _t, _f, _a, off, _size = shdr(i)[:6]
            end = elf.index(b"\0", stroff + name)
            if elf[stroff + name:end] == SECTION.encode():
                if elf[off:off + 8] != MAGIC:
                    raise GuestConfigError("the config section has a bad magic")
                return off
    except (struct.error, ValueError) as exc:
        if isinstance(exc, GuestConfigError):
            raise
        raise GuestConfigError(f"malformed ELF section table ({exc})") from None
    raise GuestConfigError(f"the image has no {SECTION} section")


def read(elf: bytes) -> list[int]:
    off = _section_offset(elf)
    version, count = struct.unpack_from("<II", elf, off + 8)
    if version != 1:
        raise GuestConfigError(f"config block version {version} is not supported")
    return list(struct.unpack_from(f"<{count}Q", elf, off + 16))


def names_for(guest: str, count: int) -> list[str]:
    names = FIELDS.get(guest)
    if names is None or len(names) != count:
        return [f"#{i}" for i in range(count)]
    return names


def patch(elf: bytes, guest: str, values: dict[str, int]) -> bytes:
    """A copy of ``elf`` with the named fields set (names from ``FIELDS[guest]``
    or ``#index``)."""
    current = read(elf)
    names = names_for(guest, len(current))
    out = bytearray(elf)
    off = _section_offset(elf)
    for key, value in values.items():
        if key in names:
            index = names.index(key)
        elif key.startswith("#") and key[1:].isdigit() and int(key[1:]) < len(current):
            index = int(key[1:])
        else:
            known = ", ".join(names)
            raise GuestConfigError(f"unknown config field {key!r} for {guest} (fields: {known})")
        if not 0 <= value < 1 << 64:
            raise GuestConfigError(f"config field {key} must fit in 64 bits")
        struct.pack_into("<Q", out, off + 16 + 8 * index, value)
    return bytes(out)
