"""Dynamo's properties, checked on the clients' history, the ghost record and the replicas.

The ghost record (never read by the protocol) carries what the checks need to know about
versions: the coordinator notes each new version (`version`: its value, dot and context, and
the request it belongs to), a replica notes each change of its siblings (`stored`), a
stand-in each hint it accepts, as it acknowledges it (`hint-accepted`), and a home each hint
handed to it (`hint-delivered`).
Workload values are unique, so a value read names the version written with it.

A delete is a put of a tombstone: it is named by a unique value as a put is, and a get
shows a tombstone sibling as that value negated (`Version.shown`). The checks treat deletes
as writes (a tombstone is a version that must not be lost) and add that deleted data stays
deleted.

Which check applies where: `quorum-regularity` is a promise of strict quorums with
R + W > N only; a sloppy configuration does not make it and the check says so (nor, there,
does `deletes-stick` judge gets before the ending); `sloppy-availability` is the sloppy
configuration's own promise, judged from the trace's deliveries and timers. The others hold
in every configuration; `coordinator-answers` and `local-failure-detection` also read the
trace (which requests a node coordinated, what its replicas answered, what it replied and
whom it asked), counting each quorum as the configuration does.
What Dynamo does not promise is not checked: a client is not promised to read its own
writes (section 4.6's sloppy quorums, 4.4's siblings), nor any order between keys.
"""

from __future__ import annotations

from checker.sim import MESSAGE_KINDS, Simulation, Step
from checker.system import history_invariant, state_invariant
from implementations.dynamo.node import (
    DATA,
    FAIL_TIMEOUT,
    STAND_INS,
    Delete,
    Fetch,
    FetchOk,
    Get,
    GetOk,
    Gossip,
    Put,
    PutOk,
    Replicate,
    ReplicateOk,
    Settings,
    StorageNode,
    Unavailable,
)
from implementations.dynamo.ring import Ring
from invariants.history import OK, Operation
from invariants.sessions import check_convergence
from invariants.verdict import Verdict, passed, unknown, violated
from models.dynamo import Clock, Version, covered, shown_values, sync

FAULT_ENDS = ("heal", "restart")  # the events after which replicas should converge again
FAULTS = ("partition", "crash", "drop", "pause")  # those that may part them again


def storage_nodes(sim: Simulation) -> list[StorageNode]:
    return [node for name in sim.servers if isinstance(node := sim.nodes[name], StorageNode)]


def versions_by_value(sim: Simulation) -> dict[object, list[Version]]:
    written: dict[object, list[Version]] = {}
    for kind, _, _, fact in sim.ghost:
        if kind == "version":
            written.setdefault(fact["version"].value, []).append(fact["version"])
    return written


def is_seen(write: Operation, returned: list[Version],
            written: dict[object, list[Version]]) -> bool:
    """The read returned the write's version or one that has seen it."""
    return any(covered(version, returned) for version in written.get(write.args[1], ()))


def returned_versions(read: Operation, written: dict[object, list[Version]]) -> list[Version]:
    """The versions a get returned: a value names a put's version, a negated one a delete's
    tombstone."""
    return [version for value in read.result for version in written.get(abs(value), ())
            if version.shown == value]


def ok_ops(sim: Simulation, *fs: str) -> list[Operation]:
    return [op for op in sim.operations() if op.f in fs and op.status == OK]


def final_reads(sim: Simulation) -> dict[str, Operation]:
    """key -> the get of it that the ending ran, if it succeeded."""
    ending = sim.ending_began(default=sim.time)
    return {read.args[0]: read for read in ok_ops(sim, "read") if read.call_time >= ending}


@history_invariant("quorum-regularity")
def quorum_regularity(sim: Simulation) -> Verdict:
    """With strict quorums and R + W > N, a get that starts after a put was acknowledged
    returns that put's version or a version that has seen it (concurrent siblings may come
    along)."""
    name = "quorum-regularity"
    settings = storage_nodes(sim)[0].settings
    if settings.sloppy or settings.r + settings.w <= settings.n:
        return passed(name, "not promised: this configuration's read and write quorums need "
                            "not intersect")
    written = versions_by_value(sim)
    writes = ok_ops(sim, "write", "delete")
    reads = ok_ops(sim, "read")
    for read in reads:
        returned = returned_versions(read, written)
        for write in writes:
            if write.args[0] == read.args[0] and write.precedes(read) \
                    and not is_seen(write, returned, written):
                return violated(name, f"{read.describe()} misses the earlier acknowledged "
                                      f"{write.describe()}: it returned {returned}, none of "
                                      f"which is or has seen {written[write.args[1]]}",
                                {"read": read.to_json(), "write": write.to_json()})
    return passed(name, f"{len(reads)} get(s) each saw every put acknowledged before it")


