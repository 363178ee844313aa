"""BigTable's invariants. All but linearizability read the ghost record the tablet servers
keep: `served` (a server answered for a row, under its lock file), `acked` (it acknowledged
the version (row, ts, value) of a write or delete), `deleted` (it applied a tombstone) and
`tablet-state` (each row's newest version when a server loaded a tablet or merged its
SSTables)."""

from __future__ import annotations

from typing import Any

from checker.sim import Simulation
from checker.system import history_invariant, state_invariant
from implementations.bigtable.storage import GFS_NODE, in_range
from invariants.linearizability import check_linearizable
from invariants.verdict import Verdict
from models.bigtable import Table


class _Reader:
    """Per invariant and simulation: how much of the ghost record it has read, and its
    notes."""

    def __init__(self) -> None:
        self.read = 0
        self.servers: dict[str, list[str]] = {}  # row -> lock files that served it, in order
        self.acked: dict[str, dict[Any, Any]] = {}  # row -> {ts: value} acknowledged
        self.deleted: dict[str, list[Any]] = {}  # row -> timestamps of applied tombstones
        self.loads: dict[str, tuple[int, str]] = {}  # row -> latest assignment loaded, by whom

    def new_facts(self, sim: Simulation) -> list[tuple[str, int, str, dict]]:
        if self.read == len(sim.ghost):
            return []
        facts = sim.ghost[self.read:]
        self.read = len(sim.ghost)
        return facts


@state_invariant("one-server-per-row")
def one_server_per_row(sim: Simulation) -> str | None:
    """A tablet is served by one server at a time: once a row was loaded or answered for
    under a new lock file, no earlier lock file answers for it again, and no server loads it
    for an assignment older than one already loaded."""
    seen = sim.invariant_state("one-server-per-row", _Reader)
    for kind, time, node, fact in seen.new_facts(sim):
        if kind == "tablet-state" and fact["loaded"]:
            what, served = f"loaded tablet {fact['tablet']}", [
                row for row in rows(sim) if in_range(row, fact["lo"], fact["hi"])]
            for row in served:
                latest, by = seen.loads.get(row, (0, None))
                if fact["epoch"] < latest:
                    return (f"{node} loaded tablet {fact['tablet']} for assignment "
                            f"{fact['epoch']} under {fact['file']} at t={time}, after {by} "
                            f"had loaded row {row!r} for assignment {latest}: two servers "
                            "serve it")
                seen.loads[row] = (fact["epoch"], fact["file"])
        elif kind == "served":
            what, served = "answered", [fact["row"]]
        else:
            continue
        for row in served:
            last = (seen.servers.get(row) or [None])[-1]
            if _serves(seen, row, fact["file"]):
                return (f"{node} {what} under {fact['file']} at t={time}, after {last} had "
                        f"loaded or served row {row!r}: two servers serve it")
    return None


def rows(sim: Simulation) -> list[str]:
    """Every row the clients touch."""
    ops = [op for ops in sim.workload.values() for op in ops]
    ops += [(f, args) for _, f, args in sim.final_ops]
    return sorted({args[0] for _, args in ops})


def _serves(seen: _Reader, row: str, file: str) -> bool:
    """Record that `file` serves `row`; True if an earlier file served it since."""
    files = seen.servers.setdefault(row, [])
    if files and files[-1] == file:
        return False
    if file in files:
        return True
    files.append(file)
    return False


def _tablet_state_problems(seen: _Reader, sim: Simulation) -> list[tuple[str, str]]:
    """(invariant, sentence) for each row of a loaded or merged tablet whose newest
    acknowledged mutation is missing (lost) or is shadowed by older acknowledged data
    (reappeared)."""
    problems = []
    for kind, time, node, fact in seen.new_facts(sim):
        if kind == "acked":
            seen.acked.setdefault(fact["row"], {})[fact["ts"]] = fact["value"]
        elif kind == "deleted":
            seen.deleted.setdefault(fact["row"], []).append(fact["ts"])
        elif kind == "tablet-state":
            newest = {row: (ts, value) for row, ts, value in fact["newest"]}
            for row in sorted(seen.acked):
                if in_range(row, fact["lo"], fact["hi"]):
                    problem = _row_problem(seen, row, newest.get(row))
                    if problem:
                        invariant, what = problem
                        problems.append((invariant, f"{node} has tablet {fact['tablet']} at "
                                                    f"t={time}: {what}"))
    return problems


