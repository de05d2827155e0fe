"""``caravan node ...``: run a node daemon (``serve``)."""

from __future__ import annotations

import socket

import click

from node.tls import TlsFiles

from .errors import CliError
from .lazy import LazyGroup
from .options import SIZE, exit_with_option
from .output import emit_json, message, output_option


def tls_options(fn):  # type: ignore[no-untyped-def]
    """--tls-ca/--tls-cert/--tls-key, --certs DIR, or --insecure."""
    for decorator in reversed([
        click.option("--certs", "certs_dir", type=click.Path(file_okay=False), default=None,
                     help="Directory with ca.crt and NAME.crt/NAME.key (as `caravan certs init` writes)."),
        click.option("--tls-ca", type=click.Path(dir_okay=False), default=None, help="CA certificate (PEM)."),
        click.option("--tls-cert", type=click.Path(dir_okay=False), default=None, help="This daemon's certificate."),
        click.option("--tls-key", type=click.Path(dir_okay=False), default=None, help="This daemon's private key."),
        click.option("--insecure", is_flag=True,
                     help="Plaintext, no client certificates: for debugging only."),
    ]):
        fn = decorator(fn)
    return fn


def resolve_tls(name: str, certs_dir: str | None, ca: str | None, cert: str | None, key: str | None,
                insecure: bool) -> TlsFiles | None:
    explicit = [ca, cert, key]
    if insecure:
        if certs_dir or any(explicit):
            raise CliError("--insecure cannot be combined with certificates")
        return None
    if certs_dir:
        if any(explicit):
            raise CliError("give either --certs or --tls-ca/--tls-cert/--tls-key")
        files = TlsFiles.in_dir(certs_dir, name)
    elif all(explicit):
        files = TlsFiles(ca, cert, key)  # type: ignore[arg-type]
    else:
        raise CliError("mutual TLS is required: give --certs DIR or --tls-ca/--tls-cert/--tls-key "
                       "(or --insecure to debug without it)")
    try:
        files.read()
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return files


@click.group("node", cls=LazyGroup, lazy={"drain": "controller.cli.migrate_cmd:drain_command"})
def node_group() -> None:
    """Node daemons."""


@node_group.command("serve")
@click.option("--listen", required=True, help="HOST:PORT to serve gRPC on (port 0: any free port).")
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False),
              help="Data directory (VM definitions, disks, saved state).")
@click.option("--capacity-memory", type=SIZE, default="2G", show_default=True, help="Memory for VMs.")
@click.option("--capacity-vcpus", type=int, default=8, show_default=True, help="vCPU slots for VMs.")
@click.option("--backend", default="interp", show_default=True, help="Execution backend.")
@click.option("--name", default=None, help="Node name (default: the host name).")
@click.option("--resume-on-start", is_flag=True, help="Resume VMs whose state was saved at shutdown.")
@click.option("--save-on-shutdown", is_flag=True, help="On SIGTERM, save running VMs' state first.")
@click.option("--metrics-port", type=int, default=None, help="Serve Prometheus metrics on this port.")
@click.option("--slice-ms", type=float, default=1.0, show_default=True,
              help="Scheduler slice length (host milliseconds of guest execution).")
@click.option("--ready-file", type=click.Path(dir_okay=False), default=None,
              help="Write the bound address here (JSON) once serving.")
@click.option("--exit-file", type=click.Path(dir_okay=False), default=None,
              help="Write the exit report here (JSON) once stopped: the VMs whose state could not be saved "
                   "(the node then exits 1).")
@click.option("--controller", default=None, help="Register and heartbeat with the controller at HOST:PORT.")
@click.option("--cpus", default=None, metavar="LIST",
              help="Run the node (its guests, event loop and gRPC threads) on these host CPUs only, "
                   "e.g. 0-1 or 0,2 (as taskset -c; default: all).")
