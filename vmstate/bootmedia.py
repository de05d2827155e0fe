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
so a snapshot reader refuses it ("the hart section is missing") instead of
mistaking it for a VM's state. A segment larger than :data:`PIECE` is stored
as several BOOT records, the later ones marked ``continued`` (a frame holds at
most 16 MiB), and joined again when read.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from node.machine.loader import Segment
from node.machine.memory import MAX_RAM

from . import codec
from .durable import atomic_file
from .errors import ChecksumError, FormatError, LimitError, TruncatedError, VersionError, VmstateError
from .snapshot import FORMAT_MAJOR, FORMAT_MINOR, MAGIC, PREAMBLE, _boot_segment, _Writer

PIECE = 4 << 20  # bytes of segment data per BOOT record
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
        for payload in _pieces(segments):
            w.frame(codec.BOOT, payload)
        w.end()
        w._out(codec.encode_frame(codec.TRAILER, {"digest": w.whole.digest()}), outside=False)


def _pieces(segments: list[Segment]) -> list[dict[str, Any]]:
    """BOOT record payloads: each segment in pieces of at most :data:`PIECE` bytes."""
    payloads = []
    for seg in segments:
        data = seg.data
        starts = range(0, len(data), PIECE) if data else range(1)
        for start in starts:
            piece = data[start:start + PIECE]
            last = start + PIECE >= len(data)
            payload: dict[str, Any] = {"address": seg.address + start, "data": piece,
                                       "memsize": seg.memsize - start if last else len(piece)}
            if start:
                payload["continued"] = True
            payloads.append(payload)
    return payloads


def load(path: str, max_memory: int = MAX_RAM) -> tuple[dict[str, Any], list[Segment]]:
    """The machine config record and boot segments saved in ``path``,
    every frame and digest checked. The config record itself is checked by
    :meth:`Machine.from_config_state` when the machine is built."""
    try:
        size = os.path.getsize(path)
        if size > max_memory + SLACK:
            raise LimitError(f"{path}: {size} bytes is more than boot media for this node's VMs can be")
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise FormatError(f"{path}: no such file") from None
    except OSError as exc:
        raise FormatError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return _Reader(max_memory).read(data)
    except VmstateError as exc:
        raise type(exc)(f"{path}: {exc}") from None


class _Reader:
    """One boot media file's frames, in order: header, config section, trailer."""

    def __init__(self, max_memory: int) -> None:
        self.max_memory = max_memory
        self.whole = hashlib.sha256()
        self.section = hashlib.sha256()
        self.memory_size = 0
        self.records = 0
        self.machine: dict[str, Any] | None = None
        self.segments: list[Segment] = []

    def read(self, data: bytes) -> tuple[dict[str, Any], list[Segment]]:
        self.preamble(data[:PREAMBLE.size])
        decoder = codec.FrameDecoder()
        frames = list(decoder.feed(data[PREAMBLE.size:]))
        decoder.close()
        if not frames or frames[-1].kind != codec.TRAILER:
            raise TruncatedError("the file ends before its trailer")
        if len(frames) < 4:
            raise FormatError("too few records for boot media")
        header, begin, *records, end, trailer = frames
        for fr, kind in ((header, codec.HEADER), (begin, codec.BEGIN), (end, codec.END)):
            if fr.kind != kind:
                raise FormatError(f"a {_kind(fr.kind)} record where the {_kind(kind)} should be")
            self.whole.update(fr.raw)
        self.header(header.payload)
        self.begin(begin.payload)
        for fr in records:
            self.record(fr)
        self.end(end.payload)
        if trailer.payload.get("digest") != self.whole.digest():
            raise ChecksumError("the whole-file digest does not match")
        assert self.machine is not None
        return self.machine, self.segments

    def preamble(self, data: bytes) -> None:
        if len(data) < PREAMBLE.size:
            raise TruncatedError("too short to be a vmstate file")
        magic, major, minor, _ = PREAMBLE.unpack(data)
        if magic != MAGIC:
            raise FormatError("not a vmstate file (bad magic)")
        if major != FORMAT_MAJOR:
            raise VersionError(f"format {major}.{minor} is not one this reader knows "
                               f"({FORMAT_MAJOR}.{FORMAT_MINOR})")
        self.whole.update(data)

    def header(self, h: dict[str, Any]) -> None:
        if not h.get("boot_media") or h.get("sections") != ["config"]:
            raise FormatError("not a boot media file (a snapshot? restore it instead)")
        size = h.get("memory_size")
        if not isinstance(size, int) or size <= 0:
            raise FormatError(f"bad memory size {size!r}")
        if size > self.max_memory:
            raise LimitError(f"the VM has {size} bytes of memory; this host allows at most {self.max_memory}")
        self.memory_size = size

    def begin(self, payload: dict[str, Any]) -> None:
        if payload.get("section") != "config":
            raise FormatError(f"unexpected section {payload.get('section')!r} (expected 'config')")

    def record(self, fr: codec.Frame) -> None:
        self.section.update(fr.body)
        self.records += 1
        p = fr.payload
        if fr.kind == codec.STATE and p.get("name") == "machine" and self.machine is None:
            state = p.get("state")
            if not isinstance(state, dict):
                raise FormatError("malformed machine record")
            self.machine = state
        elif fr.kind == codec.BOOT:
            self.boot(p)
        else:
            raise FormatError(f"a {_kind(fr.kind)} record in the config section")

    def boot(self, p: dict[str, Any]) -> None:
        seg = _boot_segment(p, self.memory_size)  # as a snapshot's BOOT record
        if seg.address < 0:
            raise FormatError("malformed boot record")
        last = self.segments[-1] if self.segments else None
        if p.get("continued"):
            if last is None or last.memsize != len(last.data) or last.end != seg.address:
                raise FormatError("a continued boot record that continues nothing")
            self.segments[-1] = Segment(last.address, last.data + seg.data, last.memsize + seg.memsize)
        else:
            self.segments.append(seg)

    def end(self, payload: dict[str, Any]) -> None:
        if self.machine is None:
            raise FormatError("the config section has no 'machine' state record")
        if (payload.get("section") != "config" or payload.get("records") != self.records
                or payload.get("digest") != self.section.digest()):
            raise ChecksumError("section 'config' does not match its digest")


def _kind(kind: int) -> str:
    return codec.KIND_NAMES.get(kind, f"unknown ({kind!r})")
