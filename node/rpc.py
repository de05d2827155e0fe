"""Request plumbing shared by the node's and the controller's gRPC services.

Each service handles its calls the same way: every log line of a call
carries its request id (from the ``x-request-id`` metadata, or a new one),
the method and, where the request names one, the VM; the service's own
errors become gRPC status codes from one table, and a failure of the host
under it (its disk full, its database unwritable) a status that says so
rather than gRPC's UNKNOWN; every call is counted by
method and status (the servicer's ``count``). :class:`Calls` holds what
differs between services: their error base class, their table and the
request field that names a VM. Uploaded state files arrive through
:func:`receive_file`.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import sqlite3
import uuid
from typing import Any, AsyncIterator, Callable, Mapping

import grpc
import structlog

from vmstate import durable


class Calls:
    def __init__(self, error: type[Exception], status: Mapping[Any, grpc.StatusCode],
                 vm_field: str, log: Any) -> None:
        self.error = error
        self.status = status
        self.vm_field = vm_field  # the request field naming the VM (also the log key)
        self.log = log

    def status_for(self, exc: BaseException) -> grpc.StatusCode:
        """The status code of one of the service's errors (INTERNAL for anything else)."""
        for cls in type(exc).__mro__:
            if cls in self.status:
                return self.status[cls]
        return grpc.StatusCode.INTERNAL

    @staticmethod
    def host_failure(exc: OSError | sqlite3.Error) -> tuple[grpc.StatusCode, str]:
        """The status and message for a failure of the host under the
        service: RESOURCE_EXHAUSTED when its disk is full, INTERNAL otherwise."""
        if isinstance(exc, OSError):
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
            return (grpc.StatusCode.RESOURCE_EXHAUSTED if full else grpc.StatusCode.INTERNAL,
                    f"{'out of disk space' if full else 'the host failed'} ({exc})")
        full = "full" in str(exc)  # sqlite3: "database or disk is full"
        return (grpc.StatusCode.RESOURCE_EXHAUSTED if full else grpc.StatusCode.INTERNAL,
                f"the service's database failed ({exc})")

    def _logged_host_failure(self, exc: OSError | sqlite3.Error) -> tuple[grpc.StatusCode, str]:
        code, message = self.host_failure(exc)
        self.log.error("request failed on the host", code=code.name, error=message)
        return code, message

    def bind(self, context: grpc.aio.ServicerContext, method: str, request: Any) -> None:
        """Put the call's request id, method and VM into every log line until it ends."""
        metadata = dict(context.invocation_metadata() or ())
        fields = {"request_id": metadata.get("x-request-id") or uuid.uuid4().hex[:16], "method": method}
        vm = getattr(request, self.vm_field, "")
        if vm:
            fields[self.vm_field] = vm
        structlog.contextvars.bind_contextvars(**fields)

    def unary(self, fn: Callable) -> Callable:
        """Decorate a unary servicer method."""
        @functools.wraps(fn)
        async def wrapper(servicer: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            self.bind(context, fn.__name__, request)
            code = grpc.StatusCode.OK
            try:
                return await fn(servicer, request, context)
            except self.error as exc:
                code = self.status_for(exc)
                self.log.info("request refused", code=code.name, error=str(exc))
                await context.abort(code, str(exc))
            except (OSError, sqlite3.Error) as exc:
                code, message = self._logged_host_failure(exc)
                await context.abort(code, message)
            finally:
                servicer.count(fn.__name__, code)
                structlog.contextvars.clear_contextvars()
        return wrapper

    def streaming(self, fn: Callable) -> Callable:
        """Decorate a servicer method that streams its responses."""
        @functools.wraps(fn)
        async def wrapper(servicer: Any, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            self.bind(context, fn.__name__, request)
            code = grpc.StatusCode.OK
            try:
                async for item in fn(servicer, request, context):
                    yield item
            except self.error as exc:
                code = self.status_for(exc)
                await context.abort(code, str(exc))
            except (OSError, sqlite3.Error) as exc:
                code, message = self._logged_host_failure(exc)
                await context.abort(code, message)
            finally:
                servicer.count(fn.__name__, code)
                structlog.contextvars.clear_contextvars()
        return wrapper


async def receive_file(chunks: AsyncIterator[Any], path: str) -> Any | None:
    """Write the ``data`` of every message of a client stream (a state file
    being uploaded) to ``path``, off the event loop, and return the first
    message, which names what the file is for. An empty stream returns None
    and a broken or cancelled one raises; either way the file is removed."""
    first = None
    opening = asyncio.ensure_future(asyncio.to_thread(open, path, "wb"))
    try:
        f = await asyncio.shield(opening)
        try:
            async for chunk in chunks:
                if first is None:
                    first = chunk
                await durable.in_thread(f.write, chunk.data)
        finally:
            await durable.in_thread(f.close)
    except BaseException:
        await _discard_upload(opening, path)
        raise
    if first is None:
        await durable.discard(path)
    return first


async def _discard_upload(opening: asyncio.Future, path: str) -> None:
    """Remove a failed upload's file. A client that gives up at once cancels
    the call while the file is still being created in its thread: wait for
    that, close the file, then remove it (removing first would leave the
    file that the open creates a moment later). A second cancel does not
    stop this."""
    async def clean() -> None:
        try:
            f = await opening
        except Exception:
            return  # never created
        await durable.in_thread(f.close)  # harmless if the caller closed it already
        await durable.discard(path)
    await asyncio.shield(clean())
