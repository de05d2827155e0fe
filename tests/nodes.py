"""Real node daemons for tests: `caravan node serve` processes on loopback,
driven through gRPC."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc

from caravan import node_pb2, node_pb2_grpc, types_pb2

CLI = [sys.executable, "-c", "from controller.cli import main; main()"]


class NodeProcess:
    def __init__(self, root: Path, name: str, capacity_memory: str = "2G", vcpus: int = 16,
                 extra: tuple[str, ...] = ()) -> None:
        self.root = root
        self.name = name
        self.data = root / name
        self.ready = root / f"{name}.ready"
        self.log = root / f"{name}.log"
        self.args = [*CLI, "node", "serve", "--listen", "127.0.0.1:0", "--data", str(self.data),
                     "--capacity-memory", capacity_memory, "--capacity-vcpus", str(vcpus),
                     "--name", name, "--insecure", "--ready-file", str(self.ready), *extra]
        self.proc: subprocess.Popen | None = None
        self.address = ""
        self.channel: grpc.Channel | None = None

    def start(self, *extra: str, timeout: float = 30) -> "NodeProcess":
        if self.ready.exists():
            self.ready.unlink()
        self._logf = open(self.log, "ab")
        self.proc = subprocess.Popen([*self.args, *extra], stdout=self._logf, stderr=self._logf)
        deadline = time.monotonic() + timeout
        while not self.ready.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.name} exited: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"node {self.name} did not become ready")
            time.sleep(0.05)
        self.address = json.loads(self.ready.read_text())["address"]
        self.channel = grpc.insecure_channel(self.address, options=[
            ("grpc.max_receive_message_length", 256 << 20), ("grpc.max_send_message_length", 256 << 20)])
        return self

    @property
    def stub(self) -> node_pb2_grpc.NodeServiceStub:
        assert self.channel is not None
        return node_pb2_grpc.NodeServiceStub(self.channel)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        self._logf.close()
        return code

    # -- conveniences -----------------------------------------------------------------

    def create(self, vm_id: str, kernel: bytes, memory: int = 32 << 20, start: bool = True,
               **spec: object) -> types_pb2.Vm:
        return self.stub.CreateVm(node_pb2.CreateVmRequest(
            vm_id=vm_id, start=start,
            spec=types_pb2.VmSpec(name=vm_id, memory_bytes=memory, kernel=kernel, **spec)))

    def vm(self, vm_id: str) -> types_pb2.Vm:
        return self.stub.GetVm(node_pb2.VmRef(vm_id=vm_id))

    def console(self, vm_id: str, offset: int = 0) -> bytes:
        out = bytearray()
        for chunk in self.stub.StreamConsole(node_pb2.StreamConsoleRequest(vm_id=vm_id, offset=offset)):
            out += chunk.data
        return bytes(out)

    def wait_state(self, vm_id: str, states: set[int], timeout: float = 120) -> types_pb2.Vm:
        deadline = time.monotonic() + timeout
        while True:
            vm = self.vm(vm_id)
            if vm.state in states:
                return vm
            if time.monotonic() > deadline:
                raise TimeoutError(f"{vm_id} is {types_pb2.VmState.Name(vm.state)}, not in {states}")
            time.sleep(0.05)


def file_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def env_without_debug() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("CARAVAN_DEBUG", None)
    return env
