"""GFS's relaxed consistency model, as checkable facts over the contents of a chunk's replicas.

Ghemawat, Gobioff, Leung, "The Google File System" (SOSP 2003), section 2.7. A file region is

- **consistent** if every client sees the same bytes whichever replica it reads: here, every
  current replica holds the same byte at each offset of the region;
- **defined** if it is consistent and clients see what one mutation wrote in its entirety: here,
  a successful record append's bytes, at the offset the primary returned, on every replica;
- **inconsistent** otherwise: a failed mutation left different bytes on different replicas.

Record append is at-least-once: a retry after a failure may leave the record more than once,
and the primary pads a chunk that cannot hold the next record, so defined regions are
interspersed with padding, duplicates and inconsistent regions. What GFS does promise is the
fact `missing_appends` checks: each successful record append is present, whole, at the offset
it returned, on every current replica. And a reader sees only what writers wrote: the bytes a
read returns are padding and records some client appended (`unwritten`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

DEFINED, CONSISTENT, INCONSISTENT = "defined", "consistent", "inconsistent"


@attrs.frozen
class Region:
    """The bytes [start, end) of a chunk and what the model calls them."""

    start: int
    end: int
    kind: str


def holds(replica: str, offset: int, record: str) -> bool:
    """Whether the replica holds `record` exactly at `offset`."""
    return replica[offset:offset + len(record)] == record


def missing_appends(replicas: Mapping[str, str],
                    appends: Iterable[tuple[int, str]]) -> list[str]:
    """For each successful append (offset, record) that some replica does not hold at its
    offset, a sentence saying so; no sentence when the chunk keeps the record-append promise."""
    problems = []
    for offset, record in appends:
        for name, replica in sorted(replicas.items()):
            if not holds(replica, offset, record):
                found = replica[offset:offset + len(record)]
                problems.append(f"{record!r} appended at offset {offset} is missing on {name}, "
                                f"which holds {found!r} there")
    return problems


def regions(replicas: Iterable[str], appends: Iterable[tuple[int, str]]) -> list[Region]:
    """Classify the bytes of a chunk, given its current replicas and the successful appends."""
    copies = list(replicas)
    size = max((len(c) for c in copies), default=0)
    kinds = [CONSISTENT if _same_byte(copies, i) else INCONSISTENT for i in range(size)]
    for offset, record in appends:
        if all(holds(copy, offset, record) for copy in copies):
            kinds[offset:offset + len(record)] = [DEFINED] * len(record)
    return _runs(kinds)


def _same_byte(copies: list[str], i: int) -> bool:
    return all(len(copy) > i and copy[i] == copies[0][i] for copy in copies)


def _runs(kinds: list[str]) -> list[Region]:
    """Adjacent bytes of one kind as one region."""
    out: list[Region] = []
    for i, kind in enumerate(kinds):
        if out and out[-1].kind == kind:
            out[-1] = attrs.evolve(out[-1], end=i + 1)
        else:
            out.append(Region(i, i + 1, kind))
    return out


def unwritten(data: str, records: Iterable[str], pad: str) -> int | None:
    """The first offset of `data` that is neither padding nor the start of a whole record some
    client appended (None: every byte is accounted for). Records never overlap partly: each
    write is a whole record or padding at a record boundary, so a greedy scan suffices."""
    known = sorted(set(records))
    i = 0
    while i < len(data):
        if data[i] == pad:
            i += 1
            continue
        record = next((r for r in known if data.startswith(r, i)), None)
        if record is None:
            return i
        i += len(record)
    return None
