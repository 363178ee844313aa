"""Dynamo's properties, checked on the clients' history, the ghost record and the replicas.

The ghost record (never read by the protocol) carries what the checks need to know about
versions: the coordinator notes each new version (`version`: its value, dot and context), a
replica notes each change of its siblings (`stored`), a stand-in each hint it keeps
(`hint-stored`) and a home each hint handed to it (`hint-delivered`). Workload values are
unique, so a value read names the version written with it.

Which check applies where: `quorum-regularity` is a promise of strict quorums with
R + W > N only; a sloppy configuration does not make it and the check says so. The other
three hold in every configuration.
"""

from __future__ import annotations

from checker.sim import Simulation
from checker.system import history_invariant
from implementations.dynamo.node import DATA, StorageNode
from invariants.history import OK, Operation
from invariants.sessions import check_convergence
from invariants.verdict import Verdict, passed, unknown, violated
from models.dynamo import Clock, Version, covered

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
    return [version for value in read.result for version in written.get(value, ())]


def ok_ops(sim: Simulation, f: str) -> list[Operation]:
    return [op for op in sim.operations() if op.f == f and op.status == OK]


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
    writes = ok_ops(sim, "write")
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
    sibling or replaced by a version whose context saw it: none silently lost."""
    name = "no-lost-write"
    ending = next((step.time for step in sim.trace if step.phase == "quiesce"), sim.time)
    written = versions_by_value(sim)
    finals = {read.args[0]: read for read in ok_ops(sim, "read") if read.call_time >= ending}
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
        if kind != "hint-stored":
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
