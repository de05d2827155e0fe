"""Snapshot files: a VM is a file (DESIGN.md §4). Layout and compatibility
rules are in ``vmstate/FORMAT.md``.

``save()`` writes atomically (temporary file, fsync, rename, fsync of the
directory). ``load()`` streams the file through the same frame decoder the
migration receiver uses, validates the header against the caller's limits
before anything large is allocated, restores into a fresh machine, and only
hands it over when every record, section digest and the whole-file digest
checked out — a bad file never yields a half-restored VM, and never touches
the disk image a restore was asked to write (that is written to a temporary
file and renamed at the end).

Digests: every frame has a crc32. A section's digest (in its END record) is
sha256 over its record bodies — except memory and disk, whose digest is the
canonical *content* digest (the same whatever the compression or layout).
The whole-file digest covers every byte outside sections plus the BEGIN/END
records, which carry the section digests: everything is covered, and bulk
data is hashed once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import mmap
import os
import struct
import tempfile
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable

import zstandard

from node.machine.machine import Machine
from node.machine.memory import MAX_RAM, PAGE_SIZE
from node.machine.state import StateError

from . import bootrecords, codec
from .codec import Frame, encode_frame
from .durable import atomic_file
from .errors import ChecksumError, FormatError, LimitError, TruncatedError, VersionError, VmstateError
from .pages import WINDOW, PageDecoder, PageEncoder, PiecewiseDigest, memory_digest

MAGIC = b"CRVNVMST"
FORMAT_MAJOR = 1
FORMAT_MINOR = 1
PREAMBLE = struct.Struct("<8sHHI")  # magic, major, minor, reserved

SECTIONS = ("config", "hart", "devices", "memory", "disk", "console")
REQUIRED_SECTIONS = ("config", "hart", "devices", "memory")
CONTENT_SECTIONS = ("memory", "disk")  # digested by content, not by record bodies
DISK_CHUNK = 1 << 20
READ_CHUNK = 1 << 20
DEFAULT_MAX_DISK = 1 << 40


@dataclass(frozen=True)
class Limits:
    """What a reader is willing to allocate for a restored VM."""

    max_memory: int = MAX_RAM
    max_disk: int = DEFAULT_MAX_DISK


@dataclass
class SaveOptions:
    compress: bool = False
    include_disk: bool = True
    mappable: bool = False      # memory as one raw, page-aligned region (mmap-able)
    console: bytes | None = None


@dataclass
class SectionInfo:
    name: str
    records: int = 0
    bytes: int = 0
    digest: str = ""
    verified: bool = False


@dataclass
class Report:
    """What a save wrote or a read found (``caravan vmstate inspect``)."""

    path: str
    format: tuple[int, int] = (FORMAT_MAJOR, FORMAT_MINOR)
    meta: dict[str, Any] = field(default_factory=dict)
    memory_size: int = 0
    disk: dict[str, Any] | None = None
    sections: list[SectionInfo] = field(default_factory=list)
    data_pages: int = 0
    zero_pages: int = 0
    compressed: bool = False
    mappable: bool = False
    versions: dict[str, int] = field(default_factory=dict)
    state_digest: str = ""
    file_digest_ok: bool = False
    file_bytes: int = 0
    image_offset: int = 0   # mappable: where the raw memory image starts in the file
    image_bytes: int = 0    # mappable: its length (the memory size)
    states_checked: bool = False  # the machine, hart and device records restore (inspect(check_states=True))

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["format"] = f"{self.format[0]}.{self.format[1]}"
        return out


@dataclass
class Restored:
    machine: Machine
    report: Report
    console: bytes | None = None


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# -- content digests and the state digest ------------------------------------------------

def disk_chunks(disk: Any) -> tuple[list[tuple[int, bytes]], bytes]:
    """The disk's non-zero chunks (offset, data) and its content digest."""
    zero = bytes(DISK_CHUNK)
    digest = hashlib.sha256()
    chunks = []
    for offset in range(0, disk.size, DISK_CHUNK):
        data = disk.read(offset, min(DISK_CHUNK, disk.size - offset))
        if data != zero[:len(data)]:
            digest.update(offset.to_bytes(8, "little"))
            digest.update(data)
            chunks.append((offset, data))
    return chunks, digest.digest()


def _body(kind: int, payload: dict[str, Any]) -> bytes:
    return encode_frame(kind, payload)[codec.FRAME_PREFIX.size:]


def _records(machine: Machine) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """The small sections' records, exactly as a snapshot stores them."""
    config: list[tuple[int, dict[str, Any]]] = [
        (codec.STATE, {"name": "machine", "state": machine.config_state()})]
    config += [(codec.BOOT, payload) for payload in bootrecords.records(machine.boot_segments())]
    return {
        "config": config,
        "hart": [(codec.STATE, {"name": "hart", "state": machine.hart.to_state()})],
        "devices": [(codec.STATE, {"name": name, "state": state})
                    for name, state in machine.device_states().items()],
    }


