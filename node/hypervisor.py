"""The hypervisor (DESIGN.md §3): the VM table, the actions on it, admission,
the scheduler and persistence.

Everything runs on the node's one asyncio loop. The scheduler task runs one
slice of guest instructions at a time — sized to about ``slice_seconds`` of
host CPU time — of the runnable VM that has used the least CPU time for its
shares (costly instructions cost a guest its share too), and yields to the
loop after every slice, so a gRPC call waits at most about
one slice. A VM that is migrating out runs short slices (``MIGRATING_SLICE``),
and so runs more often: its stream's completions are served within a fraction
of a millisecond, so the guest cannot starve its own migration, yet it keeps
its CPU share against other VMs and gets every moment the stream leaves
(bench/migration.py: round 0 of a 1 GiB dirtier ~390 -> ~600 MiB/s).
A VM in WFI with nothing armed is idle and costs nothing until input arrives.
An error of the node's own while it runs a VM crashes that VM, as a guest
fault does; the scheduler and the other VMs run on.
Saving state (snapshots, shutdown) runs in a worker thread while the VM is
held off the scheduler, so the loop never blocks on file I/O of guest memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from dataclasses import dataclass, replace
from typing import AsyncIterator

import structlog

from vmstate import VmstateError, durable
from vmstate import snapshot as vmsnap

from .admission import Admission, Capacity
from .console import ConsoleBuffer
from .errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Unavailable
from .machine.loader import ImageError, is_elf
from .machine.machine import BACKENDS, ConfigError
from .machine.memory import MIN_RAM, PAGE_SIZE
from .machine.state import StateError
from .machine.devices.virtio_blk import DiskError
from .phases import Phase, check
from .store import DEFAULT_SHARES, MAX_SHARES, VM_ID_RE, DirectoryTaken, Store, VmDefinition
from .tls import TlsFiles
from .vm import MIPS_GUESS, Vm

log = structlog.get_logger("node.hypervisor")

RESERVATION_TTL = 60.0
SAVED_STATE = "saved.vmstate"
CHARGE_CAP = 8  # the most one slice is charged: this many times what it should cost (Hypervisor._run_slice)
MIGRATING_SLICE = 0.00025  # seconds: the slice of a VM that is migrating out (module docstring)
LAG = 4  # slices: how far behind the others a VM back from waiting may start (Hypervisor._pick)
FOLLOW_CHECK_SECONDS = 1.0  # a console follower with no new output checks this often that the VM is still here


def _vruntime(vm: Vm) -> float:
    return vm.vruntime


@dataclass(frozen=True)
class NodeConfig:
    name: str
    data_dir: str
    capacity_memory: int
    capacity_vcpus: int
    backend: str = "interp"
    address: str = ""
    slice_seconds: float = 0.001
    resume_on_start: bool = False
    save_on_shutdown: bool = False
    console_limit: int = 1 << 20

    def __post_init__(self) -> None:
        if self.capacity_memory < MIN_RAM:
            raise ValueError("--capacity-memory is too small for any VM")
        if self.capacity_vcpus < 1:
            raise ValueError("--capacity-vcpus must be at least 1")
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r} (known: {', '.join(BACKENDS)})")
        if not 0.0001 <= self.slice_seconds <= 1:
            raise ValueError("slice length must be between 0.1 ms and 1 s")


@dataclass
class Spec:
    """A VM spec as the hypervisor takes it (the servicer converts protobuf)."""

    name: str
    memory: int
    kernel: bytes = b""
    bios: bytes = b""
    initrd: bytes = b""
    append: str | None = None
    load_address: int | None = None
    disk_bytes: int = 0
    disk_image: bytes = b""
    shares: int = DEFAULT_SHARES
    backend: str = ""
    image_name: str = ""


class Hypervisor:
    def __init__(self, config: NodeConfig, metrics: "object | None" = None,
                 tls: "TlsFiles | None" = None) -> None:
        self.config = config
        self.store = Store(config.data_dir)
        self.admission = Admission(Capacity(config.capacity_memory, config.capacity_vcpus))
        self.vms: dict[str, Vm] = {}
        self.metrics = metrics
        self.started_at = time.time()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._owned: set[asyncio.Task] = set()  # background tasks (see own())
        self._creating: set[str] = set()  # ids of VMs being written to the store (see _new_id)
        self._store_locks: dict[str, asyncio.Lock] = {}  # per VM: its store writes in order
        self._removals: dict[str, asyncio.Task] = {}  # per VM id: its files being removed (remove_files_soon)
        self._closing = False
        self.lost_at_shutdown: list[dict[str, str]] = []  # VMs whose state the shutdown could not save
        # VM directories whose definition could not be read at start (by VM id): not loaded,
        # their files kept until the VM is destroyed (destroy_vm).
        self.unreadable: dict[str, str] = {}
        self._busy_wall = 0.0
        self._load = 0.0
        self._min_vruntime = 0.0  # never decreases (see _pick)
        from .migration.driver import Migrations

        self.migrations = Migrations(self, tls)

    # -- lifecycle of the hypervisor itself --------------------------------------------------

    async def start(self) -> None:
        # Uploads and exports under way when the node last stopped: nobody will finish them.
        for name in await durable.in_thread(self.store.clear_incoming):
            log.info("removed a leftover upload or export", file=name)
        definitions, self.unreadable = self.store.load_all()
        for problem in self.unreadable.values():
            log.warning("unreadable VM definition skipped", problem=problem)
        for d in definitions:
            if d.migrating_in:
                # The node stopped while this VM was migrating in: its memory was only
                # in that process; the source keeps its copy until the hand-over completes.
                await durable.in_thread(self.store.remove, d.vm_id)
                log.warning("discarded a VM whose migration here did not complete", vm_id=d.vm_id,
                            job_id=d.migrating_in)
                continue
            vm = Vm(d, self.store, ConsoleBuffer(self.config.console_limit))
            vm.recall_final()
            self.vms[d.vm_id] = vm
            saved = self.store.path(d.vm_id, SAVED_STATE)
            if self.config.resume_on_start and d.desired == "running" and os.path.exists(saved):
                try:
                    self._admit(d.vm_id, d.memory, "")
                    await self._restore_saved(vm)
                    vm.phase = Phase.RUNNING
                    log.info("resumed saved VM", vm_id=d.vm_id)
                except Exception as exc:
                    self.admission.release(f"vm:{d.vm_id}")
                    vm.phase = Phase.STOPPED
                    vm.crash_reason = f"could not resume saved state: {exc}"
                    log.error("resume failed", vm_id=d.vm_id, error=str(exc))
        self._tasks.append(asyncio.create_task(self._scheduler(), name="scheduler"))
        self._tasks.append(asyncio.create_task(self._sampler(), name="sampler"))
        for task in self._tasks:
            task.add_done_callback(self._task_ended)
        log.info("hypervisor started", vms=len(self.vms), capacity_memory=self.config.capacity_memory,
                 capacity_vcpus=self.config.capacity_vcpus)

    def _task_ended(self, task: asyncio.Task) -> None:
        """One of the node's own tasks should end only at shutdown: say so loudly if not."""
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("node task died", task=task.get_name(), error=f"{type(exc).__name__}: {exc}",
                      exc_info=exc)

    async def shutdown(self) -> None:
        """Stop scheduling; save running VMs first when configured to."""
        self._closing = True
        self._wake.set()
        for job_id in list(self.migrations.incoming):
            self.migrations.incoming.pop(job_id).drop("the node is shutting down")
        for out in list(self.migrations.outgoing.values()):
            if out.sm.phase.name != "AWAIT_DECISION":
                self.migrations._abort_out(out, "the node is shutting down")
        await self.migrations.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # it died (logged by _task_ended): the VMs are saved all the same
                pass
        self._tasks.clear()
        if self._owned:
            await asyncio.gather(*self._owned, return_exceptions=True)
        for vm in list(self.vms.values()):
            live = vm.machine is not None and vm.phase in (Phase.RUNNING, Phase.PAUSED)
            # One VM's failure (a full disk) neither stops the node saving the others nor ends it.
            if live and self.config.save_on_shutdown:
                try:
                    await self._save(vm, self.store.path(vm.vm_id, SAVED_STATE), vmsnap.SaveOptions())
                    await self._persist_desired(vm, "running")
                    log.info("saved VM at shutdown", vm_id=vm.vm_id, instructions=vm.instructions)
                except Exception as exc:
                    log.error("could not save VM at shutdown: its state is lost", vm_id=vm.vm_id, error=str(exc))
                    self.lost_at_shutdown.append({"vm_id": vm.vm_id, "name": vm.definition.name, "error": str(exc)})
                    await self._persist_desired_quietly(vm, "stopped")
            elif live:
                await self._persist_desired_quietly(vm, "stopped")  # its state is lost: it is simply stopped
            vm.release()
        log.info("hypervisor stopped")

    # -- the scheduler ------------------------------------------------------------------------------

    async def _scheduler(self) -> None:
        target = self.config.slice_seconds
        while not self._closing:
            now = time.monotonic()
            candidates = [vm for vm in self.vms.values() if vm.runnable]
            runnable = [vm for vm in candidates if vm.sleep_until <= now]
            if not runnable:
                self._wake.clear()
                if candidates:  # all throttled: sleep until the first may run again
                    wait = min(vm.sleep_until for vm in candidates) - now
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout=max(wait, 0.0001))
                    except asyncio.TimeoutError:
                        pass
                else:
                    await self._wake.wait()
                continue
            vm = None
            try:
                vm = self._pick(runnable, target)
                # A VM migrating out runs short slices (module docstring); picked by
                # what it ran like the others, it runs that much more often.
                short = vm.phase is Phase.MIGRATING and target > MIGRATING_SLICE
                self._run_slice(vm, vm.slice_budget(MIGRATING_SLICE if short else target))
            except Exception as exc:  # a node bug: it stops this VM, not the node's scheduler
                try:
                    self._contain(vm, exc)
                except Exception:
                    log.exception("could not stop a VM after a node error", vm_id=vm.vm_id if vm else None)
                await asyncio.sleep(0.01)  # should it recur: the loop is not spun on it
            await self._yield()

    def _contain(self, vm: Vm | None, exc: Exception) -> None:
        """An error on the node's side while running ``vm`` (None: while
        choosing one): the VM crashes with the reason, as on a guest fault,
        and gives back its machine and capacity; the others run on."""
        reason = f"node error: {type(exc).__name__}: {exc}"
        if vm is None:
            log.exception("scheduler error", error=reason)
            return
        log.exception("VM crashed on a node error", vm_id=vm.vm_id, error=reason)
        if vm.busy or vm.machine is None:  # finalized already: only its phase may be left to say
            if vm.phase in (Phase.RUNNING, Phase.MIGRATING):
                vm.crash(reason)
            return
        if vm.phase is Phase.STOPPED:  # the guest had powered off: it ends as such
            self._finalize(vm, digest=True)
            return
        if vm.phase is not Phase.CRASHED:  # a guest fault found first keeps its own reason
            vm.crash(reason)
        self._finalize(vm, digest=False)

    def _pick(self, runnable: list[Vm], target: float) -> Vm:
        """The runnable VM that has used the least CPU time for its shares
        (its virtual runtime, as in Linux's CFS: the thread CPU time of its
        slices x 1024 / shares). Charged by CPU time, not instructions: a
        guest whose instructions are costly (traps, MMIO, self-modifying code
        that invalidates decoded blocks) gets its share of the CPU, not of
        the instructions. Thread CPU time leaves out the time the host
        preempts the node (or another thread holds the GIL): that costs a VM
        nothing. Shares decide how often a VM runs, not for how long, so
        every slice stays about ``slice_seconds`` and the loop is served as
        often whatever the shares. A VM back from waiting (new, idle, paused,
        throttled) starts at most ``LAG`` slices (of ``target`` seconds at
        the default shares) behind the others: it does not get back the time
        it did not use."""
        first = min(runnable, key=_vruntime)
        if first.vruntime >= self._min_vruntime:  # as a rule: nobody is back from waiting
            self._min_vruntime = first.vruntime
            return first
        least = self._min_vruntime - LAG * target * 1024 / DEFAULT_SHARES
        for vm in runnable:
            if vm.vruntime < least:
                vm.vruntime = least
        return min(runnable, key=_vruntime)

    async def _yield(self) -> None:
        """Let everything else that is ready run before the next slice.

        One ``sleep(0)`` lets the loop run one round of ready callbacks, but a
        gRPC call needs several rounds to complete; with a slice between each
        round a call waited ~10 slices (bench/node.py: p50 19 ms with 2 ms
        slices). Draining the loop's ready queue after each slice brings a
        call's wait down to about one slice (p50 ~2 ms). ``_ready`` is the
        standard event loop's queue; other loops just get one round.
        """
        await asyncio.sleep(0)
        ready = getattr(asyncio.get_running_loop(), "_ready", None)
        rounds = 0
        while ready and rounds < 64:
            await asyncio.sleep(0)
            rounds += 1

    def _run_slice(self, vm: Vm, budget: int) -> None:
        if vm.first_slice is not None:  # a migrated-in VM's first instruction here
            if not vm.first_slice.done():
                vm.first_slice.set_result(time.time())
            vm.first_slice = None
        vm.feed_input()
        # What this slice should cost at the VM's measured speed: a slice that costs CHARGE_CAP
        # times more than that (or than a slice) is charged no more (see below).
        cap = CHARGE_CAP * max(self.config.slice_seconds, budget / ((vm.stats.cpu_mips or MIPS_GUESS) * 1e6))
        start, cpu_before = time.perf_counter(), vm.stats.cpu_seconds
        before = vm.machine.instructions if vm.machine else 0
        reason = vm.run_slice(budget)
        cpu = vm.stats.cpu_seconds - cpu_before  # the slice's thread CPU time (Vm.run_slice)
        elapsed = time.perf_counter() - start
        ran = vm.machine.instructions - before if vm.machine else 0
        # CPU time, not instructions (_pick) — up to the cap: a stall inside a slice that is not
        # the guest's (a garbage collection, the node's page faults) would otherwise put a VM of
        # few shares (x 1024 / shares) seconds behind for one bad slice.
        vm.vruntime += min(cpu, cap) * 1024 / vm.definition.shares
        self._busy_wall += elapsed
        if vm.throttle > 0:  # auto-converge: hold the VM back for its throttle share
            vm.sleep_until = time.monotonic() + elapsed * vm.throttle / (1.0 - vm.throttle)
        if self.metrics is not None:
            self.metrics.slice_seconds.observe(elapsed)
            self.metrics.instructions.labels(vm_id=vm.vm_id).inc(ran)
        if reason is None:
            log.error("VM crashed", vm_id=vm.vm_id, reason=vm.crash_reason,
                      instructions=vm.crash_instructions)
            self._finalize(vm, digest=False)
        elif vm.phase is Phase.STOPPED:
            log.info("VM powered off", vm_id=vm.vm_id, exit_code=vm.exit_code,
                     instructions=vm.instructions)
            self._finalize(vm, digest=True)

    def _finalize(self, vm: Vm, digest: bool) -> None:
        """The guest stopped running: record its final state digest (off the
        loop) and how it ended in its stored definition, then give back its
        machine and its capacity."""
        vm.definition.desired = "stopped"  # written by finish(), off the scheduler's path
        self.admission.release(f"vm:{vm.vm_id}")
        vm.busy = True
        machine = vm.machine

        async def record() -> None:
            if vm.machine is machine:  # how it ended, kept in the definition (node restarts)
                vm.record_final()
            try:
                await self.save_definition(vm)
            except OSError as exc:
                log.error("could not record the stopped VM", vm_id=vm.vm_id, error=str(exc))

        async def finish() -> None:
            try:
                await record()  # at once: "stopped", with its exit code and instructions
                if digest and machine is not None:
                    vm.state_digest = await durable.in_thread(vmsnap.state_digest, machine)
                    await record()  # and its final state digest, which takes a while on a large VM
            finally:
                vm.busy = False
                if vm.machine is machine:
                    vm.release()

        self.own(asyncio.create_task(finish(), name=f"finalize-{vm.vm_id}"))

    def own(self, task: asyncio.Task) -> None:
        """Keep a background task of this node's (shutdown waits for it). Its
        error, if any, is for whoever awaits it; one nobody awaited is logged here."""
        self._owned.add(task)
        task.add_done_callback(self._disown)

    def _disown(self, task: asyncio.Task) -> None:
        self._owned.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.debug("background task failed", task=task.get_name(), error=str(exc))

    def remove_files_soon(self, vm_id: str) -> None:
        """Delete the directory of a VM that is not (or no longer) this node's,
        off the loop; the id's next store I/O waits for it (:meth:`_store_lock`)."""
        task = asyncio.create_task(self._remove_files(vm_id), name=f"remove-{vm_id}")
        self._removals[vm_id] = task

        def done(_: asyncio.Task) -> None:
            if self._removals.get(vm_id) is task:
                del self._removals[vm_id]
        task.add_done_callback(done)
        self.own(task)

    async def _sampler(self) -> None:
        """Once a second: dirty-page rates and node load."""
        last = time.monotonic()
        while not self._closing:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for vm in self.vms.values():
                if vm.phase is Phase.RUNNING:
                    vm.sample_dirty_rate(now)
            self._load = min(1.0, self._busy_wall / max(now - last, 1e-6))
            self._busy_wall = 0.0
            last = now
            self.admission.expire(time.time())
            if self.metrics is not None:
                self.metrics.update_states(self.vms.values())

    def wake(self) -> None:
        self._wake.set()

    # -- lookups ----------------------------------------------------------------------------------

    def get(self, vm_id: str) -> Vm:
        vm = self.vms.get(vm_id)
        if vm is None:
            raise NotFound(f"no VM {vm_id!r} on node {self.config.name}")
        return vm

    def _check_open(self) -> None:
        if self._closing:
            raise Unavailable(f"node {self.config.name} is shutting down")

    async def _persist_desired_quietly(self, vm: Vm, desired: str) -> None:
        """:meth:`_persist_desired` at shutdown: a failure is logged, not raised."""
        try:
            await self._persist_desired(vm, desired)
        except Exception as exc:
            log.error("could not record the VM's desired state", vm_id=vm.vm_id, desired=desired, error=str(exc))

    async def _persist_desired(self, vm: Vm, desired: str) -> None:
        if vm.definition.desired != desired:
            vm.definition.desired = desired
            await self.save_definition(vm)

    @contextlib.asynccontextmanager
    async def _store_lock(self, vm_id: str) -> AsyncIterator[None]:
        """One VM's store I/O, one at a time and in order — after a removal
        of its files that was asked for already (:meth:`remove_files_soon`),
        even if that task has not started yet."""
        removal = self._removals.get(vm_id)
        if removal is not None and removal is not asyncio.current_task():
            await asyncio.wait([removal])
        async with self._store_locks.setdefault(vm_id, asyncio.Lock()):
            yield

    async def save_definition(self, vm: Vm) -> None:
        """Write the VM's definition durably, off the event loop (an fsync:
        ~0.4 ms on this machine, far longer on a busy disk, and every VM on the
        node waits while the loop does). One VM's writes go in order, each
        with the definition as it is when it runs; a VM that has left this
        node meanwhile is not written back."""
        async with self._store_lock(vm.vm_id):
            if self.vms.get(vm.vm_id) is vm:
                await durable.in_thread(self.store.save, replace(vm.definition))

    async def _remove_files(self, vm_id: str) -> None:
        """Delete a VM's directory (after the VM left ``self.vms``), off the loop."""
        async with self._store_lock(vm_id):
            await durable.in_thread(self.store.remove, vm_id)
        if vm_id not in self.vms:
            self._store_locks.pop(vm_id, None)

    # -- actions ----------------------------------------------------------------------------------

    def _new_id(self, vm_id: str) -> str:
        vm_id = vm_id or uuid.uuid4().hex[:12]
        if not VM_ID_RE.fullmatch(vm_id):
            raise InvalidArgument(f"invalid VM id {vm_id!r}: use letters, digits, '.', '_' or '-'")
        if (vm_id in self.vms or vm_id in self._creating
                or any(i.vm_id == vm_id for i in self.migrations.incoming.values())):
            raise AlreadyExists(f"a VM {vm_id!r} already exists on node {self.config.name}")
        return vm_id

    def _stray_directory(self, vm_id: str) -> AlreadyExists:
        """The error for an id whose directory is on disk though no VM of this node has it."""
        return AlreadyExists(
            f"VM id {vm_id!r} is taken on node {self.config.name}: its directory {self.store.vm_dir(vm_id)} "
            f"exists but holds no VM the node could load (see the node's log at start); move that directory "
            f"away or choose another id")

    def _admit(self, vm_id: str, memory: int, reservation_id: str) -> None:
        now = time.time()
        try:
            if reservation_id:
                self.admission.transfer(f"reservation:{reservation_id}", f"vm:{vm_id}", memory, 1, now)
            else:
                self.admission.admit(f"vm:{vm_id}", memory, 1, now)
        except Exception:
            if self.metrics is not None:
                self.metrics.refusals.inc()
            raise

    async def create_vm(self, vm_id: str, spec: Spec, start: bool = False, reservation_id: str = "") -> Vm:
        self._check_open()
        if not spec.kernel and not spec.bios:
            raise InvalidArgument("a VM needs a kernel image or a firmware image")
        if spec.kernel and not is_elf(spec.kernel) and spec.load_address is None and not spec.bios:
            raise InvalidArgument("the kernel image is not an ELF file; give a load address for a raw image")
        if spec.memory < MIN_RAM or spec.memory % PAGE_SIZE:
            raise InvalidArgument(f"memory must be at least {MIN_RAM >> 20} MiB and a multiple of 4 KiB")
        backend = spec.backend or self.config.backend
        if backend not in BACKENDS:
            raise InvalidArgument(f"backend {backend!r} is not available on node {self.config.name}")
        if not 1 <= spec.shares <= MAX_SHARES:
            raise InvalidArgument(f"shares must be between 1 and {MAX_SHARES}, not {spec.shares}")
        vm_id = self._new_id(vm_id)
        try:
            definition = VmDefinition(
                vm_id=vm_id, name=spec.name or vm_id, memory=spec.memory, shares=spec.shares,
                backend=backend, image_name=spec.image_name, append=spec.append,
                load_address=spec.load_address, kernel=bool(spec.kernel), bios=bool(spec.bios),
                initrd=bool(spec.initrd), disk=bool(spec.disk_bytes or spec.disk_image),
                created_at=time.time(), desired="running" if start else "stopped")
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None

        created = False  # the VM's directory is this call's (only then is it removed on failure)

        def write_files() -> None:  # images and disks can be large: off the loop
            nonlocal created
            self.store.create(definition)
            created = True
            for name, data in (("kernel", spec.kernel), ("bios", spec.bios), ("initrd", spec.initrd)):
                if data:
                    self.store.write_file(vm_id, name, data)
            if definition.disk:
                size = max(spec.disk_bytes, len(spec.disk_image))
                size += -size % 512
                path = self.store.write_file(vm_id, "disk.img", spec.disk_image)
                os.truncate(path, size)

        self._creating.add(vm_id)
        admitted = False
        try:
            if start or reservation_id:
                self._admit(vm_id, spec.memory, reservation_id)
                admitted = True
            async with self._store_lock(vm_id):  # after the files of a VM destroyed under this id are gone
                try:
                    await durable.in_thread(write_files)
                except DirectoryTaken:
                    raise self._stray_directory(vm_id) from None
            vm = Vm(definition, self.store, ConsoleBuffer(self.config.console_limit))
            if start:
                self._boot(vm)
        except BaseException:
            if admitted:
                self.admission.release(f"vm:{vm_id}")
            if created:
                await self._remove_files(vm_id)
            raise
        finally:
            self._creating.discard(vm_id)
        self.vms[vm_id] = vm
        log.info("VM created", vm_id=vm_id, name=definition.name, memory=spec.memory, started=start)
        return vm

    def _boot(self, vm: Vm) -> None:
        try:
            vm.boot()
        except (VmstateError, StateError) as exc:  # the boot media kept on this node (Vm.boot)
            raise FailedPrecondition(
                f"VM {vm.vm_id} cannot boot from the boot media it came to node {self.config.name} with: "
                f"{exc}; restore it from a snapshot or create it again") from None
        except (ConfigError, ImageError, DiskError, ValueError) as exc:
            raise InvalidArgument(f"VM {vm.vm_id} cannot boot: {exc}") from None
        vm.phase = Phase.RUNNING
        self.wake()

    async def start_vm(self, vm_id: str) -> Vm:
        """Power on: from the state saved at the last node shutdown if there
        is one, else a fresh boot. A VM holds capacity while it has a machine."""
        self._check_open()
        vm = self.get(vm_id)
        check("start", vm.phase, vm_id)
        vm.check_not_busy()
        vm.busy = True  # until it runs: a second start waits its turn
        admitted = False
        try:
            # Written ahead: the record says "running" before the guest runs.
            await self._persist_desired(vm, "running")
            vm.release()
            self.admission.release(f"vm:{vm_id}")
            self._admit(vm_id, vm.definition.memory, "")
            admitted = True
            saved = self.store.path(vm_id, SAVED_STATE)
            if os.path.exists(saved):
                await self._restore_saved(vm)
                vm.phase = Phase.RUNNING
                self.wake()
            else:
                self._boot(vm)
        except BaseException:
            if admitted:
                self.admission.release(f"vm:{vm_id}")
            vm.definition.desired = "stopped"
            with contextlib.suppress(Exception):
                await self.save_definition(vm)
            raise
        finally:
            vm.busy = False
        log.info("VM started", vm_id=vm_id)
        return vm

    async def _restore_saved(self, vm: Vm) -> None:
        saved = self.store.path(vm.vm_id, SAVED_STATE)
        disk = self.store.path(vm.vm_id, "disk.img") if vm.definition.disk else None
        restored = await durable.in_thread(
            vmsnap.load, saved, vmsnap.Limits(max_memory=self.config.capacity_memory),
            disk, vm.definition.backend)
        if restored.console is not None:
            vm.console = ConsoleBuffer(self.config.console_limit,
                                       int(restored.report.meta.get("console_start", 0)), restored.console)
        vm.attach(restored.machine)
        await durable.discard(saved)

    def pause_vm(self, vm_id: str) -> Vm:
        vm = self.get(vm_id)
        check("pause", vm.phase, vm_id)
        vm.phase = Phase.PAUSED
        log.info("VM paused", vm_id=vm_id)
        return vm

    def resume_vm(self, vm_id: str) -> Vm:
        vm = self.get(vm_id)
        check("resume", vm.phase, vm_id)
        vm.phase = Phase.RUNNING
        self.wake()
        log.info("VM resumed", vm_id=vm_id)
        return vm

    async def stop_vm(self, vm_id: str) -> Vm:
        vm = self.get(vm_id)
        check("stop", vm.phase, vm_id)
        vm.check_not_busy()
        vm.release()
        self.admission.release(f"vm:{vm_id}")
        vm.phase = Phase.STOPPED
        vm.busy = True  # until the saved state is gone: a start meanwhile would resume from it
        try:
            await durable.discard(self.store.path(vm_id, SAVED_STATE))
            await self._persist_desired(vm, "stopped")
        finally:
            vm.busy = False
        log.info("VM stopped", vm_id=vm_id)
        return vm

    async def destroy_vm(self, vm_id: str) -> None:
        if vm_id not in self.vms and vm_id in self.unreadable:
            # Its definition could not be read (so it never ran here): destroying it removes its files.
            problem = self.unreadable.pop(vm_id)
            await self._remove_files(vm_id)
            log.info("removed the files of a VM whose definition was unreadable", vm_id=vm_id, problem=problem)
            return
        vm = self.get(vm_id)
        check("destroy", vm.phase, vm_id)
        vm.check_not_busy()
        self._evict(vm)
        await self._remove_files(vm_id)
        log.info("VM destroyed", vm_id=vm_id)

    # -- state in and out ------------------------------------------------------------------------

    async def _save(self, vm: Vm, path: str, options: vmsnap.SaveOptions) -> vmsnap.Report:
        """Save with the VM held off the scheduler and its input queued."""
        machine = vm.machine
        if machine is None:
            raise FailedPrecondition(f"VM {vm.vm_id} has no machine state to save (it is {vm.phase.value})")
        start, history = vm.console.snapshot()
        options.console = history
        meta = {"vm_id": vm.vm_id, "name": vm.definition.name, "generation": vm.definition.generation,
                "node": self.config.name, "console_start": start, "shares": vm.definition.shares,
                "image_name": vm.definition.image_name}
        vm.busy = True
        try:
            return await durable.in_thread(vmsnap.save, machine, path, meta, options)
        finally:
            vm.busy = False
            self.wake()

    async def snapshot_vm(self, vm_id: str, path: str, options: vmsnap.SaveOptions) -> vmsnap.Report:
        vm = self.get(vm_id)
        check("snapshot", vm.phase, vm_id)
        try:
            target = self.store.snapshot_path(path) if path else self.store.path(vm_id, "snapshot.vmstate")
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        directory = os.path.dirname(target)
        if not os.path.isdir(directory):
            raise InvalidArgument(f"directory {directory} does not exist on node {self.config.name}")
        report = await self._save(vm, target, options)
        log.info("VM snapshot", vm_id=vm_id, path=target, state_digest=report.state_digest)
        return report

    async def restore_vm(self, path: str, vm_id: str = "", name: str = "", start: bool = False,
                         reservation_id: str = "", shares: int = 0, consume: bool = False) -> Vm:
        """A new VM from a vmstate file on this node (``consume``: the file is
        an upload the node owns: it is deleted however the restore ends)."""
        try:
            return await self._restore(path, vm_id, name, start, reservation_id, shares, consume)
        except BaseException:
            if consume:
                await durable.discard(path)
            raise

    def _restored_definition(self, header: vmsnap.Report, vm_id: str, name: str, start: bool,
                             shares: int, shown: str) -> tuple[VmDefinition, int]:
        """The definition of a VM restored from ``header`` (and the offset of
        its console history), its metadata checked: InvalidArgument names
        what is wrong."""
        meta = header.meta

        def meta_value(key: str, ok: "type | tuple[type, ...]", want: str, default: object) -> object:
            value = meta.get(key)
            if value is None:
                return default
            if not isinstance(value, ok) or isinstance(value, bool):
                raise InvalidArgument(f"{shown} has {key} {value!r} in its metadata; it must be {want}")
            return value

        if shares and not 1 <= shares <= MAX_SHARES:
            raise InvalidArgument(f"shares must be between 1 and {MAX_SHARES}, not {shares}")
        if not shares:
            shares = meta_value("shares", int, f"an integer from 1 to {MAX_SHARES}", DEFAULT_SHARES)  # type: ignore[assignment]
            if not 1 <= shares <= MAX_SHARES:
                raise InvalidArgument(f"{shown} has shares {shares} in its metadata; it must be between 1 and "
                                      f"{MAX_SHARES} (or give the VM its shares)")
        generation = meta_value("generation", int, "a non-negative integer", 0)
        console_start = meta_value("console_start", int, "a non-negative integer", 0)
        for key, value in (("generation", generation), ("console_start", console_start)):
            if not 0 <= value < 1 << 63:  # type: ignore[operator]
                raise InvalidArgument(f"{shown} has {key} {value} in its metadata; it must be an integer "
                                      f"from 0 to 2^63-1")
        saved_name = meta_value("name", str, "a string", "")
        image_name = meta_value("image_name", str, "a string", "")  # older snapshots: none
        try:
            definition = VmDefinition(
                vm_id=vm_id, name=name or saved_name or vm_id, memory=header.memory_size,  # type: ignore[arg-type]
                shares=shares, backend=self.config.backend, image_name=image_name,  # type: ignore[arg-type]
                disk=header.disk is not None, boot_media=True, created_at=time.time(),
                generation=generation + 1, desired="running" if start else "stopped")  # type: ignore[operator]
        except ValueError as exc:
            raise InvalidArgument(f"cannot restore {shown}: {exc}") from None
        return definition, console_start  # type: ignore[return-value]

    async def _restore(self, path: str, vm_id: str, name: str, start: bool, reservation_id: str,
                       shares: int, consume: bool) -> Vm:
        self._check_open()
        shown = "the uploaded file" if consume else path  # an upload's path is the node's business

        def invalid(exc: Exception) -> InvalidArgument:
            return InvalidArgument(str(exc).replace(path, shown) if consume else str(exc))

        try:
            header = await asyncio.to_thread(vmsnap.inspect, path, None, False)  # the load checks the image
        except VmstateError as exc:
            raise invalid(exc) from None
        vm_id = self._new_id(vm_id or str(header.meta.get("vm_id") or ""))
        # Checked before anything is taken: a bad file leaves no capacity held, no id blocked.
        definition, console_start = self._restored_definition(header, vm_id, name, start, shares, shown)
        self._admit(vm_id, definition.memory, reservation_id)
        self._creating.add(vm_id)
        created = False  # the VM's directory is this call's (only then is it removed on failure)

        def make_directory() -> None:
            nonlocal created
            self.store.create(definition)
            created = True

        try:
            async with self._store_lock(vm_id):
                try:
                    await durable.in_thread(make_directory)
                except DirectoryTaken:
                    raise self._stray_directory(vm_id) from None
            disk = self.store.path(vm_id, "disk.img") if definition.disk else None
            try:
                restored = await durable.in_thread(
                    vmsnap.load, path, vmsnap.Limits(max_memory=self.config.capacity_memory),
                    disk, definition.backend)
            except (VmstateError, StateError) as exc:
                raise invalid(exc) from None
            try:  # what a start after it powers off boots (Vm.boot)
                await durable.in_thread(self.store.save_boot_media, vm_id, restored.machine.config_state(),
                                        restored.machine.boot_segments())
                if consume:  # read in full; gone before the VM runs (the reply shows it as it was restored)
                    await durable.discard(path)
            except BaseException:
                restored.machine.close()
                raise
            vm = Vm(definition, self.store, ConsoleBuffer(self.config.console_limit))
            if restored.console is not None:
                vm.console = ConsoleBuffer(self.config.console_limit, console_start, restored.console)
            vm.attach(restored.machine)
            vm.phase = Phase.PAUSED
            if restored.machine.halted:
                vm.phase = Phase.STOPPED
                vm.exit_code = restored.machine.exit_code
        except BaseException:
            self.admission.release(f"vm:{vm_id}")
            try:
                if created:
                    await self._remove_files(vm_id)
            finally:
                self._creating.discard(vm_id)
            raise
        # No await between these two: the id stays taken.
        self._creating.discard(vm_id)
        self.vms[vm_id] = vm
        if start and vm.phase is Phase.PAUSED:
            vm.phase = Phase.RUNNING
            self.wake()
        elif vm.phase is Phase.STOPPED:  # it had powered off before it was saved: nothing to run
            self._finalize(vm, digest=True)  # its capacity and machine go back, its outcome is kept
        log.info("VM restored", vm_id=vm_id, path=path, instructions=restored.machine.instructions)
        return vm

    async def export_vm(self, vm_id: str, compress: bool) -> AsyncIterator[bytes]:
        vm = self.get(vm_id)
        check("snapshot", vm.phase, vm_id)
        path = self.store.incoming(".export.vmstate")
        try:
            await self._save(vm, path, vmsnap.SaveOptions(compress=compress))
            with open(path, "rb") as f:
                while True:
                    chunk = await asyncio.to_thread(f.read, 1 << 20)
                    if not chunk:
                        break
                    yield chunk
        finally:
            await durable.discard(path)

    # -- console ----------------------------------------------------------------------------------

    def write_console(self, vm_id: str, data: bytes) -> int:
        """Queue console input for the VM: the number of bytes it kept (input
        beyond the UART's limit, counting what waits already, is dropped)."""
        vm = self.get(vm_id)
        check("console-write", vm.phase, vm_id)
        if vm.migration_paused:
            raise FailedPrecondition(f"VM {vm_id} is moving to another node; try again in a moment")
        kept = vm.queue_input(data)  # at most what the UART keeps (MAX_PENDING_INPUT)
        if not vm.busy:
            vm.feed_input()
        self.wake()
        return kept

    async def stream_console(self, vm_id: str, offset: int, follow: bool) -> AsyncIterator[tuple[int, bytes, bool]]:
        vm = self.get(vm_id)
        while True:
            console = vm.console
            start, data, truncated = console.read(offset)
            if data or truncated:
                yield start, data, truncated
                offset = start + len(data)
                continue
            if not follow:
                return
            if self.vms.get(vm_id) is not vm:  # it left this node (migrated, destroyed): the follower moves on
                return
            try:  # new output, the VM leaving (ConsoleBuffer.close), or a look every second
                await asyncio.wait_for(vm.console.wait_beyond(offset), FOLLOW_CHECK_SECONDS)
            except asyncio.TimeoutError:
                pass

    async def drop_migrated(self, vm: Vm) -> None:
        """The VM now lives on another node: free this node's copy."""
        self._evict(vm)
        await self._remove_files(vm.vm_id)

    def _evict(self, vm: Vm) -> None:
        """``vm`` leaves this node (destroyed, or migrated away): its machine
        and capacity are freed, and its console's followers move on now."""
        vm.release()
        self.vms.pop(vm.vm_id, None)
        vm.console.close()
        self.admission.release(f"vm:{vm.vm_id}")

    # -- reservations and node info ---------------------------------------------------------------------

    def reserve(self, reservation_id: str, memory: int, vcpus: int, ttl: float) -> tuple[str, float]:
        self._check_open()
        reservation_id = reservation_id or uuid.uuid4().hex[:12]
        expires = time.time() + (ttl or RESERVATION_TTL)
        try:
            self.admission.admit(f"reservation:{reservation_id}", memory, vcpus or 1, time.time(), expires)
        except AlreadyExists:
            raise AlreadyExists(f"reservation {reservation_id!r} exists already on node {self.config.name}; "
                                f"release it first or use another reservation id") from None
        except Exception:
            if self.metrics is not None:
                self.metrics.refusals.inc()
            raise
        log.info("capacity reserved", reservation_id=reservation_id, memory=memory, vcpus=vcpus)
        return reservation_id, expires

    def release(self, reservation_id: str) -> bool:
        return self.admission.release(f"reservation:{reservation_id}")

    def info(self) -> dict:
        free = self.admission.free(time.time())
        return {
            "name": self.config.name, "address": self.config.address, "backend": self.config.backend,
            "capacity": self.admission.capacity, "free": free, "vms": len(self.vms),
            "running": sum(1 for vm in self.vms.values() if vm.phase is Phase.RUNNING),
            "load": self._load, "started_at": self.started_at,
            "migration_page_us": self.migrations.page_seconds * 1e6,
            "migration_handover_ms": self.migrations.handover_seconds * 1e3,
        }
