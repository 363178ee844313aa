"""BigTable's invariants. They read the ghost record the tablet servers and GFS keep:
`served` (a server answered for a row, under its lock file), `acked` (it acknowledged the
version (row, ts, value) of a write or delete), `deleted` (it applied a tombstone),
`tablet-state` (each row's newest version when a server loaded a tablet or merged its
SSTables) and `logged` (GFS appended a record to a commit log: every version that may ever
take effect); GFS's synced files (what a crash would leave); the clients' history; and at the
end the tablets the servers hold. Rows, ranges and versions are judged with the model's own
functions (`models.bigtable`), never the implementation's.

State invariants, after every step: `one-server-per-row`, `acked-durable`,
`no-acked-write-lost`, `deletes-stick`, `recovery-bounded` (in the ending). History
invariants, at the end: `progress-at-quiescence`, then `linearizable`."""

from __future__ import annotations

import functools
from typing import Any

from checker.recovery import bounded_recovery
from checker.sim import Simulation
from checker.system import history_invariant, state_invariant
from implementations.bigtable import client as table_client
from implementations.bigtable import master, tabletserver
from implementations.bigtable.storage import GFS_NODE
from implementations.chubby import ATTEMPTS as CHUBBY_ATTEMPTS
from implementations.chubby import CALL_TIMEOUT, GRACE, KEEPALIVE, RENEW, SESSION_LEASE
from implementations.paxos_core import MASTER as CHUBBY_MASTER
from invariants.history import OK, Operation
from invariants.linearizability import check_linearizable
from invariants.verdict import Verdict, passed, violated
from models.bigtable import Table, in_range, newest_cell
from models.lockservice import LockService

MASTER = "m"  # the master's node id (`implementations.bigtable.MASTER`)
CHUBBY = "ch1"  # the lock cell's one replica (`implementations.bigtable.CHUBBY`)
PROGRESS = "progress-at-quiescence"


class _Reader:
    """Per invariant and simulation: how much of the ghost record it has read, and its
    notes."""

    def __init__(self) -> None:
        self.read = 0
        self.servers: dict[str, list[str]] = {}  # row -> lock files that served it, in order
        self.acked: dict[str, dict[Any, Any]] = {}  # row -> {ts: value} acknowledged
        self.deleted: dict[str, list[Any]] = {}  # row -> timestamps of applied tombstones
        self.loads: dict[str, tuple[int, str]] = {}  # row -> latest assignment loaded, by whom
        self.steps = 0  # of the trace, looked at

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
    return sorted({args[0] for f, args in ops if f != "wait"})


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


def read_acknowledged(sim: Simulation, seen: _Reader) -> _Reader:
    """Read the new facts: each acknowledged version, and each delete GFS logged (any of
    which may have taken effect, acknowledged or not)."""
    for kind, _, _, fact in seen.new_facts(sim):
        if kind == "acked":
            seen.acked.setdefault(fact["row"], {})[fact["ts"]] = fact["value"]
        elif kind == "logged" and fact["writes"] and fact["value"] is None:
            seen.deleted.setdefault(fact["row"], []).append(fact["ts"])
    return seen


@state_invariant("acked-durable")
def acked_durable(sim: Simulation) -> str | None:
    """What a crash of GFS now would leave keeps every acknowledged mutation, after every
    step, not only at its acknowledgement: GFS's synced files hold each row in exactly one
    live tablet (a split keeps every row), and there each row's newest version is at least
    as new as its newest acknowledged write or delete (or a delete logged later hides it).
    Compactions, merges and splits must keep this as much as log appends."""
    seen = sim.invariant_state("acked-durable", _Reader)
    facts = seen.read
    read_acknowledged(sim, seen)
    if not seen.acked or (seen.read == facts and not _gfs_stepped(sim, seen)):
        return None  # nothing acknowledged since, and GFS's files unchanged
    tablets = durable_tablets(sim)
    for row in sorted(seen.acked):
        holding = [name for name, (lo, hi, _) in tablets.items() if in_range(row, lo, hi)]
        if len(holding) != 1:
            return (f"GFS's synced files hold row {row!r} in {len(holding)} live tablets "
                    f"({', '.join(holding) or 'none'}): a crash now would leave it "
                    f"{'nowhere' if not holding else 'twice'}")
        problem = _row_problem(seen, row, newest_cell(tablets[holding[0]][2], row))
        if problem:
            return f"a crash of gfs at t={sim.time} would leave tablet {holding[0]}, in " \
                   f"which {problem[1]}"
    return None


