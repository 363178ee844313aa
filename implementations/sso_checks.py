"""Invariants of SSO's cell that read only ghost facts, durable storage and the history.

Chubby runs the same cell, so it uses them too. None calls a replica's own helpers: a lease
is judged in true time from what the replicas noted when they asked, granted and promised
(`ctx.note`), a chosen value by the votes on the replicas' disks (`Storage.durable`), a
promise by the votes a replica writes after it noted the promise (or a lease grant), the
backing of a candidate by the promises a replica noted, timed on its clock (the engine's), a
learner's catching up by the heartbeats the network delivered, a read by what the clients
wrote, and a master's term of office by its first lease request of a ballot and what ended it
(a `Rejected` the network delivered, a promise it noted, a crash). The facts:

- `lease-asked` (ballot, start): a master asked for its lease, `start` being the reading it
  stamped on the request; the note's time is the true time it asked;
- `lease-granted` (master, ballot, start): a replica granted the request stamped `start`;
- `promised` (candidate, ballot): a replica promised a candidate (phase 1b);
- `lease-read` (ballot): a master answered a read from its own state, trusting its lease;
- `chosen` (slot, value): a replica learned a value (the Paxos core's note; the learned log
  is durable, so a replica's notes are what it holds across its crashes).

No module of this package defines `SYSTEM` here: the registry skips it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from checker.sim import Simulation, Step
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


# --- promises kept, on disk ------------------------------------------------------------------


class _Promises(_Reader):
    def __init__(self, cell: list[str]) -> None:
        super().__init__()
        self.cell = cell
        # replica -> (highest ballot it acknowledged, how, when): across its crashes
        self.acknowledged: dict[str, tuple[Any, str, int]] = {}
        self.disks: dict[str, dict[str, Any]] = {replica: {} for replica in cell}  # as last seen
        self.writes: dict[str, int] = {}  # replica -> its disk's `Storage.writes` then


def promises_kept(replicas: Replicas) -> Invariant:
    @state_invariant("promises-kept")
    def check(sim: Simulation) -> str | None:
        """An acceptor keeps its promises, across its crashes too (Paxos Made Simple, section
        2.2: it "must remember this information even if it fails and then restarts"): once a
        replica promised a ballot, or granted the master of a ballot its lease (a lease for
        a ballot is a promise of it: the grantor backs that master, not one it deposed), no
        vote under a lower ballot reaches its disk. The promises are the replicas' notes
        (`promised`, `lease-granted`), the votes what their disks hold: after every step, each
        vote the node that ran it wrote (whatever the message or timer) is judged by what the
        node had promised before that step."""
        seen = sim.invariant_state("promises-kept", lambda: _Promises(replicas(sim)))
        node = _handler_ran_at(sim.trace[-1]) if sim.trace else None
        if node in seen.cell:
            broken = _vote_below_promise(sim, seen, node)
            if broken:
                return broken
        for kind, time, replica, fact in seen.new_facts(sim):
            if kind in ("promised", "lease-granted") and replica in seen.cell:
                highest = seen.acknowledged.get(replica)
                if highest is None or fact["ballot"] > highest[0]:
                    how = (f"promised {fact['candidate']}" if kind == "promised"
                           else f"granted {fact['master']} its lease")
                    seen.acknowledged[replica] = (fact["ballot"], how, time)
        return None
    return check


def _handler_ran_at(step: Step) -> str | None:
    """The node whose code the step ran (a delivery's receiver, a timer's owner, a restarted
    node), whatever the message or timer: any of them may write to its disk."""
    if step.event[0] == "deliver":
        return step.event[2]
    return step.event[1] if step.event[0] in ("fire", "restart") else None


def _vote_below_promise(sim: Simulation, seen: _Promises, node: str) -> str | None:
    """The first vote `node`'s disk holds (as a crash now would leave it) that it did not
    hold when last looked at, under a ballot lower than one the node had promised; records
    what the disk now holds. A disk not written since (`Storage.writes`, the engine's count)
    holds what it held: most steps that run a replica's code (its timers) write nothing, and
    copying the disk to compare was about half of the check's time."""
    storage = sim.contexts[node].storage
    writes = storage.writes
    if seen.writes.get(node) == writes:
        return None
    seen.writes[node] = writes
    disk, before = storage.durable_items(), seen.disks[node]
    if disk == before:
        return None
    seen.disks[node], promise = disk, seen.acknowledged.get(node)
    if promise is None:
        return None
    ballot, how, when = promise
    for key, vote in disk.items():
        if key.startswith("vote/") and vote != before.get(key) and vote[0] < ballot:
            return (f"{node} voted under ballot {vote[0]} in slot {key[5:]} at t={sim.time}, "
                    f"though it had {how} under ballot {ballot} at t={when}")
    return None


# --- learners catch up ----------------------------------------------------------------------


def learners_catch_up(replicas: Replicas) -> Invariant:
    @history_invariant("learners-catch-up")
    def check(sim: Simulation) -> Verdict:
        """Every replica learns every chosen value (Paxos Made Simple, the learners): a replica
        that, in the ending, takes a master's heartbeat (a lease request it does not reject)
        ends up knowing every slot the master had applied when it asked. Its Chosen messages
        may have been lost, but it asks the master for what it misses, and in the ending (faults
        healed, every message delivered) the answer arrives."""
        cell = replicas(sim)
        learned, applied_when_asked = _learners(sim, cell)
        for step, master, replica, request in _heartbeats_in_the_ending(sim, cell):
            applied = applied_when_asked.get((master, request.ballot, request.start), 0)
            missing = next((slot for slot in range(applied) if slot not in learned[replica]),
                           None)
            if missing is not None:
                return violated("learners-catch-up", (
                    f"{replica} never learned slot {missing}, though at t={step.time}, with every "
                    f"fault healed, it took a heartbeat from {master}, which had applied slots "
                    f"0..{applied - 1} when it asked"), {"replica": replica, "master": master})
        return passed("learners-catch-up", "every replica caught up with its master")
    return check


def _learners(sim: Simulation, cell: list[str]) -> tuple[dict[str, set[int]], dict]:
    """The slots each replica learned (its `chosen` notes: the learned log is durable), and for
    each lease request (master, ballot, start) how many slots the master had applied (its
    learned log's unbroken prefix) when it asked."""
    learned: dict[str, set[int]] = {replica: set() for replica in cell}
    applied = dict.fromkeys(cell, 0)
    applied_when_asked: dict[tuple[str, Any, int], int] = {}
    for kind, _, node, fact in sim.ghost:
        if node not in learned:
            continue
        if kind == "chosen":
            learned[node].add(fact["slot"])
            while applied[node] in learned[node]:
                applied[node] += 1
        elif kind == "lease-asked":
            applied_when_asked.setdefault((node, fact["ballot"], fact["start"]), applied[node])
    return learned, applied_when_asked


def _heartbeats_in_the_ending(sim: Simulation, cell: list[str]) -> Iterator[tuple]:
    """(step, master, replica, request) for each lease request delivered in the ending that its
    replica did not answer with a rejection of the request's ballot."""
    rejected: dict[tuple[str, str, Any], int] = {}  # (replica, master, ballot) -> last step
    for i, step in enumerate(sim.trace):
        if _delivered(step, "Rejected"):
            rejected[(step.event[1], step.event[2], step.detail.ballot)] = i
    for i, step in enumerate(sim.trace):
        if step.phase == "quiesce" and _delivered(step, "LeaseRequest"):
            master, replica = step.event[1], step.event[2]
            if master in cell and replica in cell \
                    and rejected.get((replica, master, step.detail.ballot), -1) < i:
                yield step, master, replica, step.detail


# --- elections -------------------------------------------------------------------------------


class _Backing(_Reader):
    def __init__(self) -> None:
        super().__init__()
        # replica -> (candidate, true time, the replica's clock) of its latest promise to a
        # candidate other than itself
        self.backed: dict[str, tuple[str, int, int]] = {}


def backs_one_candidate(candidacy: int, replicas: Replicas) -> Invariant:
    @state_invariant("backs-one-candidate")
    def check(sim: Simulation) -> str | None:
        """Candidates do not duel. Two proposers that each keep issuing a higher ballot than
        the other's may never choose anything (Paxos Made Simple, section 2.4), so progress
        needs one candidate at a time, elected by timeouts: a replica that promised a
        candidate backs it alone for a candidacy (`candidacy` ticks of its own clock, the time
        a candidate is given to win) and promises no other candidate in that time, itself
        included (a replica standing for election promises itself first). Judged from the
        replicas' `promised` notes, each read right after the step that made it, on the
        replica's clock: the note's true time plus the clock's offset then (the engine's).
        The rule is the replica's own timeout, so a skewed clock shortens or lengthens it in
        true time. Refusing a promise is always safe, and a restarted replica supports
        nobody for a lease, so the rule holds across crashes too."""
        seen = sim.invariant_state("backs-one-candidate", _Backing)
        if seen.read == len(sim.ghost):
            return None
        cell = replicas(sim)
        for kind, time, node, fact in seen.new_facts(sim):
            if kind != "promised" or node not in cell:
                continue
            clock, candidate = time + sim.contexts[node].offset, fact["candidate"]
            backed = seen.backed.get(node)
            if backed is not None and backed[0] != candidate and clock < backed[2] + candidacy:
                whom = "itself" if candidate == node else candidate
                return (f"{node} promised {whom} (ballot {fact['ballot']}) at t={time}, "
                        f"{clock - backed[2]} ticks of its clock after it promised {backed[0]} "
                        f"(t={backed[1]}), which it backs for {candidacy}")
            if candidate != node:
                seen.backed[node] = (candidate, time, clock)
        return None
    return check


# --- master location ------------------------------------------------------------------------


def honest_redirects(replicas: Replicas) -> Invariant:
    @history_invariant("honest-redirects")
    def check(sim: Simulation) -> Verdict:
        """Clients find the master through the replicas (Chubby, section 2.1: a replica answers
        a master location request with the identity of the master), so a replica that turns a
        client away naming itself ("I am master, not ready yet": the client waits and asks it
        again) must be master when it answers: it took office under a ballot (its first lease
        request of that ballot, a master's first act) and has not lost that ballot since -- no
        `Rejected` of it reached the replica, it promised no higher ballot, it did not crash. A
        deposed master that still names itself keeps clients waiting on it instead of finding
        the master."""
        cell = replicas(sim)
        terms: dict[str, list[tuple[int, float]]] = {replica: [] for replica in cell}
        for replica, _, start, end in _terms_of_office(sim, cell):
            terms[replica].append((start, end))
        asked: dict[tuple[str, str, int], list[int]] = {}  # (client, replica, req) -> times
        for step in sim.trace:
            if step.event[0] != "deliver" or not hasattr(step.detail, "req"):
                continue
            src, dst = step.event[1], step.event[2]
            if dst in cell and src not in cell:
                asked.setdefault((src, dst, step.detail.req), []).append(step.time)
            elif src in cell and getattr(step.detail, "hint", None) == src:
                times = asked.get((dst, src, step.detail.req), [])
                if not any(start <= time <= end for time in times for start, end in terms[src]):
                    return violated("honest-redirects", (
                        f"{src} told {dst} it was master (request {step.detail.req}, asked at "
                        f"t={', '.join(map(str, times))}), but it held no office then"),
                        {"replica": src, "client": dst})
        return passed("honest-redirects", "every replica that named itself master was master")
    return check


def _terms_of_office(sim: Simulation, cell: list[str]) -> list[tuple[str, Any, int, float]]:
    """The terms of office, (replica, ballot, start, end) in true time: from a lease request of
    a ballot the replica holds no running term under (a master's first act) to the first of a
    promise it made of a higher ballot, a `Rejected` of the ballot reaching it, or its crash. (A
    proposer that forgot its ballots and takes office again under one starts a new term.) The
    notes are in the order they were made; a delivery or a crash in the tick of a note comes
    after it, as it must in a correct cell: no replica asks under a ballot it was just told is
    stale, nor acts once crashed."""
    # (time, 0 for a note or 1 for a step, replica, the ballot it asks under, or which of its
    # ballots the event ends)
    events: list[tuple[int, int, str, Any, Callable[[Any], bool] | None]] = []
    for kind, time, node, fact in sim.ghost:
        if kind == "lease-asked":
            events.append((time, 0, node, fact["ballot"], None))
        elif kind == "promised":
            events.append((time, 0, node, None, fact["ballot"].__gt__))
    for step in sim.trace:
        if step.event[0] == "crash":
            events.append((step.time, 1, step.event[1], None, lambda _: True))
        elif _delivered(step, "Rejected"):
            events.append((step.time, 1, step.event[2], None, step.detail.ballot.__eq__))
    running: dict[tuple[str, Any], int] = {}  # (replica, ballot) -> when its term started
    terms = []
    for time, _, node, asks, ends in sorted(events, key=lambda event: event[:2]):
        if node not in cell:
            continue
        if asks is not None:
            running.setdefault((node, asks), time)
            continue
        for replica, ballot in [term for term in running if term[0] == node and ends(term[1])]:
            terms.append((replica, ballot, running.pop((replica, ballot)), time))
    return terms + [(replica, ballot, start, float("inf"))
                    for (replica, ballot), start in running.items()]


def lease_renewed(lease: int, replicas: Replicas) -> Invariant:
    @history_invariant("lease-renewed")
    def check(sim: Simulation) -> Verdict:
        """The master lease is renewed while the master keeps a majority (Chubby, section 2.1:
        "periodically renewed by the replicas provided the master continues to win a majority";
        Paxos Made Live, master leases), so that reads stay local: in the ending (every fault
        healed, every message delivered), once a majority has granted a master requests it
        asked in the ending, the master holds such a lease without a gap -- each grant counted
        for a lease from when it was asked, in true time -- until it loses office or the run
        ends. (A master paused into the ending is judged from the end of its pause on: its
        timers waited for it. A grant made at or before its grantor's last restart -- asked as
        the ending began, granted, then the grantor crashed -- does not count: the replica
        supports nobody for a lease after its restart.)"""
        ending = sim.ending_began()
        if ending is None:
            return passed("lease-renewed", "no ending")
        cell = replicas(sim)
        terms, paused = _terms_of_office(sim, cell), _pauses_end(sim)
        restarted = _last_restarts(sim)
        for (master, ballot), grants in _grants_asked_since(sim, cell, ending).items():
            grants = [grant for grant in grants if grant[0] > restarted.get(grant[1], -1)]
            if not grants:
                continue
            until = min(_term_end(terms, master, ballot, grants[0][2]), sim.time)
            gap = _lapse(grants, true_majority(cell), lease, (paused.get(master, 0), until))
            if gap is not None:
                return violated("lease-renewed", (
                    f"{master}'s lease under ballot {ballot} ran out at t={gap}, after a "
                    f"majority had granted it in the ending, and it held office until "
                    f"t={until} without renewing it"), {"master": master})
        return passed("lease-renewed", "every master holding a lease in the ending renewed it")
    return check


def master_kept_at_rest(lease: int, replicas: Replicas) -> Invariant:
    @state_invariant("master-kept-at-rest")
    def check(sim: Simulation) -> str | None:
        """A cell left alone keeps its master: a master that a majority's lease backed when
        the ending's rest began (every fault healed, every final operation done, nothing asked
        of the cell from then on) holds office until the run ends. Its lease is renewed while
        it wins a majority (Chubby, section 2.1), and no replica has cause to stand: a master
        deposed at rest is an election that nothing called for, and a cell that holds one
        whenever it is left alone stops serving reads for as long as each takes. (A master
        paused into the rest is not judged: its timers wait out its pause, so it cannot renew
        its lease. The terms are worked out again only after a step that brought one of the
        events that end a term: a promise noted, a `Rejected` delivered, a crash.)"""
        began = sim.rest_began()
        if began is None:
            return None
        noted = {kind for kind, _, _, _ in
                 sim.invariant_state("master-kept-at-rest", _Reader).new_facts(sim)}
        if "promised" not in noted and not _ends_terms(sim.trace[-1]):
            return None
        cell = replicas(sim)
        backed, paused = leases_at(sim, cell, lease, began), _pauses_end(sim)
        for master, ballot, start, end in _terms_of_office(sim, cell):
            until = backed.get((master, ballot))
            if until is not None and start <= began < end < float("inf") \
                    and paused.get(master, 0) <= began:
                return (f"{master} held office under ballot {ballot} with a majority's lease "
                        f"until t={until} when the rest began (t={began}), and lost office at "
                        f"t={end} with no fault and no request")
        return None
    return check


def _ends_terms(step: Step) -> bool:
    """Whether the step is one of `_terms_of_office`'s ends besides a promise: a crash, or a
    `Rejected` delivered."""
    return step.event[0] == "crash" or _delivered(step, "Rejected")


def _delivered(step: Step, kind: str) -> bool:
    """Whether the step delivered a message of the protocol's type named `kind`."""
    return step.event[0] == "deliver" and type(step.detail).__name__ == kind


def leases_at(sim: Simulation, cell: list[str], lease: int, moment: int) -> dict[tuple, int]:
    """For each (master, ballot) a majority's grants back at `moment` (counting the grants
    made by then), when that lease runs out, in true time."""
    majority, leases = true_majority(cell), {}
    for term, grants in _grants_asked_since(sim, cell, 0).items():
        latest: dict[str, int] = {}
        for time, grantor, asked in grants:
            if time <= moment:
                latest[grantor] = max(latest.get(grantor, asked), asked)
        if len(latest) >= majority:
            until = sorted(latest.values())[-majority] + lease
            if until > moment:
                leases[term] = until
    return leases


def _term_end(terms: list[tuple[str, Any, int, float]], master: str, ballot: Any,
              asked: int) -> float:
    """When the term of office in which `master` asked under `ballot` at `asked` ended."""
    return next(end for replica, held, start, end in terms
                if (replica, held) == (master, ballot) and start <= asked <= end)


def _grants_asked_since(sim: Simulation, cell: list[str], since: int) -> dict[tuple, list]:
    """For each (master, ballot), its grants of requests asked at or after `since`: (when
    granted, grantor, when asked), in true time and in the order granted."""
    asked: dict[tuple[str, Any, int], int] = {}
    grants: dict[tuple[str, Any], list[tuple[int, str, int]]] = {}
    for kind, time, node, fact in sim.ghost:
        if kind == "lease-asked" and time >= since:
            asked.setdefault((node, fact["ballot"], fact["start"]), time)
        elif kind == "lease-granted" and node in cell:
            when = asked.get((fact["master"], fact["ballot"], fact["start"]))
            if when is not None:
                grants.setdefault((fact["master"], fact["ballot"]), []).append((time, node, when))
    return grants


def _lapse(grants: list[tuple[int, str, int]], majority: int, lease: int,
           judged: tuple[int, float]) -> int | None:
    """When the lease these grants give first runs out before the next grant, within the
    `judged` span of time, once a majority has granted (None: never). At each moment the lease
    runs until the oldest of the majority's latest requests, plus `lease`."""
    latest: dict[str, int] = {}
    nexts = [time for time, _, _ in grants[1:]] + [judged[1]]
    for (time, grantor, asked), next_grant in zip(grants, nexts):
        latest[grantor] = max(latest.get(grantor, asked), asked)
        if len(latest) < majority or next_grant == time:
            continue
        runs_out = sorted(latest.values())[-majority] + lease
        if max(runs_out, judged[0]) < min(next_grant, judged[1]):
            return runs_out
    return None


def _last_restarts(sim: Simulation) -> dict[str, int]:
    """When each node last restarted. A replica supports no master for a lease after its
    restart, so a grant it made at or before that time came before its crash, and it may not
    renew it for a lease: such grants do not oblige the master to keep its lease."""
    return {step.event[1]: step.time for step in sim.trace if step.event[0] == "restart"}


def _pauses_end(sim: Simulation) -> dict[str, int]:
    """When each node's last pause ended."""
    return {step.event[1]: step.time + step.event[2] for step in sim.trace
            if step.event[0] == "pause"}


# --- the state machine ----------------------------------------------------------------------


def maps_match_logs(sim: Simulation, cell: list[str],
                    data_of: Callable[[str], dict]) -> Verdict:
    """`applied-once` for SSO's store, whose commands are writes named by (client, req): each
    replica's map (`data_of`) is what its learned log gives, applied in slot order with each
    client's write taking effect once, and never after a later write of the same client (the
    rule that makes a client's retries safe, when a retry is chosen in a second slot)."""
    for replica in cell:
        log = _learned_log(sim, replica)
        expected = _applied_at_most_once(log)
        if data_of(replica) != expected:
            return violated("applied-once", (
                f"{replica} holds {data_of(replica)!r}, but its log, slots 0..{len(log) - 1}, "
                f"applied with each client's write once and none after a later one of that "
                f"client, gives {expected!r}"), {"replica": replica})
    return passed("applied-once", f"{len(cell)} replicas hold what their logs give")


def _learned_log(sim: Simulation, replica: str) -> list[Any]:
    """The unbroken prefix of the values `replica` learned (its `chosen` notes), in slot order:
    what it has applied."""
    learned: dict[int, Any] = {}
    for kind, _, node, fact in sim.ghost:
        if kind == "chosen" and node == replica:
            learned.setdefault(fact["slot"], fact["value"])
    log = []
    while len(log) in learned:
        log.append(learned[len(log)])
    return log


def _applied_at_most_once(log: list[Any]) -> dict:
    data: dict = {}
    last: dict[str, int] = {}  # client -> its latest write applied
    for write in log:
        if write is not None and write.req > last.get(write.client, 0):
            data[write.key] = write.value
            last[write.client] = write.req
    return data


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
