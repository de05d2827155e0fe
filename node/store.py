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
DATA/incoming/                 partial uploads and migrations
```
"""

from __future__ import annotations

import dataclasses
import json
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


@dataclass
class VmDefinition:
    vm_id: str
    name: str
    memory: int
    shares: int = 1024
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
    extra: dict[str, Any] = field(default_factory=dict)

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
        directory = self.vm_dir(definition.vm_id)
        os.makedirs(directory)
        self.save(definition)
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

    def load_all(self) -> tuple[list[VmDefinition], list[str]]:
        """Every stored definition, and a message per directory that could not be read."""
        found, problems = [], []
        base = os.path.join(self.root, "vms")
        for vm_id in sorted(os.listdir(base)):
            path = os.path.join(base, vm_id, "vm.json")
            try:
                with open(path) as f:
                    found.append(VmDefinition.from_json(json.load(f)))
            except (OSError, ValueError, TypeError) as exc:
                problems.append(f"{path}: {exc}")
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

    def incoming(self, suffix: str = ".vmstate") -> str:
        fd, path = tempfile.mkstemp(prefix="in-", suffix=suffix, dir=os.path.join(self.root, "incoming"))
        os.close(fd)
        return path