@history_invariant("no-lost-write")
def no_lost_write(sim: Simulation) -> Verdict:
    """After quiescence, the final get of each key returns every acknowledged put of it as a
    sibling or replaced by a version whose context saw it: none silently lost. (Deletes are
    `deletes-stick`'s.)"""
    name = "no-lost-write"
    written = versions_by_value(sim)
    finals = final_reads(sim)
    writes = ok_ops(sim, "write")
    for write in writes:
        key = write.args[0]
        if key not in finals:
            return unknown(name, f"no final get of {key!r} succeeded after quiescence")
        returned = returned_versions(finals[key], written)
        if not is_seen(write, returned, written):
            return violated(name, f"{write.describe()} was acknowledged, but after quiescence "
                                  f"{finals[key].describe()}: its version "
                                  f"{written[write.args[1]]} is neither a sibling nor seen by "
                                  f"one of {returned}",
                            {"write": write.to_json(), "read": finals[key].to_json()})
    return passed(name, f"all {len(writes)} acknowledged put(s) survive in the final gets")


@history_invariant("hint-delivery")
def hint_delivery(sim: Simulation) -> Verdict:
    """Every hinted version a stand-in accepted reaches its home from that stand-in (handed
    off itself, or replaced by a later hint that has seen it) by the end of quiescence."""
    name = "hint-delivery"
    delivered: dict[tuple[str, str, str], Clock] = {}  # (stand-in, home, key) -> clock
    for kind, _, node, fact in sim.ghost:
        if kind == "hint-delivered":
            index = (fact["stand_in"], node, fact["key"])
            delivered[index] = delivered.get(index, Clock()).join(fact["clock"])
    hints = 0
    for kind, time, node, fact in sim.ghost:
        if kind != "hint-accepted":
            continue
        for dot in fact["dots"]:
            hints += 1
            if not delivered.get((node, fact["home"], fact["key"]), Clock()).covers(dot):
                return violated(name, f"{node} accepted a hint for {fact['home']} at t={time} "
                                      f"(key {fact['key']!r}, version {dot[0]}:{dot[1]}), "
                                      f"and never handed it off",
                                {"stand_in": node, "home": fact["home"], "key": fact["key"],
                                 "dot": list(dot)})
    return passed(name, f"all {hints} hinted version(s) reached their homes")


def home_replicas(sim: Simulation) -> dict[str, dict[str, dict[str, frozenset]]]:
    """key -> {home: {key: its siblings}}: what each key's preference list holds."""
    nodes = storage_nodes(sim)
    ring, n = nodes[0].ring, nodes[0].settings.n
    stores = {name: sim.contexts[name].storage.items() for name in sim.servers}
    keys = sorted({k[len(DATA):] for items in stores.values() for k in items
                   if k.startswith(DATA)})
    return {key: {home: {key: frozenset(stores[home].get(DATA + key, ()))}
                  for home in ring.preference_list(key, n)} for key in keys}


def convergence_times(sim: Simulation) -> list[int]:
    """For each heal of a partition and each restart that left some key's homes disagreeing
    and was not followed by another fault before they agreed again: how long they took to
    agree. The measured figure for anti-entropy (hinted handoff and read repair help)."""
    nodes = storage_nodes(sim)
    ring, n = nodes[0].ring, nodes[0].settings.n
    stored = [(time, node, fact["key"], frozenset(fact["versions"]))
              for kind, time, node, fact in sim.ghost if kind == "stored"]
    faults = [step.time for step in sim.trace if step.event[0] in FAULTS]

    def agree(held: dict[tuple[str, str], frozenset]) -> bool:
        return all(len({held.get((home, key), frozenset())
                        for home in ring.preference_list(key, n)}) == 1
                   for key in sorted({key for _, key in held}))

    times = []
    for healed in sorted({step.time for step in sim.trace if step.event[0] in FAULT_ENDS}):
        held = {(node, key): versions for time, node, key, versions in stored
                if time <= healed}
        if agree(held):
            continue
        undisturbed = min((t for t in faults if t > healed), default=sim.time + 1)
        for time, node, key, versions in stored:
            if healed < time < undisturbed:
                held[(node, key)] = versions
                if agree(held):
                    times.append(time - healed)
                    break
    return times


@history_invariant("convergence")
def convergence(sim: Simulation) -> Verdict:
    """After quiescence the homes of every key hold the same siblings (invariants.sessions)."""
    for replicas in home_replicas(sim).values():
        verdict = check_convergence(replicas)
        if verdict.violated:
            return verdict
    took = convergence_times(sim)
    after = f"; after each heal or restart that left them apart (and no fault soon after) " \
            f"they agreed again within {max(took)} ticks" if took else ""
    return passed("convergence", f"the homes of every key agree at the end{after}")


