"""What a GFS run must satisfy: one lease per chunk, the primary's serial order, no stale
reads, and the record-append promise of the relaxed consistency model (`models/gfs.py`)."""

from __future__ import annotations

from typing import Any

from checker.sim import Simulation
from checker.system import history_invariant, state_invariant
from implementations.gfs.chunkserver import ChunkServer
from implementations.gfs.messages import MASTER
from invariants.verdict import Verdict, passed, violated
from models.gfs import missing_appends, regions


def chunkservers(sim: Simulation) -> list[tuple[str, ChunkServer]]:
    return [(n, node) for n in sim.servers
            if isinstance(node := sim.nodes[n], ChunkServer)]


@state_invariant("one-lease-per-chunk")
def one_lease_per_chunk(sim: Simulation) -> str | None:
    """At any true time, at most one chunkserver trusts a lease on a chunk."""
    holders: dict[int, list[str]] = {}
    for name, node in chunkservers(sim):
        for handle in sorted(node.leases):
            if node.lease_valid(sim.contexts[name], handle):
                holders.setdefault(handle, []).append(name)
    for handle, names in sorted(holders.items()):
        if len(names) > 1:
            return f"{' and '.join(names)} each trust a lease on chunk {handle} at t={sim.time}"
    return None


class _Ghost:
    """What an invariant has read of the ghost record so far."""

    def __init__(self) -> None:
        self.read = 0
        self.last_serial: dict[tuple[str, int, int], int] = {}  # (server, handle, version)
        self.ordered: dict[tuple[int, int, int], tuple] = {}  # (handle, version, serial)
        self.leased: dict[int, int] = {}  # handle -> version of the latest lease issued


def _new_facts(sim: Simulation, name: str) -> tuple[_Ghost, list[tuple]]:
    seen = sim.invariant_state(name, _Ghost)
    facts = sim.ghost[seen.read:]
    seen.read = len(sim.ghost)
    return seen, facts


@state_invariant("serial-order")
def serial_order(sim: Simulation) -> str | None:
    """Every replica applies a chunk version's mutations in the primary's serial order (1, 2,
    3, ...), and the mutation numbered n is the same one everywhere."""
    seen, facts = _new_facts(sim, "serial-order")
    for kind, time, server, fact in facts:
        if kind != "applied":
            continue
        handle, version, serial = fact["handle"], fact["version"], fact["serial"]
        last = seen.last_serial.get((server, handle, version), 0)
        if serial != last + 1:
            return (f"{server} applied mutation {serial} of chunk {handle} version {version} "
                    f"after mutation {last} (t={time})")
        seen.last_serial[(server, handle, version)] = serial
        what = (fact["offset"], fact["data_id"])
        first = seen.ordered.setdefault((handle, version, serial), what)
        if first != what:
            return (f"mutation {serial} of chunk {handle} version {version} is {first} on one "
                    f"replica and {what} on {server} (t={time})")
    return None


@state_invariant("stale-replica-reads")
def stale_replica_reads(sim: Simulation) -> str | None:
    """Stale replicas are never given to clients nor serve reads. The master names for
    reading only replicas at (or past) the version of the chunk's latest lease; no replica
    serves a version older than the one the master named if it missed a lease since (it is
    stale). As in the paper, a read the master answered before a newer lease may still be
    served at the version it named."""
    seen, facts = _new_facts(sim, "stale-replica-reads")
    for kind, time, server, fact in facts:
        handle = fact.get("handle")
        leased = seen.leased.get(handle, 0)
        if kind == "lease":
            seen.leased[handle] = fact["version"]
        elif kind == "served" and fact["version"] < min(fact["asked"], leased):
            return (f"{server} served chunk {handle} at version {fact['version']}, stale since "
                    f"the lease at version {leased}, to a client told version {fact['asked']} "
                    f"(t={time})")
        elif kind == "named":
            for replica in fact["replicas"]:
                copy = sim.contexts[replica].storage.get(f"chunk:{handle}")
                if (copy is None and leased > 0) or (copy is not None and copy.version < leased):
                    held = "no copy" if copy is None else f"version {copy.version}"
                    return (f"the master named {replica} for reading chunk {handle}, which "
                            f"holds {held}, stale since the lease at version {leased} (t={time})")
    return None


def current_replicas(sim: Simulation, handle: int) -> dict[str, str]:
    """The contents of the chunk's current replicas: those the master's durable record names,
    holding the version of the chunk's latest lease or a newer one."""
    leased = max((f["version"] for k, _, _, f in sim.ghost
                  if k == "lease" and f["handle"] == handle), default=0)
    copies = {}
    for name in sim.contexts[MASTER].storage.get(f"replicas:{handle}", ()):
        replica = sim.contexts[name].storage.get(f"chunk:{handle}")
        if replica is not None and replica.version >= leased:
            copies[name] = replica.data
    return copies


@history_invariant("appends-at-offset")
def appends_at_offset(sim: Simulation) -> Verdict:
    """Every successful record append is present, whole, at the offset it returned, on every
    current replica of its chunk (GFS's relaxed consistency model: a defined region)."""
    appended: dict[int, list[tuple[int, str, Any]]] = {}
    for op in sim.operations():
        if op.f == "append" and op.status == "ok":
            index, offset = op.result
            appended.setdefault(index, []).append((offset, op.args[0], op))
    for handle, appends in sorted(appended.items()):
        copies = current_replicas(sim, handle)
        for offset, record, op in appends:
            problems = missing_appends(copies, [(offset, record)])
            if problems:
                layout = [f"{r.start}-{r.end} {r.kind}" for r in
                          regions([copies[n] for n in sorted(copies)], [a[:2] for a in appends])]
                return violated("appends-at-offset",
                                f"chunk {handle}: {problems[0]}; replicas {copies}",
                                {"ops": [op.to_json()], "regions": layout})
    return passed("appends-at-offset", f"{sum(map(len, appended.values()))} appends in place")
