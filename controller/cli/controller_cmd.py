"""``caravan controller serve``: run the controller daemon."""

from __future__ import annotations

import click

from controller.core import ControllerConfig
from controller.server import serve_controller
from node.daemon import ServeOptions

from .errors import CliError
from .options import exit_with_option
from .node_cmd import resolve_tls, tls_options


@click.group("controller")
def controller_group() -> None:
    """The controller daemon."""


@controller_group.command("serve")
@click.option("--listen", required=True, help="HOST:PORT to serve gRPC on (port 0: any free port).")
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False),
              help="Data directory (the SQLite store and boot images).")
@click.option("--name", default="controller", show_default=True,
              help="Certificate name (with --certs) and log name.")
@click.option("--node-timeout", type=float, default=5.0, show_default=True,
              help="Seconds without a heartbeat before a node is down.")
@click.option("--heartbeat", type=float, default=1.0, show_default=True,
              help="Heartbeat interval asked of nodes, in seconds.")
@click.option("--metrics-port", type=int, default=None, help="Serve Prometheus metrics on this port.")
@click.option("--ready-file", type=click.Path(dir_okay=False), default=None,
              help="Write the bound address here (JSON) once serving.")
@tls_options
@exit_with_option
def serve_command(listen: str, data_dir: str, name: str, node_timeout: float, heartbeat: float,
                  metrics_port: int | None, ready_file: str | None, certs_dir: str | None,
                  tls_ca: str | None, tls_cert: str | None, tls_key: str | None, insecure: bool,
                  exit_with: int | None) -> None:
    """Run the controller: placement, the durable store, nodes' heartbeats."""
    files = resolve_tls(name, certs_dir, tls_ca, tls_cert, tls_key, insecure)
    try:
        config = ControllerConfig(data_dir=data_dir, name=name, node_timeout=node_timeout,
                                  heartbeat_seconds=heartbeat, tls=files)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    try:
        serve_controller(config, ServeOptions(listen=listen, tls=files, metrics_port=metrics_port,
                                              ready_file=ready_file,
                                              exit_with=exit_with))
    except OSError as exc:
        raise CliError(str(exc), exit_code=1) from None
