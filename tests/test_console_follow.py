"""`vm console --follow` while the VM moves: the controller's follower goes
from node to node with the VM (controller.core.Controller.stream_console),
and a node ends its followers as soon as a VM leaves it
(node.console.ConsoleBuffer.close). The end-to-end case, on a real cluster,
is tests/test_migration.py's console follower test."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import grpc
import pytest

from caravan import node_pb2
from controller import core
from controller.core import Controller, ControllerConfig
from controller.store import VmRow
from node import hypervisor
from node.console import ConsoleBuffer
from node.hypervisor import Hypervisor, NodeConfig, Spec
from support import guest


class _NotFound(grpc.RpcError):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.NOT_FOUND

    def details(self) -> str:
        return "no such VM here"


class _Node:
    """A node's StreamConsole: each call runs the next of ``answers`` (a
    list of chunks to stream, or an exception to raise), then stays silent."""

    def __init__(self, *answers: Any, then: Callable[[], None] = lambda: None) -> None:
        self.answers = list(answers)
        self.calls = 0
        self.then = then  # run when the last answer's stream ends

    def StreamConsole(self, request: node_pb2.StreamConsoleRequest) -> AsyncIterator[node_pb2.ConsoleChunk]:
        self.calls += 1
        answer = self.answers.pop(0) if self.answers else _NotFound()

        async def stream() -> AsyncIterator[node_pb2.ConsoleChunk]:
            if isinstance(answer, Exception):
                raise answer
            for offset, data in answer:
                assert request.offset <= offset, (request.offset, offset)  # never asked for bytes twice
                yield node_pb2.ConsoleChunk(offset=offset, data=data)
            if not self.answers:
                self.then()
        return stream()


def _controller(tmp_path: Path, nodes: dict[str, _Node]) -> tuple[Controller, VmRow]:
    c = Controller(ControllerConfig(data_dir=str(tmp_path)))
    row = VmRow(id="v1", name="talker", node="node-1", state="running", desired="running", memory=16 << 20,
                shares=1024)
    c.vms[row.id] = row
    c.node_stub = lambda name: nodes[name]  # type: ignore[method-assign,assignment,return-value]
    return c, row


async def _read(c: Controller, until: int, timeout: float = 10) -> bytes:
    out = b""

    async def follow() -> None:
        nonlocal out
        async for chunk in c.stream_console("talker", 0, follow=True):
            out += chunk.data
            if len(out) >= until:
                return
    await asyncio.wait_for(follow(), timeout)
    return out


async def test_a_follower_that_reaches_the_new_node_before_it_resumes_the_vm_waits_for_it(tmp_path: Path) -> None:
    """The hand-over record names the destination before the destination
    resumes the VM. A follower whose old node ends its stream in between
    (two quick migrations: node-1 ends it once the VM is already on its way
    to node-3) is told NOT_FOUND by node-3: it asks again, rather than end
    the follow (which `vm console --follow` showed as a silent exit)."""
    nodes: dict[str, _Node] = {}
    c, row = _controller(tmp_path, nodes)
    nodes["node-1"] = _Node([(0, b"abc")], then=lambda: setattr(row, "node", "node-3"))
    nodes["node-3"] = _Node(_NotFound(), _NotFound(), [(3, b"def")])
    assert await _read(c, 6) == b"abcdef"
    assert nodes["node-3"].calls == 3


async def test_a_follower_ends_when_the_vm_is_deleted_or_no_node_has_it(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core, "FOLLOW_MOVE_SECONDS", 0.3)
    nodes: dict[str, _Node] = {}
    c, row = _controller(tmp_path, nodes)
    nodes["node-1"] = _Node([(0, b"abc")])  # ends its stream, and never has the VM again
    assert await _read(c, 100) == b"abc"
    assert nodes["node-1"].calls > 1  # asked again meanwhile
    nodes["node-1"] = _Node([(0, b"abc")], then=lambda: c.vms.pop(row.id))
    assert await _read(c, 100) == b"abc"
    assert nodes["node-1"].calls == 1


def test_closing_a_console_wakes_its_followers() -> None:
    async def main() -> None:
        console = ConsoleBuffer()
        console.append(b"hi")
        waiter = asyncio.ensure_future(console.wait_beyond(2))
        await asyncio.sleep(0.01)
        assert not waiter.done()
        console.close()
        await asyncio.wait_for(waiter, 5)
    asyncio.run(main())


async def test_a_node_ends_a_follower_as_soon_as_the_vm_leaves(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Not at its next periodic look (made an hour here): at once."""
    monkeypatch.setattr(hypervisor, "FOLLOW_CHECK_SECONDS", 3600)
    hv = Hypervisor(NodeConfig(name="n", data_dir=str(tmp_path / "node"), capacity_memory=1 << 30,
                               capacity_vcpus=4))
    await hv.start()
    try:
        await hv.create_vm("v", Spec(name="v", memory=16 << 20, kernel=Path(guest("hello")).read_bytes()),
                           start=True)
        chunks = []

        async def follow() -> None:
            async for chunk in hv.stream_console("v", 0, True):
                chunks.append(chunk)
        follower = asyncio.ensure_future(follow())
        for _ in range(500):  # hello prints, then powers off: the follower waits for more
            if hv.vms["v"].phase.value == "stopped" and chunks:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert not follower.done()
        await hv.destroy_vm("v")
        await asyncio.wait_for(follower, 10)
        assert b"".join(c[1] for c in chunks).startswith(b"Hello")
    finally:
        await hv.shutdown()