def _combine(digests: dict[str, bytes]) -> bytes:
    h = hashlib.sha256()
    for name in ("config", "hart", "devices", "memory", "disk"):
        h.update(digests.get(name, b""))
    return h.digest()


def state_digest(machine: Machine) -> str:
    """The digest of a live machine's state — equal to the ``state_digest`` a
    snapshot of it records, however that snapshot was encoded."""
    digests = {name: hashlib.sha256(b"".join(_body(k, p) for k, p in records)).digest()
               for name, records in _records(machine).items()}
    digests["memory"] = memory_digest(machine.ram.u8)
    if machine.disk is not None:
        digests["disk"] = disk_chunks(machine.disk)[1]
    return _combine(digests).hex()


# -- writing ------------------------------------------------------------------------------

class _Writer:
    """Frames out to a file, keeping the section and whole-file digests."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.whole = hashlib.sha256()
        self.section: SectionInfo | None = None
        self.section_hash = hashlib.sha256()
        self.sections: list[SectionInfo] = []
        self.digests: dict[str, bytes] = {}
        self.written = 0

    def _out(self, data: bytes, outside: bool) -> None:
        self.f.write(data)
        self.written += len(data)
        if outside:
            self.whole.update(data)

    def frame(self, kind: int, payload: dict[str, Any]) -> None:
        parts = codec.frame_parts(kind, payload)
        section = self.section
        outside = section is None or kind in (codec.BEGIN, codec.END)
        for part in parts:
            self._out(part, outside)
        if section is not None and not outside:
            if section.name not in CONTENT_SECTIONS:
                for part in parts[1:]:
                    self.section_hash.update(part)
            section.records += 1
            section.bytes += sum(len(p) for p in parts)

    def begin(self, name: str) -> None:
        self.section = None
        self.frame(codec.BEGIN, {"section": name})
        self.section = SectionInfo(name)
        self.section_hash = hashlib.sha256()

    def end(self, content_digest: bytes | None = None) -> None:
        section = self.section
        assert section is not None
        digest = content_digest if content_digest is not None else self.section_hash.digest()
        section.digest, section.verified = digest.hex(), True
        self.digests[section.name] = digest
        self.section = None
        self.frame(codec.END, {"section": section.name, "records": section.records, "digest": digest})
        self.sections.append(section)


def save(machine: Machine, path: str, meta: dict[str, Any] | None = None,
         options: SaveOptions | None = None) -> Report:
    """Write ``machine``'s whole state to ``path`` atomically."""
    options = options or SaveOptions()
    meta = dict(meta or {})
    meta.setdefault("created", now_iso())
    meta.setdefault("instret", machine.instructions)
    meta.setdefault("backend", machine.config.backend)
    with atomic_file(path, "wb", prefix=".vmstate-") as f:
        return _write(machine, f, path, meta, options)


def _write(machine: Machine, f: BinaryIO, path: str, meta: dict[str, Any], options: SaveOptions) -> Report:
    w = _Writer(f)
    w._out(PREAMBLE.pack(MAGIC, FORMAT_MAJOR, FORMAT_MINOR, 0), outside=True)
    disk = machine.disk
    chunks, disk_digest = disk_chunks(disk) if disk is not None else ([], None)
    disk_info = None
    if disk is not None:
        disk_info = {"size": disk.size, "embedded": options.include_disk, "digest": disk_digest}
        if not options.include_disk:
            disk_info["path"] = os.path.abspath(disk.path)
    sections = [s for s in SECTIONS
                if s in REQUIRED_SECTIONS
                or (s == "disk" and disk is not None and options.include_disk)
                or (s == "console" and options.console is not None)]
    w.frame(codec.HEADER, {
        "format": [FORMAT_MAJOR, FORMAT_MINOR], "meta": meta,
        "memory_size": machine.ram.size, "disk": disk_info, "sections": sections,
        "mappable": options.mappable, "compressed": options.compress,
    })
    for name, records in _records(machine).items():
        w.begin(name)
        for kind, payload in records:
            w.frame(kind, payload)
        w.end()
    w.begin("memory")
    encoder = PageEncoder(machine.ram.u8, compress=options.compress)
    if options.mappable:
        content = memory_digest(machine.ram.u8)
        w.frame(codec.RAW, {"length": machine.ram.size, "digest": content})
        data_pages = None
    else:
        # Never-touched memory is zero: skipped without being read (or faulted in).
        for payload in encoder.all_pages(machine.ram.touched_blocks(WINDOW)):
            w.frame(codec.PAGES, payload)
        content = encoder.digest.digest()
        data_pages = encoder.data_pages
    w.end(content)
    if "disk" in sections:
        w.begin("disk")
        compressor = zstandard.ZstdCompressor(level=1) if options.compress else None
        for offset, data in chunks:
            payload: dict[str, Any] = {"offset": offset, "length": len(data)}
            if compressor is not None:
                payload["data"] = compressor.compress(data)
                payload["zstd"] = True
            else:
                payload["data"] = data
            w.frame(codec.DISK, payload)
        w.end(disk_digest)
    if "console" in sections:
        w.begin("console")
        w.frame(codec.CONSOLE, {"data": options.console})
        w.end()
    if disk_digest is not None:
        w.digests.setdefault("disk", disk_digest)
    digest = _combine(w.digests)
    w._out(encode_frame(codec.TRAILER, {"digest": w.whole.digest(), "state_digest": digest}), outside=False)
    image_offset = image_bytes = 0
    if options.mappable:
        f.write(bytes(-w.written % PAGE_SIZE))
        image_offset, image_bytes = f.tell(), machine.ram.size
        _write_sparse(f, machine.ram.u8)
    if data_pages is None:
        data_pages = sum(1 for _ in _nonzero_pages(machine.ram.u8))
    report = Report(path=path, meta=meta, memory_size=machine.ram.size, disk=disk_info,
                    sections=w.sections, data_pages=data_pages,
                    zero_pages=machine.ram.size // PAGE_SIZE - data_pages,
                    compressed=options.compress, mappable=options.mappable,
                    state_digest=digest.hex(), file_digest_ok=True, file_bytes=f.tell(),
                    image_offset=image_offset, image_bytes=image_bytes,
                    versions=_versions(machine))
    return report


