"""Shared pytest configuration: the --seeds option of the random differential test."""

from __future__ import annotations


def pytest_addoption(parser):  # type: ignore[no-untyped-def]
    parser.addoption("--seeds", type=int, default=None,
                     help="run the random differential test for this many seeds (default: a fixed set)")
