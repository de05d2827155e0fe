"""Plain-data state records (DESIGN.md §4, STYLE "state apart from the live object").

Every stateful component — the hart and each device — exposes ``to_state()``
returning a plain dict (ints, bytes, strings, lists, dicts: exactly what msgpack
carries) with a ``kind`` and a ``version``, and ``from_state(state)`` that
validates the record and rebuilds itself from it. Live objects are never
pickled. vmstate (the container format) only ever sees these records.
"""

from __future__ import annotations

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
