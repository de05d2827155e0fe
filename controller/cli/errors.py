"""The CLI's error type: a message for the user and the exit code to use."""

from __future__ import annotations

from controller.client_error import ClientError

EXIT_USAGE = 2


class CliError(ClientError):
    """Bad input or a failed command; exits with ``exit_code`` (2: bad input)."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message, exit_code)
