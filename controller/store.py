"""The controller's durable state: SQLite in WAL mode (DESIGN.md §6 "Store").

Every change is committed with ``synchronous=FULL`` before the call that made
it returns, so anything the controller acknowledged survives a crash or a
SIGKILL. All SQLite work runs on one dedicated thread (SQLite connections
belong to a thread; the event loop must not block on fsync); the async
methods hand work to it. Boot images are content-addressed files beside the
database, written and fsynced before the row that refers to them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import os
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, TypeVar

from vmstate.durable import atomic_file

T = TypeVar("T")

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (
    name TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    backend TEXT NOT NULL DEFAULT '',
    capacity_memory INTEGER NOT NULL DEFAULT 0,
    capacity_vcpus INTEGER NOT NULL DEFAULT 0,
    cordoned INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'ready',
    registered_at REAL NOT NULL DEFAULT 0,
    last_heartbeat REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS vms (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    node TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    desired TEXT NOT NULL,
    memory INTEGER NOT NULL,
    shares INTEGER NOT NULL,
    grp TEXT NOT NULL DEFAULT '',
    backend TEXT NOT NULL DEFAULT '',
    spec TEXT NOT NULL,
    placement TEXT NOT NULL DEFAULT '{}',
    report BLOB,
    last_error TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS vms_node ON vms(node);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    vm_id TEXT NOT NULL,
    vm_name TEXT NOT NULL,
    source TEXT NOT NULL,
    destination TEXT NOT NULL,
    status TEXT NOT NULL,
    params BLOB NOT NULL,
    stats BLOB,
    error TEXT NOT NULL DEFAULT '',
    reservation_id TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    finished_at REAL NOT NULL DEFAULT 0
);
"""


@dataclass
class NodeRow:
    name: str
    address: str
    backend: str = ""
    capacity_memory: int = 0
    capacity_vcpus: int = 0
    cordoned: bool = False
    state: str = "ready"
    registered_at: float = 0.0
    last_heartbeat: float = 0.0


@dataclass
class JobRow:
    id: str
    vm_id: str
    vm_name: str
    source: str
    destination: str
    status: str             # setup, active, stop-and-copy, verified, handover, handback, completed, failed,
                            # cancelled
    params: bytes           # MigrationParams
    stats: bytes = b""      # MigrationStats
    error: str = ""
    reservation_id: str = ""
    created_at: float = 0.0
    finished_at: float = 0.0

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed", "cancelled")


@dataclass
class VmRow:
    id: str
    name: str
    node: str
    state: str              # pending, running, paused, stopped, crashed, lost, migrating
    desired: str            # running or stopped
    memory: int
    shares: int
    grp: str = ""
    backend: str = ""
    spec: dict[str, Any] = field(default_factory=dict)       # VmSpec fields; images by sha256
    placement: dict[str, Any] = field(default_factory=dict)
    report: bytes | None = None                                # the node's last Vm message
    last_error: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0


