"""Placement: filters then weighers, pure logic."""

from __future__ import annotations

import pytest

from controller.placement import NodeView, Request, place

G = 1 << 30
M = 1 << 20


def node(name: str, free: int = 2 * G, cap: int = 2 * G, vcpus: int = 8, ready: bool = True,
         cordoned: bool = False, backend: str = "interp", vms: int = 0, groups: dict | None = None) -> NodeView:
    return NodeView(name, ready, cordoned, backend, cap, 8, free, vcpus, vms, groups or {})


def test_spread_prefers_the_emptiest_node_and_pack_the_fullest() -> None:
    nodes = [node("a", free=G), node("b", free=2 * G), node("c", free=512 * M)]
    assert place(Request(memory=128 * M), nodes).node == "b"
    assert place(Request(memory=128 * M, policy="pack"), nodes).node == "c"


@pytest.mark.parametrize("bad,why", [
    (node("x", ready=False), "down"),
    (node("x", cordoned=True), "cordoned"),
    (node("x", backend="dbt"), "backend"),
    (node("x", free=64 * M), "not enough memory"),
    (node("x", vcpus=0), "no free vCPU"),
    (node("x", groups={"web": 1}), "group 'web'"),
])
def test_filters_reject_with_a_reason(bad: NodeView, why: str) -> None:
    decision = place(Request(memory=128 * M, group="web", backend="interp"), [bad, node("ok", free=G)])
    assert decision.node == "ok"
    assert any(why in r and "x" in r for r in decision.reasons)
    assert place(Request(memory=128 * M, group="web", backend="interp"), [bad]).node is None


def test_pinning_still_checks_the_node() -> None:
    nodes = [node("a"), node("b", free=64 * M)]
    assert place(Request(memory=128 * M, node="a"), nodes).node == "a"
    pinned = place(Request(memory=128 * M, node="b"), nodes)
    assert pinned.node is None and pinned.policy == "pinned"
    assert place(Request(memory=M, node="zzz"), nodes).reasons == ["zzz: no such node"]


def test_ties_break_by_fewer_vms_then_name() -> None:
    assert place(Request(memory=M), [node("b", vms=1), node("a", vms=1), node("c", vms=0)]).node == "c"
    assert place(Request(memory=M), [node("b"), node("a")]).node == "a"


def test_reasons_stay_short_with_many_nodes() -> None:
    nodes = [node(f"n{i}", free=(i % 5) * G // 4) for i in range(1000)]
    decision = place(Request(memory=300 * M), nodes)
    assert decision.node is not None
    assert len(decision.reasons) <= 12
    assert any(r.startswith("rejected (not enough memory)") for r in decision.reasons)


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="policy"):
        place(Request(memory=M, policy="random"), [node("a")])
