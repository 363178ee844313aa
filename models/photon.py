"""What Photon computes, as a model: the join of each click with its query, each exactly once.

Photon (SIGMOD 2013) joins two continuous streams. The primary log holds queries, each named
by a query id; the foreign log holds clicks, each named by a click id and naming the query
it followed. The result Photon promises is the one a single machine would compute reading
both logs to the end, once, without failures: every click whose query is logged, joined with
that query, once. Two datacenters run the whole pipeline on the same logs, so each click is
joined (or tried) twice; at most one datacenter may output it, and at least one must.

What makes that possible is the IdRegistry, a replicated table of click ids with a
conditional insert: an id not yet present is inserted with the caller's token; an id already
present with the same token answers success again (a retry whose first reply was lost);
any other token is refused ("already joined"). Its state is a function of its log.

The invariants, in this model's terms (`implementations/photon/checks.py` checks the system
against them):

- `join`: the reference result; the output logs of both datacenters together must hold
  exactly these joined clicks, each once (`MODE`, checked by `invariants.delivery`);
- `duplicated`: no click id in the output logs twice, at any moment;
- `registry_of`: every registry replica's table is this function of its own log, replicas
  agree on every id they both hold, and a registration acknowledged as a success names the
  token the log registered first;
- `misattributed`: a datacenter outputs only clicks the registry holds for one of its own
  joiners.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

MODE = "exactly-once"  # the delivery guarantee of the joined clicks


def join(queries: dict[str, Any], clicks: dict[str, str]) -> dict[str, tuple[str, Any]]:
    """Each click (click id -> query id) joined with its query (query id -> its ad), keyed by
    click id; a click whose query was never logged joins nothing."""
    return {click: (query, queries[query]) for click, query in sorted(clicks.items())
            if query in queries}


class IdRegistry:
    """The IdRegistry's table: click id -> the token that registered it."""

    def __init__(self) -> None:
        self.entries: dict[Hashable, Hashable] = {}

    def insert(self, click: Hashable, token: Hashable) -> bool:
        """Insert if absent; success again for the same token; refuse any other token."""
        return self.entries.setdefault(click, token) == token


def registry_of(log: Iterable[tuple[Hashable, Hashable]]) -> dict[Hashable, Hashable]:
    """The table a log of (click id, token) inserts leaves, applied in log order."""
    registry = IdRegistry()
    for click, token in log:
        registry.insert(click, token)
    return registry.entries


def duplicated(ids: Iterable[Hashable]) -> list[Hashable]:
    """The ids that occur more than once, in order of their second occurrence."""
    seen: set[Hashable] = set()
    twice: list[Hashable] = []
    for id_ in ids:
        if id_ in seen and id_ not in twice:
            twice.append(id_)
        seen.add(id_)
    return twice


def disagreements(tables: dict[str, dict[Hashable, Hashable]]) -> list[tuple]:
    """(id, replica, token, other replica, other token) for every id two tables both hold
    with different tokens: replicas must agree on every committed entry."""
    names = sorted(tables)
    return [(click, a, tables[a][click], b, tables[b][click])
            for i, a in enumerate(names) for b in names[i + 1:]
            for click in sorted(tables[a].keys() & tables[b].keys(), key=repr)
            if tables[a][click] != tables[b][click]]


def misattributed(outputs: dict[str, Iterable[Hashable]], registry: dict[Hashable, str],
                  ) -> list[tuple[str, Hashable, str | None]]:
    """(datacenter, click id, owner) for each output click the registry does not hold for
    that datacenter (`registry`: click id -> the datacenter whose joiner registered it)."""
    return [(dc, click, registry.get(click)) for dc, clicks in sorted(outputs.items())
            for click in clicks if registry.get(click) != dc]
