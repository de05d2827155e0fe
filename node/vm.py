"""One VM on a node: its definition, phase, machine, console and accounting.

The hypervisor decides *when* things happen (phase rules, scheduling); a
:class:`Vm` knows *how*: booting its machine from its files, running a slice
and accounting for it, turning a guest failure into the ``crashed`` phase.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from .console import ConsoleBuffer
from .errors import FailedPrecondition
from .machine.devices.uart import MAX_PENDING_INPUT
from .machine.machine import Machine, MachineConfig, StopReason
from .machine.system import GuestHung
from .phases import Phase
from .store import Store, VmDefinition

MIPS_GUESS = 3.0
EMA = 0.2
MIN_BUDGET = 1_000  # instructions: the smallest slice (its per-slice cost stays small), and speed sample


def _ema(average: float, sample: float) -> float:
    return sample if not average else (1 - EMA) * average + EMA * sample


@dataclass
class VmStats:
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    mips: float = 0.0       # guest instructions per wall-clock second of its slices (shown to users)
    cpu_mips: float = 0.0   # per second of host CPU time: what sizes its slices (Vm.slice_budget)
    slices: int = 0
    dirty_pages_per_second: float = 0.0


@dataclass
class Vm:
    definition: VmDefinition
    store: Store
    console: ConsoleBuffer = field(default_factory=ConsoleBuffer)
    phase: Phase = Phase.STOPPED
    machine: Machine | None = None
    exit_code: int | None = None
    crash_reason: str = ""
    crash_instructions: int = 0
    final_instructions: int = 0
    state_digest: str = ""         # of the final state, once the guest powered off
    idle: bool = False
    busy: bool = False             # a save, start or stop is under way (check_not_busy)
    migration_paused: bool = False # stop-and-copy: the last instruction here has run
    frozen: bool = False           # migrating out while paused by its user: it stays paused
    throttle: float = 0.0          # auto-converge: share of time the VM is held back
    sleep_until: float = 0.0       # throttled: not runnable before this (monotonic)
    # Migrated in and resumed: resolved with the wall-clock time its first slice starts
    # (the end of the migration's downtime), then dropped.
    first_slice: "asyncio.Future[float] | None" = None
    pending_input: bytearray = field(default_factory=bytearray)
    stats: VmStats = field(default_factory=VmStats)
    vruntime: float = 0.0          # CPU seconds of its slices x 1024 / shares (the scheduler's order: Hypervisor._pick)
    _dirty_sampled_at: float = 0.0

    @property
    def vm_id(self) -> str:
        return self.definition.vm_id

    @property
    def instructions(self) -> int:
        return self.machine.instructions if self.machine is not None else self.final_instructions

    @property
    def runnable(self) -> bool:
        return (self.phase in (Phase.RUNNING, Phase.MIGRATING) and self.machine is not None
                and not self.idle and not self.busy and not self.migration_paused and not self.frozen)

    # -- machine lifecycle -------------------------------------------------------------

    def boot(self) -> None:
        """A fresh machine from the VM's boot images (power on) — or, for a VM
        that came by migration or restore, from the boot media it came with."""
        d = self.definition
        store = self.store
        disk = store.path(d.vm_id, "disk.img") if d.disk else None
        if d.boot_media:
            config_state, segments = store.load_boot_media(d.vm_id, d.memory)
            machine = Machine.cold_boot(config_state, segments, disk, d.backend)
        else:
            machine = Machine(MachineConfig(
                memory_size=d.memory,
                kernel=store.path(d.vm_id, "kernel") if d.kernel else None,
                bios=store.path(d.vm_id, "bios") if d.bios else None,
                initrd=store.path(d.vm_id, "initrd") if d.initrd else None,
                append=d.append,
                load_address=d.load_address,
                disk=disk,
                backend=d.backend,
            ))
            try:
                machine.boot()
            except BaseException:
                machine.close()
                raise
        self.attach(machine)

    def attach(self, machine: Machine) -> None:
        self.release()
        machine.console = self.console.append
        self.machine = machine
        self.exit_code = None
        self.crash_reason = ""
        self.state_digest = ""
        self.idle = False
        d = self.definition  # a new run: the last one's outcome is no longer the VM's
        d.exit_code, d.final_instructions, d.state_digest = None, 0, ""
        self.start_dirty_sampling()

    def record_final(self) -> None:
        """Copy how the guest's last run ended (exit code, instructions, state
        digest) into the definition, which keeps them across node restarts."""
        d = self.definition
        d.exit_code = self.exit_code
        d.final_instructions = self.instructions
        d.state_digest = self.state_digest

    def recall_final(self) -> None:
        """The outcome of the last run as the stored definition keeps it (node start)."""
        d = self.definition
        self.exit_code = d.exit_code
        self.final_instructions = d.final_instructions
        self.state_digest = d.state_digest

    def release(self) -> None:
        if self.machine is not None:
            self.final_instructions = self.machine.instructions
            self.machine.close()
            self.machine = None

    # -- running ------------------------------------------------------------------------

    def slice_budget(self, target_seconds: float) -> int:
        """Instructions for one slice of about ``target_seconds`` of CPU time.
        Sized by CPU time, not wall-clock time: a slice the host preempted (or
        whose thread waited for the GIL) took longer but cost no more, and
        sizing by its wall time would make that VM's next slices smaller for
        nothing. (Shares decide how often a VM runs: Hypervisor._pick.)"""
        mips = self.stats.cpu_mips or MIPS_GUESS
        budget = int(mips * 1e6 * target_seconds)
        return max(MIN_BUDGET, min(budget, 2_000_000))

    def check_not_busy(self) -> None:
        """Refuse an action while a save (reading the machine in a thread), a
        start or a stop of this VM is under way."""
        if self.busy:
            raise FailedPrecondition(f"VM {self.vm_id} is being saved, started or stopped; try again in a moment")

    def queue_input(self, data: bytes) -> int:
        """Queue console input for the guest, as much as fits the limit the
        UART keeps (``MAX_PENDING_INPUT``, counting what it holds already):
        the number of bytes kept. A stopped VM's input waits for its next
        boot, within the same limit."""
        held = len(self.pending_input)
        if self.machine is not None:
            held += len(self.machine.uart.pending_input)
        kept = data[:max(MAX_PENDING_INPUT - held, 0)]
        self.pending_input += kept
        return len(kept)

    def feed_input(self) -> None:
        if self.pending_input and self.machine is not None and not self.busy:
            self.machine.uart.feed(bytes(self.pending_input))
            self.pending_input.clear()
            self.idle = False

    def run_slice(self, budget: int) -> StopReason | None:
        """Run one slice; returns why it stopped, or None if the VM crashed."""
        machine = self.machine
        assert machine is not None
        before = machine.instructions
        wall0, cpu0 = time.perf_counter(), time.thread_time()
        try:
            reason = machine.run(budget)
        except GuestHung as exc:
            self.crash(f"guest hung: {exc}")
            return None
        except Exception as exc:  # isolation: an emulator failure stops this VM only
            self.crash(f"emulator error: {type(exc).__name__}: {exc}")
            return None
        finally:
            wall = time.perf_counter() - wall0
            cpu = time.thread_time() - cpu0
            self.stats.wall_seconds += wall
            self.stats.cpu_seconds += cpu
            self.stats.slices += 1
            done = machine.instructions - before
            if done >= MIN_BUDGET and wall > 0 and cpu > 0:
                self.stats.mips = _ema(self.stats.mips, done / wall / 1e6)
                self.stats.cpu_mips = _ema(self.stats.cpu_mips, done / cpu / 1e6)
        if reason is StopReason.HALTED:
            self.exit_code = machine.exit_code
            self.phase = Phase.STOPPED
        elif reason is StopReason.IDLE:
            self.idle = True
        return reason

    def crash(self, reason: str) -> None:
        self.phase = Phase.CRASHED
        self.crash_reason = reason
        self.crash_instructions = self.machine.instructions if self.machine else 0

    # -- dirty-rate sampling ------------------------------------------------------------------

    def start_dirty_sampling(self) -> None:
        if self.machine is not None and not self.machine.ram.logging:
            self.machine.ram.start_dirty_log()
            self._dirty_sampled_at = time.monotonic()

    def sample_dirty_rate(self, now: float) -> None:
        machine = self.machine
        if machine is None or not machine.ram.logging or self.busy:
            return
        elapsed = now - self._dirty_sampled_at
        if elapsed <= 0:
            return
        pages = len(machine.ram.take_dirty())
        self.stats.dirty_pages_per_second = pages / elapsed
        self._dirty_sampled_at = now
