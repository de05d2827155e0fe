"""Partitioning: a node's capacity (memory, vCPU slots) and who holds it.

VMs and reservations hold capacity; anything that does not fit is refused with
what is left. Reservations are explicit so a migration can reserve on the
destination before it sends anything; an unused reservation expires.
Pure logic (no I/O): the clock is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import AlreadyExists, InvalidArgument, NotFound, ResourceExhausted


@dataclass(frozen=True)
class Capacity:
    memory: int
    vcpus: int


@dataclass
class Hold:
    owner: str          # "vm:<id>" or "reservation:<id>"
    memory: int
    vcpus: int
    expires_at: float | None = None


def _fmt(n: int) -> str:
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return f"{n / div:.4g} {unit}"
    return f"{n} bytes"


class Admission:
    def __init__(self, capacity: Capacity) -> None:
        self.capacity = capacity
        self.holds: dict[str, Hold] = {}
        self.refusals = 0

    def used(self, now: float | None = None) -> Capacity:
        if now is not None:
            self.expire(now)
        return Capacity(sum(h.memory for h in self.holds.values()),
                        sum(h.vcpus for h in self.holds.values()))

    def free(self, now: float | None = None) -> Capacity:
        used = self.used(now)
        return Capacity(self.capacity.memory - used.memory, self.capacity.vcpus - used.vcpus)

    def expire(self, now: float) -> list[str]:
        gone = [k for k, h in self.holds.items() if h.expires_at is not None and h.expires_at <= now]
        for k in gone:
            del self.holds[k]
        return gone

    def admit(self, owner: str, memory: int, vcpus: int, now: float,
              expires_at: float | None = None) -> Hold:
        if memory <= 0 or vcpus <= 0:
            raise InvalidArgument("a VM needs some memory and at least one vCPU")
        self.expire(now)  # an expired reservation's id may be used again
        if owner in self.holds:
            kind, _, name = owner.partition(":")
            what = f"reservation {name!r}" if kind == "reservation" else f"{kind} {name!r}"
            raise AlreadyExists(f"{what} already holds capacity on this node; release it first or use another id")
        free = self.free(now)
        if memory > free.memory or vcpus > free.vcpus:
            self.refusals += 1
            raise ResourceExhausted(
                f"not enough capacity: asked for {_fmt(memory)} and {vcpus} vCPU, "
                f"{_fmt(free.memory)} and {free.vcpus} vCPU free of {_fmt(self.capacity.memory)} "
                f"and {self.capacity.vcpus}")
        hold = Hold(owner, memory, vcpus, expires_at)
        self.holds[owner] = hold
        return hold

    def transfer(self, old_owner: str, new_owner: str, memory: int, vcpus: int, now: float) -> Hold:
        """Turn a reservation into a VM's hold (the VM may need less, not more)."""
        self.expire(now)
        hold = self.holds.get(old_owner)
        if hold is None:
            raise NotFound(f"no reservation {old_owner.split(':', 1)[-1]} (expired or never made)")
        if memory > hold.memory or vcpus > hold.vcpus:
            raise ResourceExhausted(f"the VM needs {_fmt(memory)}/{vcpus} vCPU but the reservation "
                                    f"holds {_fmt(hold.memory)}/{hold.vcpus}")
        del self.holds[old_owner]
        new = Hold(new_owner, memory, vcpus)
        self.holds[new_owner] = new
        return new

    def release(self, owner: str) -> bool:
        return self.holds.pop(owner, None) is not None
