"""What a GFS run must satisfy: one lease per chunk, the primary's serial order, no mutation
applied after its lease, no stale reads, the master's versions ahead of every copy, the
record-append promise of the relaxed consistency model (`models/gfs.py`), reads that see what
was appended, no chunk past its fixed size, client calls that give up after their tries, and,
in and after the ending, replicas made stale only by a missed bump, clones asked for at every
scan while a chunk is short, and every chunk back to its full set of up-to-date replicas.

Every check reads the ghost record (`lease`, `named`, `served`, `applied`), the history, the
trace's events, and the nodes' disks as a crash now would leave them (`Storage.durable`);
none asks the code it checks whether a lease is valid or a replica current.
"""

from __future__ import annotations

from typing import Any

from checker.sim import Simulation, Step
from checker.system import history_invariant, state_invariant
from implementations.gfs.chunkserver import ChunkServer
from implementations.gfs.messages import (
    CHUNK_SIZE,
    CLIENT_ATTEMPTS,
    MASTER,
    MAX_CHUNKS,
    PAD,
    PATH,
    REPLICAS,
    REPLICATION_POLLS,
    CloneChunk,
    CloneDone,
    Heartbeat,
    NewVersion,
)
from invariants.history import OK, Operation
from invariants.verdict import Verdict, passed, violated
from models.gfs import holds, missing_appends, regions, unwritten

PROGRESS, READS, VERSIONS = "progress-at-quiescence", "reads-see-appends", "chunk-versions"
SIZE, GIVES_UP, PROMPT = "fixed-size-chunks", "client-gives-up", "prompt-re-replication"
KEPT = "takers-kept"


def chunkservers(sim: Simulation) -> list[tuple[str, ChunkServer]]:
    return [(n, sim.nodes[n]) for n in chunkserver_names(sim)]


def chunkserver_names(sim: Simulation) -> tuple[str, ...]:
    return sim.invariant_state("gfs-chunkservers", lambda: tuple(
        n for n in sim.servers if isinstance(sim.nodes[n], ChunkServer)))


@state_invariant("one-lease-per-chunk")
def one_lease_per_chunk(sim: Simulation) -> str | None:
    """At any true time, at most one chunkserver holds a lease on a chunk that it may still
    act on: one whose end its clock cannot have passed (latest(now) < until)."""
    holders: dict[int, list[str]] = {}
    for name, node in chunkservers(sim):
        if not sim.up(name) or not node.leases:
            continue
        latest = sim.contexts[name].truetime()[1]
        for handle, lease in sorted(node.leases.items()):
            if latest < lease.until:
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
        self.until: dict[tuple[int, int], int] = {}  # (handle, version) -> its lease's end


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


@state_invariant("mutations-within-lease")
def mutations_within_lease(sim: Simulation) -> str | None:
    """No replica applies a mutation after the lease it was ordered under ran out (GFS section
    3.1): once `until` has passed in true time the master may grant the chunk to another
    primary, and the old lease's mutations must be over everywhere by then, the primary's
    own included, or two primaries' orders would mix."""
    seen, facts = _new_facts(sim, "mutations-within-lease")
    for kind, time, server, fact in facts:
        handle, version = fact.get("handle"), fact.get("version")
        if kind == "lease":
            seen.until[(handle, version)] = fact["until"]
        elif kind == "applied" and time > seen.until.get((handle, version), time):
            return (f"{server} applied mutation {fact['serial']} of chunk {handle} version "
                    f"{version} at t={time}, after its lease ran out at "
                    f"t={seen.until[(handle, version)]}")
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


class _Steps:
    checked = 0  # how many steps of the trace an invariant has looked at


def servers_acted(sim: Simulation, name: str) -> set[str] | None:
    """The servers (the master, chunkservers) that handled an event, crashed or restarted
    since the invariant `name` last looked: only those changed what is on their disks.
    None on its first look: everything is new."""
    seen = sim.invariant_state(name + "/steps", _Steps)
    first = seen.checked == 0
    steps, seen.checked = sim.trace[seen.checked:], len(sim.trace)
    acted = {step.event[2 if step.event[0] == "deliver" else 1] for step in steps
             if step.event[0] in ("deliver", "fire", "crash", "restart")}
    return None if first else acted & set(sim.servers)


