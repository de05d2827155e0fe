"""The node's errors. Each maps to one gRPC status code (``node/service.py``
does the mapping, in one place); messages are for the user, so they say what
to do."""

from __future__ import annotations


class NodeError(Exception):
    """Base class."""


class NotFound(NodeError):
    """No such VM or reservation."""


class AlreadyExists(NodeError):
    """A VM or reservation with that id exists already (or its directory does)."""


class InvalidArgument(NodeError):
    """The request itself is malformed (bad size, bad image, ...)."""


class FailedPrecondition(NodeError):
    """The action is not legal in the VM's current phase."""


class ResourceExhausted(NodeError):
    """Not enough free capacity on this node."""


class Unavailable(NodeError):
    """The node is shutting down."""
