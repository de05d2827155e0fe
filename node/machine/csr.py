"""CSR addresses, names and field masks (privileged spec 1.12, chapters 2-4).

Only names and constants live here; the read/write semantics are in
:mod:`node.machine.system`, which owns the CSR behaviour.
"""

from __future__ import annotations

# Privilege levels.
PRV_U = 0
PRV_S = 1
PRV_M = 3

PRIV_NAMES = {PRV_U: "U", PRV_S: "S", PRV_M: "M"}

# -- unprivileged counters ----------------------------------------------------
CYCLE = 0xC00
TIME = 0xC01
INSTRET = 0xC02
HPMCOUNTER3 = 0xC03
HPMCOUNTER31 = 0xC1F

# -- supervisor ---------------------------------------------------------------
SSTATUS = 0x100
SIE = 0x104
STVEC = 0x105
SCOUNTEREN = 0x106
SENVCFG = 0x10A
SSCRATCH = 0x140
SEPC = 0x141
SCAUSE = 0x142
STVAL = 0x143
SIP = 0x144
STIMECMP = 0x14D
SATP = 0x180

# -- machine ------------------------------------------------------------------
MVENDORID = 0xF11
MARCHID = 0xF12
MIMPID = 0xF13
MHARTID = 0xF14
MCONFIGPTR = 0xF15
MSTATUS = 0x300
MISA = 0x301
MEDELEG = 0x302
MIDELEG = 0x303
MIE = 0x304
MTVEC = 0x305
MCOUNTEREN = 0x306
MENVCFG = 0x30A
MCOUNTINHIBIT = 0x320
MHPMEVENT3 = 0x323
MHPMEVENT31 = 0x33F
MSCRATCH = 0x340
MEPC = 0x341
MCAUSE = 0x342
MTVAL = 0x343
MIP = 0x344
PMPCFG0 = 0x3A0
PMPCFG15 = 0x3AF
PMPADDR0 = 0x3B0
PMPADDR63 = 0x3EF
MCYCLE = 0xB00
MINSTRET = 0xB02
MHPMCOUNTER3 = 0xB03
MHPMCOUNTER31 = 0xB1F

CSR_NAMES: dict[int, str] = {
    CYCLE: "cycle", TIME: "time", INSTRET: "instret",
    SSTATUS: "sstatus", SIE: "sie", STVEC: "stvec", SCOUNTEREN: "scounteren",
    SENVCFG: "senvcfg", SSCRATCH: "sscratch", SEPC: "sepc", SCAUSE: "scause",
    STVAL: "stval", SIP: "sip", STIMECMP: "stimecmp", SATP: "satp",
    MVENDORID: "mvendorid", MARCHID: "marchid", MIMPID: "mimpid", MHARTID: "mhartid",
    MCONFIGPTR: "mconfigptr", MSTATUS: "mstatus", MISA: "misa", MEDELEG: "medeleg",
    MIDELEG: "mideleg", MIE: "mie", MTVEC: "mtvec", MCOUNTEREN: "mcounteren",
    MENVCFG: "menvcfg", MCOUNTINHIBIT: "mcountinhibit", MSCRATCH: "mscratch",
    MEPC: "mepc", MCAUSE: "mcause", MTVAL: "mtval", MIP: "mip",
    MCYCLE: "mcycle", MINSTRET: "minstret",
}
for _i in range(3, 32):
    CSR_NAMES[0xC00 + _i] = f"hpmcounter{_i}"
    CSR_NAMES[0xB00 + _i] = f"mhpmcounter{_i}"
    CSR_NAMES[0x320 + _i] = f"mhpmevent{_i}"
for _i in range(16):
    CSR_NAMES[PMPCFG0 + _i] = f"pmpcfg{_i}"
for _i in range(64):
    CSR_NAMES[PMPADDR0 + _i] = f"pmpaddr{_i}"