def _nonzero_pages(memory: memoryview) -> Any:
    zero = bytes(PAGE_SIZE)
    for off in range(0, len(memory), PAGE_SIZE):
        if memory[off:off + PAGE_SIZE].tobytes() != zero:
            yield off


def _write_sparse(f: BinaryIO, memory: memoryview) -> None:
    """The raw RAM image, leaving holes where whole MiB runs are zero."""
    zero = bytes(1 << 20)
    size = len(memory)
    start = f.tell()
    for off in range(0, size, 1 << 20):
        chunk = memory[off:off + (1 << 20)]
        if chunk.tobytes() == zero[:len(chunk)]:
            f.seek(len(chunk), os.SEEK_CUR)
        else:
            f.write(chunk)
    f.truncate(start + size)
    f.seek(start + size)


def _versions(machine: Machine) -> dict[str, int]:
    versions = {"machine": machine.config_state()["version"], "hart": machine.hart.to_state()["version"]}
    for name, state in machine.device_states().items():
        versions[name] = state["version"]
    return versions


# -- reading --------------------------------------------------------------------------------

# The record kinds each section holds (FORMAT.md). The memory section holds
# PAGES records, or one RAW record in a mappable snapshot. Any other kind is
# refused: a new kind is a major format change.
SECTION_KINDS = {"config": (codec.STATE, codec.BOOT), "hart": (codec.STATE,), "devices": (codec.STATE,),
                 "disk": (codec.DISK,), "console": (codec.CONSOLE,)}
STATE_NAMES = {"config": "machine", "hart": "hart"}  # the one state record of these sections
IMAGE_CHUNK = 4 << 20  # a mappable snapshot's memory image is checked this much at a time (whole windows)
STATE_ERRORS = (StateError, ValueError, KeyError, TypeError)  # what a malformed state record raises


