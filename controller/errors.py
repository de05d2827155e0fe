"""The controller's errors, one per gRPC status code (mapped in one place,
``controller/service.py``). Messages tell the user what to do."""

from __future__ import annotations


class ControllerError(Exception):
    """Base class."""


class NotFound(ControllerError):
    pass


class AlreadyExists(ControllerError):
    pass


class InvalidArgument(ControllerError):
    pass


class FailedPrecondition(ControllerError):
    pass


class ResourceExhausted(ControllerError):
    """No node can take the VM (placement found none)."""


class Unavailable(ControllerError):
    """A node the request needs is down or unreachable."""
