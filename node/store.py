"""VM definitions and files under the node's data directory (DESIGN.md §3
"Lifecycle and persistence").

```
DATA/node.json                 the node's identity
DATA/vms/<id>/vm.json          the definition (written atomically)
DATA/vms/<id>/kernel|bios|initrd   boot images, the node's own copies
DATA/vms/<id>/boot.vmstate     boot media of a VM that came by migration or restore
                               (vmstate/bootmedia.py): what it cold-boots from
DATA/vms/<id>/disk.img         the VM's disk (the only host file it can reach)
DATA/vms/<id>/saved.vmstate    state saved at node shutdown (managed save)
DATA/snapshots/                where relative snapshot paths go
DATA/incoming/                 partial uploads and exports (cleared at node start)
```

A :class:`VmDefinition` checks its fields when it is made: values from clients,
migration headers, snapshots and vm.json files that the scheduler or the API
could not handle are refused with a ValueError naming the field.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any

from vmstate import bootmedia
from vmstate.durable import atomic_file

from .machine.loader import Segment

VM_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # the whole id (fullmatch: "$" would allow a final "\n")
DEFINITION_VERSION = 1
BOOT_MEDIA = "boot.vmstate"
MAX_SHARES = 1 << 16
DEFAULT_SHARES = 1024
MAX_NAME = 1024  # characters
U64 = (1 << 64) - 1  # what the API's unsigned fields hold (types.proto)
DESIRED = ("stopped", "running")
INCOMING_PREFIX = "in-"  # the node's own files in DATA/incoming (Store.incoming)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: Any) -> bool:
    """A str the API can carry (protobuf strings are UTF-8: no lone surrogates)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class VmDefinition:
    vm_id: str
    name: str
    memory: int
    shares: int = DEFAULT_SHARES
    backend: str = "interp"
    image_name: str = ""
    append: str | None = None
    load_address: int | None = None
    kernel: bool = False
    bios: bool = False
    initrd: bool = False
    disk: bool = False
    # Boots from BOOT_MEDIA (the machine record and boot segments it arrived
    # with) instead of kernel/bios/initrd: it came by migration or restore.
    boot_media: bool = False
    created_at: float = 0.0
    generation: int = 1
    # What the node should do with it after a restart: "stopped" or "running".
    desired: str = "stopped"
    # The migration job bringing this VM here, until its hand-over: a node that
    # restarts before then discards the VM (its memory was only in the process).
    migrating_in: str = ""
    # How the guest's last run ended, once it powered off (kept across node
    # restarts; absent from older vm.json files): its exit code, the
    # instructions it retired and the digest of its final state.
    exit_code: int | None = None
    final_instructions: int = 0
    state_digest: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse values the node cannot run or report (they come from
        clients, migration headers, snapshot metadata and vm.json files)."""
        def bad(name: str, value: Any, want: str) -> ValueError:
            shown = repr(value)
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            return ValueError(f"VM definition: {name} must be {want}, not {shown}")

        if not _text(self.vm_id) or not VM_ID_RE.fullmatch(self.vm_id):
            raise bad("vm_id", self.vm_id, "1 to 64 letters, digits, '.', '_' or '-' (starting with a letter "
                      "or digit)")
        if not _text(self.name) or not 0 < len(self.name) <= MAX_NAME:
            raise bad("name", self.name, f"a non-empty string of at most {MAX_NAME} characters")
        if not _is_int(self.memory) or not 0 < self.memory <= U64:
            raise bad("memory", self.memory, "a positive integer (bytes)")
        if not _is_int(self.shares) or not 1 <= self.shares <= MAX_SHARES:
            raise bad("shares", self.shares, f"an integer from 1 to {MAX_SHARES}")
        if not _text(self.backend) or not self.backend:
            raise bad("backend", self.backend, "a backend name")
        if not _text(self.image_name):
            raise bad("image_name", self.image_name, "a string")
        if self.append is not None and not _text(self.append):
            raise bad("append", self.append, "a string or null")
        if self.load_address is not None and (not _is_int(self.load_address) or not 0 <= self.load_address <= U64):
            raise bad("load_address", self.load_address, "a non-negative integer or null")
        for flag in ("kernel", "bios", "initrd", "disk", "boot_media"):
            if not isinstance(getattr(self, flag), bool):
                raise bad(flag, getattr(self, flag), "true or false")
        if (not isinstance(self.created_at, (int, float)) or isinstance(self.created_at, bool)
                or not math.isfinite(self.created_at)):
            raise bad("created_at", self.created_at, "a time (seconds since the epoch)")
        if not _is_int(self.generation) or not 1 <= self.generation <= U64:
            raise bad("generation", self.generation, "a positive integer")
        if self.desired not in DESIRED:
            raise bad("desired", self.desired, "'stopped' or 'running'")
        if not _text(self.migrating_in):
            raise bad("migrating_in", self.migrating_in, "a string")
        if self.exit_code is not None and (not _is_int(self.exit_code) or not -(1 << 63) <= self.exit_code <= U64):
            raise bad("exit_code", self.exit_code, "an integer or null")
        if not _is_int(self.final_instructions) or not 0 <= self.final_instructions <= U64:
            raise bad("final_instructions", self.final_instructions, "a non-negative integer")
        if not _text(self.state_digest):
            raise bad("state_digest", self.state_digest, "a string")
        if not isinstance(self.extra, dict):
            raise bad("extra", self.extra, "an object")

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["version"] = DEFINITION_VERSION
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "VmDefinition":
        if data.get("version") != DEFINITION_VERSION:
            raise ValueError(f"VM definition version {data.get('version')!r} is not supported")
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})


def write_json_atomic(path: str, data: dict[str, Any]) -> None:
    with atomic_file(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)


class DirectoryTaken(FileExistsError):
    """:meth:`Store.create`: the VM's directory is on disk already (it is left alone)."""


