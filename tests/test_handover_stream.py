"""The commit of a migration's hand-over goes to the destination on the
stream the controller opened when the job started (NodeService.HandOver),
and falls back to a FinishMigration call whenever that stream does not
answer (controller.jobs.Jobs._commit_on). The node's side, and the stream
used by every migration, are in tests/test_node.py and tests/test_migration.py."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import grpc
import pytest

from caravan import node_pb2
from controller import jobs as jobs_module
from controller.jobs import Jobs

COMMIT = node_pb2.FinishMigrationRequest(job_id="j1", commit=True, vm_id="v1")
ON_STREAM = node_pb2.FinishMigrationResponse(downtime_ms=12.5)
BY_CALL = node_pb2.FinishMigrationResponse(downtime_ms=99.0)


class _Status(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return f"status {self._code.name}"


class _Stream:
    """A HandOver call: ``read`` gives ``answer`` (a response, grpc.aio.EOF,
    an exception to raise, or None to wait for ever)."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.written: list[node_pb2.FinishMigrationRequest] = []

    async def write(self, request: node_pb2.FinishMigrationRequest) -> None:
        self.written.append(request)

    async def read(self) -> Any:
        if self.answer is None:
            await asyncio.Event().wait()
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class _Destination:
    def __init__(self) -> None:
        self.calls: list[node_pb2.FinishMigrationRequest] = []

    async def FinishMigration(self, request: node_pb2.FinishMigrationRequest,
                              timeout: float) -> node_pb2.FinishMigrationResponse:
        self.calls.append(request)
        return BY_CALL


def _jobs() -> tuple[Jobs, _Destination]:
    node = _Destination()
    return Jobs(SimpleNamespace(node_stub=lambda name: node)), node  # type: ignore[arg-type]


JOB = SimpleNamespace(id="j1", destination="node-2")


async def test_the_commit_goes_on_the_open_stream_and_makes_no_call() -> None:
    jobs, node = _jobs()
    stream = _Stream(ON_STREAM)
    assert await jobs._commit_on(JOB, COMMIT, stream) is ON_STREAM  # type: ignore[arg-type]
    assert stream.written == [COMMIT] and node.calls == []


@pytest.mark.parametrize("answer", [grpc.aio.EOF, _Status(grpc.StatusCode.UNAVAILABLE),
                                    _Status(grpc.StatusCode.CANCELLED), _Status(grpc.StatusCode.UNIMPLEMENTED),
                                    _Status(grpc.StatusCode.FAILED_PRECONDITION)])
async def test_a_stream_that_does_not_answer_leaves_the_commit_to_a_call(answer: Any) -> None:
    """Ended, broken, a node without the method, or a refusal the retries
    handle: the call asks again (a commit is idempotent on the node)."""
    jobs, node = _jobs()
    assert await jobs._commit_on(JOB, COMMIT, _Stream(answer)) is BY_CALL  # type: ignore[arg-type]
    assert node.calls == [COMMIT]


async def test_a_silent_stream_is_given_up_after_a_calls_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs_module, "NODE_CALL_SECONDS", 0.05)
    jobs, node = _jobs()
    assert await jobs._commit_on(JOB, COMMIT, _Stream(None)) is BY_CALL  # type: ignore[arg-type]
    assert node.calls == [COMMIT]


async def test_a_destination_that_lost_the_copy_says_so_on_the_stream() -> None:
    """NOT_FOUND is the node's answer, not a broken stream: the caller hands
    the VM back to its source (Jobs._roll_forward) without asking again."""
    jobs, node = _jobs()
    with pytest.raises(grpc.RpcError) as lost:
        await jobs._commit_on(JOB, COMMIT, _Stream(_Status(grpc.StatusCode.NOT_FOUND)))  # type: ignore[arg-type]
    assert lost.value.code() == grpc.StatusCode.NOT_FOUND and node.calls == []


async def test_without_a_stream_the_commit_is_a_call() -> None:
    jobs, node = _jobs()
    assert await jobs._commit_on(JOB, COMMIT, None) is BY_CALL  # type: ignore[arg-type]
    assert node.calls == [COMMIT]
