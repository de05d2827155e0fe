"""The node's holds on the garbage collector (node.gcpolicy): they nest, and
the collector's own settings come back when the last one goes."""

from __future__ import annotations

import gc

import pytest

from node import gcpolicy


@pytest.fixture(autouse=True)
def collector_settings():  # type: ignore[no-untyped-def]
    threshold, enabled = gc.get_threshold(), gc.isenabled()
    yield
    gc.set_threshold(*threshold)
    if enabled:
        gc.enable()


def test_a_full_hold_stops_full_collections_only() -> None:
    before = gc.get_threshold()
    hold = gcpolicy.Hold(gcpolicy.FULL)
    assert gc.isenabled() and gc.get_threshold()[:2] == before[:2]
    assert gc.get_threshold()[2] > 10**8
    hold.release()
    assert gc.get_threshold() == before


def test_holds_nest_and_release_is_idempotent() -> None:
    before = gc.get_threshold()
    a, b = gcpolicy.Holds(), gcpolicy.Holds()
    a.take(gcpolicy.FULL)
    a.take(gcpolicy.ALL)
    b.take(gcpolicy.ALL)
    assert not gc.isenabled() and gcpolicy.held(gcpolicy.ALL) == 2
    a.release()
    a.release()
    assert not gc.isenabled(), "b still holds the collector"
    assert gc.get_threshold() == before and gcpolicy.held(gcpolicy.FULL) == 0
    b.release()
    assert gc.isenabled() and gcpolicy.held(gcpolicy.ALL) == 0


def test_a_collector_disabled_by_its_owner_stays_disabled() -> None:
    gc.disable()
    hold = gcpolicy.Hold(gcpolicy.ALL)
    hold.release()
    assert not gc.isenabled()


def test_unknown_hold_is_refused() -> None:
    with pytest.raises(ValueError):
        gcpolicy.Hold("sometimes")
