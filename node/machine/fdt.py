"""A flattened device tree (DTB, version 17) builder.

Just enough of the devicetree specification to describe a board: nodes,
properties, phandles, and the binary encoding that firmware and kernels parse.
The board description itself lives in :mod:`.board`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

FDT_MAGIC = 0xD00DFEED
FDT_BEGIN_NODE = 1
FDT_END_NODE = 2
FDT_PROP = 3
FDT_END = 9

PropValue = bytes | str | int | list[int] | list[str] | tuple[int, ...] | None


def cells(*values: int) -> bytes:
    return b"".join(struct.pack(">I", v & 0xFFFFFFFF) for v in values)


def u64_cells(*values: int) -> bytes:
    """Each value as two 32-bit cells (for #address-cells/#size-cells = 2)."""
    return b"".join(struct.pack(">II", v >> 32, v & 0xFFFFFFFF) for v in values)


def strings(*values: str) -> bytes:
    return b"".join(v.encode() + b"\0" for v in values)


def _encode(value: PropValue) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return strings(value)
    if isinstance(value, int):
        return cells(value)
    if all(isinstance(v, str) for v in value):
        return strings(*value)  # type: ignore[arg-type]
    return cells(*value)  # type: ignore[arg-type]


@dataclass
class Node:
    name: str
    props: dict[str, bytes] = field(default_factory=dict)
    children: list["Node"] = field(default_factory=list)

    def set(self, name: str, value: PropValue = None) -> "Node":
        self.props[name] = _encode(value)
        return self

    def add(self, child: "Node") -> "Node":
        self.children.append(child)
        return child

    def child(self, name: str) -> "Node":
        return self.add(Node(name))


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def build_dtb(root: Node, boot_cpuid: int = 0) -> bytes:
    strtab = bytearray()
    offsets: dict[str, int] = {}
    struct_block = bytearray()

    def name_offset(name: str) -> int:
        if name not in offsets:
            offsets[name] = len(strtab)
            strtab.extend(name.encode() + b"\0")
        return offsets[name]

    def emit(node: Node) -> None:
        struct_block.extend(struct.pack(">I", FDT_BEGIN_NODE))
        struct_block.extend(_pad4(node.name.encode() + b"\0"))
        for pname, value in node.props.items():
            struct_block.extend(struct.pack(">III", FDT_PROP, len(value), name_offset(pname)))
            struct_block.extend(_pad4(value))
        for child in node.children:
            emit(child)
        struct_block.extend(struct.pack(">I", FDT_END_NODE))

    emit(root)
    struct_block.extend(struct.pack(">I", FDT_END))
    header_size = 40
    rsvmap = b"\0" * 16
    off_rsvmap = header_size
    off_struct = off_rsvmap + len(rsvmap)
    off_strings = off_struct + len(struct_block)
    total = off_strings + len(strtab)
    total += -total % 8
    header = struct.pack(
        ">10I", FDT_MAGIC, total, off_struct, off_strings, off_rsvmap, 17, 16,
        boot_cpuid, len(strtab), len(struct_block),
    )
    blob = header + rsvmap + bytes(struct_block) + bytes(strtab)
    return blob + b"\0" * (total - len(blob))


class FdtError(ValueError):
    """A blob is not a valid flattened device tree."""


def parse_dtb(blob: bytes) -> Node:
    """Decode a DTB into a :class:`Node` tree (for inspection and tests)."""
    if len(blob) < 40:
        raise FdtError("too short for an FDT header")
    magic, total, off_struct, off_strings, _rsv, version, _last, _cpu, size_strings, size_struct = \
        struct.unpack_from(">10I", blob)
    if magic != FDT_MAGIC:
        raise FdtError(f"bad magic {magic:#x}")
    if total > len(blob) or off_struct + size_struct > total or off_strings + size_strings > total:
        raise FdtError("header sizes exceed the blob")
    strings_block = blob[off_strings:off_strings + size_strings]
    pos = off_struct
    end = off_struct + size_struct
    stack: list[Node] = []
    root: Node | None = None
    while pos < end:
        (token,) = struct.unpack_from(">I", blob, pos)
        pos += 4
        if token == FDT_BEGIN_NODE:
            nul = blob.index(b"\0", pos)
            node = Node(blob[pos:nul].decode())
            pos = (nul + 4) & ~3
            if stack:
                stack[-1].children.append(node)
            else:
                root = node
            stack.append(node)
        elif token == FDT_PROP:
            length, nameoff = struct.unpack_from(">II", blob, pos)
            pos += 8
            name = strings_block[nameoff:strings_block.index(b"\0", nameoff)].decode()
            stack[-1].props[name] = bytes(blob[pos:pos + length])
            pos = (pos + length + 3) & ~3
        elif token == FDT_END_NODE:
            stack.pop()
        elif token == FDT_END:
            break
        elif token != 4:  # FDT_NOP
            raise FdtError(f"unknown token {token} at {pos - 4:#x}")
    if root is None or stack:
        raise FdtError("unbalanced nodes")
    return root


def walk(node: Node, path: str = "") -> dict[str, Node]:
    """Every node by its full path ("/" for the root)."""
    here = path + "/" + node.name if path not in ("", "/") else "/" + node.name
    if node.name == "":
        here = "/"
    found = {here: node}
    for child in node.children:
        found.update(walk(child, here))
    return found
