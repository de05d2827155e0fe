"""The benchmarks under bench/ are commands users run: each must at least
parse its arguments and print its usage (a broken help string once made
``bench/migration.py --help`` crash)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.py") if not p.name.startswith("_")))
def test_bench_prints_its_usage(script: str) -> None:
    proc = subprocess.run([sys.executable, str(BENCH / script), "--help"], capture_output=True, text=True,
                          timeout=60, cwd=BENCH.parent)
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout
