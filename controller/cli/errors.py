"""The CLI's error type: a message for the user and the exit code to use."""

from __future__ import annotations

EXIT_USAGE = 2


class CliError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code
