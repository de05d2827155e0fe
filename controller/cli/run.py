"""``caravan run``: boot one VM locally, console on this terminal."""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import uuid

import click

from node.localrun import RunOutcome, run_foreground
from node.machine.loader import ImageError, require_elf
from node.machine.machine import BACKENDS, DEFAULT_MEMORY, ConfigError, Machine, MachineConfig
from vmstate import VmstateError, durable, snapshot

from .errors import CliError
from .options import INT, SIZE


@click.command("run")
@click.argument("image", required=False, type=click.Path(dir_okay=False))
@click.option("--memory", "-m", type=SIZE, default=None, show_default="128M",
              help="Guest RAM size (e.g. 64M, 1G).")
@click.option("--max-instructions", type=INT, default=None,
              help="Stop after this many instructions and report (exit code 124).")
@click.option("--stats", is_flag=True, help="Print instructions retired, seconds and MIPS to stderr.")
@click.option("--load-address", type=INT, default=None,
              help="Load a raw (non-ELF) image at this physical address.")
@click.option("--bios", type=click.Path(dir_okay=False), default=None,
              help="Firmware loaded at 0x80000000 (like QEMU's -bios).")
@click.option("--kernel", type=click.Path(dir_okay=False), default=None,
              help="Payload image (like QEMU's -kernel: an ELF, or a raw binary placed where QEMU places it). "
                   "IMAGE is the same, but a raw IMAGE needs --load-address (a guard against running the wrong file).")
@click.option("--initrd", type=click.Path(dir_okay=False), default=None, help="Initial ramdisk.")
@click.option("--append", default=None, help="Kernel command line (/chosen/bootargs).")
@click.option("--disk", type=click.Path(dir_okay=False), default=None,
              help="Raw disk image for the virtio-blk device (read-write).")
@click.option("--backend", type=click.Choice(BACKENDS), default="interp", show_default=True,
              help="Execution backend.")
@click.option("--snapshot-at", type=INT, default=None,
              help="Save the VM's state after this many instructions, then stop.")
@click.option("--snapshot", "snapshot_path", type=click.Path(dir_okay=False), default=None,
              help="Where --snapshot-at saves the state (a .vmstate file).")
@click.option("--restore", "restore_path", type=click.Path(dir_okay=False), default=None,
              help="Continue a VM from a .vmstate file instead of booting IMAGE.")
@click.option("--no-disk", is_flag=True,
              help="With --snapshot: reference the disk image instead of storing its contents.")
@click.option("--compress", is_flag=True, help="With --snapshot: compress memory and disk with zstd.")
@click.option("--mappable", is_flag=True,
              help="With --snapshot: store memory as one raw image that --restore --mmap can map.")
@click.option("--mmap", "use_mmap", is_flag=True,
              help="With --restore: map a --mappable snapshot's memory copy-on-write.")
def run_command(image: str | None, memory: int | None, max_instructions: int | None, stats: bool,
                load_address: int | None, bios: str | None, kernel: str | None,
                initrd: str | None, append: str | None, disk: str | None, backend: str,
                snapshot_at: int | None, snapshot_path: str | None, restore_path: str | None,
                no_disk: bool, compress: bool, mappable: bool, use_mmap: bool) -> None:
    """Run IMAGE (an ELF or raw RISC-V binary) on a local virtual machine.

    The guest's console is this terminal (Ctrl-A x quits); the exit code is the
    guest's power-off code. With --snapshot-at N --snapshot FILE the VM is saved
    after N instructions; --restore FILE continues it, here or on any host.
    """
    if (snapshot_at is None) != (snapshot_path is None):
        raise CliError("--snapshot-at and --snapshot go together")
    if snapshot_at is not None and snapshot_at <= 0:
        raise CliError("--snapshot-at must be positive")
    if max_instructions is not None and max_instructions <= 0:
        raise CliError("--max-instructions must be positive")
    if snapshot_path is not None:
        try:  # before the run: a path that cannot be written fails now, not after N instructions
            durable.regular_target(snapshot_path)
        except OSError as exc:
            raise CliError(f"cannot write {snapshot_path}: {os_reason(exc)}") from None
    if restore_path is not None:
        if image or kernel or bios or initrd or append or load_address is not None or memory is not None:
            raise CliError("--restore continues a saved VM: do not give an image, boot options or --memory "
                           "(the snapshot has its own)")
        machine, meta = _restore(restore_path, disk, backend, use_mmap)
        _run_and_report(machine, max_instructions, stats, snapshot_at, snapshot_path, meta,
                        no_disk, compress, mappable)
        return
    if image and kernel:
        raise CliError("give the image either as IMAGE or with --kernel, not both")
    kernel = kernel or image
    if kernel is None and bios is None:
        raise CliError("nothing to run: give an IMAGE (or --bios/--kernel)")
    try:
        if image and load_address is None:
            require_elf(image)
        config = MachineConfig(memory_size=DEFAULT_MEMORY if memory is None else memory, kernel=kernel, bios=bios, initrd=initrd,
                               append=append, load_address=load_address, disk=disk, backend=backend)
        machine = Machine(config)
        machine.boot()
    except (ConfigError, ImageError, ValueError) as exc:
        raise CliError(str(exc)) from None
    meta = {"vm_id": str(uuid.uuid4()), "name": os.path.basename(kernel or bios or "vm"),
            "generation": 1, "node": socket.gethostname()}
    _run_and_report(machine, max_instructions, stats, snapshot_at, snapshot_path, meta,
                    no_disk, compress, mappable)