def _gfs_stepped(sim: Simulation, seen: _Reader) -> bool:
    """Whether a step since the last call involved GFS: only then can its files change."""
    steps, seen.steps = sim.trace[seen.steps:], len(sim.trace)
    return any(GFS_NODE in step.event for step in steps)


def durable_tablets(sim: Simulation) -> dict[str, tuple[str, str | None, list]]:
    """The live (unsplit) tablets in GFS's synced files: name -> (lo, hi, cells), the cells
    of its SSTables and of the writes in its commit log, as (row, ts, value)."""
    storage = sim.contexts[GFS_NODE].storage
    found = {}
    for key in sorted(storage.items()):
        files = storage.durable(key)
        if key.startswith("tablet/") and files is not None and not files.split_into:
            cells = [c for s in files.sstables for c in s.cells]
            cells += [(r.row, r.ts, r.value) for _, r in files.log if r.writes]
            found[key.removeprefix("tablet/")] = (files.lo, files.hi, cells)
    return found


# --- bounded recovery ----------------------------------------------------------------------

# How long after the faults end the cell may take to serve every row again. The ending's
# messages take no time, so only timers count, one after another in the worst case: a node may
# still wait out the longest Chubby call it had under way (CALL_TIMEOUT doubled for each of its
# attempts) before it asks again; a server in jeopardy gives its session up after GRACE; the
# session of a server that is gone outlives its last KeepAlive by SESSION_LEASE, until the
# cell's next RENEW ends it; the master suspects that server SUSPECT after it last heard it and
# asks for its lock at its next TICK; a server refused its lock asks again after RETRY; and a
# split waits for a compaction GFS has not confirmed (resent after RETRY) and the master's next
# TICK. Servers' clocks drift within +-epsilon, so that chain may run 2 epsilon longer.
RECOVERY = ((CALL_TIMEOUT << (CHUBBY_ATTEMPTS - 1)) + GRACE + SESSION_LEASE + RENEW
            + master.SUSPECT + master.TICK + 2 * tabletserver.RETRY + master.TICK)
# How long a client operation may then take to return: a server that still has every tablet
# but whose lease lapsed before the cell recovered is back within its next KeepAlive (its clock
# may run 2 epsilon late); the client's own timer under way fires (a TIMEOUT at most); a
# refusal sends it back to the master after BACKOFF; and a request that found its row's
# previous mutation still in the log pipeline is dropped (the server nudges that one along)
# and sent again after TIMEOUT. Clients' clocks do not drift. Not timed: `wait`.
RETURNS = KEEPALIVE + 2 * table_client.TIMEOUT + table_client.BACKOFF


def _cell_problem(sim: Simulation) -> str | None:
    """What keeps a row from being served: the split the master asks for not done; the
    master's map not giving the row to one lock file, or not confirmed loaded; no server
    under that file holding the tablet for that assignment with its lock granted; or Chubby
    not master, or not holding that lock for that server's session (a session Chubby ended
    would take the tablets away again)."""
    cell, boss = sim.nodes.get(CHUBBY), sim.nodes.get(MASTER)
    if cell is None or boss is None or cell.role != CHUBBY_MASTER:
        return "the lock cell or the master is not up, or the cell has no master"
    key = boss.split_key
    if key is not None and not any(lo == key for lo, *_ in boss.tablets.values()):
        return f"the master's map is {sorted(boss.tablets)}: the split at {key!r} is not done"
    for row in rows(sim):
        entries = [(name, e) for name, e in sorted(boss.tablets.items())
                   if in_range(row, e[0], e[1])]
        if len(entries) != 1 or entries[0][1][2] is None:
            return f"the master's map gives row {row!r} to {entries}: not to one server"
        name, (_, _, file, epoch) = entries[0]
        if boss.confirmed.get(name) != epoch:
            return f"tablet {name} (assignment {epoch}) is not confirmed loaded"
        holders = [s for s in sim.servers if s in sim.nodes
                   and getattr(sim.nodes[s], "file", None) == file
                   and getattr(sim.nodes[s].tablets.get(name), "epoch", None) == epoch]
        if not holders or sim.nodes[holders[0]].generation is None:
            return f"no server holds tablet {name} under {file} with its lock granted"
        state = cell.database.state  # Chubby's database, as the model `LockService` has it
        session = sim.nodes[holders[0]].session
        if LockService.lock(state, file).holder != session or session in state.expired:
            return f"Chubby does not hold {file} for {holders[0]}'s session {session}"
    return None


