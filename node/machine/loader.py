"""Loading guest images: RISC-V ELF files (pyelftools) and raw binaries.

A loaded image is plain data — the bytes of each segment and where they go —
so the machine can place it in RAM now and again after a guest-requested reset
(QEMU re-copies its ROM blobs on reset the same way). Every problem with the
input is an :class:`ImageError` whose message names the file and what is wrong.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field

from struct import error as struct_error

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

EM_RISCV = 243
MAX_IMAGE_BYTES = 1 << 30


class ImageError(Exception):
    """A guest image cannot be loaded; the message says why."""


@dataclass(frozen=True)
class Segment:
    address: int
    data: bytes
    memsize: int  # bytes occupied in memory (>= len(data); the rest is zero)

    @property
    def end(self) -> int:
        return self.address + self.memsize


@dataclass(frozen=True)
class Image:
    path: str
    entry: int
    segments: tuple[Segment, ...]
    is_elf: bool
    symbols: dict[str, int] = field(default_factory=dict)

    @property
    def low(self) -> int:
        return min(s.address for s in self.segments)

    @property
    def high(self) -> int:
        return max(s.end for s in self.segments)


def _read(path: str) -> bytes:
    if not os.path.exists(path):
        raise ImageError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ImageError(f"{path}: is a directory, not an image")
    try:
        size = os.path.getsize(path)
        if size > MAX_IMAGE_BYTES:
            raise ImageError(f"{path}: {size} bytes is larger than the 1 GiB image limit")
        with open(path, "rb") as f:
            data = f.read(MAX_IMAGE_BYTES + 1)  # a device or a pipe has no size to check beforehand
        if len(data) > MAX_IMAGE_BYTES:
            raise ImageError(f"{path}: larger than the 1 GiB image limit")
        return data
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc.strerror})") from None


def is_elf(data: bytes) -> bool:
    return data[:4] == b"\x7fELF"


def require_elf(path: str) -> None:
    """Refuse a file that is not an ELF image (raw binaries need an address)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a directory, not an image") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc.strerror})") from None
    if not is_elf(head):
        raise ImageError(f"{path}: not an ELF file (give --load-address to load a raw binary)")


def load_image(path: str, raw_address: int | None = None) -> Image:
    """Load ``path`` as an ELF file, or as a raw binary at ``raw_address``.

    Without ``raw_address`` a file that is not ELF is an error, because loading
    it somewhere arbitrary would hide a mistake."""
    data = _read(path)
    if is_elf(data):
        return _load_elf(path, data)
    if raw_address is None:
        raise ImageError(f"{path}: not an ELF file (give --load-address to load a raw binary)")
    return load_raw(path, raw_address, data)


def load_raw(path: str, address: int, data: bytes | None = None) -> Image:
    if data is None:
        data = _read(path)
    if not data:
        raise ImageError(f"{path}: empty file")
    return Image(path, address, (Segment(address, data, len(data)),), is_elf=False)


def _load_elf(path: str, data: bytes) -> Image:
    try:
        elf = ELFFile(io.BytesIO(data))
        if elf.elfclass != 64:
            raise ImageError(f"{path}: a {elf.elfclass}-bit ELF file; this machine is RV64")
        if not elf.little_endian:
            raise ImageError(f"{path}: a big-endian ELF file; RISC-V is little-endian")
        machine = elf.header["e_machine"]
        if machine not in ("EM_RISCV", EM_RISCV):
            raise ImageError(f"{path}: ELF machine is {machine}, not RISC-V")
        segments = []
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
                continue
            filesz, memsz = seg["p_filesz"], seg["p_memsz"]
            if filesz > memsz:
                raise ImageError(f"{path}: segment at {seg['p_paddr']:#x} has file size larger than memory size")
            body = seg.data()
            if len(body) != filesz:
                raise ImageError(f"{path}: truncated segment at {seg['p_paddr']:#x}")
            segments.append(Segment(seg["p_paddr"], bytes(body), memsz))
        if not segments:
            raise ImageError(f"{path}: no loadable segments")
        symbols: dict[str, int] = {}
        symtab = elf.get_section_by_name(".symtab")
        if isinstance(symtab, SymbolTableSection):
            for name in ("tohost", "fromhost"):
                found = symtab.get_symbol_by_name(name)
                if found:
                    symbols[name] = found[0]["st_value"]
        return Image(path, elf.header["e_entry"], tuple(segments), True, symbols)
    except ImageError:
        raise
    except (ELFError, ValueError, KeyError, AssertionError, struct_error) as exc:
        raise ImageError(f"{path}: malformed ELF file ({exc})") from None