@state_invariant(VERSIONS)
def chunk_versions(sim: Simulation) -> str | None:
    """The master's version of a chunk is the authority on which copies are current (GFS
    section 4.5), so at every moment, on the disks as a crash now would leave them: no
    chunkserver holds a copy newer than the master's version (a restarted master would take
    it for stale and delete it), nor a copy of a chunk the master's namespace lacks; and every
    replica the master's record names holds a copy at least as new as the chunk's latest lease
    (the replicas that lease went to, or clones made since). Only disks that changed since
    the last look are read again (all of them when the master's did)."""
    seen, facts = _new_facts(sim, VERSIONS)
    for kind, _, _, fact in facts:
        if kind == "lease":
            seen.leased[fact["handle"]] = fact["version"]
    acted = servers_acted(sim, VERSIONS)
    if acted is None or MASTER in acted:
        acted = set(chunkserver_names(sim))
    master = sim.contexts[MASTER].storage
    chunks = master.durable(PATH, 0)
    for handle in range(MAX_CHUNKS):
        version = master.durable(f"version:{handle}", 0) if handle < chunks else None
        leased = seen.leased.get(handle, 0)
        members = master.durable(f"replicas:{handle}", ()) if leased else ()
        for name in sorted(acted):
            copy = sim.contexts[name].storage.durable(f"chunk:{handle}")
            if copy is not None and (version is None or copy.version > version):
                known = "has no such chunk" if version is None else f"is at version {version}"
                return (f"{name} holds chunk {handle} at version {copy.version}, but the "
                        f"master's record on disk {known} (t={sim.time})")
            if name in members and (copy is None or copy.version < leased):
                held = "no copy" if copy is None else f"version {copy.version}"
                return (f"the master's record names {name} a replica of chunk {handle}, which "
                        f"holds {held}, older than the lease at version {leased} (t={sim.time})")
    return None


class _Ending:
    """What an invariant judged in the ending has read of the trace so far."""

    def __init__(self) -> None:
        self.checked = 0  # how many steps of the trace it has looked at
        self.scanned = False  # whether the master has scanned in the ending yet


def ending_steps(sim: Simulation, seen: _Ending) -> list[Step]:
    """The steps of the ending taken since the invariant last looked."""
    steps, seen.checked = sim.trace[seen.checked:], len(sim.trace)
    return [step for step in steps if step.phase == "quiesce"]


class _Bumps(_Ending):
    """takers-kept's reading: who was told each version of a chunk."""

    def __init__(self) -> None:
        super().__init__()
        self.told: dict[tuple[int, int], set[str]] = {}  # (handle, version) -> told since


@state_invariant(KEPT)
def takers_kept(sim: Simulation) -> str | None:
    """A replica goes stale only by missing a version bump (GFS section 4.5: the master
    informs the up-to-date replicas of the new version; one that was unavailable is not
    advanced, and only that makes it stale). Judged in the ending, where every message
    arrives before the next timer fires, for the bumps the master began after its first scan
    there: when it grants the lease, its record of the chunk's replicas names every
    chunkserver that was told the lease's version since and holds it on disk."""
    if sim.phase != "quiesce":  # nothing to judge before the ending
        return None
    seen = sim.invariant_state(KEPT + "/steps", _Bumps)
    for step in ending_steps(sim, seen):
        if step.event == ("fire", MASTER, "scan"):
            seen.scanned = True
        elif step.event[:2] == ("deliver", MASTER) and isinstance(step.detail, NewVersion) \
                and seen.scanned:
            bump = (step.detail.handle, step.detail.version)
            seen.told.setdefault(bump, set()).add(step.event[2])
    for kind, time, _, fact in _new_facts(sim, KEPT)[1]:
        if kind == "lease":  # before the ending's bumps, nobody was told: nothing to judge
            left_out = stale_takers(sim, seen, fact["handle"], fact["version"])
            if left_out:
                return (f"the lease on chunk {fact['handle']} at version {fact['version']} "
                        f"(t={time}) leaves {', '.join(left_out)} out of the master's record, "
                        f"though told that version and holding it: made stale, missing nothing")
    return None


def stale_takers(sim: Simulation, seen: _Bumps, handle: int, version: int) -> list[str]:
    """The chunkservers told `version` of the chunk that hold it on disk, yet are not in the
    master's record of its replicas."""
    record = sim.contexts[MASTER].storage.durable(f"replicas:{handle}", ())
    left_out = []
    for name in sorted(seen.told.get((handle, version), ())):
        copy = sim.contexts[name].storage.durable(f"chunk:{handle}")
        if copy is not None and copy.version == version and name not in record:
            left_out.append(name)
    return left_out