def ending_wait_over(sim: Simulation) -> bool:
    """Whether the step just run invokes the final operation after one of the ending's waits:
    every fault has healed, the wait is over, what was in flight is delivered, and no final
    get has run yet (nor its read repair)."""
    history = sim.history
    return len(history) >= 2 and history[-2].type == OK and history[-2].f == "wait" \
        and history[-1].type == "invoke" and sim.trace[-1].event[0] == "invoke"


@state_invariant("anti-entropy")
def anti_entropy(sim: Simulation) -> str | None:
    """Replica synchronization (section 4.7): once every fault has healed and the ending has
    waited (checked after each of its waits), the homes of every key hold the same siblings
    before any final get runs. Hinted
    handoff and Merkle anti-entropy must bring them together; read repair, which only a get
    triggers, would hide replicas that nothing else synchronizes. Siblings are compared by
    their dots, which name writes (a duplicated put coordinated twice is one write, whatever
    each coordinator's clock stamped on it)."""
    if not ending_wait_over(sim):
        return None
    for key, replicas in home_replicas(sim).items():
        dots = {home: {key: frozenset(v.dot for v in held[key])}
                for home, held in replicas.items()}
        verdict = check_convergence(dots)
        if verdict.violated:
            groups = [group["replicas"] for group in verdict.witness["holders"]]
            held = "; ".join(f"{' and '.join(names)} {'holds' if len(names) == 1 else 'hold'} "
                             f"{sorted(replicas[names[0]][key], key=repr)}"
                             for names in groups)
            return f"at t={sim.time}, every fault healed and the ending's wait over, the " \
                   f"homes of {key!r} still disagree before any get: {held}"
    return None


def strict_quorums(sim: Simulation) -> bool:
    settings = storage_nodes(sim)[0].settings
    return not settings.sloppy and settings.r + settings.w > settings.n


@history_invariant("deletes-stick")
def deletes_stick(sim: Simulation) -> Verdict:
    """Deleted stays deleted: no get returns a version that an acknowledged delete of its key
    had seen (the tombstone's context covers it): not the final gets after quiescence, in
    any configuration, nor, with strict quorums, any get begun after the delete was
    acknowledged. Nor is the delete forgotten: the final get returns its tombstone as a
    sibling, or a version that has seen it (a tombstone is what tells a replica that older
    data is superseded). Concurrent puts the delete never saw survive it, as siblings."""
    name = "deletes-stick"
    written = versions_by_value(sim)
    finals = final_reads(sim)
    final_ids = {read.id for read in finals.values()}
    strict = strict_quorums(sim)
    reads = ok_ops(sim, "read")
    deletes = ok_ops(sim, "delete")
    for delete in deletes:
        tombstones = [v for v in written.get(delete.args[1], ()) if v.deleted]
        for read in reads:
            if read.args[0] != delete.args[0] or not (
                    read.id in final_ids or (strict and delete.precedes(read))):
                continue
            back = [v for v in returned_versions(read, written) if not v.deleted
                    and any(t.context.covers(v.dot) for t in tombstones)]
            if back:
                return violated(name, f"{read.describe()} returned {back}, which the "
                                      f"acknowledged {delete.describe()} had seen and "
                                      f"deleted (tombstone {tombstones})",
                                {"read": read.to_json(), "delete": delete.to_json()})
        final = finals.get(delete.args[0])
        if final is not None and not is_seen(delete, returned_versions(final, written),
                                             written):
            return violated(name, f"the acknowledged {delete.describe()} is forgotten: after "
                                  f"quiescence {final.describe()} shows neither its tombstone "
                                  f"{tombstones} nor a version that saw it",
                            {"read": final.to_json(), "delete": delete.to_json()})
    return passed(name, f"no get returned what any of {len(deletes)} acknowledged delete(s) "
                        "removed")