class _Reader:
    """Consumes a snapshot's frames in order and validates everything that
    does not need a machine — framing, sections, record kinds, digests; the
    records of each section go to ``handlers[section]``.

    ``boot_media``: read a boot media file instead (vmstate/bootmedia.py): the
    config section alone, under a header that says so, and a trailer with the
    whole-file digest but no state digest. Each kind of file is refused by
    the other's reader."""

    def __init__(self, path: str, limits: Limits, boot_media: bool = False) -> None:
        self.path = path
        self.limits = limits
        self.boot_media = boot_media
        self.report = Report(path=path)
        self.header: dict[str, Any] | None = None
        self.section: SectionInfo | None = None
        self.section_hash = hashlib.sha256()
        self.section_states: set[str] = set()
        self.expected_sections: list[str] = []
        self.whole = hashlib.sha256()
        self.trailer: dict[str, Any] | None = None
        self.raw: dict[str, Any] | None = None  # a mappable snapshot's RAW record
        self.digests: dict[str, bytes] = {}
        self.handlers: dict[str, Callable[[Frame], None]] = {}
        # For memory and disk, the handler's reader supplies the content digest.
        self.content_digest: dict[str, Callable[[], bytes]] = {}

    def fail(self, error: type[VmstateError], message: str) -> VmstateError:
        return error(f"{self.path}: {message}")

    def preamble(self, data: bytes) -> None:
        if len(data) < PREAMBLE.size:
            raise self.fail(TruncatedError, "too short to be a vmstate file")
        magic, major, minor, _ = PREAMBLE.unpack(data[:PREAMBLE.size])
        if magic != MAGIC:
            raise self.fail(FormatError, "not a vmstate file (bad magic)")
        if major > FORMAT_MAJOR:
            raise self.fail(VersionError, f"format {major}.{minor} is newer than this reader "
                                          f"({FORMAT_MAJOR}.{FORMAT_MINOR}); upgrade Caravan to read it")
        if major < FORMAT_MAJOR:
            raise self.fail(VersionError, f"format {major}.{minor} is older than any this reader converts")
        self.report.format = (major, minor)
        self.whole.update(data[:PREAMBLE.size])

    def frame(self, fr: Frame) -> None:
        kind, payload = fr.kind, fr.payload
        if kind == codec.TRAILER:
            self._trailer(payload)
            return
        section = self.section
        if section is None or kind in (codec.BEGIN, codec.END):
            self.whole.update(fr.raw)
        if self.header is None:
            if kind != codec.HEADER:
                raise self.fail(FormatError, "the first record is not a header")
            self._header(payload)
            return
        if kind == codec.BEGIN:
            self._begin(payload)
            return
        if kind == codec.END:
            self._end(payload)
            return
        if section is None:
            raise self.fail(FormatError, f"a {_kind_name(kind)} outside any section")
        self._record(section, fr)
        if section.name not in CONTENT_SECTIONS:
            self.section_hash.update(fr.body)
        section.records += 1
        section.bytes += len(fr.body) + codec.FRAME_PREFIX.size
        self.handlers[section.name](fr)

    def _record(self, section: SectionInfo, fr: Frame) -> None:
        """A record is of a kind its section holds; state records are named,
        once each; a section holds one RAW or CONSOLE record at most."""
        name, kind = section.name, fr.kind
        if name == "memory":
            allowed: tuple[int, ...] = (codec.RAW,) if self.report.mappable else (codec.PAGES,)
        else:
            allowed = SECTION_KINDS[name]
        if kind not in allowed:
            where = f"the {name} section"
            if name == "memory" and kind in (codec.RAW, codec.PAGES):
                where += f" of a {'' if self.report.mappable else 'non-'}mappable snapshot"
            raise self.fail(FormatError, f"a {_kind_name(kind)} in {where}")
        if kind == codec.STATE:
            state = fr.payload.get("name")
            if not isinstance(state, str) or STATE_NAMES.get(name, state) != state:
                raise self.fail(FormatError, f"a state record named {state!r} in the {name} section")
            if state in self.section_states:
                raise self.fail(FormatError, f"two {state!r} state records")
            self.section_states.add(state)
        elif kind in (codec.RAW, codec.CONSOLE) and section.records:
            raise self.fail(FormatError, f"more than one {_kind_name(kind)} in the {name} section")
        if kind == codec.RAW:
            p = fr.payload
            if p.get("length") != self.report.memory_size or not isinstance(p.get("digest"), bytes):
                raise self.fail(FormatError, "malformed raw memory record")
            self.raw = p

    def _header(self, h: dict[str, Any]) -> None:
        fmt = h.get("format")
        if not (isinstance(fmt, list) and len(fmt) == 2 and list(self.report.format) == fmt):
            raise self.fail(FormatError, f"header format {fmt!r} disagrees with the preamble")
        if self.boot_media and (h.get("boot_media") is not True or h.get("sections") != ["config"]):
            raise self.fail(FormatError, "not a boot media file (a snapshot? restore it instead)")
        if not self.boot_media and h.get("boot_media"):
            raise self.fail(FormatError, "a VM's boot media (what its node boots it from), not a snapshot")
        size = h.get("memory_size")
        if not isinstance(size, int) or size <= 0 or size % PAGE_SIZE:
            raise self.fail(FormatError, f"bad memory size {size!r}")
        if size > self.limits.max_memory:
            raise self.fail(LimitError, f"the VM has {size} bytes of memory; this host allows "
                                        f"at most {self.limits.max_memory}")
        if self.boot_media:  # its header's disk is the machine's description, checked with the machine
            self.header, self.expected_sections = h, ["config"]
            self.report.memory_size = size
            self.report.meta = h.get("meta") if isinstance(h.get("meta"), dict) else {}
            return
        disk = h.get("disk")
        if disk is not None:
            if (not isinstance(disk, dict) or not isinstance(disk.get("size"), int) or disk["size"] < 0
                    or not isinstance(disk.get("digest"), bytes)):
                raise self.fail(FormatError, "bad disk description")
            if disk["size"] > self.limits.max_disk:
                raise self.fail(LimitError, f"the VM's disk of {disk['size']} bytes exceeds the "
                                            f"limit of {self.limits.max_disk}")
        sections = h.get("sections")
        if not isinstance(sections, list) or any(s not in SECTIONS for s in sections):
            raise self.fail(FormatError, f"unknown sections {sections!r}")
        if [s for s in SECTIONS if s in sections] != sections or len(set(sections)) != len(sections):
            raise self.fail(FormatError, f"sections out of order: {sections!r}")
        for required in REQUIRED_SECTIONS:
            if required not in sections:
                raise self.fail(FormatError, f"the {required} section is missing")
        if disk is not None and bool(disk.get("embedded")) != ("disk" in sections):
            raise self.fail(FormatError, "the disk section does not match the header")
        if disk is None and "disk" in sections:
            raise self.fail(FormatError, "a disk section without a disk")
        self.header = h
        self.expected_sections = sections
        r = self.report
        r.meta = h.get("meta") if isinstance(h.get("meta"), dict) else {}
        r.memory_size = size
        r.disk = disk
        r.compressed = bool(h.get("compressed"))
        r.mappable = bool(h.get("mappable"))

    def _begin(self, payload: dict[str, Any]) -> None:
        name = payload.get("section")
        if self.section is not None:
            raise self.fail(FormatError, f"section {name!r} begins inside {self.section.name!r}")
        if name not in SECTIONS:
            raise self.fail(FormatError, f"unknown section {name!r}")
        done = [s.name for s in self.report.sections]
        expected = self.expected_sections[len(done)] if len(done) < len(self.expected_sections) else None
        if name != expected:
            raise self.fail(FormatError, f"unexpected section {name!r} (expected {expected!r})")
        self.section = SectionInfo(name)
        self.section_hash = hashlib.sha256()
        self.section_states = set()

    def _end(self, payload: dict[str, Any]) -> None:
        section = self.section
        if section is None or payload.get("section") != section.name:
            raise self.fail(FormatError, "a section end does not match its beginning")
        if section.name in CONTENT_SECTIONS:
            digest = self.content_digest[section.name]()
        else:
            digest = self.section_hash.digest()
        if payload.get("records") != section.records or payload.get("digest") != digest:
            raise self.fail(ChecksumError, f"section {section.name!r} does not match its digest")
        required = STATE_NAMES.get(section.name)
        if required is not None and required not in self.section_states:
            raise self.fail(FormatError, f"the {section.name} section has no {required!r} state record")
        if section.name == "memory" and self.report.mappable and self.raw is None:
            raise self.fail(FormatError, "a mappable snapshot without its raw memory record")
        section.digest, section.verified = digest.hex(), True
        self.digests[section.name] = digest
        self.report.sections.append(section)
        self.section = None

    def _trailer(self, payload: dict[str, Any]) -> None:
        if self.section is not None:
            raise self.fail(TruncatedError, f"section {self.section.name!r} is not finished")
        if len(self.report.sections) != len(self.expected_sections):
            missing = self.expected_sections[len(self.report.sections):]
            raise self.fail(TruncatedError, f"sections {missing} are missing")
        if payload.get("digest") != self.whole.digest():
            raise self.fail(ChecksumError, "the whole-file digest does not match")
        if not self.boot_media:  # a snapshot's trailer also carries its state digest
            digests = dict(self.digests)
            disk = self.report.disk
            if disk is not None and "disk" not in digests:
                digests["disk"] = disk["digest"]
            if payload.get("state_digest") != _combine(digests):
                raise self.fail(ChecksumError, "the state digest does not match the sections")
            self.report.state_digest = payload["state_digest"].hex()
        self.trailer = payload
        self.report.file_digest_ok = True