def _row_problem(seen: _Reader, row: str, found: tuple[Any, Any] | None) -> tuple[str, str] | None:
    acked = seen.acked[row]
    ts = max(acked)
    value = acked[ts]
    if found is None:  # no version: fine if the row's newest data is deleted
        if value is None or any(d > ts for d in seen.deleted.get(row, [])):
            return None
        return ("no-acked-write-lost",
                f"row {row!r} is empty, but the write of {value!r} (ts {ts}) was acknowledged")
    if found[0] >= ts:
        return None
    if value is None and found[1] is not None and acked.get(found[0]) == found[1]:
        return ("deletes-stick", f"row {row!r} shows {found[1]!r} (ts {found[0]}) again, "
                                 f"though its delete (ts {ts}) was acknowledged")
    what = "the delete" if value is None else f"the write of {value!r}"
    return ("no-acked-write-lost", f"row {row!r}'s newest version is ts {found[0]}, but "
                                   f"{what} (ts {ts}) was acknowledged")


def _tablet_state_invariant(name: str, description: str) -> Any:
    @state_invariant(name, description)
    def check(sim: Simulation) -> str | None:
        seen = sim.invariant_state(name, _Reader)
        return next((what for inv, what in _tablet_state_problems(seen, sim) if inv == name),
                    None)
    return check


no_acked_write_lost = _tablet_state_invariant(
    "no-acked-write-lost",
    "When a server loads a tablet (after a reassignment: log replay) or merges its SSTables, "
    "every row's newest acknowledged write or delete is there.")

deletes_stick = _tablet_state_invariant(
    "deletes-stick",
    "Deleted data never reappears: when a server loads or merges a tablet, no row shows an "
    "acknowledged version older than its acknowledged delete.")


@state_invariant("acked-durable")
def acked_durable(sim: Simulation) -> str | None:
    """Every acknowledged write or delete is on GFS's disk when it is acknowledged (in a
    synced commit log or SSTable), so no crash can take it away. Checked at each
    acknowledgement: what is synced stays synced (compactions and splits write synced)."""
    seen = sim.invariant_state("acked-durable", _Reader)
    for kind, time, node, fact in seen.new_facts(sim):
        if kind == "deleted":
            seen.deleted.setdefault(fact["row"], []).append(fact["ts"])
        if kind != "acked" or sim.nodes[GFS_NODE] is None:
            continue
        row, ts = fact["row"], fact["ts"]
        if not any(d >= ts for d in seen.deleted.get(row, [])) \
                and not any(t >= ts for t in durable_versions(sim, row)):
            return (f"{node} acknowledged version {ts} of row {row!r} at t={time}, but GFS "
                    "holds it only in its page cache: a crash of gfs would lose it")
    return None


def durable_versions(sim: Simulation, row: str) -> list[Any]:
    """The timestamps of `row`'s versions in GFS's synced files."""
    storage = sim.contexts[GFS_NODE].storage
    found = []
    for key in sorted(storage.items()):
        files = storage.durable(key)
        if key.startswith("tablet/") and files is not None:
            found += [r.ts for _, r in files.log if r.row == row and r.writes]
            found += [ts for s in files.sstables for r, ts, _ in s.cells if r == row]
    return found


@history_invariant("linearizable")
def linearizable_rows(sim: Simulation) -> Verdict:
    """Single-row operations are linearizable against a sorted multi-version map."""
    return check_linearizable(sim.operations(), Table())