@history_invariant("gets-return-puts")
def gets_return_puts(sim: Simulation) -> Verdict:
    """What a get returns is what was asked for: each value names a put (or, negated, a
    delete) of the same key invoked before the get returned, and no returned sibling has
    seen another (siblings are reconciled: a version a returned one's context covers is no
    sibling)."""
    name = "gets-return-puts"
    invoked: dict[object, tuple[str, str, int]] = {}  # value -> (f, key, position)
    for position, event in enumerate(sim.history):
        if event.type == "invoke" and event.f in ("write", "delete"):
            invoked[event.value[1]] = (event.f, event.value[0], position)
    written = versions_by_value(sim)
    reads = ok_ops(sim, "read")
    for read in reads:
        for value in read.result:
            f, key, position = invoked.get(abs(value), (None, None, len(sim.history)))
            wanted = "write" if value > 0 else "delete"
            if (f, key) != (wanted, read.args[0]) or position > read.ret:
                return violated(name, f"{read.describe()} returned {value!r}, which names no "
                                      f"{wanted} of {read.args[0]!r} invoked before it",
                                {"read": read.to_json()})
        returned = returned_versions(read, written)
        stale = [v for v in returned if any(w.context.covers(v.dot) for w in returned)]
        if stale:
            return violated(name, f"{read.describe()} returned {stale} beside a sibling that "
                                  f"had seen it: siblings not reconciled",
                            {"read": read.to_json()})
    return passed(name, f"{len(reads)} get(s) returned only puts and deletes of their key")


@history_invariant("puts-supersede-reads")
def puts_supersede_reads(sim: Simulation) -> Verdict:
    """Section 4.4: a client updates the versions it read ("passing the context it obtained
    from an earlier read"), so its later put or delete of the key supersedes every sibling
    that get returned: no get returns the later one beside any of them. Stated on the
    history alone."""
    name = "puts-supersede-reads"
    reads = ok_ops(sim, "read")
    updates = [op for op in sim.operations() if op.f in ("write", "delete")]
    for read in reads:
        later = [op for op in updates if op.process == read.process
                 and op.args[0] == read.args[0] and read.precedes(op)]
        for update in later:
            shown = update.args[1] if update.f == "write" else -update.args[1]
            for get in reads:
                kept = sorted(set(get.result) & set(read.result))
                if shown in get.result and kept:
                    return violated(name, f"{get.describe()} returned {kept} beside {shown}, "
                                          f"though {read.process} had read them "
                                          f"({read.describe()}) before {update.describe()}: "
                                          "its update did not supersede what it read",
                                    {"get": get.to_json(), "read": read.to_json(),
                                     "update": update.to_json()})
    return passed(name, f"every put and delete superseded what its client had read of the "
                        f"key ({len(reads)} get(s))")


@history_invariant("progress-at-quiescence")
def progress_at_quiescence(sim: Simulation) -> Verdict:
    """Once the ending has healed every fault and waited: every final operation ran and
    succeeded; each final get returned exactly the siblings of every version any node
    durably holds of its key (as data or as a hint: `models.dynamo.sync` of them all); every
    home of each key holds those siblings; no stand-in still holds a hint. A ring that
    stops answering, or stops spreading what it was given, fails here."""
    name = "progress-at-quiescence"
    problem = _final_ops_problem(sim) or _holdings_problem(sim)
    if problem:
        return violated(name, problem, {"time": sim.time})
    return passed(name, "every final operation succeeded; homes hold every version, and "
                        "every hint was handed off")


def _final_ops_problem(sim: Simulation) -> str | None:
    for client in sim.clients:
        wanted = [(f, args) for c, f, args in sim.final_ops if c == client]
        mine = [op for op in sim.operations() if op.process == client][-len(wanted):]
        if [(op.f, op.args) for op in mine] != wanted:
            return f"{client}'s final operations {wanted} never ran: an earlier operation " \
                   "was still pending"
        failed = next((op for op in mine if op.status != OK), None)
        if failed:
            return f"{failed.describe()}: a final operation failed once every fault healed"
    return None


def _holdings_problem(sim: Simulation) -> str | None:
    nodes = storage_nodes(sim)
    ring, n = nodes[0].ring, nodes[0].settings.n
    durable = {name: sim.contexts[name].storage for name in sim.servers}
    hinted = {name: durable[name].durable("hints", {}) for name in sim.servers}
    for name, hints in hinted.items():
        if hints:
            return f"at the end {name} still holds hints for {sorted(hints)}: never handed off"
    finals = final_reads(sim)
    for key in sorted(finals):
        every = sync(*(durable[name].durable(DATA + key, ()) for name in sim.servers))
        if finals[key].result != shown_values(every):
            return f"{finals[key].describe()}, but the nodes durably hold " \
                   f"{shown_values(every)} of {key!r}"
        for home in ring.preference_list(key, n):
            held = durable[home].durable(DATA + key, ())
            if sorted(held, key=repr) != sorted(every, key=repr):
                return f"at the end home {home} holds {list(held)} of {key!r}, not every " \
                       f"version the nodes hold: {list(every)}"
    return None


