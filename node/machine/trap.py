"""Traps as values (DESIGN.md §2: "traps are values, taken in one place").

An instruction that cannot complete raises :class:`Trap`; the run loop catches it
and hands it to :func:`node.machine.system.System.take_trap`, the single place
where architectural trap entry happens. Causes are named as in the privileged
specification (Table 3.6).

Two other control-flow exceptions leave the execution fast path early:

* :class:`SyncExit` — the instruction completed, but it changed something the
  run loop must look at before the next instruction (an MMIO store that may raise
  an interrupt or power the machine off, a store into translated code).
* :class:`Halt` is not an exception here; power-off is a machine state checked
  by the run loop after a :class:`SyncExit`.
"""

from __future__ import annotations

# Synchronous exception causes (mcause with the interrupt bit clear).
INST_ADDR_MISALIGNED = 0
INST_ACCESS_FAULT = 1
ILLEGAL_INSTRUCTION = 2
BREAKPOINT = 3
LOAD_ADDR_MISALIGNED = 4
LOAD_ACCESS_FAULT = 5
STORE_ADDR_MISALIGNED = 6
STORE_ACCESS_FAULT = 7
ECALL_FROM_U = 8
ECALL_FROM_S = 9
ECALL_FROM_M = 11
INST_PAGE_FAULT = 12
LOAD_PAGE_FAULT = 13
STORE_PAGE_FAULT = 15

# Interrupt causes (mcause with the interrupt bit set).
IRQ_S_SOFT = 1
IRQ_M_SOFT = 3
IRQ_S_TIMER = 5
IRQ_M_TIMER = 7
IRQ_S_EXT = 9
IRQ_M_EXT = 11

INTERRUPT_BIT = 1 << 63

CAUSE_NAMES = {
    INST_ADDR_MISALIGNED: "instruction address misaligned",
    INST_ACCESS_FAULT: "instruction access fault",
    ILLEGAL_INSTRUCTION: "illegal instruction",
    BREAKPOINT: "breakpoint",
    LOAD_ADDR_MISALIGNED: "load address misaligned",
    LOAD_ACCESS_FAULT: "load access fault",
    STORE_ADDR_MISALIGNED: "store/AMO address misaligned",
    STORE_ACCESS_FAULT: "store/AMO access fault",
    ECALL_FROM_U: "environment call from U-mode",
    ECALL_FROM_S: "environment call from S-mode",
    ECALL_FROM_M: "environment call from M-mode",
    INST_PAGE_FAULT: "instruction page fault",
    LOAD_PAGE_FAULT: "load page fault",
    STORE_PAGE_FAULT: "store/AMO page fault",
}

IRQ_NAMES = {
    IRQ_S_SOFT: "supervisor software interrupt",
    IRQ_M_SOFT: "machine software interrupt",
    IRQ_S_TIMER: "supervisor timer interrupt",
    IRQ_M_TIMER: "machine timer interrupt",
    IRQ_S_EXT: "supervisor external interrupt",
    IRQ_M_EXT: "machine external interrupt",
}


def describe_cause(mcause: int) -> str:
    """A human-readable name for an mcause/scause value."""
    if mcause & INTERRUPT_BIT:
        code = mcause & ~INTERRUPT_BIT
        return IRQ_NAMES.get(code, f"interrupt {code}")
    return CAUSE_NAMES.get(mcause, f"exception {mcause}")


class Trap(Exception):
    """A synchronous exception raised by the instruction at ``epc``.

    ``idx`` is the instruction's position inside its translated block, so the
    run loop knows exactly how many instructions retired before it.
    """

    __slots__ = ("cause", "tval", "epc", "idx")

    def __init__(self, cause: int, tval: int = 0, epc: int = 0, idx: int = 0) -> None:
        self.cause = cause
        self.tval = tval
        self.epc = epc
        self.idx = idx

    def __str__(self) -> str:
        return f"{describe_cause(self.cause)} at pc={self.epc:#x} tval={self.tval:#x}"


class SyncExit(Exception):
    """The instruction at block position ``idx`` completed; continue at ``next_pc``
    only after the run loop has re-examined machine state."""

    __slots__ = ("next_pc", "idx")

    def __init__(self, next_pc: int, idx: int) -> None:
        self.next_pc = next_pc
        self.idx = idx