class Store:
    def __init__(self, data_dir: str) -> None:
        self.data_dir = os.path.abspath(data_dir)
        self.images_dir = os.path.join(self.data_dir, "images")
        os.makedirs(self.images_dir, exist_ok=True)
        self.path = os.path.join(self.data_dir, "controller.db")
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._db: sqlite3.Connection | None = None

    # -- the store thread -------------------------------------------------------------

    def _open(self) -> None:
        # A store is never empty once made (the first open writes its header and
        # schema); an empty file is one cut short, and opening it would start a
        # controller that knows no VM while the nodes run them.
        if os.path.exists(self.path) and os.path.getsize(self.path) == 0:
            raise RuntimeError(f"{self.path} is empty (truncated?): the controller's records of nodes, VMs and "
                               f"jobs are gone; restore it from a backup, or move it away to start with an empty "
                               f"store (the nodes' VMs are then unknown to the controller)")
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        db.executescript(SCHEMA)
        row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None:
            db.execute("INSERT INTO meta(key, value) VALUES('schema', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) != SCHEMA_VERSION:
            raise RuntimeError(f"{self.path}: schema version {row[0]} is not supported")
        self._db = db

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()

        def call() -> T:
            if self._db is None:
                self._open()
            return fn(self._db)  # type: ignore[arg-type]

        return await loop.run_in_executor(self._executor, call)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def tx(db: sqlite3.Connection) -> T:
            db.execute("BEGIN IMMEDIATE")
            try:
                result = fn(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result
        return await self._run(tx)

    async def open(self) -> None:
        await self._run(lambda db: None)

    async def close(self) -> None:
        def shut(db: sqlite3.Connection) -> None:
            db.close()
        if self._db is not None:
            await self._run(shut)
            self._db = None
        self._executor.shutdown(wait=True)

    # -- nodes --------------------------------------------------------------------------------

    async def load_nodes(self) -> list[NodeRow]:
        def q(db: sqlite3.Connection) -> list[NodeRow]:
            rows = db.execute("SELECT name, address, backend, capacity_memory, capacity_vcpus, cordoned, "
                              "state, registered_at, last_heartbeat FROM nodes").fetchall()
            return [NodeRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7], r[8]) for r in rows]
        return await self._run(q)

    async def put_node(self, node: NodeRow) -> None:
        def q(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO nodes(name, address, backend, capacity_memory, capacity_vcpus, cordoned, state, "
                "registered_at, last_heartbeat) VALUES(?,?,?,?,?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET "
                "address=excluded.address, backend=excluded.backend, capacity_memory=excluded.capacity_memory, "
                "capacity_vcpus=excluded.capacity_vcpus, cordoned=excluded.cordoned, state=excluded.state, "
                "registered_at=excluded.registered_at, last_heartbeat=excluded.last_heartbeat",
                (node.name, node.address, node.backend, node.capacity_memory, node.capacity_vcpus,
                 int(node.cordoned), node.state, node.registered_at, node.last_heartbeat))
        await self._write(q)

    # -- VMs -----------------------------------------------------------------------------------

    _VM_COLUMNS = ("id, name, node, state, desired, memory, shares, grp, backend, spec, placement, report, "
                   "last_error, created_at, updated_at")

    async def load_vms(self) -> list[VmRow]:
        def q(db: sqlite3.Connection) -> list[VmRow]:
            rows = db.execute(f"SELECT {self._VM_COLUMNS} FROM vms").fetchall()
            return [VmRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], json.loads(r[9]),
                          json.loads(r[10]), r[11], r[12], r[13], r[14]) for r in rows]
        return await self._run(q)

    async def put_vm(self, vm: VmRow) -> None:
        vm.updated_at = time.time()
        values = (vm.id, vm.name, vm.node, vm.state, vm.desired, vm.memory, vm.shares, vm.grp, vm.backend,
                  json.dumps(vm.spec, sort_keys=True), json.dumps(vm.placement, sort_keys=True), vm.report,
                  vm.last_error, vm.created_at, vm.updated_at)

        def q(db: sqlite3.Connection) -> None:
            db.execute(f"INSERT OR REPLACE INTO vms({self._VM_COLUMNS}) VALUES({','.join('?' * 15)})", values)
        await self._write(q)

    async def put_vms(self, vms: list[VmRow]) -> None:
        """Several VM rows in one transaction (heartbeat reconciliation)."""
        now = time.time()
        rows = []
        for vm in vms:
            vm.updated_at = now
            rows.append((vm.id, vm.name, vm.node, vm.state, vm.desired, vm.memory, vm.shares, vm.grp,
                         vm.backend, json.dumps(vm.spec, sort_keys=True), json.dumps(vm.placement, sort_keys=True),
                         vm.report, vm.last_error, vm.created_at, vm.updated_at))

        def q(db: sqlite3.Connection) -> None:
            db.executemany(f"INSERT OR REPLACE INTO vms({self._VM_COLUMNS}) VALUES({','.join('?' * 15)})", rows)
        if rows:
            await self._write(q)

    async def delete_vm(self, vm_id: str) -> None:
        await self._write(lambda db: db.execute("DELETE FROM vms WHERE id=?", (vm_id,)))

    # -- migration jobs ---------------------------------------------------------------------

    _JOB_COLUMNS = ("id, vm_id, vm_name, source, destination, status, params, stats, error, reservation_id, "
                    "created_at, finished_at")

    def _job_values(self, job: JobRow) -> tuple:
        return (job.id, job.vm_id, job.vm_name, job.source, job.destination, job.status, job.params, job.stats,
                job.error, job.reservation_id, job.created_at, job.finished_at)

    async def load_jobs(self) -> list[JobRow]:
        def q(db: sqlite3.Connection) -> list[JobRow]:
            rows = db.execute(f"SELECT {self._JOB_COLUMNS} FROM jobs ORDER BY created_at").fetchall()
            return [JobRow(*r) for r in rows]
        return await self._run(q)

    async def put_job(self, job: JobRow) -> None:
        values = self._job_values(job)

        def q(db: sqlite3.Connection) -> None:
            db.execute(f"INSERT OR REPLACE INTO jobs({self._JOB_COLUMNS}) VALUES({','.join('?' * 12)})", values)
        await self._write(q)

    async def commit_migration(self, job: JobRow, vm: VmRow) -> None:
        """The hand-over record: the VM's new node and the job, in one transaction."""
        vm.updated_at = time.time()
        job_values = self._job_values(job)
        vm_values = (vm.id, vm.name, vm.node, vm.state, vm.desired, vm.memory, vm.shares, vm.grp, vm.backend,
                     json.dumps(vm.spec, sort_keys=True), json.dumps(vm.placement, sort_keys=True), vm.report,
                     vm.last_error, vm.created_at, vm.updated_at)

        def q(db: sqlite3.Connection) -> None:
            db.execute(f"INSERT OR REPLACE INTO jobs({self._JOB_COLUMNS}) VALUES({','.join('?' * 12)})", job_values)
            db.execute(f"INSERT OR REPLACE INTO vms({self._VM_COLUMNS}) VALUES({','.join('?' * 15)})", vm_values)
        await self._write(q)

    # -- images ----------------------------------------------------------------------------------

    def _image_path(self, digest: str) -> str:
        return os.path.join(self.images_dir, digest)

    async def put_image(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self._image_path(digest)

        def write() -> None:
            if os.path.exists(path):
                return
            with atomic_file(path, prefix=".image-") as f:  # a temporary file of its own: uploads may race
                f.write(data)
        await asyncio.to_thread(write)
        return digest

    async def get_image(self, digest: str) -> bytes:
        def read() -> bytes:
            with open(self._image_path(digest), "rb") as f:
                return f.read()
        return await asyncio.to_thread(read)


def row_dict(row: Any) -> dict[str, Any]:
    return asdict(row)