def _restore(path: str, disk: str | None, backend: str, use_mmap: bool) -> tuple[Machine, dict]:
    restore_disk = disk
    tmp_disk = None
    if disk is None:
        try:
            header_disk = snapshot.inspect(path, check_image=False).disk  # load() checks the image next
        except VmstateError as exc:
            raise CliError(str(exc)) from None
        if header_disk is not None and header_disk.get("embedded"):
            fd, tmp_disk = tempfile.mkstemp(prefix="caravan-disk-", suffix=".img")
            os.close(fd)
            restore_disk = tmp_disk
            click.echo(f"caravan: the snapshot's disk is restored to {tmp_disk} (give --disk to keep it elsewhere)",
                       err=True)
    try:
        restored = snapshot.load(path, disk=restore_disk, backend=backend, use_mmap=use_mmap)
    except VmstateError as exc:
        if tmp_disk:
            os.unlink(tmp_disk)
        raise CliError(str(exc)) from None
    meta = dict(restored.report.meta)
    generation = meta.get("generation", 0)
    meta["generation"] = (generation if isinstance(generation, int) and generation >= 0 else 0) + 1
    meta["node"] = socket.gethostname()
    meta.pop("created", None)
    meta.pop("instret", None)
    return restored.machine, meta  # type: ignore[return-value]


def _run_and_report(machine: Machine, max_instructions: int | None, stats: bool,
                    snapshot_at: int | None, snapshot_path: str | None, meta: dict,
                    no_disk: bool, compress: bool, mappable: bool) -> None:
    stdin = sys.stdin.buffer if sys.stdin is not None else None
    limit = max_instructions
    if snapshot_at is not None:
        limit = snapshot_at if limit is None else min(limit, snapshot_at)
    try:
        outcome = run_foreground(machine, max_instructions=limit, stdin=stdin)
        if snapshot_at is not None and outcome.reason == "limit" and limit == snapshot_at:
            options = snapshot.SaveOptions(compress=compress, include_disk=not no_disk, mappable=mappable)
            try:
                report = snapshot.save(machine, snapshot_path, meta=meta, options=options)  # type: ignore[arg-type]
            except OSError as exc:
                raise CliError(f"cannot write {snapshot_path}: {os_reason(exc)}", exit_code=1) from None
            click.echo(f"caravan: saved {report.path} after {machine.instructions} instructions "
                       f"(state {report.state_digest[:16]})", err=True)
            if stats:
                _print_stats(outcome)
            sys.exit(0)
        if snapshot_at is not None and outcome.reason == "halted":
            click.echo(f"caravan: the guest powered off after {outcome.instructions} instructions, "
                       f"before --snapshot-at {snapshot_at}: nothing saved", err=True)
    finally:
        machine.close()
    if outcome.reason == "limit":
        click.echo(f"caravan: stopped after {outcome.instructions} instructions (--max-instructions)"
                   f" at pc={machine.hart.pc:#x}", err=True)
    elif outcome.reason == "hung":
        click.echo(f"caravan: the guest hung: {outcome.detail}", err=True)
    elif outcome.reason == "stuck":
        click.echo("caravan: the guest is waiting for an interrupt, and only console input could"
                   " send one, but stdin is closed", err=True)
    if stats:
        _print_stats(outcome)
    if snapshot_at is not None and outcome.reason == "halted":
        sys.exit(1)
    sys.exit(outcome.exit_code)


def os_reason(exc: OSError) -> str:
    """An OSError's reason for a user: errno's text, or the message it was raised with."""
    return exc.strerror or str(exc)


def _print_stats(outcome: RunOutcome) -> None:
    code = "-" if outcome.guest_code is None else str(outcome.guest_code)
    click.echo(f"instructions={outcome.instructions} seconds={outcome.seconds:.3f} "
               f"mips={outcome.mips:.2f} exit={code}", err=True)
