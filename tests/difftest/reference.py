"""Run a generated image on the reference, qemu-system-riscv64 (7.2)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile

QEMU = "qemu-system-riscv64"


def qemu_available() -> bool:
    return shutil.which(QEMU) is not None


def qemu_command(image_path: str, memory: str = "128M", extra: list[str] | None = None) -> list[str]:
    # -bios none: QEMU copies the raw image to 0x8000_0000 and its reset
    # vector jumps there in M-mode (a0 = hartid, a1 = FDT address).
    return [QEMU, "-machine", "virt", "-bios", "none", "-m", memory,
            "-nographic", "-display", "none", *(extra or []), "-kernel", image_path]


def run_qemu_command(cmd: list[str], stdin: bytes | None = None, timeout: float = 30) -> tuple[bytes, int]:
    """Run a QEMU command line; return (stdout bytes, exit code).

    stderr is discarded; stdout is returned unmodified (with -nographic QEMU
    writes nothing but the guest's UART output there). The SiFive test device
    poweroff (0x5555) gives exit code 0. On timeout the process group is killed
    and (partial stdout, -SIGKILL) is returned.
    """
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(input=stdin, timeout=timeout)
        return out, proc.returncode
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, _ = proc.communicate()
        return out, -signal.SIGKILL


def run_qemu_file(path: str, memory: str = "128M", extra: list[str] | None = None,
                  stdin: bytes | None = None, timeout: float = 30) -> tuple[bytes, int]:
    """Run an image file (ELF or raw) on QEMU's virt board with -bios none."""
    return run_qemu_command(qemu_command(path, memory, extra), stdin=stdin, timeout=timeout)


def run_qemu(image: bytes, timeout: float = 30) -> tuple[bytes, int]:
    """Run a raw image (loaded at 0x8000_0000) on QEMU; see run_qemu_command."""
    fd, path = tempfile.mkstemp(prefix="rvgen-", suffix=".bin")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(image)
        return run_qemu_file(path, timeout=timeout)
    finally:
        os.unlink(path)
