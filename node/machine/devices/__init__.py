"""Board devices, each owning its registers and its versioned state record:
:mod:`.clint` (timer and software interrupts, virtual time), :mod:`.plic`
(external interrupts), :mod:`.uart` (NS16550A console), :mod:`.test_finisher`
(power-off and reset)."""