def _kind_name(kind: int) -> str:
    name = codec.KIND_NAMES.get(kind)
    return f"{name} record" if name else f"record of unknown kind {kind!r}"


def _read_until_trailer(f: BinaryIO, reader: _Reader) -> int:
    """Feed frames until the trailer; returns the file offset just after it.
    Nothing may follow it but a mappable snapshot's memory image (checked
    here when there is none, by :func:`_image_offset` when there is)."""
    try:
        reader.preamble(f.read(PREAMBLE.size))
        decoder = codec.FrameDecoder(start=PREAMBLE.size)  # offsets in messages are file offsets
        while reader.trailer is None:
            chunk = f.read(READ_CHUNK)
            if not chunk:
                decoder.close()
                raise TruncatedError("the file ends before its trailer")
            with contextlib.closing(decoder.feed(chunk)) as frames:
                for fr in frames:
                    reader.frame(fr)
                    if reader.trailer is not None:
                        break
        if reader.raw is None and (decoder.pending or f.read(1)):
            raise FormatError(f"data after the trailer (from byte {decoder.frame_end})")
        return decoder.frame_end
    except VmstateError as exc:
        if str(exc).startswith(reader.path + ":"):
            raise
        raise type(exc)(f"{reader.path}: {exc}") from None


def _image_offset(f: BinaryIO, path: str, trailer_end: int, length: int) -> int:
    """Where a mappable snapshot's memory image of ``length`` bytes starts:
    at the first page boundary after the trailer, zeros before it, the file
    ending where it ends."""
    offset = trailer_end + (-trailer_end % PAGE_SIZE)
    size = os.fstat(f.fileno()).st_size
    if size < offset + length:
        raise TruncatedError(f"{path}: the memory image is cut short "
                             f"({max(0, size - offset)} of its {length} bytes are present)")
    if os.pread(f.fileno(), offset - trailer_end, trailer_end).strip(b"\0"):
        raise FormatError(f"{path}: data after the trailer (from byte {trailer_end})")
    if size > offset + length:
        raise FormatError(f"{path}: data after the memory image (from byte {offset + length})")
    return offset


