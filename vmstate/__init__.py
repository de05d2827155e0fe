"""vmstate: the encapsulation format — one codec for snapshot files and
migration streams (DESIGN.md §4). Not yet implemented."""
