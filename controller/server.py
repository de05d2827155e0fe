"""``caravan controller serve``: ControllerService and the controller on one
loop (process shell: :mod:`node.daemon`)."""

from __future__ import annotations

import grpc

from caravan import controller_pb2_grpc
from node.daemon import Daemon, ServeOptions, run

from .core import Controller, ControllerConfig
from .metrics import ControllerMetrics
from .service import ControllerServicer

SERVICE_NAME = "caravan.v1.ControllerService"


def controller_daemon(config: ControllerConfig):  # type: ignore[no-untyped-def]
    def make(address: str) -> Daemon:
        controller = Controller(config)
        metrics = ControllerMetrics(controller)
        controller.metrics = metrics

        def add(server: grpc.aio.Server, bound: str) -> None:
            controller_pb2_grpc.add_ControllerServiceServicer_to_server(ControllerServicer(controller, metrics), server)

        return Daemon(config.name, [SERVICE_NAME], add, controller.start, controller.stop, metrics.registry)
    return make


def serve_controller(config: ControllerConfig, options: ServeOptions) -> None:
    run(options, controller_daemon(config))