@functools.cache
def _bounded(epsilon: int) -> Any:
    return bounded_recovery("bigtable-recovery", _cell_problem, RECOVERY + 2 * epsilon,
                            RETURNS + 2 * epsilon, ("wait",), "the cell")


@state_invariant("recovery-bounded", """After the faults end, within RECOVERY ticks, every
row is served: the split done, the master's map giving it to one lock file, confirmed
loaded, held by a server under that file whose lock Chubby holds for its session; and then
every client operation (but `wait`) returns within RETURNS ticks of that, or of its call.""")
def recovery_bounded(sim: Simulation) -> str | None:
    return _bounded(sim.epsilon)(sim)


# --- at the end ------------------------------------------------------------------------------


@history_invariant(PROGRESS)
def progress_at_quiescence(sim: Simulation) -> Verdict:
    """Once the ending healed every fault and let the cell settle: each final read ran and
    succeeded; the split the master asks for happened; the master's map gives every row to
    one lock file, whose server holds a tablet covering it at least as new as the row's
    newest acknowledged mutation, with no compaction or split left waiting; and each final
    read returned that row's content as the tablet holds it. A cell that stops serving, or
    stops compacting, fails here, however safe it stayed."""
    finals, problem = final_reads(sim)
    problem = problem or _served_at_the_end(sim, finals)
    if problem:
        return violated(PROGRESS, problem, {"time": sim.time})
    return passed(PROGRESS, "every final read succeeded, and every row is served with its "
                            "acknowledged content")


def final_reads(sim: Simulation) -> tuple[dict[str, Operation], str | None]:
    """row -> its final read, each of which must have run and succeeded; or what went wrong."""
    finals: dict[str, Operation] = {}
    for client in sim.clients:
        wanted = [(f, args) for c, f, args in sim.final_ops if c == client and f != "wait"]
        mine = [op for op in sim.operations()
                if op.process == client and op.f != "wait"][-len(wanted):]
        if [(op.f, op.args) for op in mine] != wanted:
            return finals, f"{client}'s final reads {wanted} never ran: an earlier " \
                           "operation was still pending"
        for op in mine:
            if op.status != OK:
                return finals, f"{op.describe()}: a final read failed once every fault healed"
            finals[op.args[0]] = op
    return finals, None


def _served_at_the_end(sim: Simulation, finals: dict[str, Operation]) -> str | None:
    """The split the master asks for is done; every row: the master's map names a lock file,
    its server holds a tablet covering the row, with no compaction or split stuck and with
    the acknowledged content, which the row's final read returned."""
    master = sim.nodes[MASTER]
    key = master.split_key
    if key is not None and not any(lo == key for lo, *_ in master.tablets.values()):
        return f"at the end the master's map is {sorted(master.tablets)}: the split at " \
               f"{key!r} it asks for never happened"
    seen = read_acknowledged(sim, _Reader())
    for row in rows(sim):
        entries = [(name, e[2]) for name, e in sorted(master.tablets.items())
                   if in_range(row, e[0], e[1])]
        if len(entries) != 1 or entries[0][1] is None:
            return f"at the end the master's map gives row {row!r} to {entries}: not to one " \
                   "server"
        name, file = entries[0]
        holders = [s for s in sim.servers if getattr(sim.nodes[s], "file", None) == file
                   and name in sim.nodes[s].tablets]
        if not holders:
            return f"at the end the master gives tablet {name} to {file}, and no server " \
                   "holding that lock file has it loaded"
        tablet = sim.nodes[holders[0]].tablets[name]
        if tablet.storing is not None or tablet.splitting:
            return f"at the end {holders[0]} still waits for GFS to store a compaction or " \
                   f"split of tablet {name}, with nothing left in flight"
        cells = [c for s in tablet.sstables for c in s.cells] + list(tablet.memtable)
        newest = newest_cell(cells, row)
        if row in seen.acked and (problem := _row_problem(seen, row, newest)):
            return f"at the end {holders[0]} serves tablet {name}: {problem[1]}"
        value = None if newest is None else newest[1]
        if row in finals and finals[row].result != value:
            return f"{finals[row].describe()}, but {holders[0]} serves tablet {name} with " \
                   f"{value!r} for row {row!r}"
    return None


@history_invariant("linearizable")
def linearizable_rows(sim: Simulation) -> Verdict:
    """Single-row operations are linearizable against a sorted multi-version map."""
    return check_linearizable([op for op in sim.operations() if op.f != "wait"], Table())