@history_invariant("sloppy-availability")
def sloppy_availability(sim: Simulation) -> Verdict:
    """Section 4.6, "always writeable": with sloppy counting, a put that fewer than W replicas
    have acknowledged when its stand-ins are due (its coordinator's stand-ins timer) is not
    left waiting on a silent home: each such home's copy goes to a stand-in, unless the
    coordinator has no stand-in left that it believes up and has not asked. Acknowledgements
    and belief are judged from the trace alone, conservatively: every acknowledgement for the
    put that reached the coordinator counts, and a stand-in counts as believed up when it had
    answered the coordinator within FAIL_TIMEOUT less twice the clock bound, with no crash of
    the coordinator and none of its request timers (the only events that make it suspect a
    node) firing in between."""
    name = "sloppy-availability"
    nodes = storage_nodes(sim)
    ring, settings = nodes[0].ring, nodes[0].settings
    if not settings.sloppy:
        return passed(name, "not promised: only a sloppy quorum counts stand-ins, so only "
                            "there do they make a put succeed")
    keys = {(node, fact["op"]): fact["key"]
            for kind, _, node, fact in sim.ghost if kind == "version"}
    judged = 0
    for due, coordinator, op in stand_ins_due(sim.trace):
        key = keys.get((coordinator, op))
        if key is None or len(acknowledged(sim.trace, due, coordinator, op)) >= settings.w:
            continue
        judged += 1
        problem = unoffered_home(sim, due, coordinator, op, key, ring.order_for(key),
                                 settings.n)
        if problem:
            return violated(name, f"put {op} of {key!r}, coordinated by {coordinator}, was "
                                  f"short of W={settings.w} acknowledgements at "
                                  f"t={sim.trace[due].time}: {problem}",
                            {"coordinator": coordinator, "op": op, "key": key})
    return passed(name, f"each of {judged} sloppy put(s) short of W when their stand-ins were "
                        "due offered every silent home's copy to a stand-in believed up, or "
                        "had none left")


def stand_ins_due(trace: list[Step]) -> list[tuple[int, str, str]]:
    """(step, coordinator, request) for each firing of a put's stand-ins timer."""
    return [(i, step.event[1], step.event[2].removesuffix(STAND_INS))
            for i, step in enumerate(trace)
            if step.event[0] == "fire" and step.event[2].endswith(STAND_INS)]


def acknowledged(trace: list[Step], due: int, coordinator: str, op: str) -> set[str]:
    """The coordinator (which always keeps a copy itself) and every node whose
    acknowledgement of the put reached it before step `due`."""
    return {coordinator} | {step.event[1] for step in trace[:due]
                            if step.event[0] == "deliver" and step.event[2] == coordinator
                            and isinstance(step.detail, ReplicateOk) and step.detail.op == op}


def messages(trace: list[Step], src: str, dst: str) -> list[tuple[int, object]]:
    """(step, message) for every message sent src -> dst the trace shows (delivered, dropped
    or duplicated; the ending delivers what is still in flight)."""
    return [(i, step.detail) for i, step in enumerate(trace)
            if step.event[0] in MESSAGE_KINDS and step.event[1:3] == (src, dst)]


def unoffered_home(sim: Simulation, due: int, coordinator: str, op: str, key: str,
                   order: tuple[str, ...], n: int) -> str | None:
    """A home silent when the stand-ins were due whose copy no stand-in got, while a stand-in
    the coordinator believed up was never asked; None if there is none."""
    sent = {node: [msg for _, msg in messages(sim.trace, coordinator, node)
                   if isinstance(msg, Replicate) and msg.op == op] for node in order}
    dots = {fact["version"].dot for kind, _, node, fact in sim.ghost
            if kind == "version" and node == coordinator and fact["op"] == op}
    hinted = {msg.hint for msgs in sent.values() for msg in msgs} | {
        fact["home"] for kind, _, node, fact in sim.ghost
        if kind == "hint-accepted" and node == coordinator and fact["key"] == key
        and dots & {tuple(dot) for dot in fact["dots"]}}
    acks = acknowledged(sim.trace, due, coordinator, op)
    silent = [home for home in order[:n] if home not in acks and home not in hinted]
    if not silent:
        return None
    for stand_in in (node for node in order[n:] if node != coordinator and not sent[node]):
        heard = believed_up_since(sim, due, coordinator, stand_in)
        if heard is not None:
            return f"home {silent[0]} had not acknowledged when the stand-ins were due " \
                   f"(t={sim.trace[due].time}), yet no stand-in got its copy, though " \
                   f"stand-in {stand_in} had answered {coordinator} at t={heard} and was " \
                   "never asked"
    return None