class _Clones(_Ending):
    """prompt-re-replication's reading: the ending's clones, and who heartbeated lately."""

    def __init__(self) -> None:
        super().__init__()
        self.heard: set[str] = set()  # chunkservers heard from since the master's last scan
        self.cloned: dict[int, bool] = {}  # handle -> whether its clone asked for completed


@state_invariant(PROMPT)
def prompt_re_replication(sim: Simulation) -> str | None:
    """The master re-replicates a chunk as soon as its replicas fall below the goal (GFS
    section 4.3). Judged in the ending, where nothing fails any more, every message arrives
    before the next timer fires and the master, if it restarted, did so before its first
    scan: once a clone it asked for after that scan has completed (the CloneDone reached it),
    the master's next scan asks for the chunk's next clone if its record still names fewer
    than REPLICAS replicas and another chunkserver could take one. Excused: a version bump
    begun on the chunk meanwhile (a grant, and the lease it leads to, hold clones back), and
    a scan before which some chunkserver was not heard from since the scan before (the
    master may count it down)."""
    if sim.phase != "quiesce":  # nothing to judge before the ending
        return None
    seen = sim.invariant_state(PROMPT + "/steps", _Clones)
    for step in ending_steps(sim, seen):
        if step.event[0] == "deliver":
            note_clone_traffic(seen, step.event[1], step.event[2], step.detail)
        elif step.event == ("fire", MASTER, "scan"):
            unasked = unasked_clone(sim, seen) if step is sim.trace[-1] else None
            if unasked is not None:
                return (f"chunk {unasked} is still short of {REPLICAS} replicas once its clone "
                        f"completed, yet the master's next scan asked for no other (t={step.time})")
            seen.cloned = {h: done for h, done in seen.cloned.items() if not done}
            seen.heard, seen.scanned = set(), True
    return None


def note_clone_traffic(seen: _Clones, src: str, dst: str, msg: object) -> None:
    """Follow the ending's clones: asked for, completed, or overtaken by a version bump."""
    if dst == MASTER and isinstance(msg, Heartbeat):
        seen.heard.add(src)
    elif dst == MASTER and isinstance(msg, CloneDone) and msg.handle in seen.cloned:
        seen.cloned[msg.handle] = True
    elif src == MASTER and isinstance(msg, CloneChunk) and seen.scanned:
        seen.cloned[msg.handle] = False
    elif src == MASTER and isinstance(msg, NewVersion):
        seen.cloned.pop(msg.handle, None)


def unasked_clone(sim: Simulation, seen: _Clones) -> int | None:
    """A chunk whose clone completed before this scan, still short of replicas with a
    chunkserver to take one, every chunkserver heard from since the last scan, and no clone
    of it asked for by this scan (what the scan sent is all that is in flight: the ending
    delivers every message before a timer fires)."""
    servers = chunkserver_names(sim)
    if not seen.scanned or not seen.heard.issuperset(servers):
        return None
    asked = {env.msg.handle for env in sim.network
             if env.src == MASTER and isinstance(env.msg, CloneChunk)}
    for handle, done in sorted(seen.cloned.items()):
        record = sim.contexts[MASTER].storage.durable(f"replicas:{handle}", ())
        short = 0 < len(record) < REPLICAS and any(s not in record for s in servers)
        if done and short and handle not in asked:
            return handle
    return None


def current_replicas(sim: Simulation, handle: int) -> dict[str, str]:
    """The contents of the chunk's current replicas: those the master's durable record names,
    holding the version of the chunk's latest lease or a newer one."""
    leased = max((f["version"] for k, _, _, f in sim.ghost
                  if k == "lease" and f["handle"] == handle), default=0)
    copies = {}
    for name in sim.contexts[MASTER].storage.durable(f"replicas:{handle}", ()):
        replica = sim.contexts[name].storage.durable(f"chunk:{handle}")
        if replica is not None and replica.version >= leased:
            copies[name] = replica.data
    return copies


def successful_appends(sim: Simulation) -> dict[int, list[tuple[int, str, Operation]]]:
    """chunk index -> (offset, record, operation) of every append that returned ok."""
    appended: dict[int, list[tuple[int, str, Operation]]] = {}
    for op in sim.operations():
        if op.f == "append" and op.status == OK:
            index, offset = op.result
            appended.setdefault(index, []).append((offset, op.args[0], op))
    return appended


