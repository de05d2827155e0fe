"""Placement (DESIGN.md §6): filters, then weighers — pure logic, no I/O.

Filters drop nodes that cannot take the VM: not ready, cordoned, wrong
backend, not enough free memory or vCPU slots, or already running a VM of the
same anti-affinity group. Weighers rank the rest: ``spread`` (default) prefers
the node that keeps the most memory free, ``pack`` the node that keeps the
least. Every candidate gets a one-line reason, so ``caravan vm show`` can say
why a VM landed where it did.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

POLICIES = ("spread", "pack")


@dataclass
class NodeView:
    name: str
    ready: bool
    cordoned: bool
    backend: str
    capacity_memory: int
    capacity_vcpus: int
    free_memory: int
    free_vcpus: int
    vms: int = 0
    groups: dict[str, int] = field(default_factory=dict)  # anti-affinity group -> VMs here


@dataclass(frozen=True)
class Request:
    memory: int
    vcpus: int = 1
    group: str = ""
    backend: str = ""
    node: str = ""          # pinned by the user
    policy: str = "spread"
    avoid: str = ""         # never this node (a migration's source)


@dataclass
class Decision:
    node: str | None
    policy: str
    reasons: list[str]
    seconds: float = 0.0
    decided_at: float = 0.0


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.0f} MiB" if n < 1 << 30 else f"{n / (1 << 30):.2f} GiB"


REPORTED_CANDIDATES = 5
REPORTED_REJECTIONS = 5


def reject_reason(node: NodeView, req: Request) -> str | None:
    """Why ``node`` cannot take ``req`` (a short phrase), or None if it can."""
    if node.name == req.avoid:
        return "the VM is already there"
    if not node.ready:
        return "down"
    if node.cordoned:
        return "cordoned"
    if req.backend and node.backend != req.backend:
        return f"backend {node.backend}, need {req.backend}"
    if node.free_memory < req.memory:
        return "not enough memory"
    if node.free_vcpus < req.vcpus:
        return "no free vCPU slot"
    if req.group and node.groups.get(req.group):
        return f"already runs a VM of group {req.group!r}"
    return None


def score(node: NodeView, req: Request) -> float:
    left = (node.free_memory - req.memory) / node.capacity_memory if node.capacity_memory else 0.0
    return left if req.policy == "spread" else 1.0 - left


def place(req: Request, nodes: list[NodeView]) -> Decision:
    """Choose a node for ``req``; ``Decision.node`` is None when none fits.

    The reasons list the chosen node first, then the next best candidates,
    then how many nodes each filter rejected (with a few examples)."""
    start = time.perf_counter()
    if req.policy not in POLICIES:
        raise ValueError(f"unknown placement policy {req.policy!r} (use {' or '.join(POLICIES)})")
    candidates = [n for n in nodes if n.name == req.node] if req.node else nodes
    scored: list[tuple[tuple[float, int, str], NodeView, float]] = []
    rejected: dict[str, list[str]] = {}
    for node in candidates:
        why = reject_reason(node, req)
        if why is None:
            s = score(node, req)
            scored.append(((-s, node.vms, node.name), node, s))
        else:
            rejected.setdefault(why, []).append(node.name)
    reasons: list[str] = []
    top = sorted(scored, key=lambda item: item[0])[:REPORTED_CANDIDATES]
    for rank, (_, node, s) in enumerate(top):
        label = "chosen" if rank == 0 else "candidate"
        reasons.append(f"{node.name}: {label}, score {s:.3f} ({req.policy}: {_mib(node.free_memory)} "
                       f"free of {_mib(node.capacity_memory)}, {node.vms} VMs)")
    if len(scored) > len(top):
        reasons.append(f"{len(scored) - len(top)} more nodes could take it, with lower scores")
    for why, names in sorted(rejected.items(), key=lambda item: -len(item[1])):
        shown = ", ".join(names[:REPORTED_REJECTIONS]) + (", ..." if len(names) > REPORTED_REJECTIONS else "")
        reasons.append(f"rejected ({why}): {len(names)} node{'s' if len(names) != 1 else ''}: {shown}")
    if req.node and not candidates:
        reasons.append(f"{req.node}: no such node")
    policy = "pinned" if req.node else req.policy
    chosen = top[0][1].name if top else None
    return Decision(chosen, policy, reasons, time.perf_counter() - start, time.time())
