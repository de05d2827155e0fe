"""Plain-data state records (DESIGN.md §4, STYLE "state apart from the live object").

Every stateful component — the hart and each device — exposes ``to_state()``
returning a plain dict (ints, bytes, strings, lists, dicts: exactly what msgpack
carries) with a ``kind`` and a ``version``, and ``from_state(state)`` that
validates the record and rebuilds itself from it. Live objects are never
pickled. vmstate (the container format) only ever sees these records.
"""

from __future__ import annotations

import reprlib
from typing import Any


class StateError(ValueError):
    """A state record cannot be restored (wrong kind, version or contents)."""


def check_state(state: Any, kind: str, version: int) -> dict[str, Any]:
    """Validate a record's kind and version; returns it typed as a dict."""
    if not isinstance(state, dict):
        raise StateError(f"expected a {kind} state record, got {type(state).__name__}")
    if state.get("kind") != kind:
        raise StateError(f"expected a {kind} state record, got kind={state.get('kind')!r}")
    if state.get("version") != version:
        raise StateError(f"{kind} state version {state.get('version')!r} is not supported (this build reads {version})")
    return state


_show = reprlib.repr  # a bounded repr: a record may be hostile


def _width(bits: int, kind: str = "") -> str:
    article = "an" if str(bits)[0] == "8" or bits in (11, 18) else "a"
    return f"{article} {bits}-bit {kind}value"


class Fields:
    """Checked reads of one record's fields: each returns the value if it is
    present, of the right type and in range, and otherwise raises a
    :class:`StateError` that names the record and the field, e.g.
    ``uart state: malformed record (ier is -1, not an 8-bit value)``. Fields
    the reader does not ask for are ignored (versioning covers new ones)."""

    def __init__(self, state: dict[str, Any], record: str, lead: str | None = None, prefix: str = "") -> None:
        self.state = state
        self.lead = lead or f"{record} state: malformed record"
        self.prefix = prefix

    def error(self, detail: str) -> StateError:
        return StateError(f"{self.lead} ({detail})")

    def get(self, name: str) -> Any:
        """The field's value, of any type."""
        if name not in self.state:
            raise self.error(f"no {self.prefix + name!r} field")
        return self.state[name]

    def _int(self, label: str, value: Any, lo: int | None = None, hi: int | None = None, what: str = "") -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.error(f"{label} is {_show(value)}, not an integer")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.error(f"{label} is {value}, not {what or f'in {lo}..{hi}'}")
        return value

    def integer(self, name: str, lo: int | None = None, hi: int | None = None) -> int:
        """An int (not a bool), within lo..hi if given."""
        return self._int(self.prefix + name, self.get(name), lo, hi)

    def uint(self, name: str, bits: int) -> int:
        """An int in 0 .. 2**bits - 1."""
        return self._int(self.prefix + name, self.get(name), 0, (1 << bits) - 1, _width(bits))

    def sint(self, name: str, bits: int) -> int:
        """An int in -2**(bits-1) .. 2**(bits-1) - 1."""
        half = 1 << (bits - 1)
        return self._int(self.prefix + name, self.get(name), -half, half - 1, _width(bits, "signed "))

    def flag(self, name: str) -> bool:
        value = self.get(name)
        if not isinstance(value, bool):
            raise self.error(f"{self.prefix + name} is {_show(value)}, not true or false")
        return value

    def choice(self, name: str, allowed: tuple[Any, ...]) -> Any:
        """One of ``allowed`` (of the same type: True is not 1)."""
        value = self.get(name)
        if not any(type(value) is type(a) and value == a for a in allowed):
            raise self.error(f"{self.prefix + name} is {_show(value)}, not one of {', '.join(map(repr, allowed))}")
        return value

    def _blob(self, label: str, value: Any, max_len: int, exact: bool) -> bytes:
        if not isinstance(value, bytes):
            raise self.error(f"{label} is {_show(value)}, not bytes")
        if len(value) > max_len or (exact and len(value) != max_len):
            raise self.error(f"{label} holds {len(value)} bytes, not {'' if exact else 'at most '}{max_len}")
        return value

    def blob(self, name: str, max_len: int, exact: bool = False) -> bytes:
        """Bytes, at most (or, if ``exact``, exactly) ``max_len`` of them."""
        return self._blob(self.prefix + name, self.get(name), max_len, exact)

    def items(self, name: str, count: int) -> list[Any]:
        """A list of exactly ``count`` items, of any type."""
        value = self.get(name)
        label = self.prefix + name
        if not isinstance(value, list):
            raise self.error(f"{label} is {_show(value)}, not a list")
        if len(value) != count:
            raise self.error(f"{label} has {len(value)} entries, not {count}")
        return value

    def uints(self, name: str, count: int, bits: int) -> list[int]:
        """A list of exactly ``count`` ints, each in 0 .. 2**bits - 1."""
        label = self.prefix + name
        values = self.items(name, count)
        for i, v in enumerate(values):
            if not isinstance(v, int) or isinstance(v, bool):
                raise self.error(f"{label} is not a list of integers ({label}[{i}] is {_show(v)})")
            self._int(f"{label}[{i}]", v, 0, (1 << bits) - 1, _width(bits))
        return list(values)

    def blobs(self, name: str, count: int, size: int) -> list[bytes]:
        """A list of exactly ``count`` byte strings of exactly ``size`` bytes."""
        label = self.prefix + name
        return [self._blob(f"{label}[{i}]", v, size, True) for i, v in enumerate(self.items(name, count))]

    def records(self, name: str, count: int) -> list["Fields"]:
        """A list of exactly ``count`` nested records, each read with its own Fields."""
        label = self.prefix + name
        found = []
        for i, v in enumerate(self.items(name, count)):
            if not isinstance(v, dict):
                raise self.error(f"{label}[{i}] is {_show(v)}, not a record")
            found.append(Fields(v, "", self.lead, f"{label}[{i}]."))
        return found