def believed_up_since(sim: Simulation, due: int, coordinator: str, node: str) -> int | None:
    """When `node` last answered `coordinator` before step `due`, if that proves the
    coordinator still believed it up then: recent enough whatever the clocks did, and no
    crash, restart or request timer (whose expiry suspects nodes) of the coordinator since."""
    recent = sim.trace[due].time - (FAIL_TIMEOUT - 2 * sim.epsilon)
    for step in reversed(sim.trace[:due]):
        event = step.event
        if step.time <= recent:
            return None
        if event[0] == "deliver" and event[1:3] == (node, coordinator):
            return step.time
        if event[1:2] == (coordinator,) and (event[0] in ("crash", "restart") or (
                event[0] == "fire" and event[2] != "tick")):
            return None
    return None


@history_invariant("placement")
def placement(sim: Simulation) -> Verdict:
    """Section 4.2: a key lives on its N homes, the first N nodes of its preference list; a
    stand-in keeps what it holds for a home apart, as a hint (section 4.6). So no node that
    is not a home of a key ever stores the key's data, and every hint names one of the key's
    homes and is kept by a node that is not one. Data is never dropped (versions are only
    merged), so the nodes' storage at the end shows every key each ever stored; the hints
    are judged from the ghost record of each one accepted."""
    name = "placement"
    nodes = storage_nodes(sim)
    ring, n = nodes[0].ring, nodes[0].settings.n
    for node in sim.servers:
        for stored in sorted(sim.contexts[node].storage.items()):
            key = stored[len(DATA):]
            if stored.startswith(DATA) and node not in ring.preference_list(key, n):
                return violated(name, f"{node} stores data of {key!r}, whose homes are "
                                      f"{list(ring.preference_list(key, n))}",
                                {"node": node, "key": key})
    for kind, time, node, fact in sim.ghost:
        homes = ring.preference_list(fact.get("key", ""), n) if kind == "hint-accepted" else ()
        if kind == "hint-accepted" and (node in homes or fact["home"] not in homes):
            return violated(name, f"{node} accepted at t={time} a hint of {fact['key']!r} for "
                                  f"{fact['home']}, though the key's homes are {list(homes)}",
                            {"node": node, "key": fact["key"], "home": fact["home"]})
    return passed(name, "every node stores data only of keys it is a home of, and hints only "
                        "for the homes of others' keys")


@history_invariant("coordinator-answers")
def coordinator_answers(sim: Simulation) -> Verdict:
    """Section 4.5: a coordinator answers its client `ok` once R replicas answered a get (W
    acknowledged a put), and fails the request (`Unavailable`) if REQUEST_TIMEOUT passes
    before that. So every request a node takes on is answered by the time its request timer
    fires, `ok` exactly when a quorum had answered by then. Judged from the trace: the timer's
    firing names a request the node coordinated (only a coordinator sets one); the answers
    are the FetchOk and ReplicateOk that reached it before; its reply is the GetOk, PutOk or
    Unavailable it sent the client (the ending delivers what is in flight). With strict
    quorums only homes count; a coordinator that is a home counts its own copy. One that is
    not counts itself only in a sloppy quorum, when it stands in for a home, which the trace
    does not show: it is counted only where that could excuse the reply. A request a node
    received again after a crash is left out (its incarnations' answers cannot be told
    apart)."""
    name = "coordinator-answers"
    nodes = storage_nodes(sim)
    ring, settings = nodes[0].ring, nodes[0].settings
    seen = CoordinatorView(sim.trace)
    judged = 0
    for fired, coordinator, op in seen.request_timers():
        arrivals = seen.arrivals.get((coordinator, op), [])
        if not arrivals or seen.restarted(coordinator, arrivals[0], max(arrivals[-1], fired)):
            continue
        judged += 1
        request = sim.trace[arrivals[0]].detail
        homes = ring.preference_list(request.key, settings.n)
        answered = {src for step, src in seen.answers.get((coordinator, op), [])
                    if arrivals[0] < step < fired and (src in homes or settings.sloppy)}
        own = coordinator in homes
        fewest = len(answered) + own
        most = fewest + (settings.sloppy and not own)
        quorum = settings.r if isinstance(request, Get) else settings.w
        replies = seen.replies.get((coordinator, request.client, request.req), set())
        ok = GetOk if isinstance(request, Get) else PutOk
        said = f"{coordinator} took on {op} ({type(request).__name__} of {request.key!r}) " \
               f"and its request timer fired at t={sim.trace[fired].time}"
        problem = None
        if not replies:
            problem = "it never answered the client"
        elif fewest >= quorum and ok not in replies:
            problem = f"{sorted(answered | {coordinator} & set(homes))} had answered (quorum " \
                      f"{quorum}), yet it told the client {sorted(r.__name__ for r in replies)}"
        elif ok in replies and most < quorum:
            problem = f"it answered {ok.__name__} though only " \
                      f"{sorted(answered | {coordinator} & set(homes))} had answered " \
                      f"(quorum {quorum})"
        if problem:
            return violated(name, f"{said}: {problem}",
                            {"coordinator": coordinator, "op": op, "step": fired})
    return passed(name, f"each of {judged} request(s) whose timer fired was answered, ok "
                        "exactly when a quorum had answered")


