"""``caravan run``: boot one VM locally, console on this terminal."""

from __future__ import annotations

import sys

import click

from node.localrun import run_foreground
from node.machine.loader import ImageError, require_elf
from node.machine.machine import BACKENDS, DEFAULT_MEMORY, ConfigError, Machine, MachineConfig

from .errors import CliError
from .options import INT, SIZE


@click.command("run")
@click.argument("image", required=False, type=click.Path(dir_okay=False))
@click.option("--memory", "-m", type=SIZE, default=DEFAULT_MEMORY, show_default="128M",
              help="Guest RAM size (e.g. 64M, 1G).")
@click.option("--max-instructions", type=INT, default=None,
              help="Stop after this many instructions and report (exit code 124).")
@click.option("--stats", is_flag=True, help="Print instructions retired, seconds and MIPS to stderr.")
@click.option("--load-address", type=INT, default=None,
              help="Load a raw (non-ELF) image at this physical address.")
@click.option("--bios", type=click.Path(dir_okay=False), default=None,
              help="Firmware loaded at 0x80000000 (like QEMU's -bios).")
@click.option("--kernel", type=click.Path(dir_okay=False), default=None,
              help="Payload image (like QEMU's -kernel); IMAGE is the same thing.")
@click.option("--initrd", type=click.Path(dir_okay=False), default=None, help="Initial ramdisk.")
@click.option("--append", default=None, help="Kernel command line (/chosen/bootargs).")
@click.option("--disk", type=click.Path(dir_okay=False), default=None,
              help="Raw disk image for the virtio-blk device (read-write).")
@click.option("--backend", type=click.Choice(BACKENDS), default="interp", show_default=True,
              help="Execution backend.")
def run_command(image: str | None, memory: int, max_instructions: int | None, stats: bool,
                load_address: int | None, bios: str | None, kernel: str | None,
                initrd: str | None, append: str | None, disk: str | None, backend: str) -> None:
    """Run IMAGE (an ELF or raw RISC-V binary) on a local virtual machine.

    The guest's console is this terminal (Ctrl-A x quits); the exit code is the
    guest's power-off code.
    """
    if image and kernel:
        raise CliError("give the image either as IMAGE or with --kernel, not both")
    kernel = kernel or image
    if kernel is None and bios is None:
        raise CliError("nothing to run: give an IMAGE (or --bios/--kernel)")
    if max_instructions is not None and max_instructions <= 0:
        raise CliError("--max-instructions must be positive")
    try:
        if image and load_address is None:
            require_elf(image)
        config = MachineConfig(memory_size=memory, kernel=kernel, bios=bios, initrd=initrd,
                               append=append, load_address=load_address, disk=disk, backend=backend)
        machine = Machine(config)
        machine.boot()
    except (ConfigError, ImageError, ValueError) as exc:
        raise CliError(str(exc)) from None
    stdin = sys.stdin.buffer if sys.stdin is not None else None
    try:
        outcome = run_foreground(machine, max_instructions=max_instructions, stdin=stdin)
    finally:
        machine.close()
    if outcome.reason == "limit":
        click.echo(f"caravan: stopped after {outcome.instructions} instructions (--max-instructions)"
                   f" at pc={machine.hart.pc:#x}", err=True)
    elif outcome.reason == "stuck":
        click.echo("caravan: the guest is waiting for an interrupt, and only console input could"
                   " send one, but stdin is closed", err=True)
    if stats:
        code = "-" if outcome.guest_code is None else str(outcome.guest_code)
        click.echo(f"instructions={outcome.instructions} seconds={outcome.seconds:.3f} "
                   f"mips={outcome.mips:.2f} exit={code}", err=True)
    sys.exit(outcome.exit_code)
