"""``caravan run`` as a user runs it: a real process, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from support import ROOT, guest

CARAVAN = [sys.executable, "-c", "from controller.cli import main; main()"]


def caravan(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([*CARAVAN, *args], input=stdin, capture_output=True, timeout=120)


def test_hello_exits_zero() -> None:
    proc = caravan("run", guest("hello"))
    assert proc.returncode == 0
    assert proc.stdout == b"Hello from a Caravan guest!\n"
    assert proc.stderr == b""


def test_stats_are_reported() -> None:
    proc = caravan("run", guest("hello"), "--stats")
    assert proc.returncode == 0
    line = proc.stderr.decode().strip()
    assert line.startswith("instructions=259 ") and " mips=" in line and line.endswith("exit=0")


def test_max_instructions_stops_and_reports() -> None:
    proc = caravan("run", guest("cpubench"), "--max-instructions", "50000")
    assert proc.returncode == 124
    assert b"stopped after 50000 instructions" in proc.stderr


def test_guest_exit_code_is_passed_through(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A raw image: li t0, 0x100000; li t1, (7 << 16) | 0x3333; sw t1, 0(t0); j .
    import struct
    words = [0x001002B7, 0x00073337, 0x3333031B, 0x0062A023, 0x0000006F]
    image = tmp_path / "fail7.bin"
    image.write_bytes(struct.pack("<5I", *words))
    proc = caravan("run", str(image), "--load-address", "0x80000000")
    assert proc.returncode == 7, proc.stderr


@pytest.mark.parametrize("args,message", [
    (["/nonexistent.elf"], b"no such file"),
    ([str(ROOT / "pyproject.toml")], b"not an ELF file"),
    ([sys.executable], b"not RISC-V"),
    ([str(ROOT / "guests")], b"is a directory"),
    ([guest("hello"), "--memory", "12Q"], b"invalid size"),
    ([guest("hello"), "--memory", "1M"], b"overlaps"),
    ([guest("hello"), "--memory", "64G"], b"is outside"),
    ([], b"nothing to run"),
    ([guest("hello"), "--initrd", "/dev/zero"], b"larger than the 1 GiB image limit"),  # read until then, no further
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: bytes) -> None:
    proc = caravan("run", *args)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert proc.stderr.count(b"\n") == 1, proc.stderr
    assert b"Traceback" not in proc.stderr


def test_truncated_elf_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = open(guest("hello"), "rb").read()
    bad = tmp_path / "trunc.elf"
    bad.write_bytes(data[:100])
    proc = caravan("run", str(bad))
    assert proc.returncode == 2
    assert proc.stderr.count(b"\n") == 1 and b"Traceback" not in proc.stderr


def test_piped_stdin_reaches_the_uart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Echo one byte: poll LSR.DR, read RBR, write THR, then power off.
    import struct
    words = [
        0x100002B7,  # lui  t0, 0x10000
        0x0052C303,  # lbu  t1, 5(t0)
        0x00137313,  # andi t1, t1, 1
        0xFE030CE3,  # beqz t1, -8
        0x0002C383,  # lbu  t2, 0(t0)
        0x00728023,  # sb   t2, 0(t0)
        0x00100537,  # lui  a0, 0x100
        0x000055B7,  # lui  a1, 0x5
        0x5555859B,  # addiw a1, a1, 0x555
        0x00B52023,  # sw   a1, 0(a0)
        0x0000006F,  # j .
    ]
    image = tmp_path / "echo.bin"
    image.write_bytes(struct.pack(f"<{len(words)}I", *words))
    proc = caravan("run", str(image), "--load-address", "0x80000000", stdin=b"Z")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"Z"


def test_the_snapshot_path_is_checked_before_the_run_and_never_replaced_unless_a_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import stat

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    # cpubench would run for many seconds first if the path were only tried at the end.
    for path, message in ((fifo, b"not a regular file"), (tmp_path / "none" / "x.vmstate", b"no directory")):
        proc = caravan("run", guest("cpubench"), "--snapshot-at", "1000000000000", "--snapshot", str(path))
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert proc.stderr.count(b"\n") == 1
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still the FIFO it was
    # A symbolic link is written through (as cp does), not replaced by a file.
    target = tmp_path / "real.vmstate"
    link = tmp_path / "link.vmstate"
    link.symlink_to(target)
    proc = caravan("run", guest("hello"), "--snapshot-at", "10", "--snapshot", str(link))
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and target.stat().st_size > 0
    assert caravan("vmstate", "verify", str(target)).returncode == 0


def test_restore_refuses_options_it_cannot_honour(tmp_path) -> None:  # type: ignore[no-untyped-def]
    state = tmp_path / "s.vmstate"
    assert caravan("run", guest("hello"), "--snapshot-at", "10", "--snapshot", str(state)).returncode == 0
    for args, message in ((["-m", "64M"], b"--memory"), (["--max-instructions", "0"], b"must be positive")):
        proc = caravan("run", "--restore", str(state), *args)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert caravan("run", "--restore", str(state)).stdout == b"Hello from a Caravan guest!\n"


def test_on_a_terminal_new_lines_are_new_lines_as_in_qemu() -> None:
    """Input is raw (Ctrl-A x, keys to the guest) but output keeps the
    terminal's processing: the guest's "\\n" reaches the terminal as "\\r\\n",
    as with qemu-system-riscv64 -nographic."""
    import os
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:
        os.execv(CARAVAN[0], [*CARAVAN, "run", guest("hello")])
    out = b""
    try:
        while select.select([fd], [], [], 60)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert out == b"Hello from a Caravan guest!\r\n", out
