"""NS16550A UART at 0x1000_0000, IRQ 10 (DESIGN.md §2 "Board").

Register-level behaviour follows QEMU's ``hw/char/serial.c`` so guests see the
same device: THR is always empty again right after a write (transmission is
instantaneous), the THR-empty interrupt is re-armed by a write and cleared by
reading IIR, a 16-byte receive FIFO when FCR enables it, IIR priorities
RLS > RX data/timeout > THR empty > modem status, loopback (MCR.LOOP: what is
written to THR is received, MSR shows MCR's outputs). The one deliberate difference:
QEMU's receive *character timeout* depends on wall-clock time; here it counts as
already elapsed, so a byte in the FIFO always makes the RX interrupt pending —
deterministic, and indistinguishable for drivers that drain the FIFO.

Input arrives from the host through :meth:`Uart.feed` into a host-side queue and
enters the FIFO as room appears; output goes to ``on_output``.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

from ..state import Fields, check_state

BASE = 0x1000_0000
SIZE = 0x100
IRQ = 10
FIFO_LEN = 16

IER_RDI = 0x01
IER_THRI = 0x02
IER_RLSI = 0x04
IER_MSI = 0x08

IIR_NO_INT = 0x01
IIR_MSI = 0x00
IIR_THRI = 0x02
IIR_RDI = 0x04
IIR_RLSI = 0x06
IIR_CTI = 0x0C
IIR_FIFO_ENABLED = 0xC0

FCR_FE = 0x01
FCR_RFR = 0x02
FCR_XFR = 0x04

LCR_DLAB = 0x80

LSR_DR = 0x01
LSR_OE = 0x02
LSR_BI = 0x10
LSR_THRE = 0x20
LSR_TEMT = 0x40
LSR_INT_ANY = 0x1E

MCR_OUT2 = 0x08
MCR_LOOP = 0x10
MSR_DEFAULT = 0xB0  # DCD | DSR | CTS
MSR_ANY_DELTA = 0x0F

STATE_VERSION = 1
MAX_PENDING_INPUT = 1 << 20


class Uart:
    name = "uart"

    def __init__(self, on_output: Callable[[bytes], None] | None = None) -> None:
        self.on_output: Callable[[bytes], None] = on_output or (lambda data: None)
        self.irq_line: Callable[[bool], None] = lambda level: None
        self.pending_input: deque[int] = deque()
        self.reset()

    def reset(self) -> None:
        self.rbr = 0
        self.ier = 0
        self.iir = IIR_NO_INT
        self.lcr = 0
        self.lsr = LSR_TEMT | LSR_THRE
        self.msr = MSR_DEFAULT
        self.mcr = MCR_OUT2
        self.scr = 0
        self.fcr = 0
        self.divider = 0x0C
        self.thr_ipending = 0
        self.rx_fifo: deque[int] = deque()
        self.rx_trigger = 1
        self._update_irq()

    # -- host side ---------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Queue bytes typed at the console; they enter the FIFO as room appears."""
        room = MAX_PENDING_INPUT - len(self.pending_input)
        self.pending_input.extend(data[:max(room, 0)])
        self._pump()

    def _pump(self) -> None:
        moved = False
        if self.fcr & FCR_FE:
            while self.pending_input and len(self.rx_fifo) < FIFO_LEN:
                self.rx_fifo.append(self.pending_input.popleft())
                moved = True
        elif self.pending_input and not self.lsr & LSR_DR:
            self.rbr = self.pending_input.popleft()
            moved = True
        if moved:
            self.lsr |= LSR_DR
            self._update_irq()

    # -- registers ---------------------------------------------------------------

    def read(self, offset: int, size: int) -> int:
        reg = offset & 7
        if offset >= 8:
            return 0
        if reg == 0:
            if self.lcr & LCR_DLAB:
                return self.divider & 0xFF
            if self.fcr & FCR_FE:
                value = self.rx_fifo.popleft() if self.rx_fifo else 0
                if not self.rx_fifo:
                    self.lsr &= ~(LSR_DR | LSR_BI)
            else:
                value = self.rbr
                self.lsr &= ~(LSR_DR | LSR_BI)
            self._update_irq()
            self._pump()
            return value
        if reg == 1:
            return (self.divider >> 8) & 0xFF if self.lcr & LCR_DLAB else self.ier
        if reg == 2:
            value = self.iir
            if value & 0x0F == IIR_THRI:
                self.thr_ipending = 0
                self._update_irq()
            return value
        if reg == 3:
            return self.lcr
        if reg == 4:
            return self.mcr
        if reg == 5:
            value = self.lsr
            if self.lsr & (LSR_BI | LSR_OE):
                self.lsr &= ~(LSR_BI | LSR_OE)
                self._update_irq()
            return value
        if reg == 6:
            if self.mcr & MCR_LOOP:  # the modem outputs wired to the inputs: OUT2->DCD, OUT1->RI, RTS->CTS, DTR->DSR
                return (self.mcr & 0x0C) << 4 | (self.mcr & 0x02) << 3 | (self.mcr & 0x01) << 5
            return self.msr
        return self.scr

    def write(self, offset: int, size: int, value: int) -> None:
        if offset >= 8:
            return
        reg = offset & 7
        value &= 0xFF
        if reg == 0:
            if self.lcr & LCR_DLAB:
                self.divider = (self.divider & 0xFF00) | value
                return
            # Transmission is instantaneous: THR is empty again at once.
            if self.mcr & MCR_LOOP:
                self._loop_back(value)
            else:
                self.on_output(bytes((value,)))
            self.lsr |= LSR_THRE | LSR_TEMT
            self.thr_ipending = 1
            self._update_irq()
        elif reg == 1:
            if self.lcr & LCR_DLAB:
                self.divider = (self.divider & 0x00FF) | (value << 8)
                return
            changed = (self.ier ^ value) & 0x0F
            self.ier = value & 0x0F
            if changed & IER_THRI:
                self.thr_ipending = 1 if (self.ier & IER_THRI and self.lsr & LSR_THRE) else 0
            if changed:
                self._update_irq()
        elif reg == 2:
            if (value ^ self.fcr) & FCR_FE:
                value |= FCR_RFR | FCR_XFR
            if value & FCR_RFR:
                self.lsr &= ~(LSR_DR | LSR_BI)
                self.rx_fifo.clear()
            if value & FCR_XFR:
                self.lsr |= LSR_THRE
                self.thr_ipending = 1
            self.fcr = value & 0xC9
            if self.fcr & FCR_FE:
                self.iir |= IIR_FIFO_ENABLED
                self.rx_trigger = (1, 4, 8, 14)[value >> 6]
            else:
                self.iir &= ~IIR_FIFO_ENABLED
                self.rx_trigger = 1
            self._update_irq()
            self._pump()
        elif reg == 3:
            self.lcr = value
        elif reg == 4:
            self.mcr = value & 0x1F
        elif reg == 7:
            self.scr = value

    def _loop_back(self, value: int) -> None:
        """Loopback mode (MCR.LOOP): a transmitted byte is received, not sent;
        a full FIFO, or an unread RBR without one, is an overrun."""
        if self.fcr & FCR_FE:
            if len(self.rx_fifo) < FIFO_LEN:
                self.rx_fifo.append(value)
            else:
                self.lsr |= LSR_OE
        else:
            if self.lsr & LSR_DR:
                self.lsr |= LSR_OE
            self.rbr = value
        self.lsr |= LSR_DR

    def _update_irq(self) -> None:
        ier = self.ier
        lsr = self.lsr
        if ier & IER_RLSI and lsr & LSR_INT_ANY:
            iid = IIR_RLSI
        elif ier & IER_RDI and lsr & LSR_DR:
            fifo = self.fcr & FCR_FE
            iid = IIR_RDI if (not fifo or len(self.rx_fifo) >= self.rx_trigger) else IIR_CTI
        elif ier & IER_THRI and self.thr_ipending:
            iid = IIR_THRI
        elif ier & IER_MSI and self.msr & MSR_ANY_DELTA:
            iid = IIR_MSI
        else:
            iid = IIR_NO_INT
        self.iir = iid | (self.iir & 0xF0)
        self.irq_line(iid != IIR_NO_INT)

    # -- state ------------------------------------------------------------------------

    _FIELDS = ("rbr", "ier", "iir", "lcr", "lsr", "msr", "mcr", "scr", "fcr", "divider",
               "thr_ipending", "rx_trigger")
    # What from_state accepts, as the device holds them: 8-bit registers, the
    # 16-bit divisor latch, THR-empty pending as 0/1, the FCR trigger levels.
    _WIDTHS = {"rbr": 8, "ier": 8, "iir": 8, "lcr": 8, "lsr": 8, "msr": 8, "mcr": 8, "scr": 8, "fcr": 8,
               "divider": 16, "thr_ipending": 1}
    _RX_TRIGGERS = (1, 4, 8, 14)

    def to_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"kind": self.name, "version": STATE_VERSION}
        for name in self._FIELDS:
            state[name] = getattr(self, name)
        state["rx_fifo"] = bytes(self.rx_fifo)
        state["pending_input"] = bytes(self.pending_input)
        return state

    def from_state(self, state: dict[str, Any]) -> None:
        check_state(state, self.name, STATE_VERSION)
        f = Fields(state, self.name)
        values = {name: f.uint(name, bits) for name, bits in self._WIDTHS.items()}
        values["rx_trigger"] = f.choice("rx_trigger", self._RX_TRIGGERS)
        rx = f.blob("rx_fifo", FIFO_LEN)
        pending = f.blob("pending_input", MAX_PENDING_INPUT)
        for name, value in values.items():
            setattr(self, name, value)
        self.rx_fifo = deque(rx)
        self.pending_input = deque(pending)
        self._update_irq()
