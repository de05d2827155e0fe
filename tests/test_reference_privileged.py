"""The privileged architecture and the full board against QEMU, byte for byte:
priv-selftest (CSRs, every exception cause and interrupt source, delegation,
xRET, PMP modes, Sv39 walks with A/D updates, counters), board-edges (corners
of the hart and the devices, probe by probe), smode-kernel (an
S-mode kernel with timers, PLIC, U tasks, page faults and virtio-blk, with
console input and a disk), and OpenSBI booting sbi-hello."""

from __future__ import annotations

from pathlib import Path

import pytest

from difftest.reference import QEMU, run_qemu_command, run_qemu_file
from support import QEMU_CPU, guest, need_tool, run_caravan

pytestmark = pytest.mark.reference

OPENSBI = "/usr/lib/riscv64-linux-gnu/opensbi/generic"


def test_priv_selftest_passes_and_matches_qemu() -> None:
    need_tool("qemu-system-riscv64")
    q_out, q_code = run_qemu_file(guest("priv-selftest"), extra=["-cpu", QEMU_CPU], timeout=120)
    c_out, c_code, _ = run_caravan(guest("priv-selftest"))
    assert b"priv-selftest: ALL PASS" in c_out and c_code == 0
    assert c_out == q_out and q_code == 0


def test_board_edges_match_qemu() -> None:
    """Corners no selftest checks by itself (guests/board-edges): the whole
    output, each probe's value or trap, is QEMU's."""
    need_tool("qemu-system-riscv64")
    q_out, q_code = run_qemu_file(guest("board-edges"), extra=["-cpu", QEMU_CPU], timeout=60)
    c_out, c_code, _ = run_caravan(guest("board-edges"))
    assert b"board-edges: done" in q_out and q_code == 0
    assert c_out.decode() == q_out.decode()
    assert (c_code or 0) == 0


def _qemu_smode(disk: Path, stdin: bytes) -> tuple[bytes, int]:
    return run_qemu_command(
        [QEMU, "-machine", "virt", "-bios", "none", "-m", "128M", "-nographic", "-display", "none",
         "-global", "virtio-mmio.force-legacy=false",
         "-drive", f"file={disk},format=raw,if=none,id=hd0", "-device", "virtio-blk-device,drive=hd0",
         "-kernel", guest("smode-kernel")], stdin=stdin, timeout=120)


def test_smode_kernel_with_disk_and_input_matches_qemu(tmp_path: Path) -> None:
    need_tool("qemu-system-riscv64")
    q_disk, c_disk = tmp_path / "q.img", tmp_path / "c.img"
    for disk in (q_disk, c_disk):
        disk.write_bytes(bytes(1 << 20))
    for boot in (0, 1):
        q_out, q_code = _qemu_smode(q_disk, b"abc\n")
        c_out, c_code, machine = run_caravan(guest("smode-kernel"), stdin=b"abc\n", disk=str(c_disk))
        machine.close()
        assert f"disk: boot count {boot}".encode() in c_out
        assert c_out == q_out
        assert (c_code or 0) == q_code == 0
    assert q_disk.read_bytes() == c_disk.read_bytes()


def test_a_disk_written_by_a_guest_is_read_back_by_a_second_run(tmp_path: Path) -> None:
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(1 << 20))
    for boot in range(3):
        out, code, machine = run_caravan(guest("smode-kernel"), disk=str(disk))
        machine.close()
        assert code == 0
        assert f"disk: boot count {boot}\n".encode() in out
        assert f"read back sector 0: status 0, boot count {boot + 1}, contents verified".encode() in out
    assert disk.read_bytes()[:8] == b"CRVNDISK"


@pytest.mark.parametrize("firmware", ["fw_jump.elf", "fw_jump.bin", "fw_dynamic.elf"])
def test_opensbi_boots_sbi_hello_as_on_qemu(firmware: str) -> None:
    need_tool("qemu-system-riscv64")
    path = f"{OPENSBI}/{firmware}"
    if not Path(path).exists():
        from support import REQUIRE_REFERENCE
        if REQUIRE_REFERENCE:
            pytest.fail(f"{path} is not installed")
        pytest.skip(f"{path} is not installed (Debian package opensbi)")
    q_out, q_code = run_qemu_command(
        [QEMU, "-machine", "virt", "-m", "128M", "-nographic", "-display", "none", "-cpu", QEMU_CPU,
         "-bios", path, "-kernel", guest("sbi-hello")], timeout=120)
    c_out, c_code, _ = run_caravan(guest("sbi-hello"), bios=path, max_instructions=100_000_000)
    assert b"OpenSBI v" in c_out and b"sbi-hello: done" in c_out
    assert c_out == q_out
    assert (c_code or 0) == q_code == 0


@pytest.mark.parametrize("fail_code", [0, 5, 300])
def test_htif_tohost_powers_off_with_the_reported_code(fail_code: int, tmp_path: Path) -> None:
    from node.guestconfig import patch

    data = patch(Path(guest("htif-exit")).read_bytes(), "htif-exit", {"fail_code": fail_code})
    path = tmp_path / "htif.elf"
    path.write_bytes(data)
    out, code, machine = run_caravan(str(path), max_instructions=1_000_000)
    assert machine.halted and out == b""
    assert code == fail_code
