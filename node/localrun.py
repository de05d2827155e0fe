"""Run one VM in the foreground (``caravan run``): console on the terminal.

The guest's UART output goes to stdout as it is produced; stdin feeds the UART
when it is a terminal (raw mode, Ctrl-A x quits, as in QEMU's -nographic) or a
pipe/file. The machine runs in slices so input is noticed promptly; a guest
that sleeps in WFI with nothing armed that could wake it but input blocks on
stdin instead of spinning.
"""

from __future__ import annotations

import os
import select
import sys
import time
from dataclasses import dataclass
from typing import BinaryIO

from .machine.machine import Machine, StopReason
from .machine.system import GuestHung

SLICE = 200_000
CTRL_A = 0x01

EXIT_LIMIT = 124     # --max-instructions reached (as timeout(1) does)
EXIT_STUCK = 1       # the guest waits for input that can never come


@dataclass
class RunOutcome:
    reason: str          # "halted", "limit", "stuck", "quit", "hung"
    exit_code: int       # the process exit code to use
    guest_code: int | None
    instructions: int
    seconds: float
    detail: str = ""

    @property
    def mips(self) -> float:
        return self.instructions / self.seconds / 1e6 if self.seconds > 0 else 0.0


class _Console:
    """Guest console <-> this process's stdin/stdout."""

    def __init__(self, stdin: BinaryIO | None, stdout: BinaryIO) -> None:
        self.stdout = stdout
        self.stdin_fd: int | None = None
        self.tty = False
        self.eof = stdin is None
        self._saved_tty = None
        self._escape = False
        self.quit = False
        if stdin is not None:
            try:
                fd = stdin.fileno()
            except (OSError, ValueError):
                fd = None
            if fd is not None:
                self.stdin_fd = fd
                self.tty = os.isatty(fd)

    def __enter__(self) -> "_Console":
        if self.tty:
            import termios
            import tty
            self._saved_tty = termios.tcgetattr(self.stdin_fd)
            tty.setraw(self.stdin_fd)
            # Raw input, but output as the terminal had it (OPOST: the guest's
            # "\n" shows as a new line, not a staircase), as QEMU's stdio does.
            attrs = termios.tcgetattr(self.stdin_fd)
            attrs[1] = self._saved_tty[1]
            termios.tcsetattr(self.stdin_fd, termios.TCSANOW, attrs)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved_tty is not None:
            import termios
            termios.tcsetattr(self.stdin_fd, termios.TCSADRAIN, self._saved_tty)

    def write(self, data: bytes) -> None:
        self.stdout.write(data)

    def flush(self) -> None:
        self.stdout.flush()

    def read_input(self, wait: float) -> bytes:
        """Bytes available on stdin within ``wait`` seconds (b"" if none)."""
        if self.eof or self.stdin_fd is None:
            return b""
        ready, _, _ = select.select([self.stdin_fd], [], [], wait)
        if not ready:
            return b""
        data = os.read(self.stdin_fd, 4096)
        if not data:
            self.eof = True
            return b""
        if self.tty:
            data = self._filter_escape(data)
        return data

    def _filter_escape(self, data: bytes) -> bytes:
        out = bytearray()
        for byte in data:
            if self._escape:
                self._escape = False
                if byte in (ord("x"), ord("X")):
                    self.quit = True
                    break
                out.append(byte)  # Ctrl-A Ctrl-A (or anything else) passes through
            elif byte == CTRL_A:
                self._escape = True
            else:
                out.append(byte)
        return bytes(out)


def run_foreground(machine: Machine, max_instructions: int | None = None,
                   stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> RunOutcome:
    stdout = stdout or sys.stdout.buffer
    console = _Console(stdin, stdout)
    machine.console = console.write
    start_icount = machine.instructions
    started = time.perf_counter()
    reason = "halted"
    hung = ""
    with console:
        while True:
            data = console.read_input(0)
            if data:
                machine.uart.feed(data)
            if console.quit:
                reason = "quit"
                break
            budget = SLICE
            if max_instructions is not None:
                left = max_instructions - (machine.instructions - start_icount)
                if left <= 0:
                    reason = "limit"
                    break
                budget = min(budget, left)
            try:
                stop = machine.run(budget)
            except GuestHung as exc:
                console.flush()
                hung = str(exc)
                reason = "hung"
                break
            console.flush()
            if stop is StopReason.HALTED:
                reason = "halted"
                break
            if stop is StopReason.IDLE:
                if console.eof:
                    reason = "stuck"
                    break
                data = console.read_input(None if console.tty or console.stdin_fd is not None else 0)
                if data:
                    machine.uart.feed(data)
                if console.quit:
                    reason = "quit"
                    break
    console.flush()
    seconds = time.perf_counter() - started
    executed = machine.instructions - start_icount
    if reason == "halted":
        code = machine.exit_code or 0
        return RunOutcome(reason, code & 0xFF, machine.exit_code, executed, seconds)
    exit_code = {"limit": EXIT_LIMIT, "stuck": EXIT_STUCK, "quit": 0, "hung": EXIT_STUCK}[reason]
    return RunOutcome(reason, exit_code, None, executed, seconds, hung)