class CoordinatorView:
    """What the trace shows of coordinators: requests arriving, replicas answering, replies
    to clients, crashes and restarts (each a list of steps, in trace order)."""

    def __init__(self, trace: list[Step]) -> None:
        self.trace = trace
        self.arrivals: dict[tuple[str, str], list[int]] = {}  # (node, op) -> steps
        self.asked: dict[tuple[str, str], list[tuple[str, object]]] = {}  # -> (replica, msg)
        self.forwards: dict[tuple[str, str], set[str]] = {}  # (node, op) -> homes
        self.answers: dict[tuple[str, str], list[tuple[int, str]]] = {}  # -> (step, replica)
        self.replies: dict[tuple[str, str, int], set[type]] = {}  # (node, client, req)
        self.resets: dict[str, list[int]] = {}  # node -> steps of its crashes and restarts
        for i, step in enumerate(trace):
            kind, msg = step.event[0], step.detail
            if kind in ("crash", "restart"):
                self.resets.setdefault(step.event[1], []).append(i)
            if kind not in MESSAGE_KINDS:
                continue
            src, dst = step.event[1:3]
            if isinstance(msg, (GetOk, PutOk, Unavailable)):
                self.replies.setdefault((src, dst, msg.req), set()).add(type(msg))
            elif isinstance(msg, (Get, Put, Delete)):
                op = f"{msg.client}:{msg.req}"
                if kind == "deliver":
                    self.arrivals.setdefault((dst, op), []).append(i)
                if src != msg.client:
                    self.forwards.setdefault((src, op), set()).add(dst)
            elif isinstance(msg, (Fetch, Replicate)):
                self.asked.setdefault((src, msg.op), []).append((dst, msg))
            elif kind == "deliver" and isinstance(msg, (FetchOk, ReplicateOk)):
                self.answers.setdefault((dst, msg.op), []).append((i, src))

    def request_timers(self) -> list[tuple[int, str, str]]:
        """(step, node, request) for each firing of a coordinator's request timer."""
        return [(i, step.event[1], step.event[2]) for i, step in enumerate(self.trace)
                if step.event[0] == "fire" and step.event[2] != "tick"
                and not step.event[2].endswith(STAND_INS)]

    def restarted(self, node: str, first: int, last: int) -> bool:
        """Whether `node` crashed or restarted between steps `first` and `last`."""
        return any(first < i < last for i in self.resets.get(node, ()))


@history_invariant("local-failure-detection")
def local_failure_detection(sim: Simulation) -> Verdict:
    """Section 4.8.3: a node whose request a replica left unanswered takes that replica for
    failed ("A then uses alternate nodes to service requests that map to B's partitions")
    until it hears from it again, directly or as a newer heartbeat through gossip. Meanwhile
    it forwards it no request, picks it as no stand-in and, in a sloppy quorum, asks it
    nothing directly; and a get it coordinates asks a stand-in for each home it has found
    failed, as long as it has stand-ins it believes up (section 4.6: the first N healthy
    nodes). Judged from the trace, conservatively: a node is taken for failed only after a
    request timer of this incarnation fired with it silent, and a stand-in is taken for
    believed up only when it was heard from within FAIL_TIMEOUT less twice the clock bound
    and after the node's last timer other than its tick (the timers that suspect nodes).
    Judged are the requests that reached their node once."""
    name = "local-failure-detection"
    nodes = storage_nodes(sim)
    ring, settings = nodes[0].ring, nodes[0].settings
    seen = CoordinatorView(sim.trace)
    belief = {node: Belief(-1, 0, sim.servers) for node in sim.servers}
    judged = 0
    for i, step in enumerate(sim.trace):
        kind, node = step.event[0], step.event[1] if len(step.event) > 1 else None
        if kind in ("crash", "restart"):
            belief[node] = Belief(i, step.time, sim.servers)
        elif kind == "fire" and node in belief and step.event[2] != "tick":
            belief[node].timer_fired(i, step.event[2], seen)
        elif kind == "deliver" and step.event[2] in belief:
            src, dst, msg = step.event[1], step.event[2], step.detail
            belief[dst].heard_from(i, step.time, src, msg)
            op = f"{msg.client}:{msg.req}" if isinstance(msg, (Get, Put, Delete)) else None
            if op is None or len(seen.arrivals[(dst, op)]) != 1:
                continue
            judged += 1
            problem = belief[dst].misrouted(i, step.time, msg, op, seen, ring, settings,
                                            FAIL_TIMEOUT - 2 * sim.epsilon)
            if problem:
                return violated(name, f"at t={step.time} {dst} got {op} ({type(msg).__name__} "
                                      f"of {msg.key!r}): {problem}",
                                {"node": dst, "op": op, "step": i})
    return passed(name, f"none of {judged} request(s) went to a node its coordinator had "
                        "found failed, and each get asked stand-ins for the failed homes")


