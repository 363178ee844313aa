"""Invariants of SSO's cell that read only ghost facts, durable storage and the history.

Chubby runs the same cell, so it uses them too. None calls a replica's own helpers: a lease
is judged in true time from what the replicas noted when they asked, granted and promised
(`ctx.note`), a chosen value by the votes on the replicas' disks (`Storage.durable`), and a
read by what the clients wrote. The facts:

- `lease-asked` (ballot, start): a master asked for its lease, `start` being the reading it
  stamped on the request; the note's time is the true time it asked;
- `lease-granted` (master, ballot, start): a replica granted the request stamped `start`;
- `promised` (candidate, ballot): a replica promised a candidate (phase 1b);
- `lease-read` (ballot): a master answered a read from its own state, trusting its lease;
- `chosen` (slot, value): a replica learned a value (the Paxos core's note).

No module of this package defines `SYSTEM` here: the registry skips it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from checker.sim import Simulation
from checker.system import Invariant, history_invariant, state_invariant
from invariants.history import Operation
from invariants.verdict import Verdict, passed, violated

Replicas = Callable[[Simulation], list[str]]


def true_majority(replicas: list[str]) -> int:
    """The quorum the check holds the cell to, whatever quorum the code computes."""
    return len(replicas) // 2 + 1


class _Reader:
    """Per simulation and invariant: how much of the ghost record has been read."""

    def __init__(self) -> None:
        self.read = 0

    def new_facts(self, sim: Simulation) -> Iterator[tuple[str, int, str, dict]]:
        while self.read < len(sim.ghost):
            self.read += 1
            yield sim.ghost[self.read - 1]


# --- leases, in true time --------------------------------------------------------------------


class _Leases(_Reader):
    def __init__(self) -> None:
        super().__init__()
        self.asked: dict[tuple[str, Any, int], int] = {}  # (master, ballot, start) -> true time
        self.granted: dict[str, tuple[str, int]] = {}  # grantor -> (master, true time) latest
        # (master, ballot) -> grantor -> true time its latest granted request was asked
        self.support: dict[tuple[str, Any], dict[str, int]] = {}


def lease_checks(lease: int, replicas: Replicas) -> tuple[Invariant, Invariant]:
    """`one-lease-holder` and `reads-within-lease`, for leases lasting `lease` ticks of true
    time from when the master asked (each side allows for its clock's drift, so true time is
    the yardstick of a correct cell)."""

    @state_invariant("one-lease-holder")
    def one_lease_holder(sim: Simulation) -> str | None:
        """One master at a time: a replica that granted a master lease promises, or grants a
        lease to, no other replica until a whole lease has passed in true time since the
        grant — across its crashes too. (Any two majorities share a replica, so no two
        masters hold a majority's lease at once.)"""
        seen = sim.invariant_state("one-lease-holder", _Leases)
        if seen.read == len(sim.ghost):
            return None
        for kind, time, node, fact in seen.new_facts(sim):
            if kind not in ("lease-granted", "promised"):
                continue
            other = fact["master"] if kind == "lease-granted" else fact["candidate"]
            holder, since = seen.granted.get(node, (other, 0))
            if holder != other and time <= since + lease:
                act = "granted a lease to" if kind == "lease-granted" else "promised"
                return (f"{node} {act} {other} at t={time}, while the lease it granted {holder} "
                        f"at t={since} may run until t={since + lease}")
            if kind == "lease-granted":
                seen.granted[node] = (other, time)
        return None

    @state_invariant("reads-within-lease")
    def reads_within_lease(sim: Simulation) -> str | None:
        """A master answers a read from its own state only while a majority's grants back it:
        each granted a request of its ballot asked less than a lease ago in true time."""
        seen = sim.invariant_state("reads-within-lease", _Leases)
        if seen.read == len(sim.ghost):
            return None
        for kind, time, node, fact in seen.new_facts(sim):
            if kind == "lease-asked":
                seen.asked[(node, fact["ballot"], fact["start"])] = time
            elif kind == "lease-granted":
                asked = seen.asked.get((fact["master"], fact["ballot"], fact["start"]))
                if asked is not None:
                    backers = seen.support.setdefault((fact["master"], fact["ballot"]), {})
                    backers[node] = max(backers.get(node, asked), asked)
            elif kind == "lease-read":
                backers = seen.support.get((node, fact["ballot"]), {})
                cell = replicas(sim)
                live = sorted(g for g, asked in backers.items()
                              if g in cell and time < asked + lease)
                if len(live) < true_majority(cell):
                    return (f"{node} answered a read at t={time} under ballot {fact['ballot']} "
                            f"with only {', '.join(live) or 'nobody'} granting it a lease "
                            f"asked for after t={time - lease}")
        return None

    return one_lease_holder, reads_within_lease


# --- values chosen, on disk ------------------------------------------------------------------


class _Chosen(_Reader):
    def __init__(self, cell: list[str]) -> None:
        super().__init__()
        self.cell = cell
        self.slots: dict[int, tuple[str, Any]] = {}  # slot -> (vote key, value first learned)
        self.voters: dict[int, set[str]] = {}  # slot -> replicas with it on disk


def chosen_on_majority(replicas: Replicas) -> Invariant:
    @state_invariant("chosen-on-majority")
    def check(sim: Simulation) -> str | None:
        """Chosen means accepted by a majority: after every step, for every slot any replica
        learned, a majority of replicas hold on disk (what a crash now would leave) a vote for
        the learned value in that slot."""
        seen = sim.invariant_state("chosen-on-majority", lambda: _Chosen(replicas(sim)))
        stepped, slots = _votes_written(sim)
        if seen.read == len(sim.ghost) and stepped not in seen.cell:
            return None
        learned = []
        for kind, _, _, fact in seen.new_facts(sim):
            if kind == "chosen" and fact["slot"] not in seen.slots:
                seen.slots[fact["slot"]] = (f"vote/{fact['slot']}", fact["value"])
                seen.voters[fact["slot"]] = set()
                learned.append(fact["slot"])
        for node in seen.cell:
            _count_votes(sim, seen, node, learned)
        if stepped in seen.cell:
            _count_votes(sim, seen, stepped, seen.slots if slots is None else
                         [slot for slot in slots if slot in seen.slots])
        majority = true_majority(seen.cell)
        short = next((slot for slot, voters in seen.voters.items() if len(voters) < majority),
                     None)
        if short is None:
            return None
        return (f"slot {short} was learned as {seen.slots[short][1]!r}, but only "
                f"{', '.join(sorted(seen.voters[short])) or 'no replica'} of "
                f"{', '.join(seen.cell)} hold a vote for it on disk (t={sim.time})")
    return check


def _count_votes(sim: Simulation, seen: _Chosen, node: str, slots: Any) -> None:
    """Whether `node` holds on disk a vote for the learned value, for each of `slots`."""
    durable = sim.contexts[node].storage.durable
    for slot in slots:
        key, value = seen.slots[slot]
        vote = durable(key)
        if vote is not None and vote[1] == value:
            seen.voters[slot].add(node)
        else:
            seen.voters[slot].discard(node)


def _votes_written(sim: Simulation) -> tuple[str | None, list[int] | None]:
    """Which node's votes on disk the last step may have changed, and in which slots (None:
    any). A replica votes when an Accept reaches it, and for its own proposals when it takes
    office (a Promise completes its majority) or recovers; other own proposals go to slots
    nobody learned yet. Rechecking just those keeps the check cheap enough for every step."""
    if not sim.trace:
        return None, []
    step = sim.trace[-1]
    if step.event[0] == "restart":
        return step.event[1], None
    if step.event[0] != "deliver":
        return None, []
    kind = type(step.detail).__name__
    if kind == "Accept":
        return step.event[2], [step.detail.slot]
    return (step.event[2], None) if kind == "Promise" else (None, [])


# --- progress, and answers judged by content -------------------------------------------------


def progress() -> Invariant:
    """`progress` for a store of registers (`write((key, value))`, `read((key,))`)."""

    @history_invariant("progress")
    def check(sim: Simulation) -> Verdict:
        """After the ending (faults healed, nodes restarted, messages delivered, timers run),
        the last final operation of every client completes `ok`, and some write issued in the
        ending is acknowledged; every answer fits its request: a write returns nothing, a
        read returns None or a value some client wrote to that very key."""
        ops = sim.operations()
        problem = _unfinished(sim, ops) or _misfit(ops)
        if problem:
            sentence, op = problem
            return violated("progress", sentence, [op.to_json()] if op else [])
        finals = len(sim.final_ops)
        return passed("progress", f"{finals} final reads answered; every answer fits")
    return check


def _unfinished(sim: Simulation, ops: list[Operation]) -> tuple[str, Operation | None] | None:
    finals = [(step.event[1], step.detail) for step in sim.trace
              if step.phase == "quiesce" and step.event[0] == "invoke"]
    invoked = [client for client, _ in finals]
    for client, f, args in sim.final_ops:
        if client not in invoked:
            return (f"{client} was still busy when the ending stopped, so its final "
                    f"{f}{args!r} never ran", None)
    for client in dict.fromkeys(invoked):
        last = [op for op in ops if op.process == client][-1]
        if last.status != "ok":
            return (f"{client}'s final {last.f}{last.args!r} ended {last.status} after every "
                    f"fault was healed", last)
    writes = [op for op in ops if op.f == "write" and (op.process, ("write", op.args)) in finals]
    if writes and all(op.status != "ok" for op in writes):
        return (f"none of the {len(writes)} writes issued after every fault was healed "
                f"was acknowledged", writes[-1])
    return None


def _misfit(ops: list[Operation]) -> tuple[str, Operation] | None:
    written: dict[Any, set] = {}
    for op in ops:
        if op.f == "write":
            written.setdefault(op.args[0], set()).add(_hashable(op.args[1]))
    for op in ops:
        if op.status != "ok":
            continue
        if op.f == "write" and op.result is not None:
            return f"a write was answered {op.result!r}, not acknowledged", op
        if op.f == "read" and op.result is not None \
                and _hashable(op.result) not in written.get(op.args[0], ()):
            return f"a read of {op.args[0]!r} returned {op.result!r}, never written to it", op
    return None


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, (list, dict, set)) else value
