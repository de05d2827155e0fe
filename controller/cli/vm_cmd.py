"""``caravan vm ...``: VMs through the controller."""

from __future__ import annotations

import os
import sys
import threading

import click
import grpc

from caravan import controller_pb2, types_pb2
from controller.client import Client, ClusterConfig, cluster_dir, fail
from node.guestconfig import GuestConfigError, patch
from node.machine.board import DRAM_BASE
from node.machine.memory import MIN_RAM, PAGE_SIZE
from vmstate import durable

from .errors import CliError
from .options import SIZE, U64_MAX, IntType, SizeType
from .output import ago, emit_json, message, output_option, size, table

dir_option = click.option("--dir", "directory", default=None, type=click.Path(file_okay=False),
                          help="Cluster directory (default ./.caravan, or $CARAVAN_DIR).")

CTRL_RBRACKET = 0x1D
MAX_SHARES = 1 << 16  # what a node accepts (node/hypervisor.py create_vm); 0 is not "the default" here


def client_for(directory: str | None) -> Client:
    return Client(ClusterConfig.load(cluster_dir(directory)))


def state_name(state: int) -> str:
    return types_pb2.VmState.Name(state).removeprefix("VM_STATE_").lower()


def read_file(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise CliError(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise CliError(f"{path}: is a directory, not a {what}") from None
    except OSError as exc:
        raise CliError(f"{path}: cannot read ({exc.strerror})") from None


def vm_rows(records: list[controller_pb2.VmRecord]) -> list[list[object]]:
    rows = []
    for r in records:
        vm = r.vm
        state = state_name(vm.state)
        if vm.state == types_pb2.VM_STATE_STOPPED and vm.exit_code >= 0:
            state += f" (exit {vm.exit_code})"
        rows.append([vm.name, vm.vm_id, state, vm.node, size(vm.memory_bytes), f"{vm.stats.instructions:,}",
                     f"{vm.stats.mips:.2f}", vm.image_name or "-"])
    return rows


VM_COLUMNS = ["NAME", "ID", "STATE", "NODE", "MEMORY", "INSTRUCTIONS", "MIPS", "IMAGE"]


@click.group("vm")
def vm_group() -> None:
    """Virtual machines in the cluster."""


@vm_group.command("create")
@click.option("--image", required=True, type=click.Path(dir_okay=False), help="Kernel image (ELF, or raw with --load-address).")
@click.option("--name", default="", help="VM name (default: image name and a suffix).")
@click.option("--memory", type=SizeType(min=MIN_RAM, multiple=PAGE_SIZE), default="64M", show_default=True,
              help="Guest RAM (at least 1M, a multiple of 4K).")
@click.option("--node", default="", help="Place on this node (placement still checks it fits).")
@click.option("--shares", type=click.IntRange(1, MAX_SHARES), default=1024, show_default=True,
              help=f"CPU shares (1 to {MAX_SHARES}).")
@click.option("--group", default="", help="Anti-affinity group: at most one VM of a group per node.")
@click.option("--policy", type=click.Choice(["spread", "pack"]), default="spread", show_default=True)
@click.option("--bios", type=click.Path(dir_okay=False), default=None, help="Firmware (like QEMU's -bios).")
@click.option("--append", default="", help="Kernel command line.")
@click.option("--load-address", type=IntType(min=DRAM_BASE, max=U64_MAX), default=None,
              help=f"Load address of a raw image (in guest RAM, which starts at {DRAM_BASE:#x}).")
@click.option("--disk-size", type=SIZE, default=None, help="Give the VM a blank virtio-blk disk of this size.")
@click.option("--backend", default="", help="Require nodes with this execution backend.")
@click.option("--set", "settings", multiple=True, metavar="FIELD=VALUE",
              help="Patch a field of the image's config block (e.g. iterations=0 for dirtier).")
@click.option("--no-start", is_flag=True, help="Define the VM without starting it.")
@dir_option
@output_option
def create_command(image: str, name: str, memory: int, node: str, shares: int, group: str, policy: str,
                   bios: str | None, append: str, load_address: int | None, disk_size: int | None, backend: str,
                   settings: tuple[str, ...], no_start: bool, directory: str | None, output: str) -> None:
    """Create a VM; the controller places it on a node."""
    kernel = read_file(image, "image")
    if settings:
        values = {}
        for item in settings:
            key, sep, value = item.partition("=")
            try:
                values[key] = int(value, 0)
            except ValueError:
                raise CliError(f"--set {item!r}: expected FIELD=INTEGER") from None
            if not sep:
                raise CliError(f"--set {item!r}: expected FIELD=INTEGER")
        try:
            kernel = patch(kernel, os.path.basename(image).split(".")[0], values)
        except GuestConfigError as exc:
            raise CliError(f"{image}: {exc}") from None
    if load_address is None and kernel[:4] != b"\x7fELF" and bios is None:
        raise CliError(f"{image}: not an ELF file (give --load-address to load a raw binary)")
    spec = types_pb2.VmSpec(name=name, memory_bytes=memory, kernel=kernel,
                            bios=read_file(bios, "firmware") if bios else b"", append=append,
                            load_address=load_address or 0, disk_bytes=disk_size or 0, shares=shares,
                            backend=backend, image_name=os.path.basename(image))
    with client_for(directory) as client:
        try:
            record = client.controller.CreateVm(controller_pb2.ControllerCreateVmRequest(
                spec=spec, node=node, group=group, policy=policy, start=not no_start))
        except grpc.RpcError as exc:
            raise fail(exc, "cannot create the VM") from None
    if output == "json":
        emit_json(message(record))
    else:
        click.echo(f"{record.vm.name} ({record.vm.vm_id}) {state_name(record.vm.state)} on {record.vm.node}")


@vm_group.command("list")
@click.option("--node", default="", help="Only VMs on this node.")
@dir_option
@output_option
def list_command(node: str, directory: str | None, output: str) -> None:
    """List VMs."""
    with client_for(directory) as client:
        try:
            records = list(client.controller.ListVms(controller_pb2.ControllerListVmsRequest(node=node)).vms)
        except grpc.RpcError as exc:
            raise fail(exc) from None
    if output == "json":
        emit_json([message(r) for r in records])
    else:
        table(VM_COLUMNS, vm_rows(records))


@vm_group.command("show")
@click.argument("vm")
@dir_option
@output_option
def show_command(vm: str, directory: str | None, output: str) -> None:
    """Show a VM, including where placement put it and why."""
    with client_for(directory) as client:
        try:
            r = client.controller.GetVm(controller_pb2.VmSelector(vm=vm))
        except grpc.RpcError as exc:
            raise fail(exc) from None
    if output == "json":
        emit_json(message(r))
        return
    v = r.vm
    lines = [("name", v.name), ("id", v.vm_id), ("state", state_name(v.state)), ("node", v.node),
             ("memory", size(v.memory_bytes)), ("shares", v.shares), ("image", v.image_name or "-"),
             ("group", r.group or "-"), ("desired", r.desired),
             ("instructions", f"{v.stats.instructions:,}"), ("mips", f"{v.stats.mips:.2f}"),
             ("cpu seconds", f"{v.stats.cpu_seconds:.2f}"),
             ("dirty pages/s", f"{v.stats.dirty_pages_per_second:.0f}"),
             ("console bytes", v.stats.console_bytes)]
    if v.exit_code >= 0:
        lines.append(("exit code", v.exit_code))
    if v.crash_reason:
        lines.append(("crash", f"{v.crash_reason} (after {v.crash_instructions:,} instructions)"))
    if v.state_digest:
        lines.append(("final state", v.state_digest))
    if r.last_error:
        lines.append(("last error", r.last_error))
    lines.append(("updated", ago(r.updated_at)))
    for key, value in lines:
        click.echo(f"{key + ':':<15}{value}")
    p = r.placement
    click.echo(f"{'placement:':<15}{p.node} by {p.policy} in {p.seconds * 1e3:.2f} ms ({ago(p.decided_at)})")
    for reason in p.reasons:
        click.echo(f"  {reason}")


def _simple(name: str, method: str, verb: str) -> None:
    @vm_group.command(name)
    @click.argument("vm")
    @dir_option
    @output_option
    def command(vm: str, directory: str | None, output: str) -> None:
        with client_for(directory) as client:
            try:
                reply = getattr(client.controller, method)(controller_pb2.VmSelector(vm=vm))
            except grpc.RpcError as exc:
                raise fail(exc, f"cannot {verb} {vm}") from None
        if output == "json":
            emit_json(message(reply))
        elif isinstance(reply, controller_pb2.VmRecord):
            click.echo(f"{reply.vm.name} {state_name(reply.vm.state)}")
        else:
            click.echo(f"{vm} deleted")
    command.__doc__ = f"{verb.capitalize()} a VM."


_simple("start", "StartVm", "start")
_simple("stop", "StopVm", "stop")
_simple("rm", "DeleteVm", "delete")


@vm_group.command("console")
@click.argument("vm")
@click.option("--follow", "-f", is_flag=True, help="Keep streaming new output (Ctrl-C, or Ctrl-] with a terminal).")
@click.option("--offset", type=click.IntRange(0, U64_MAX), default=0,
              help="Start at this byte of the console history.")
@dir_option
def console_command(vm: str, follow: bool, offset: int, directory: str | None) -> None:
    """Print a VM's console output (its whole history, or from --offset).
    With --follow on a terminal, keystrokes go to the VM."""
    out = sys.stdout.buffer
    with client_for(directory) as client:
        call = client.controller.StreamConsole(controller_pb2.ControllerConsoleRequest(vm=vm, offset=offset,
                                                                                     follow=follow))
        restore = None
        if follow and sys.stdin.isatty():
            restore = _forward_keys(client, vm, call)
        try:
            for chunk in call:
                if chunk.truncated and chunk.offset > offset:
                    click.echo(f"[caravan: output before byte {chunk.offset} is no longer kept]", err=True)
                offset = chunk.offset + len(chunk.data)
                out.write(chunk.data)
                out.flush()
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:  # type: ignore[attr-defined]
                raise fail(exc, f"console of {vm}") from None
        except KeyboardInterrupt:
            pass
        finally:
            if restore is not None:
                restore()


def _forward_keys(client: Client, vm: str, call: grpc.Future):  # type: ignore[no-untyped-def]
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)

    def pump() -> None:
        while True:
            data = os.read(fd, 1024)
            if not data or CTRL_RBRACKET in data:
                call.cancel()
                return
            try:
                client.controller.WriteConsole(controller_pb2.ControllerWriteConsoleRequest(vm=vm, data=data))
            except grpc.RpcError:
                call.cancel()
                return

    threading.Thread(target=pump, daemon=True).start()
    return lambda: termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@vm_group.command("snapshot")
@click.argument("vm")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--compress", is_flag=True, help="zstd-compress memory and disk.")
@dir_option
def snapshot_command(vm: str, file: str, compress: bool, directory: str | None) -> None:
    """Save a running VM's whole state to FILE (on this machine)."""
    total = 0
    with client_for(directory) as client:
        try:
            # Written beside FILE and renamed over it once complete: an interrupted or failed
            # snapshot leaves FILE as it was and nothing else behind.
            with durable.atomic_file(file, "wb", prefix=f".{os.path.basename(file)}.") as f:
                for chunk in client.controller.SnapshotVm(controller_pb2.ControllerSnapshotRequest(vm=vm, compress=compress)):
                    f.write(chunk.data)
                    total += len(chunk.data)
        except grpc.RpcError as exc:
            raise fail(exc, f"cannot snapshot {vm}") from None
        except OSError as exc:
            raise CliError(f"cannot write {file}: {exc.strerror or exc}",
                           exit_code=2 if isinstance(exc, durable.NotARegularFile) else 1) from None
    click.echo(f"{file}: {total} bytes")


@vm_group.command("restore")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--node", default="", help="Place on this node.")
@click.option("--name", default="", help="Name of the new VM.")
@click.option("--group", default="", help="Anti-affinity group.")
@click.option("--no-start", is_flag=True, help="Restore paused instead of running.")
@dir_option
@output_option
def restore_command(file: str, node: str, name: str, group: str, no_start: bool, directory: str | None,
                    output: str) -> None:
    """Create a VM from a snapshot FILE; it continues where it was saved."""
    data = read_file(file, "snapshot")

    def chunks():  # type: ignore[no-untyped-def]
        step = 1 << 20
        yield controller_pb2.ControllerRestoreChunk(name=name, node=node, group=group, start=not no_start,
                                                    data=data[:step])
        for pos in range(step, len(data), step):
            yield controller_pb2.ControllerRestoreChunk(data=data[pos:pos + step])

    with client_for(directory) as client:
        try:
            record = client.controller.RestoreVm(chunks())
        except grpc.RpcError as exc:
            raise fail(exc, f"cannot restore {file}") from None
    if output == "json":
        emit_json(message(record))
    else:
        click.echo(f"{record.vm.name} ({record.vm.vm_id}) {state_name(record.vm.state)} on {record.vm.node}")
