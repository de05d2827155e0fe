"""vmstate's exceptions: every refusal says what is wrong with the input."""

from __future__ import annotations


class VmstateError(Exception):
    """A VM state file or stream cannot be used."""


class FormatError(VmstateError):
    """Not a vmstate file, or its structure is wrong."""


class VersionError(VmstateError):
    """Written by a format or component version this reader does not know."""


class ChecksumError(VmstateError):
    """Contents do not match their checksum (corruption)."""


class TruncatedError(VmstateError):
    """The input ends before the state is complete."""


class LimitError(VmstateError):
    """The state asks for more than this reader allows (memory, disk, record size)."""