@history_invariant("appends-at-offset")
def appends_at_offset(sim: Simulation) -> Verdict:
    """Every successful record append is present, whole, at the offset it returned, on every
    current replica of its chunk (GFS's relaxed consistency model: a defined region), and a
    chunk appended to has a current replica left to hold it."""
    appended = successful_appends(sim)
    for handle, appends in sorted(appended.items()):
        copies = current_replicas(sim, handle)
        if not copies:
            return violated("appends-at-offset",
                            f"chunk {handle} has no current replica left, though "
                            f"{len(appends)} appends to it succeeded",
                            {"ops": [op.to_json() for _, _, op in appends]})
        for offset, record, op in appends:
            problems = missing_appends(copies, [(offset, record)])
            if problems:
                layout = [f"{r.start}-{r.end} {r.kind}" for r in
                          regions([copies[n] for n in sorted(copies)], [a[:2] for a in appends])]
                return violated("appends-at-offset",
                                f"chunk {handle}: {problems[0]}; replicas {copies}",
                                {"ops": [op.to_json()], "regions": layout})
    return passed("appends-at-offset", f"{sum(map(len, appended.values()))} appends in place")


@history_invariant(READS)
def reads_see_appends(sim: Simulation) -> Verdict:
    """A read of a chunk, judged by the bytes it returned: every append to that chunk that
    succeeded before the read began is there, whole, at its offset (a defined region reads
    as written), and every other byte is padding or a record some client appended."""
    ops = sim.operations()
    records = [op.args[0] for op in ops if op.f == "append"]
    appended = successful_appends(sim)
    reads = [op for op in ops if op.f == "read" and op.status == OK]
    for read in reads:
        index, data = read.args[0], read.result
        before = [(offset, record, op) for offset, record, op in appended.get(index, ())
                  if op.precedes(read)]
        for offset, record, op in before:
            if data is None or not holds(data, offset, record):
                found = "no such chunk" if data is None else repr(data)
                return violated(READS, f"{read.process} read chunk {index} and got {found}, "
                                f"without {record!r} at offset {offset}, appended before the "
                                f"read began", {"ops": [op.to_json(), read.to_json()]})
        stray = None if data is None else unwritten(data, records, PAD)
        if stray is not None:
            return violated(READS, f"{read.process} read chunk {index} and got {data!r}: the "
                            f"bytes at offset {stray} are no record any client appended",
                            {"ops": [read.to_json()]})
    return passed(READS, f"{len(reads)} reads saw every append that preceded them")


@history_invariant(SIZE)
def fixed_size_chunks(sim: Simulation) -> Verdict:
    """Files are divided into fixed-size chunks (GFS section 2.5): no copy of a chunk, on any
    chunkserver's disk at the end, holds more than CHUNK_SIZE bytes. A record that does not
    fit makes the primary pad the chunk to its maximum size, not beyond, and go to the next
    chunk (section 3.3): a record never straddles two chunks. (A copy is never trimmed: one
    written past the chunk's end stays so on disk unless it is deleted or cloned over.)"""
    for name in chunkserver_names(sim):
        for handle in range(MAX_CHUNKS):
            copy = sim.contexts[name].storage.durable(f"chunk:{handle}")
            if copy is not None and len(copy.data) > CHUNK_SIZE:
                return violated(SIZE, f"{name} holds {len(copy.data)} bytes of chunk {handle} "
                                f"at the end, more than a chunk's {CHUNK_SIZE}: {copy.data!r}")
    return passed(SIZE, f"every copy within the chunk size of {CHUNK_SIZE} bytes")


@history_invariant(GIVES_UP)
def client_gives_up(sim: Simulation) -> Verdict:
    """The client library never leaves an application waiting for good on a master or a
    chunk it cannot reach (GFS section 3.1: the client code makes a few attempts at a failed
    mutation): an operation waits for an answer -- a timeout, a back-off after a refusal, a
    poll of `replicated` -- at most as many times as it has tries, and then ends, `info` for
    an append (the record may be there), `fail` for the others. Its tries:
    CLIENT_ATTEMPTS, REPLICATION_POLLS for `replicated`, or as many as an append names.
    Moving on to the next chunk is not a wait. Judged from the trace: the client's timer
    firings between the step that invoked the operation and the one that invoked its next."""
    operations = sim.operations()
    for client in sorted(sim.clients):
        ops = [op for op in operations if op.process == client]
        for op, waits in zip(ops, waits_per_operation(sim, client)):
            if waits > tries(op):
                return violated(GIVES_UP, f"{client}'s {op.f}{tuple(op.args)} waited for an "
                                f"answer {waits} times without giving up; it has "
                                f"{tries(op)} tries", {"ops": [op.to_json()]})
    return passed(GIVES_UP, f"each of {len(operations)} operations ended within its tries")