class Store:
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        for sub in ("vms", "snapshots", "incoming"):
            os.makedirs(os.path.join(self.root, sub), exist_ok=True)

    def vm_dir(self, vm_id: str) -> str:
        if not VM_ID_RE.fullmatch(vm_id):
            raise ValueError(f"invalid VM id {vm_id!r}")
        return os.path.join(self.root, "vms", vm_id)

    def path(self, vm_id: str, name: str) -> str:
        return os.path.join(self.vm_dir(vm_id), name)

    def create(self, definition: VmDefinition) -> str:
        """Make the VM's directory and write its definition: all of it, or
        nothing. :class:`DirectoryTaken`: the directory was there already
        (it is left alone)."""
        directory = self.vm_dir(definition.vm_id)
        try:
            os.makedirs(directory)
        except FileExistsError:
            raise DirectoryTaken(f"{directory} exists") from None
        try:
            self.save(definition)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return directory

    def save(self, definition: VmDefinition) -> None:
        write_json_atomic(self.path(definition.vm_id, "vm.json"), definition.to_json())

    def write_file(self, vm_id: str, name: str, data: bytes) -> str:
        path = self.path(vm_id, name)
        with open(path, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return path

    def save_boot_media(self, vm_id: str, machine_config: dict[str, Any], segments: list[Segment]) -> None:
        """Keep what the VM cold-boots from when it has no boot images: its
        machine record and boot segments (``Machine.config_state()``,
        ``Machine.boot_segments()``), durably (vmstate/bootmedia.py)."""
        bootmedia.save(self.path(vm_id, BOOT_MEDIA), machine_config, segments, {"vm_id": vm_id})

    def load_boot_media(self, vm_id: str, max_memory: int) -> tuple[dict[str, Any], list[Segment]]:
        return bootmedia.load(self.path(vm_id, BOOT_MEDIA), max_memory)

    def remove(self, vm_id: str) -> None:
        shutil.rmtree(self.vm_dir(vm_id), ignore_errors=True)

    def load_all(self) -> tuple[list[VmDefinition], dict[str, str]]:
        """Every stored definition, and a message per VM directory (by its
        name, the VM's id) whose definition could not be read."""
        found, problems = [], {}
        base = os.path.join(self.root, "vms")
        for vm_id in sorted(os.listdir(base)):
            path = os.path.join(base, vm_id, "vm.json")
            try:
                with open(path) as f:
                    found.append(VmDefinition.from_json(json.load(f)))
            except (OSError, ValueError, TypeError) as exc:
                problems[vm_id] = f"{path}: {exc}"
        return found, problems

    def snapshot_path(self, path: str) -> str:
        """Where a snapshot path given by a client goes: relative paths under
        DATA/snapshots."""
        if not path:
            raise ValueError("empty snapshot path")
        if os.path.isabs(path):
            return path
        full = os.path.normpath(os.path.join(self.root, "snapshots", path))
        if not full.startswith(os.path.join(self.root, "snapshots") + os.sep):
            raise ValueError(f"snapshot path {path!r} leaves the node's snapshot directory")
        return full

    def clear_incoming(self) -> list[str]:
        """Delete the node's files left in DATA/incoming (uploads and exports
        of a node that stopped while they were under way); their names."""
        base = os.path.join(self.root, "incoming")
        removed = []
        for name in sorted(os.listdir(base)):
            if name.startswith(INCOMING_PREFIX) and os.path.isfile(path := os.path.join(base, name)):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    continue
                removed.append(name)
        return removed

    def incoming(self, suffix: str = ".vmstate") -> str:
        fd, path = tempfile.mkstemp(prefix=INCOMING_PREFIX, suffix=suffix, dir=os.path.join(self.root, "incoming"))
        os.close(fd)
        return path
