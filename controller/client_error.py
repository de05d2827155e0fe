"""The error the client side (the CLI, ``controller.client``,
``controller.cluster``) shows its user: a message and the exit code to use.

It lives apart from :mod:`controller.client` so that the CLI's entry point
can catch it without importing gRPC: a command that never reaches a cluster
(``caravan run``) does not pay ~0.17 s for it.
"""

from __future__ import annotations


class ClientError(Exception):
    """A failure to show the CLI user, with the exit code to use."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
