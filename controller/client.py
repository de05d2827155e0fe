"""How the CLI reaches a cluster: the cluster directory (``./.caravan``,
``$CARAVAN_DIR`` or ``--dir``) holds ``cluster.json`` with the controller's
address and the client certificate; calls go over mutual TLS unless the
cluster was started ``--insecure``.

gRPC failures become :class:`ClientError` with an exit code that says what kind
of failure it was (:data:`EXIT_CODES`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import grpc

from caravan import controller_pb2_grpc, node_pb2_grpc

from .client_error import ClientError

__all__ = ["Client", "ClientError", "ClusterConfig", "cluster_dir", "fail"]

DEFAULT_DIR = ".caravan"
CONFIG_NAME = "cluster.json"
CONFIG_VERSION = 1

# Exit codes: 0 ok, 1 failure, 2 bad input, 3 not found, 4 conflict with the
# current state, 5 no capacity, 6 unreachable.
EXIT_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT: 2,
    grpc.StatusCode.NOT_FOUND: 3,
    grpc.StatusCode.ALREADY_EXISTS: 4,
    grpc.StatusCode.FAILED_PRECONDITION: 4,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 5,
    grpc.StatusCode.UNAVAILABLE: 6,
    grpc.StatusCode.DEADLINE_EXCEEDED: 6,
}
MAX_MESSAGE = 256 << 20


def cluster_dir(explicit: str | None = None) -> str:
    return os.path.abspath(explicit or os.environ.get("CARAVAN_DIR") or DEFAULT_DIR)


@dataclass
class ClusterConfig:
    directory: str
    controller: str = ""
    controller_pid: int = 0
    nodes: list[dict[str, Any]] = field(default_factory=list)
    tls: dict[str, str] | None = None      # ca, cert, key (None: insecure)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return os.path.join(self.directory, CONFIG_NAME)

    @classmethod
    def load(cls, directory: str) -> "ClusterConfig":
        path = os.path.join(directory, CONFIG_NAME)
        try:
            with open(path) as f:
                data = json.load(f)
        except FileNotFoundError:
            raise ClientError(f"no cluster at {directory} (start one with `caravan cluster up`, "
                           f"or point CARAVAN_DIR at its directory)", exit_code=6) from None
        except (OSError, ValueError) as exc:
            raise ClientError(f"{path}: unreadable cluster config ({exc})", exit_code=1) from None
        if data.get("version") != CONFIG_VERSION:
            raise ClientError(f"{path}: cluster config version {data.get('version')!r} is not supported")
        return cls(directory, data.get("controller", ""), int(data.get("controller_pid", 0)),
                   list(data.get("nodes", [])), data.get("tls"), data.get("extra", {}))

    def save(self) -> None:
        os.makedirs(self.directory, exist_ok=True)
        data = {"version": CONFIG_VERSION, "controller": self.controller, "controller_pid": self.controller_pid,
                "nodes": self.nodes, "tls": self.tls, "extra": self.extra}
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, self.path)

    def credentials(self) -> grpc.ChannelCredentials | None:
        if self.tls is None:
            return None
        from node.tls import TlsFiles, channel_credentials

        files = TlsFiles(self.tls["ca"], self.tls["cert"], self.tls["key"])
        try:
            return channel_credentials(files)
        except ValueError as exc:
            raise ClientError(str(exc), exit_code=1) from None

    def channel(self, address: str | None = None) -> grpc.Channel:
        target = address or self.controller
        if not target:
            raise ClientError(f"{self.path} names no controller", exit_code=6)
        options = [("grpc.max_receive_message_length", MAX_MESSAGE),
                   ("grpc.max_send_message_length", MAX_MESSAGE)]
        creds = self.credentials()
        if creds is None:
            return grpc.insecure_channel(target, options=options)
        return grpc.secure_channel(target, creds, options=options)


class Client:
    """A connection to the controller (and, for diagnostics, to nodes)."""

    def __init__(self, config: ClusterConfig, timeout: float = 30.0) -> None:
        self.config = config
        self.timeout = timeout
        self.channel = config.channel()
        self.controller = controller_pb2_grpc.ControllerServiceStub(self.channel)

    def node(self, address: str) -> node_pb2_grpc.NodeServiceStub:
        return node_pb2_grpc.NodeServiceStub(self.config.channel(address))

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


CONNECTION_FAILURES = ("failed to connect", "connection refused", "connections to all backends failing",
                       "dns resolution failed", "socket closed", "connection reset", "broken pipe",
                       "failed to pick subchannel", "ssl handshake failed", "handshake failed")
# gRPC's words for a call the server ended by shutting down (its grace period over).
SERVER_STOPPED = "cancelling all calls"


def fail(exc: grpc.RpcError, what: str = "") -> ClientError:
    code = exc.code()  # type: ignore[attr-defined]
    details = exc.details() or code.name  # type: ignore[attr-defined]
    if code == grpc.StatusCode.UNAVAILABLE and details.lower().startswith(CONNECTION_FAILURES):
        # gRPC's own words for a channel that never reached the controller; the
        # controller's UNAVAILABLE answers (a node it cannot reach) speak for themselves.
        details = f"cannot reach the controller ({details})"
    elif code == grpc.StatusCode.UNAVAILABLE and details.lower().startswith(SERVER_STOPPED):
        details = f"the controller stopped during the call ({details})"
    return ClientError(f"{what}: {details}" if what else details, exit_code=EXIT_CODES.get(code, 1))