class Belief:
    """What the trace proves of one node's failure detector, since its last (re)start: the
    nodes it has found failed (a request of its timed out while they were silent, and it
    has not heard from them since), and when it last heard from each node."""

    def __init__(self, step: int, time: int, servers: list[str]) -> None:
        self.failed: set[str] = set()
        self.heard = {node: (step, time) for node in servers}  # all believed up at boot
        self.beats: dict[str, tuple[int, int]] = {}  # the newest heartbeats gossip brought
        self.started = step
        self.last_timer = step  # the step of its last timer but the tick
        self.up_homes: dict[str, set[str]] = {}  # request -> homes surely up when it came

    def heard_from(self, step: int, time: int, src: str, msg: object) -> None:
        news = [src] if src in self.heard else []
        if isinstance(msg, Gossip):
            for node, beat in msg.beats:
                if node in self.heard and beat > self.beats.get(node, (0, 0)):
                    self.beats[node] = beat
                    news.append(node)
        for node in news:
            self.heard[node] = (step, time)
            self.failed.discard(node)

    def timer_fired(self, step: int, timer: str, seen: CoordinatorView) -> None:
        """A request timer of this incarnation takes the targets still silent for failed; a
        put's stand-ins timer, the homes it then gave a stand-in's copy (those it believed
        up when the put came got none before)."""
        self.last_timer = step
        node, op = seen.trace[step].event[1], timer.removesuffix(STAND_INS)
        arrivals = seen.arrivals.get((node, op), [])
        if not arrivals or arrivals[0] < self.started or \
                seen.restarted(node, arrivals[0], max(arrivals[-1], step)):
            return
        answered = {src for at, src in seen.answers.get((node, op), []) if at < step}
        asked = seen.asked.get((node, op), [])
        if timer == op:
            self.failed |= {dst for dst, _ in asked} - answered - {node}
        elif op in self.up_homes:
            hinted = {sent.hint for _, sent in asked if isinstance(sent, Replicate)}
            self.failed |= (hinted & self.up_homes[op]) - answered

    def believed_up(self, node: str, time: int, margin: int) -> bool:
        """Whether the node surely believed `node` up: heard from it recently enough whatever
        the clocks did, and since the last timer that could have suspected it."""
        step, heard = self.heard[node]
        return node not in self.failed and step > self.last_timer and time - heard < margin

    def misrouted(self, step: int, time: int, msg: Get | Put | Delete, op: str,
                  seen: CoordinatorView, ring: Ring, settings: Settings,
                  margin: int) -> str | None:
        """What the node did with a request it got, against what it had found failed."""
        node = seen.trace[step].event[2]
        homes = ring.preference_list(msg.key, settings.n)
        self.up_homes[op] = {home for home in homes if self.believed_up(home, time, margin)}
        forwarded = seen.forwards.get((node, op), set())
        if forwarded & self.failed:
            return f"it forwarded it to {sorted(forwarded & self.failed)}, which it had " \
                   f"found failed"
        direct = {dst for dst, sent in seen.asked.get((node, op), [])
                  if isinstance(sent, Fetch) or sent.hint is None}
        wrong = {dst for dst in direct & self.failed if settings.sloppy or dst not in homes}
        if wrong:
            return f"it asked {sorted(wrong)} directly, which it had found failed"
        if not isinstance(msg, Get) or forwarded:
            return None
        stand_ins = ring.order_for(msg.key)[settings.n:]
        asked = {dst for dst in direct if dst not in homes} | ({node} - set(homes))
        up = [s for s in stand_ins if s == node or self.believed_up(s, time, margin)]
        owed = min(len(self.failed & set(homes)), len(up))
        if len(asked) < owed:
            return f"it had found homes {sorted(self.failed & set(homes))} failed and " \
                   f"believed stand-ins {up} up, yet asked only {sorted(asked)} of the " \
                   "stand-ins"
        return None
