"""Random differential test: random user-ISA programs on Caravan and QEMU.

A fixed set of seeds runs by default; ``pytest --seeds N tests/test_difftest.py``
runs seeds 0..N-1 instead.
"""

from __future__ import annotations

import pytest

from difftest.reference import run_qemu
from difftest.rvgen import generate
from support import need_tool, run_caravan

DEFAULT_SEEDS = list(range(1000, 1040))
LENGTH = 200


def pytest_generate_tests(metafunc):  # type: ignore[no-untyped-def]
    if "seed" in metafunc.fixturenames:
        count = metafunc.config.getoption("--seeds")
        seeds = list(range(count)) if count else DEFAULT_SEEDS
        metafunc.parametrize("seed", seeds)


pytestmark = pytest.mark.reference


def test_random_program_matches_qemu(seed: int, tmp_path) -> None:  # type: ignore[no-untyped-def]
    need_tool("qemu-system-riscv64")
    image = generate(seed, LENGTH)
    path = tmp_path / f"seed{seed}.bin"
    path.write_bytes(image)
    q_out, q_code = run_qemu(image)
    c_out, c_code, _ = run_caravan(str(path), load_address=0x8000_0000, max_instructions=50_000_000)
    assert q_code == 0 and q_out.endswith(b"end\n"), "the reference did not complete"
    assert c_out.decode() == q_out.decode()
    assert (c_code or 0) == q_code