def _image_digest(f: BinaryIO, path: str, offset: int, length: int) -> PiecewiseDigest:
    """The content digest of the memory image at ``offset``, read
    :data:`IMAGE_CHUNK` bytes at a time (the image may be as large as the VM's memory)."""
    digest = PiecewiseDigest()
    buffer = memoryview(bytearray(min(IMAGE_CHUNK, length)))
    f.seek(offset)
    for start in range(0, length, IMAGE_CHUNK):
        piece = buffer[:min(IMAGE_CHUNK, length - start)]
        if f.readinto(piece) != len(piece):  # type: ignore[attr-defined]
            raise TruncatedError(f"{path}: the memory image is cut short")
        digest.update(piece)
    return digest


def _disk_chunk(p: dict[str, Any], size: int, zstd: zstandard.ZstdDecompressor) -> tuple[int, bytes]:
    """A DISK record's offset and contents (decompressed), checked against the disk's ``size``."""
    offset, length, data = p.get("offset"), p.get("length"), p.get("data")
    if (not isinstance(offset, int) or not isinstance(length, int) or not isinstance(data, bytes)
            or offset < 0 or length <= 0 or length > DISK_CHUNK or offset + length > size):
        raise FormatError("malformed disk record")
    if p.get("zstd"):
        try:
            data = zstd.decompress(data, max_output_size=length)
        except zstandard.ZstdError as exc:
            raise FormatError(f"undecodable compressed disk chunk ({exc})") from None
    if len(data) != length:
        raise FormatError("a disk record holds the wrong number of bytes")
    return offset, data


def _console_data(p: dict[str, Any]) -> bytes:
    data = p.get("data")
    if not isinstance(data, bytes):
        raise FormatError("malformed console record")
    return data


def _open(path: str) -> BinaryIO:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise FormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise FormatError(f"{path}: is a directory") from None
    except OSError as exc:
        raise FormatError(f"{path}: cannot read ({exc.strerror})") from None


def load(path: str, limits: Limits | None = None, disk: str | None = None, backend: str = "interp",
         use_mmap: bool = False, verify_memory: bool = True) -> Restored:
    """Restore the VM saved in ``path``.

    ``disk``: where an embedded disk image is written (required then), or the
    image to use instead of the one a ``--no-disk`` snapshot references.
    ``use_mmap``: map a mappable snapshot's memory copy-on-write instead of
    reading it; ``verify_memory=False`` then skips reading it at all (O(1)).
    """
    with _open(path) as f:
        return _Restore(f, path, limits or Limits(), disk, backend, use_mmap, verify_memory).run()


