"""The source node keeps one channel per destination (node.migration.driver):
reused while healthy, replaced once its connection has failed."""

from __future__ import annotations

import asyncio
import socket

import grpc

from node.migration.driver import Migrations


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_channel_is_kept_per_destination() -> None:
    migrations = Migrations(None, None)  # type: ignore[arg-type]
    try:
        a = migrations._channel("127.0.0.1:1")
        assert migrations._channel("127.0.0.1:1") is a
        assert migrations._channel("127.0.0.1:2") is not a
    finally:
        await migrations.close()
    assert migrations.channels == {}


async def test_failed_channel_is_replaced() -> None:
    migrations = Migrations(None, None)  # type: ignore[arg-type]
    address = f"127.0.0.1:{_closed_port()}"
    try:
        first = migrations._channel(address)
        first.get_state(try_to_connect=True)
        for _ in range(100):  # nothing listens: the connection attempt fails quickly
            if first.get_state() is grpc.ChannelConnectivity.TRANSIENT_FAILURE:
                break
            await asyncio.sleep(0.02)
        assert first.get_state() is grpc.ChannelConnectivity.TRANSIENT_FAILURE
        second = migrations._channel(address)
        assert second is not first
        assert migrations._channel(address) is second
    finally:
        await migrations.close()


async def test_channels_kept_are_bounded(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A node asked to migrate to many addresses (most of them wrong) keeps
    at most MAX_CHANNELS channels, dropping the oldest one not in use."""
    from node.migration import driver

    monkeypatch.setattr(driver, "MAX_CHANNELS", 4)
    migrations = Migrations(None, None)  # type: ignore[arg-type]
    try:
        busy = migrations._channel("127.0.0.1:1")
        migrations.outgoing["job"] = type("Out", (), {"channel": busy})()  # type: ignore[assignment]
        for port in range(2, 12):
            migrations._channel(f"127.0.0.1:{port}")
        assert len(migrations.channels) == 4
        assert migrations.channels["127.0.0.1:1"] is busy  # in use by a migration: kept
        assert list(migrations.channels)[1:] == [f"127.0.0.1:{p}" for p in (9, 10, 11)]
        migrations.outgoing.clear()
    finally:
        await migrations.close()
