"""Files written whole or not at all, and durable once written.

Snapshot files (:mod:`vmstate.snapshot`) and the node's records of its VMs
(:mod:`node.store`) are written the same way: into a temporary file in the
same directory, flushed to disk, renamed over the old file, and the
directory flushed too, so that after a crash the path holds either the old
contents or the new, never a mix, and a completed write survives.

State files go away off the event loop too: freeing a large file's blocks
is slow (ext4: ~180 ms for 1 GiB, measured), and a daemon's loop runs every
VM of its node. :func:`discard` removes one in a thread.

Work that a daemon runs in a thread on a VM's files or state goes through
:func:`in_thread`: a thread cannot be interrupted, so a caller that is
cancelled waits for it to finish before the cancel goes on. Otherwise what
the caller does next — let go of a lock, remove what it was creating, let
the guest run again — would overlap the work still running: a VM's files
created after their clean-up, a snapshot read while the guest runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import tempfile
from typing import IO, Any, Callable, Iterator, TypeVar

T = TypeVar("T")

# Read once, at import: reading it means setting it, and these files are
# written from threads, where a moment of umask 0 would reach other files.
_UMASK = os.umask(0)
os.umask(_UMASK)


class NotARegularFile(OSError):
    """The path names a device, a FIFO, a socket or a directory: replacing it
    with a regular file would destroy it."""


def regular_target(path: str) -> str:
    """Where new contents of ``path`` go: the path with symbolic links
    resolved (a link is written through, as ``cp`` does, not replaced).
    Refuses (:class:`NotARegularFile`) a path that exists and is not a
    regular file, and (``OSError``) one whose directory is missing or not
    writable — checked before any long work, so bad input fails at once."""
    real = os.path.realpath(path)
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        raise NotARegularFile("not a regular file (a device, a pipe or a directory): "
                              "give the path of a file to create or replace")
    directory = os.path.dirname(real)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"there is no directory {directory}")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot create files in {directory}")
    return real


@contextlib.contextmanager
def atomic_file(path: str, mode: str = "wb", prefix: str = ".tmp-") -> Iterator[IO]:
    """A file object to write ``path``'s new contents into; they replace the
    old ones when the block ends without an exception (and are thrown away
    otherwise). The file gets the permissions a plain ``open`` would give.
    A symbolic link is written through; a path that is not a regular file is
    refused (:func:`regular_target`)."""
    path = regular_target(path)
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=directory)
    os.fchmod(fd, 0o666 & ~_UMASK)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)  # the rename itself
    finally:
        os.close(dfd)


def remove_file(path: str) -> bool:
    """Remove ``path`` if it is there; whether it was."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a thread, off the event loop. If the caller is
    cancelled meanwhile, it still waits for ``fn`` to finish (further cancels
    included), then the cancel is raised (module docstring)."""
    work = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        while not work.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({work})
        if not work.cancelled():
            work.exception()  # retrieved: the cancel is what the caller gets
        raise


async def discard(path: str) -> bool:
    """Remove ``path`` (if it is there) in a thread, without blocking the event
    loop. A cancelled caller does not stop the removal (:func:`in_thread`):
    this runs in clean-up paths (``finally``, ``except BaseException``) that
    cancellation reaches."""
    return await in_thread(remove_file, path)
