"""The node: one asyncio process that runs a RISC-V system emulator and a
hypervisor for several VMs.

* :mod:`node.machine` — the emulator (hart, board, devices, execution backends)
* :mod:`node.localrun` — one VM in the foreground (``caravan run``)
"""
