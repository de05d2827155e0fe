"""The controller's Prometheus metrics."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ControllerMetrics:
    def __init__(self, controller: Any = None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("caravan_controller_grpc_requests", "gRPC requests by method and status code",
                                ["method", "code"], registry=self.registry)
        self.placement_seconds = Histogram(
            "caravan_controller_placement_seconds", "Time to choose a node", registry=self.registry,
            buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1))
        self.nodes = Gauge("caravan_controller_nodes", "Nodes by state", ["state"], registry=self.registry)
        self.vms = Gauge("caravan_controller_vms", "VMs by state", ["state"], registry=self.registry)
        self.controller = controller
        if controller is not None:
            for state in ("ready", "down"):
                self.nodes.labels(state=state).set_function(
                    lambda s=state: sum(1 for n in controller.nodes.values() if n.state == s))
            for state in ("pending", "running", "paused", "stopped", "crashed", "lost", "migrating"):
                self.vms.labels(state=state).set_function(
                    lambda s=state: sum(1 for v in controller.vms.values() if v.state == s))