@tls_options
@exit_with_option
def serve_command(listen: str, data_dir: str, capacity_memory: int, capacity_vcpus: int, backend: str,
                  name: str | None, resume_on_start: bool, save_on_shutdown: bool, metrics_port: int | None,
                  slice_ms: float, ready_file: str | None, controller: str | None, certs_dir: str | None,
                  tls_ca: str | None, tls_cert: str | None, tls_key: str | None, insecure: bool,
                  exit_with: int | None, exit_file: str | None, cpus: str | None) -> None:
    """Run a node: a hypervisor for many VMs behind NodeService."""
    if cpus is not None:  # first: every thread the node starts inherits it
        from node.cpus import parse_cpu_list, pin_process

        try:
            pin_process(parse_cpu_list(cpus))
        except ValueError as exc:
            raise CliError(f"--cpus {cpus}: {exc}") from None
    from node.daemon import ServeOptions
    from node.hypervisor import NodeConfig
    from node.server import NodeOptions, serve_node

    name = name or socket.gethostname()
    files = resolve_tls(name, certs_dir, tls_ca, tls_cert, tls_key, insecure)
    if ":" not in listen:
        raise CliError(f"--listen {listen!r}: expected HOST:PORT")
    try:
        config = NodeConfig(name=name, data_dir=data_dir, capacity_memory=capacity_memory,
                            capacity_vcpus=capacity_vcpus, backend=backend,
                            slice_seconds=slice_ms / 1000, resume_on_start=resume_on_start,
                            save_on_shutdown=save_on_shutdown)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    try:
        serve_node(config, ServeOptions(listen=listen, tls=files, metrics_port=metrics_port, ready_file=ready_file,
                                        exit_with=exit_with, exit_file=exit_file),
                   NodeOptions(controller=controller))
    except OSError as exc:
        raise CliError(str(exc), exit_code=1) from None


def _node_rows(nodes):  # type: ignore[no-untyped-def]
    from caravan import controller_pb2

    from .output import ago, size

    rows = []
    for n in nodes:
        state = controller_pb2.NodeState.Name(n.state).removeprefix("NODE_STATE_").lower()
        if n.cordoned:
            state += ",cordoned"
        rows.append([n.name, n.address, state, n.backend, f"{size(n.free.memory_bytes)}/{size(n.capacity.memory_bytes)}",
                     f"{n.free.vcpus}/{n.capacity.vcpus}", n.vms, f"{n.load:.0%}", ago(n.last_heartbeat)])
    return rows


@node_group.command("list")
@click.option("--dir", "directory", default=None, type=click.Path(file_okay=False),
              help="Cluster directory (default ./.caravan, or $CARAVAN_DIR).")
@click.option("-o", "--output", "output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_command(directory: str | None, output: str) -> None:
    """List the cluster's nodes."""
    import grpc

    from caravan import controller_pb2
    from controller.client import Client, ClusterConfig, cluster_dir, fail

    from .output import emit_json, message, table

    with Client(ClusterConfig.load(cluster_dir(directory))) as client:
        try:
            nodes = list(client.controller.ListNodes(controller_pb2.ListNodesRequest()).nodes)
        except grpc.RpcError as exc:
            raise fail(exc) from None
    if output == "json":
        emit_json([message(n) for n in nodes])
    else:
        table(["NAME", "ADDRESS", "STATE", "BACKEND", "FREE MEMORY", "FREE VCPU", "VMS", "LOAD", "HEARTBEAT"],
              _node_rows(nodes))


def _cordon(name: str, cordon: bool, directory: str | None, output: str) -> None:
    import grpc

    from caravan import controller_pb2
    from controller.client import Client, ClusterConfig, cluster_dir, fail

    with Client(ClusterConfig.load(cluster_dir(directory))) as client:
        method = client.controller.CordonNode if cordon else client.controller.UncordonNode
        try:
            node = method(controller_pb2.NodeSelector(name=name))
        except grpc.RpcError as exc:
            raise fail(exc) from None
    if output == "json":
        emit_json(message(node))
    else:
        click.echo(f"{node.name} {'cordoned' if node.cordoned else 'uncordoned'}")


@node_group.command("cordon")
@click.argument("name")
@click.option("--dir", "directory", default=None, type=click.Path(file_okay=False))
@output_option
def cordon_command(name: str, directory: str | None, output: str) -> None:
    """Stop placing new VMs on a node."""
    _cordon(name, True, directory, output)


@node_group.command("uncordon")
@click.argument("name")
@click.option("--dir", "directory", default=None, type=click.Path(file_okay=False))
@output_option
def uncordon_command(name: str, directory: str | None, output: str) -> None:
    """Place VMs on a node again."""
    _cordon(name, False, directory, output)
