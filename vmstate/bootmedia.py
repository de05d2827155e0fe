"""Boot media files: what a VM cold-boots from when it has no boot images of
its own (DESIGN.md §4; node/store.py names the file ``boot.vmstate``).

A VM that arrived by live migration or by a restore came as state, not as the
kernel, firmware and initrd files it was created from. What a cold start of it
needs is the part of that state that describes its boot: the ``machine``
config record (memory and disk size, boot addresses, device tree, tohost) and
the BOOT segments — the images as loaded into RAM, kept for guest-requested
resets. A node keeps those here, so that a start after a power-off boots the
guest exactly as its first node did (:meth:`Machine.cold_boot`).

The file is a vmstate file (FORMAT.md) holding only the ``config`` section of
a snapshot — the same preamble, framing, record kinds and digests (section
digest: sha256 of its record bodies; the trailer's ``digest``: sha256 of the
preamble and every frame outside the section, BEGIN and END included). Its
header says ``"boot_media": true`` and lists ``["config"]`` as its sections,
so a snapshot reader refuses it as boot media instead of mistaking it for a
VM's state. BOOT records are as in a snapshot
(vmstate/bootrecords.py: a large segment in pieces).
"""

from __future__ import annotations

import os
from typing import Any

from node.machine.loader import Segment
from node.machine.memory import MAX_RAM

from . import bootrecords, codec
from .durable import atomic_file
from .errors import FormatError, LimitError
from .snapshot import FORMAT_MAJOR, FORMAT_MINOR, MAGIC, PREAMBLE, Limits, _open, _Reader, _read_until_trailer, _Writer

SLACK = 1 << 20  # bytes a boot media file may have beyond its memory size (records, device tree)


def save(path: str, machine_config: dict[str, Any], segments: list[Segment],
         meta: dict[str, Any] | None = None) -> None:
    """Write the boot media of a machine (its ``config_state()`` and
    ``boot_segments()``) to ``path`` atomically."""
    memory_size = machine_config.get("memory_size")
    if not isinstance(memory_size, int) or memory_size <= 0:
        raise FormatError("the machine description has no memory size")
    with atomic_file(path, "wb", prefix=".boot-") as f:
        w = _Writer(f)  # the snapshot writer: the same framing and digests
        w._out(PREAMBLE.pack(MAGIC, FORMAT_MAJOR, FORMAT_MINOR, 0), outside=True)
        w.frame(codec.HEADER, {"format": [FORMAT_MAJOR, FORMAT_MINOR], "boot_media": True, "meta": dict(meta or {}),
                               "memory_size": memory_size, "disk": machine_config.get("disk"),
                               "sections": ["config"]})
        w.begin("config")
        w.frame(codec.STATE, {"name": "machine", "state": machine_config})
        for payload in bootrecords.records(segments):
            w.frame(codec.BOOT, payload)
        w.end()
        w._out(codec.encode_frame(codec.TRAILER, {"digest": w.whole.digest()}), outside=False)


def load(path: str, max_memory: int = MAX_RAM) -> tuple[dict[str, Any], list[Segment]]:
    """The machine config record and boot segments saved in ``path``, read
    by the snapshot reader (every frame, record kind and digest checked).
    The config record itself is checked by :meth:`Machine.from_config_state`
    when the machine is built."""
    try:
        if os.path.getsize(path) > max_memory + SLACK:
            raise LimitError(f"{path}: {os.path.getsize(path)} bytes is more than boot media "
                             f"for this node's VMs can be")
    except OSError:
        pass  # opening it says what is wrong
    reader = _Reader(path, Limits(max_memory=max_memory), boot_media=True)
    media = _Media(reader)
    reader.handlers = {"config": media.record}
    with _open(path) as f:
        _read_until_trailer(f, reader)
    assert media.machine is not None  # the reader requires the machine record
    return media.machine, media.segments


class _Media:
    """The config section's records as a machine record and boot segments."""

    def __init__(self, reader: _Reader) -> None:
        self.reader = reader
        self.machine: dict[str, Any] | None = None
        self.boot: bootrecords.Joiner | None = None

    @property
    def segments(self) -> list[Segment]:
        return self.boot.segments if self.boot else []

    def record(self, fr: codec.Frame) -> None:
        if fr.kind == codec.STATE:  # the reader allows one, named "machine"
            state = fr.payload.get("state")
            if not isinstance(state, dict):
                raise FormatError("malformed machine record")
            self.machine = state
        else:
            self.boot = self.boot or bootrecords.Joiner(self.reader.report.memory_size)
            self.boot.add(fr.payload)