class _Restore:
    """One restore: section handlers building a fresh machine."""

    def __init__(self, f: BinaryIO, path: str, limits: Limits, disk: str | None, backend: str,
                 use_mmap: bool, verify_memory: bool) -> None:
        self.f = f
        self.path = path
        self.disk_target = disk
        self.backend = backend
        self.use_mmap = use_mmap
        self.verify_memory = verify_memory
        self.reader = _Reader(path, limits)
        self.reader.handlers = {"config": self.config, "hart": self.hart, "devices": self.devices,
                                "memory": self.memory, "disk": self.disk, "console": self.console}
        self.reader.content_digest = {"memory": self.memory_digest, "disk": self.disk_digest}
        self.boot: bootrecords.Joiner | None = None  # with the first BOOT record (the header has the memory size)
        self.machine_state: dict[str, Any] | None = None
        self.hart_state: dict[str, Any] | None = None
        self.device_states: dict[str, Any] = {}
        self.console_data: bytes | None = None
        self.machine: Machine | None = None
        self.pages: PageDecoder | None = None
        self.disk_tmp: str | None = None
        self.disk_fd: int | None = None
        self.disk_hash = hashlib.sha256()
        self.zstd = zstandard.ZstdDecompressor()

    def fail(self, message: str) -> VmstateError:
        return FormatError(f"{self.path}: {message}")

    # -- section handlers (the reader has checked each record's kind and name) --

    def config(self, fr: Frame) -> None:
        if fr.kind == codec.STATE:
            self.machine_state = fr.payload.get("state")
        else:
            self.boot = self.boot or bootrecords.Joiner(self.reader.report.memory_size)
            self.boot.add(fr.payload)

    def hart(self, fr: Frame) -> None:
        self.hart_state = fr.payload.get("state")

    def devices(self, fr: Frame) -> None:
        self.device_states[fr.payload["name"]] = fr.payload.get("state")

    def memory(self, fr: Frame) -> None:
        if fr.kind == codec.PAGES:
            self.build()
            self.pages.apply(fr.payload)  # type: ignore[union-attr]

    def memory_digest(self) -> bytes:
        if self.reader.raw is not None:
            return self.reader.raw["digest"]  # checked against the image after the trailer
        self.build()
        return self.pages.digest.digest()  # type: ignore[union-attr]

    def disk(self, fr: Frame) -> None:
        self.build()
        offset, data = _disk_chunk(fr.payload, self.reader.report.disk["size"], self.zstd)  # type: ignore[index]
        self.disk_hash.update(offset.to_bytes(8, "little"))
        self.disk_hash.update(data)
        os.pwrite(self.disk_fd, data, offset)  # type: ignore[arg-type]

    def disk_digest(self) -> bytes:
        return self.disk_hash.digest()

    def console(self, fr: Frame) -> None:
        self.console_data = _console_data(fr.payload)

    # -- building --

    def build(self) -> Machine:
        """The machine, created once the config section is complete."""
        if self.machine is not None:
            return self.machine
        if self.machine_state is None:
            raise self.fail("no machine description before the memory")
        header_disk = self.reader.report.disk
        target = self.disk_target
        if header_disk is not None:
            if header_disk.get("embedded"):
                if target is None:
                    raise VmstateError(f"{self.path}: the snapshot contains a disk; say where to write it (--disk)")
                try:
                    fd, tmp = tempfile.mkstemp(prefix=".disk-", dir=os.path.dirname(os.path.abspath(target)))
                except OSError as exc:
                    raise VmstateError(f"{self.path}: cannot write its disk to {target} "
                                       f"({exc.strerror})") from None
                self.disk_fd, self.disk_tmp = fd, tmp
                os.ftruncate(fd, header_disk["size"])
                target = tmp
            else:
                target = target or header_disk.get("path")
                _check_referenced_disk(self.path, target, header_disk)
        try:
            machine = Machine.from_config_state(self.machine_state, self.boot.segments if self.boot else [],
                                                target, self.backend)
        except (StateError, ValueError) as exc:
            raise self.fail(str(exc)) from None
        self.machine = machine
        if machine.ram.size != self.reader.report.memory_size:
            raise self.fail("the machine description and the header disagree on memory size")
        self.pages = PageDecoder(machine.ram)
        return machine

    def run(self) -> Restored:
        try:
            trailer_end = _read_until_trailer(self.f, self.reader)
            if self.hart_state is None:
                raise self.fail("no hart record")
            machine = self.build()
            if self.reader.raw is not None:
                self.map_or_read_image(machine, trailer_end)
            try:
                machine.restore_states(self.hart_state, self.device_states)
            except STATE_ERRORS as exc:
                raise self.fail(str(exc)) from None
            if self.disk_fd is not None:
                os.fsync(self.disk_fd)
                os.close(self.disk_fd)
                self.disk_fd = None
                os.replace(self.disk_tmp, self.disk_target)  # type: ignore[arg-type]
                machine.disk.path = self.disk_target  # type: ignore[union-attr]
                self.disk_tmp = None
            report = self.reader.report
            if self.pages is not None and self.reader.raw is None:
                report.data_pages = self.pages.data_pages
                report.zero_pages = report.memory_size // PAGE_SIZE - report.data_pages
            report.versions = _versions(machine)
            return Restored(machine, report, self.console_data)
        except BaseException:
            if self.machine is not None:
                self.machine.close()
            if self.disk_fd is not None:
                os.close(self.disk_fd)
            if self.disk_tmp is not None:
                try:
                    os.unlink(self.disk_tmp)
                except FileNotFoundError:
                    pass
            raise

    def map_or_read_image(self, machine: Machine, trailer_end: int) -> None:
        length = self.reader.raw["length"]  # type: ignore[index]
        offset = _image_offset(self.f, self.path, trailer_end, length)
        self.reader.report.image_offset, self.reader.report.image_bytes = offset, length
        if self.use_mmap:
            region = mmap.mmap(self.f.fileno(), length, flags=mmap.MAP_PRIVATE,
                               prot=mmap.PROT_READ | mmap.PROT_WRITE, offset=offset)
            machine.ram.replace_backing(region)
            machine.backend.reset_environment()
        else:
            self.f.seek(offset)
            if self.f.readinto(machine.ram.u8) != length:  # type: ignore[attr-defined]
                raise TruncatedError(f"{self.path}: the memory image is cut short")
        if ((self.verify_memory or not self.use_mmap)
                and memory_digest(machine.ram.u8) != self.reader.raw["digest"]):  # type: ignore[index]
            raise ChecksumError(f"{self.path}: the memory image does not match its digest")


def _check_referenced_disk(path: str, disk: str | None, info: dict[str, Any]) -> None:
    from node.machine.devices.virtio_blk import DiskError, DiskImage

    if disk is None:
        raise VmstateError(f"{path}: the snapshot references a disk image; none was given")
    try:
        image = DiskImage(disk, readonly=True)
    except DiskError as exc:
        raise VmstateError(f"{path}: {exc}") from None
    try:
        if image.size != info["size"] or disk_chunks(image)[1] != info.get("digest"):
            raise VmstateError(f"{path}: disk image {disk} has changed since the snapshot was taken")
    finally:
        image.close()


