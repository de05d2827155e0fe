"""Files written whole or not at all, and durable once written.

Snapshot files (:mod:`vmstate.snapshot`) and the node's records of its VMs
(:mod:`node.store`) are written the same way: into a temporary file in the
same directory, flushed to disk, renamed over the old file, and the
directory flushed too, so that after a crash the path holds either the old
contents or the new, never a mix, and a completed write survives.

State files go away off the event loop too: freeing a large file's blocks
is slow (ext4: ~180 ms for 1 GiB, measured), and a daemon's loop runs every
VM of its node. :func:`discard` removes one in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from typing import IO, Iterator

# Read once, at import: reading it means setting it, and these files are
# written from threads, where a moment of umask 0 would reach other files.
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_file(path: str, mode: str = "wb", prefix: str = ".tmp-") -> Iterator[IO]:
    """A file object to write ``path``'s new contents into; they replace the
    old ones when the block ends without an exception (and are thrown away
    otherwise). The file gets the permissions a plain ``open`` would give."""
    directory = os.path.dirname(os.path.abspath(path))
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


async def discard(path: str) -> bool:
    """Remove ``path`` (if it is there) in a thread, without blocking the event
    loop. A cancelled caller does not stop the removal: this runs in clean-up
    paths (``finally``, ``except BaseException``) that cancellation reaches."""
    return await asyncio.shield(asyncio.to_thread(remove_file, path))
