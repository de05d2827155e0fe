"""The controller daemon and the ``caravan`` command line.

* :mod:`controller.cli` — the ``caravan`` CLI (one module per command family)
"""