# -- mstatus fields -------------------------------------------------------------
MSTATUS_SIE = 1 << 1
MSTATUS_MIE = 1 << 3
MSTATUS_SPIE = 1 << 5
MSTATUS_UBE = 1 << 6
MSTATUS_MPIE = 1 << 7
MSTATUS_SPP = 1 << 8
MSTATUS_VS = 3 << 9
MSTATUS_MPP_SHIFT = 11
MSTATUS_MPP = 3 << MSTATUS_MPP_SHIFT
MSTATUS_FS = 3 << 13
MSTATUS_XS = 3 << 15
MSTATUS_MPRV = 1 << 17
MSTATUS_SUM = 1 << 18
MSTATUS_MXR = 1 << 19
MSTATUS_TVM = 1 << 20
MSTATUS_TW = 1 << 21
MSTATUS_TSR = 1 << 22
MSTATUS_UXL = 3 << 32
MSTATUS_SXL = 3 << 34
MSTATUS_SD = 1 << 63

# UXL and SXL are fixed at 2 (64-bit); FS, VS and XS read as Off.
MSTATUS_FIXED = (2 << 32) | (2 << 34)
MSTATUS_WRITABLE = (
    MSTATUS_SIE | MSTATUS_MIE | MSTATUS_SPIE | MSTATUS_MPIE | MSTATUS_SPP | MSTATUS_MPP
    | MSTATUS_MPRV | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR
)
SSTATUS_VIEW = (
    MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_UBE | MSTATUS_SPP | MSTATUS_VS | MSTATUS_FS
    | MSTATUS_XS | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_UXL | MSTATUS_SD
)
SSTATUS_WRITABLE = MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR

# -- interrupt bits (mip / mie) ---------------------------------------------------
MIP_SSIP = 1 << 1
MIP_MSIP = 1 << 3
MIP_STIP = 1 << 5
MIP_MTIP = 1 << 7
MIP_SEIP = 1 << 9
MIP_MEIP = 1 << 11

MIE_WRITABLE = MIP_SSIP | MIP_MSIP | MIP_STIP | MIP_MTIP | MIP_SEIP | MIP_MEIP
MIDELEG_WRITABLE = MIP_SSIP | MIP_STIP | MIP_SEIP
# Bits of mip that software can write (the others reflect device lines).
MIP_SW_WRITABLE = MIP_SSIP | MIP_STIP | MIP_SEIP

# Exceptions that can be delegated to S-mode (medeleg): all defined causes
# except environment call from M-mode, which is read-only zero.
MEDELEG_WRITABLE = sum(1 << c for c in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 15))

# Interrupt priority order (privileged spec 3.1.9): MEI, MSI, MTI, SEI, SSI, STI.
IRQ_PRIORITY = (11, 3, 7, 9, 1, 5)

# -- misa ---------------------------------------------------------------------------
def _ext(letters: str) -> int:
    return sum(1 << (ord(c) - ord("A")) for c in letters)


MISA_VALUE = (2 << 62) | _ext("ACIMSU")

# -- menvcfg ------------------------------------------------------------------------
MENVCFG_FIOM = 1 << 0
MENVCFG_STCE = 1 << 63
MENVCFG_WRITABLE = MENVCFG_FIOM | MENVCFG_STCE
SENVCFG_WRITABLE = MENVCFG_FIOM

# -- satp ---------------------------------------------------------------------------
SATP_MODE_SHIFT = 60
SATP_MODE_BARE = 0
SATP_MODE_SV39 = 8
SATP_ASID_SHIFT = 44
SATP_ASID_MASK = 0xFFFF
SATP_PPN_MASK = (1 << 44) - 1

# -- counters -------------------------------------------------------------------------
COUNTEREN_CY = 1 << 0
COUNTEREN_TM = 1 << 1
COUNTEREN_IR = 1 << 2

# -- identity -------------------------------------------------------------------------
MVENDORID_VALUE = 0
MARCHID_VALUE = 0
MIMPID_VALUE = 0

# -- PMP ----------------------------------------------------------------------------------
PMP_ENTRIES = 16
PMP_R = 1 << 0
PMP_W = 1 << 1
PMP_X = 1 << 2
PMP_A_SHIFT = 3
PMP_A = 3 << PMP_A_SHIFT
PMP_L = 1 << 7
PMP_OFF, PMP_TOR, PMP_NA4, PMP_NAPOT = 0, 1, 2, 3
PMPADDR_MASK = (1 << 54) - 1  # RV64: pmpaddr holds bits 55:2 of the address