class _NoRam:
    """Guest memory that keeps nothing: lets :class:`PageDecoder` check and
    digest page records for :func:`inspect` without allocating the VM's memory."""

    def __init__(self, size: int) -> None:
        self.size = size

    def write_bytes(self, address: int, data: bytes | memoryview) -> None:
        pass

    def write_pages(self, first: int, pages: list[int], data: bytes | memoryview) -> None:
        pass


def inspect(path: str, limits: Limits | None = None, check_image: bool = True,
            check_states: bool = False) -> Report:
    """Read and verify every record without restoring the VM — and, unless
    ``check_image`` is false, a mappable snapshot's memory image (its length
    and digest, as a restore does, read a few MiB at a time). With
    ``check_states``, also the contents of the machine, hart and device
    records: they are restored into a machine of the saved hardware whose
    memory is never touched and whose disk is a sparse scratch file
    (``report.states_checked``; not for a VM larger than this host allows)."""
    reader = _Reader(path, limits or Limits(max_memory=1 << 62, max_disk=1 << 62))
    versions: dict[str, Any] = {}
    records: dict[str, Any] = {"devices": {}}
    pages: list[PageDecoder] = []  # created with the first page record: the size comes from the header
    disk_hash = hashlib.sha256()
    zstd = zstandard.ZstdDecompressor()

    def decoder() -> PageDecoder:
        if not pages:
            pages.append(PageDecoder(_NoRam(reader.report.memory_size)))
        return pages[0]

    def states(fr: Frame) -> None:
        if fr.kind == codec.STATE:
            name, state = fr.payload["name"], fr.payload.get("state")
            if isinstance(state, dict):
                versions[name] = state.get("version")
            if name in ("machine", "hart"):
                records[name] = state
            else:
                records["devices"][name] = state
        elif fr.kind == codec.BOOT:
            records.setdefault("boot", bootrecords.Joiner(reader.report.memory_size)).add(fr.payload)

    def memory(fr: Frame) -> None:
        if fr.kind == codec.PAGES:
            decoder().apply(fr.payload)

    def memory_digest() -> bytes:
        return reader.raw["digest"] if reader.raw is not None else decoder().digest.digest()

    def disk(fr: Frame) -> None:
        offset, data = _disk_chunk(fr.payload, reader.report.disk["size"], zstd)  # type: ignore[index]
        disk_hash.update(offset.to_bytes(8, "little"))
        disk_hash.update(data)

    reader.handlers = {"config": states, "hart": states, "devices": states, "memory": memory,
                       "disk": disk, "console": lambda fr: _console_data(fr.payload)}
    reader.content_digest = {"memory": memory_digest, "disk": disk_hash.digest}
    r = reader.report
    with _open(path) as f:
        trailer_end = _read_until_trailer(f, reader)
        if reader.raw is not None:
            r.image_bytes = reader.raw["length"]
            r.image_offset = _image_offset(f, path, trailer_end, r.image_bytes)
            if check_image:
                image = _image_digest(f, path, r.image_offset, r.image_bytes)
                if image.digest.digest() != reader.raw["digest"]:
                    raise ChecksumError(f"{path}: the memory image does not match its digest")
                r.data_pages = image.data_pages
        elif pages:
            r.data_pages = pages[0].data_pages
        r.file_bytes = os.fstat(f.fileno()).st_size
    r.versions = versions
    if reader.raw is None or check_image:
        r.zero_pages = r.memory_size // PAGE_SIZE - r.data_pages
    if check_states and r.memory_size <= MAX_RAM:
        _check_states(path, records)
        r.states_checked = True
    return r


def _check_states(path: str, records: dict[str, Any]) -> None:
    """Restore the machine, hart and device records into a machine of the
    hardware they describe, as a restore would, and discard it."""
    machine_state = records.get("machine")
    disk_info = machine_state.get("disk") if isinstance(machine_state, dict) else None
    with tempfile.TemporaryDirectory(prefix="caravan-verify-") as scratch:
        disk = None
        if isinstance(disk_info, dict) and isinstance(disk_info.get("size"), int) and disk_info["size"] >= 0:
            disk = os.path.join(scratch, "disk.img")
            try:
                with open(disk, "wb") as f:
                    f.truncate(disk_info["size"])
            except OSError as exc:
                raise VmstateError(f"{path}: cannot make a scratch disk of {disk_info['size']} bytes "
                                   f"to check the records with ({exc.strerror})") from None
        try:
            boot = records["boot"].segments if "boot" in records else []
            machine = Machine.from_config_state(machine_state, boot, disk)  # type: ignore[arg-type]
        except STATE_ERRORS as exc:
            raise FormatError(f"{path}: {exc}") from None
        try:
            machine.restore_states(records.get("hart"), records["devices"])  # type: ignore[arg-type]
        except STATE_ERRORS as exc:
            raise FormatError(f"{path}: {exc}") from None
        finally:
            machine.close()
