"""``caravan node serve``: the node daemon — NodeService and the hypervisor
with all its VMs on one loop (process shell: :mod:`node.daemon`)."""

from __future__ import annotations

import dataclasses

import grpc

from caravan import node_pb2_grpc

from .daemon import Daemon, ServeOptions, run
from .migration import wire
from .hypervisor import Hypervisor, NodeConfig
from .metrics import NodeMetrics
from .registrar import Registrar
from .service import NodeServicer

SERVICE_NAME = "caravan.v1.NodeService"


class _Handlers:
    """Stands in for the server to catch the generated code's handler table."""

    def add_generic_rpc_handlers(self, handlers: object) -> None:
        pass

    def add_registered_method_handlers(self, service: str, handlers: dict) -> None:
        self.service, self.handlers = service, handlers


def add_node_service(servicer: NodeServicer, server: grpc.aio.Server) -> None:
    """The generated registration, with MigrateIn taking its requests as bytes
    (the migration stream's hot path, :mod:`node.migration.wire`)."""
    table = _Handlers()
    node_pb2_grpc.add_NodeServiceServicer_to_server(servicer, table)
    handlers = dict(table.handlers)
    handlers["MigrateIn"] = wire.stream_handler(servicer.MigrateIn)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(table.service, handlers),))
    server.add_registered_method_handlers(table.service, handlers)


@dataclasses.dataclass(frozen=True)
class NodeOptions:
    controller: str | None = None     # register and heartbeat with this controller


def node_daemon(config: NodeConfig, options: ServeOptions, node_options: NodeOptions):  # type: ignore[no-untyped-def]
    def make(address: str) -> Daemon:
        cfg = dataclasses.replace(config, address=config.address or address)
        metrics = NodeMetrics()
        hypervisor = Hypervisor(cfg, metrics, options.tls)
        registrar = Registrar(hypervisor, node_options.controller, options.tls) if node_options.controller else None

        def add(server: grpc.aio.Server, bound: str) -> None:
            add_node_service(NodeServicer(hypervisor, metrics), server)

        async def start() -> None:
            await hypervisor.start()
            if registrar is not None:
                registrar.start()

        async def stop() -> None:
            if registrar is not None:
                await registrar.stop()
            await hypervisor.shutdown()

        def exit_report() -> dict:
            lost = hypervisor.lost_at_shutdown
            return {"lost": lost, "errors": [f"the state of VM {v['name']} ({v['vm_id']}) could not be saved at "
                                             f"shutdown, it is stopped: {v['error']}" for v in lost]}

        return Daemon(cfg.name, [SERVICE_NAME], add, start, stop, metrics.registry, exit_report=exit_report)
    return make


def serve_node(config: NodeConfig, options: ServeOptions, node_options: NodeOptions | None = None) -> None:
    run(options, node_daemon(config, options, node_options or NodeOptions()))