def tries(op: Operation) -> int:
    """How many times an operation may wait for an answer before it gives up."""
    if op.f == "replicated":
        return REPLICATION_POLLS
    return op.args[1] if op.f == "append" and len(op.args) > 1 else CLIENT_ATTEMPTS


def waits_per_operation(sim: Simulation, client: str) -> list[int]:
    """For each operation the client invoked, in order: how often its timer fired before the
    client's next invocation (an idle client has no timer pending)."""
    waits: list[int] = []
    for step in sim.trace:
        if step.event == ("invoke", client):
            waits.append(0)
        elif step.event[0] == "fire" and step.event[1] == client and waits:
            waits[-1] += 1
    return waits


@history_invariant(PROGRESS)
def progress_at_quiescence(sim: Simulation) -> Verdict:
    """After the ending (faults healed, every node up, messages delivered, timers run): every
    final operation succeeded (the final append, unless the file is full); every chunk of
    the file is back to REPLICAS replicas in the master's record, each holding the master's
    version on its disk; and the ending's `replicated` was told so. A cluster that stops
    appending, re-replicating or answering fails here."""
    for sentence in (replication_restored(sim), final_ops_done(sim)):
        if sentence:
            return violated(PROGRESS, sentence)
    chunks = sim.contexts[MASTER].storage.durable(PATH, 0)
    return passed(PROGRESS, f"{chunks} chunks, each on {REPLICAS} up-to-date replicas")


def final_ops_done(sim: Simulation) -> str | None:
    """Each client's last operations are its final ones, in order, and each succeeded."""
    ops: dict[str, list[Operation]] = {client: [] for client in sim.clients}
    for op in sim.operations():
        ops[op.process].append(op)
    finals: dict[str, list[tuple[str, Any]]] = {}
    for client, f, args in sim.final_ops:
        finals.setdefault(client, []).append((f, args))
    for client, wanted in sorted(finals.items()):
        last = ops[client][-len(wanted):]
        if [(op.f, op.args) for op in last] != wanted:
            return f"{client}'s final operations {wanted} never all ran: an earlier one hung"
        failed = next((op for op in last if op.status != OK and not _file_full(sim, op)), None)
        if failed is not None:
            return f"{client}'s final {failed.f}{tuple(failed.args)} did not succeed " \
                   f"({failed.status}) after the ending"
    return None


def _file_full(sim: Simulation, op: Operation) -> bool:
    """An append refused because the file has all its chunks (FileFull) did what it could."""
    return op.f == "append" and op.status == "fail" and \
        sim.contexts[MASTER].storage.durable(PATH, 0) == MAX_CHUNKS


def replication_restored(sim: Simulation) -> str | None:
    master = sim.contexts[MASTER].storage
    expected = []
    for handle in range(master.durable(PATH, 0)):
        version = master.durable(f"version:{handle}", 0)
        replicas = tuple(master.durable(f"replicas:{handle}", ()))
        if len(replicas) < REPLICAS:
            return f"chunk {handle} has {len(replicas)} replicas at the end: {list(replicas)}"
        for name in replicas:
            copy = sim.contexts[name].storage.durable(f"chunk:{handle}")
            if copy is None or copy.version != version:
                held = "no copy" if copy is None else f"version {copy.version}"
                return f"{name}, a replica of chunk {handle}, holds {held} at the end, not " \
                       f"the master's version {version}"
        expected.append((handle, version, set(replicas)))
    told = next((op.result for op in sim.operations()
                 if op.f == "replicated" and op.status == OK), None)
    if told is not None and not _told_the_record(list(told), expected):
        return f"the ending's replicated was told {list(told)}, but the master's record " \
               f"ends as {[(h, v, sorted(r)) for h, v, r in expected]}"
    return None


def _told_the_record(told: list[tuple], record: list[tuple[int, int, set[str]]]) -> bool:
    """Whether `replicated` was told of every chunk, at its final version, replicas the
    record still names (a clone may add one more after the answer)."""
    return len(told) == len(record) and all(
        handle == h and version == v and set(replicas) <= names
        for (handle, version, replicas), (h, v, names) in zip(told, record))
