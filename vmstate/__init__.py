"""vmstate: the encapsulation format — a VM is a file (DESIGN.md §4).

One codec for snapshot files and migration streams:

* :mod:`.codec` — frames (length, crc32, msgpack ``[kind, payload]``), the
  incremental hostile-input-safe decoder
* :mod:`.pages` — guest memory as page records (zero pages elided, optional
  zstd) and the canonical memory digest
* :mod:`.snapshot` — snapshot files: atomic save, validating streaming load,
  copy-on-write mmap restore, inspect/verify, the machine state digest
* :mod:`.bootmedia` — boot media files: the config section alone (machine
  record and boot segments), what a VM that came by migration or restore
  cold-boots from
* :mod:`.errors` — the refusals

``FORMAT.md`` beside this file is the format and its compatibility policy.
"""

from .errors import (ChecksumError, FormatError, LimitError, TruncatedError, VersionError,
                     VmstateError)

__all__ = ["VmstateError", "FormatError", "VersionError", "ChecksumError", "TruncatedError",
           "LimitError"]
