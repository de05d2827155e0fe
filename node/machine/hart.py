"""The hart's architectural state: one flat record (DESIGN.md §2 "Hart").

Like mini-rv32ima's state struct, everything a hart is lives in plain
attributes here — integer registers, pc, privilege level, CSR storage, the LR/SC
reservation, the WFI flag and the retired-instruction count — so it snapshots
trivially through :meth:`Hart.to_state` / :meth:`Hart.from_state`. Behaviour
lives elsewhere: the user ISA in :mod:`.isa`, CSR semantics, traps and
interrupts in :mod:`.system`, translation in :mod:`.mmu`.

Register values are stored unsigned (0 .. 2**64-1). ``regs`` has 33 slots:
slot 0 always reads zero and writes to x0 are directed to the sink slot 32 by
the decoder, so no instruction needs an ``rd != 0`` test.
"""

from __future__ import annotations

from typing import Any

from . import csr as C
from .state import Fields, StateError, check_state

MASK64 = (1 << 64) - 1
RESET_PC = 0x1000
X0_SINK = 32

STATE_NAME = "hart"
STATE_VERSION = 1

# CSR-backing attributes that are saved verbatim.
_CSR_FIELDS = (
    "mstatus", "medeleg", "mideleg", "mie", "mip_sw", "mtvec", "mscratch", "mepc",
    "mcause", "mtval", "mcounteren", "menvcfg", "mcountinhibit",
    "stvec", "sscratch", "sepc", "scause", "stval", "scounteren", "senvcfg", "satp",
    "stimecmp", "cycle_offset", "instret_offset",
)
_OFFSET_FIELDS = ("cycle_offset", "instret_offset")


class Hart:
    def __init__(self, hartid: int = 0) -> None:
        self.hartid = hartid
        self.regs: list[int] = [0] * 33
        # Instructions retired since power-on: the basis of deterministic time
        # (a guest-requested reset does not rewind it).
        self.icount = 0
        self.reset()

    def reset(self) -> None:
        """Architectural reset state (the register list object is kept: the
        execution backend holds references to it)."""
        self.regs[:] = [0] * 33
        self.pc = RESET_PC
        self.priv = C.PRV_M
        # Position of the executing instruction inside its block (see interp).
        self.idx = 0
        self.res_addr = -1
        self.res_val = 0
        self.wfi = False
        self.mstatus = C.MSTATUS_FIXED
        self.medeleg = 0
        self.mideleg = 0
        self.mie = 0
        self.mip_sw = 0
        self.mtvec = 0
        self.mscratch = 0
        self.mepc = 0
        self.mcause = 0
        self.mtval = 0
        self.mcounteren = 0
        self.menvcfg = 0
        self.mcountinhibit = 0
        self.stvec = 0
        self.sscratch = 0
        self.sepc = 0
        self.scause = 0
        self.stval = 0
        self.scounteren = 0
        self.senvcfg = 0
        self.satp = 0
        self.stimecmp = 0
        self.cycle_offset = 0
        self.instret_offset = 0
        self.pmpcfg = [0] * C.PMP_ENTRIES
        self.pmpaddr = [0] * C.PMP_ENTRIES

    def warm_reset(self) -> None:
        """A reset of a running hart (the guest asked the board for one): the
        spec leaves most state unspecified there, and this keeps what QEMU
        keeps — the CSRs and registers — except what the spec resets: M-mode at
        the reset vector, mstatus.MIE and MPRV cleared, mcause 0 (reset cause
        unspecified), no reservation, and the A and L fields of every PMP
        entry zeroed (QEMU 7.2 keeps those; see guests/README.md)."""
        self.pc = RESET_PC
        self.priv = C.PRV_M
        self.idx = 0
        self.res_addr = -1
        self.wfi = False
        self.mstatus &= ~(C.MSTATUS_MIE | C.MSTATUS_MPRV)
        self.mcause = 0
        self.pmpcfg = [cfg & ~(C.PMP_A | C.PMP_L) for cfg in self.pmpcfg]

    def now(self) -> int:
        """Retired-instruction count at the executing instruction."""
        return self.icount + self.idx

    # -- state record ----------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "kind": STATE_NAME,
            "version": STATE_VERSION,
            "hartid": self.hartid,
            "x": self.regs[:32],
            "pc": self.pc,
            "priv": self.priv,
            "icount": self.icount,
            "res_addr": self.res_addr,
            "res_val": self.res_val,
            "wfi": self.wfi,
            "pmpcfg": list(self.pmpcfg),
            "pmpaddr": list(self.pmpaddr),
        }
        for name in _CSR_FIELDS:
            state[name] = getattr(self, name)
        return state

    def from_state(self, state: dict[str, Any]) -> None:
        check_state(state, STATE_NAME, STATE_VERSION)
        f = Fields(state, STATE_NAME)
        x = f.uints("x", 32, 64)
        if x[0] != 0:
            raise f.error(f"x[0] is {x[0]}, not zero")
        priv = f.choice("priv", (C.PRV_U, C.PRV_S, C.PRV_M))
        pmpcfg = f.uints("pmpcfg", C.PMP_ENTRIES, 8)
        pmpaddr = f.uints("pmpaddr", C.PMP_ENTRIES, C.PMPADDR_MASK.bit_length())
        # The counter offsets are value - now - 1 for any 64-bit value: signed.
        values = {name: f.sint(name, 65) if name in _OFFSET_FIELDS else f.uint(name, 64) for name in _CSR_FIELDS}
        pc = f.uint("pc", 64)
        icount = f.integer("icount")
        if not 0 <= icount <= MASK64 >> 1:
            raise f.error(f"icount {icount} is not an instruction count")
        res_addr = f.integer("res_addr")
        if not -1 <= res_addr <= MASK64:  # -1: no reservation
            raise f.error(f"res_addr {res_addr} is not an address")
        res_val = f.uint("res_val", 64)
        wfi = f.flag("wfi")
        hartid = f.integer("hartid")
        if hartid != self.hartid:
            raise StateError(f"hart state: the record's hartid is {hartid}, this is hart {self.hartid}")
        self.regs[:32] = x
        self.regs[32] = 0
        self.pc = pc
        self.priv = priv
        self.icount = icount
        self.idx = 0
        self.res_addr = res_addr
        self.res_val = res_val
        self.wfi = wfi
        self.hartid = hartid
        self.pmpcfg = pmpcfg
        self.pmpaddr = pmpaddr
        for name, value in values.items():
            setattr(self, name, value)
