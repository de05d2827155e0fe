"""The emulated machine: a subset of QEMU's ``virt`` board with one RV64IMAC hart.

Execution (the user ISA, fast):
  * :mod:`.isa` — each instruction's semantics, written once as a template
  * :mod:`.decode` — 32-bit decoding and the RV64C expansion
  * :mod:`.interp` — the ``interp`` backend: decoded blocks of closures, the run loop

System (privileged, trap-and-emulate):
  * :mod:`.system` — CSRs, traps, interrupts, xRET, WFI, fences
  * :mod:`.mmu` — Sv39, the software TLB, the memory slow paths
  * :mod:`.pmp` — physical memory protection
  * :mod:`.csr` — CSR names and field masks
  * :mod:`.trap` — trap causes and the Trap/SyncExit exceptions

State and board:
  * :mod:`.hart` — the hart's architectural state record
  * :mod:`.memory` — RAM, page hooks and the dirty log
  * :mod:`.bus` — the physical address map
  * :mod:`.devices` — CLINT, PLIC, UART, test finisher
  * :mod:`.board` — virt's address map, reset ROM and device tree
  * :mod:`.fdt` — the flattened device tree encoder
  * :mod:`.loader` — ELF and raw images
  * :mod:`.state` — conventions for plain-data state records
  * :mod:`.machine` — configuration, boot and the slice-based run loop
"""
