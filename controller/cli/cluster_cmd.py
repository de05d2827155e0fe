"""``caravan cluster up|down|status`` and ``caravan certs init``."""

from __future__ import annotations

import os
import sys

import click
import grpc

from caravan import controller_pb2
from controller.client import Client, ClientError, ClusterConfig, cluster_dir
from controller.cluster import DEFAULT_NODES, DEFAULTS, UpOptions, down, pid_alive, up
from controller.core import ControllerConfig
from node.machine.machine import BACKENDS
from node.machine.memory import MIN_RAM

from .options import NumberType, SizeType
from .output import emit_json, output_option, table

HEARTBEAT_SECONDS = ControllerConfig.heartbeat_seconds  # the controller's default, which `cluster up` keeps

dir_option = click.option("--dir", "directory", default=None, type=click.Path(file_okay=False),
                          help="Cluster directory (default ./.caravan, or $CARAVAN_DIR).")


@click.group("cluster")
def cluster_group() -> None:
    """A local cluster: a controller and nodes on this machine."""


@cluster_group.command("up")
@click.option("--nodes", "count", type=click.IntRange(min=1), default=None,
              help=f"How many nodes (an existing cluster: as many as it has).  [default: {DEFAULT_NODES}]")
@dir_option
@click.option("--capacity-memory", type=SizeType(min=MIN_RAM), default=None,
              help=f"Memory each node offers to VMs (at least 1M).  [default: {DEFAULTS['capacity_memory']}]")
@click.option("--capacity-vcpus", type=click.IntRange(min=1), default=None,
              help=f"vCPU slots per node.  [default: {DEFAULTS['capacity_vcpus']}]")
@click.option("--backend", type=click.Choice(BACKENDS), default=None,
              help=f"Execution backend of the nodes.  [default: {DEFAULTS['backend']}]")
@click.option("--node-timeout", type=NumberType(min=HEARTBEAT_SECONDS, min_open=True), default=None,
              help=f"Seconds without a heartbeat before a node is down (more than the {HEARTBEAT_SECONDS:g} s "
                   f"heartbeat interval).  [default: {DEFAULTS['node_timeout']:g}]")
@click.option("--pin/--no-pin", default=None,
              help="Give each node its own host CPUs, as separate hosts have (split evenly; one each in turn "
                   "when there are fewer CPUs than nodes): a node's guests then never take CPU time from "
                   "another node.  [default: no]")
@click.option("--insecure", is_flag=True, default=None, help="No TLS (debugging only).")
@output_option
def up_command(count: int | None, directory: str | None, capacity_memory: int | None, capacity_vcpus: int | None,
               backend: str | None, node_timeout: float | None, pin: bool | None, insecure: bool | None,
               output: str) -> None:
    """Start a controller and NODES nodes in the background and wait until all are ready.

    On an existing cluster, start the members that are not running (and add
    nodes up to NODES). Each member keeps the options it was first started
    with; an option given here applies to every member this command starts."""
    directory = cluster_dir(directory)
    # Every option was checked as the command line was parsed: nothing starts with one a member would refuse.
    config = up(directory, UpOptions(nodes=count, insecure=insecure,
                                     capacity_memory=None if capacity_memory is None else str(capacity_memory),
                                     capacity_vcpus=capacity_vcpus, backend=backend, node_timeout=node_timeout,
                                     pin=pin))
    _show(config, output)


@cluster_group.command("status")
@dir_option
@output_option
def status_command(directory: str | None, output: str) -> None:
    """Show the cluster's processes and nodes.

    Exits 0 when the controller answers and every node is ready, 6 when the
    controller does not answer, 1 when a node is not ready (down, stopped)."""
    controller_state, node_states = _show(ClusterConfig.load(cluster_dir(directory)), output)
    if controller_state != "ready":
        sys.exit(6)
    if not all(state.split(",")[0] == "ready" for state in node_states):
        sys.exit(1)


@cluster_group.command("down")
@dir_option
def down_command(directory: str | None) -> None:
    """Stop the cluster's processes (nodes save their running VMs first)."""
    directory = cluster_dir(directory)
    stopped = down(directory)
    click.echo(f"stopped {', '.join(stopped.members)}" if stopped.members else "nothing was running")
    for error in stopped.errors:
        click.echo(f"error: {error}", err=True)
    if stopped.errors:
        sys.exit(1)


def _show(config: ClusterConfig, output: str) -> tuple[str, list[str]]:
    """Print the members' states; the controller's and the nodes'."""
    states: dict[str, str] = {}
    try:
        with Client(config) as client:
            for n in client.controller.ListNodes(controller_pb2.ListNodesRequest(), timeout=5).nodes:
                state = controller_pb2.NodeState.Name(n.state).removeprefix("NODE_STATE_").lower()
                states[n.name] = state + (",cordoned" if n.cordoned else "")
        controller_state = "ready"
    except (grpc.RpcError, ClientError):
        controller_state = "unreachable" if pid_alive(config.controller_pid) else "stopped"
    rows = [["controller", config.controller, config.controller_pid if pid_alive(config.controller_pid) else "-",
             controller_state]]
    for n in config.nodes:
        pid = int(n.get("pid", 0))
        rows.append([n["name"], n["address"], pid if pid_alive(pid) else "-",
                     states.get(n["name"], "stopped" if not pid_alive(pid) else "unknown")])
    if output == "json":  # a stopped member's pid is null
        emit_json({"directory": config.directory, "tls": config.tls is not None,
                   "members": [dict(zip(["name", "address", "pid", "state"], [*r[:2], None if r[2] == "-" else r[2],
                                                                              r[3]])) for r in rows]})
    else:
        table(["NAME", "ADDRESS", "PID", "STATE"], rows,
              title=f"cluster {config.directory} ({'mutual TLS' if config.tls else 'insecure'})")
    return controller_state, [r[3] for r in rows[1:]]


@click.group("certs")
def certs_group() -> None:
    """Certificates for mutual TLS."""


@certs_group.command("init")
@click.option("--dir", "directory", default="certs", show_default=True, type=click.Path(file_okay=False),
              help="Where to write the CA and certificates.")
@click.argument("names", nargs=-1)
@click.option("--host", "hosts", multiple=True, help="Extra DNS name or IP the certificates are valid for.")
def certs_init_command(directory: str, names: tuple[str, ...], hosts: tuple[str, ...]) -> None:
    """Create a cluster CA (if missing) and a certificate for each NAME
    (e.g. controller node-1 node-2 admin)."""
    from node import tls

    tls.init_ca(directory)
    for name in names or ("controller", "admin"):
        files = tls.issue(directory, name, list(hosts))
        click.echo(f"{files.cert} {files.key}")
    click.echo(os.path.join(directory, "ca.crt"))
