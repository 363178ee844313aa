"""Chubby: the correct cell survives the hunt, each seeded bug is found by the random walk and
by a scripted schedule that shows its mechanism, and the model and the invariants behave on
hand-made states (they can fail)."""

from __future__ import annotations

import functools
import random
import re
from typing import Any

import attrs
import pytest

import implementations
from checker.hunt import Budget, hunt
from checker.run import RunResult, execute, new_simulation
from checker.sim import Cluster, Simulation, Step
from checker.strategies import RandomWalk, Replay
from checker.system import Config, Variant
from implementations import chubby, sso
from implementations.chubby import (
    LOCK_DELAY,
    RESOURCE,
    SESSION_LEASE,
    SYSTEM,
    Acquire,
    Database,
    ExpireSession,
    Release,
    Session,
    SetContents,
)
from implementations.paxos_core import MASTER, NO_BALLOT, Accepted, Ballot
from implementations.resource import Applied
from models.lockservice import LockService
from tests.handclock import Clock

DEFAULT = SYSTEM.config("default")
SEQUENCER_ONLY = Variant("sequencer-only", chubby.Cell(chubby.NoLockDelay, fencing=True))
WITH_EXPERIMENT = attrs.evolve(
    SYSTEM, variants={**SYSTEM.variants, "lock-delay-only": chubby.LOCK_DELAY_ONLY,
                      "sequencer-only": SEQUENCER_ONLY})
S1, S2 = Session("c1", 1), Session("c2", 1)

# --- the hunt --------------------------------------------------------------------------------


def walk(variant: str, seed: int, config: Config = DEFAULT) -> RunResult:
    return execute(WITH_EXPERIMENT, variant, config, seed, RandomWalk(seed, config.max_pause))


def test_registered() -> None:
    assert SYSTEM in implementations.registered()


@pytest.mark.parametrize("config", ["default", "small"])
def test_correct_cell_survives_a_few_seeds(config: str) -> None:
    for seed in range(25):
        result = walk("correct", seed, SYSTEM.config(config))
        assert not result.verdict.violated, (seed, result.verdict)


@pytest.mark.parametrize("variant, invariants", [
    ("no-sequencer", {"no-stale-write"}),
    ("ack-before-invalidation", {"cache-coherent", "linearizable"}),
    ("serves-past-lease", {"reads-within-lease"}),
])
def test_seeded_bug_is_found_and_replays(variant: str, invariants: set[str]) -> None:
    found = next((r for r in (walk(variant, seed) for seed in range(200))
                  if r.verdict.violated), None)
    assert found is not None and found.verdict.invariant in invariants, found
    again = execute(SYSTEM, variant, DEFAULT, found.seed, Replay(found.choices))
    assert again.verdict == found.verdict
    assert again.sim.fingerprint() == found.sim.fingerprint()


def test_correct_cell_serves_reads_from_caches_and_writes_the_resource() -> None:
    """The hunt is not vacuous: across a few runs, cached reads and fenced writes happen."""
    runs = [walk("correct", seed) for seed in range(10)]
    assert sum(kind == "cached-read" for r in runs for kind, *_ in r.sim.ghost) > 5
    assert sum(len(r.sim.nodes[RESOURCE].log) for r in runs) > 10


# --- scripted schedules: a fast network, and faults at chosen moments -------------------------


class Script:
    """Deliver every message at once (except those `hold` names), fire timers in due order
    (`first` ones first among those due together), invoke the clients' operations one at a
    time, each once its time in `invokes` has come, and inject `fault` once when it returns
    an event."""

    def __init__(self, until: int, invokes: list[tuple[int, str]] = (),
                 fault: Any = lambda sim: None, hold: Any = lambda msg: False,
                 first: tuple = ()) -> None:
        self.until, self.invokes = until, sorted(invokes)
        self.fault, self.faulted = fault, False
        self.hold, self.first = hold, first

    def next(self, sim: Simulation) -> tuple | None:
        if not self.faulted and (event := self.fault(sim)) is not None:
            self.faulted = True
            return event
        if self.invokes and sim.time >= self.invokes[0][0] and sim.clients_idle():
            return ("invoke", self.invokes.pop(0)[1])
        ready = [e for e in sim.enabled("deliver")
                 if not self.hold(sim.network.in_flight[e[1:]].msg)]
        if ready:
            return ready[0]
        timers = sim.enabled("fire")
        if not timers or sim.time > self.until:
            return None
        return next((t for t in timers if t in self.first), timers[0])


def scripted(variant: str, script: Script, workload: dict[str, list] | None = None) -> RunResult:
    """Run `variant` of the default cell with `workload` instead of the random one, and an
    ending whose only final operation is the stand-by."""
    def build(config: Config, cell: Any, rng: random.Random) -> Cluster:
        cluster = chubby.build(config, cell, rng)
        return attrs.evolve(cluster, workload=workload or {}, final_ops=cluster.final_ops[:1])
    system = attrs.evolve(WITH_EXPERIMENT, build=build)
    return execute(system, variant, DEFAULT, 0, script)


def pause_the_first_holder(sim: Simulation) -> tuple | None:
    """As soon as p1 is granted the lock (and is about to work and write), it stalls for the
    longest pause a run allows."""
    if sim.nodes["p1"].generation is not None:
        return ("pause", "p1", DEFAULT.max_pause)
    return None


def paused_holder(variant: str) -> RunResult:
    return scripted(variant, Script(until=3000, fault=pause_the_first_holder,
                                    first=(("fire", "p1", "work"),)))


def generations(result: RunResult) -> list[tuple[str, int]]:
    return [(a.holder, a.generation) for a in result.sim.nodes[RESOURCE].log]


def test_paused_holder_writes_after_the_next_holder_without_sequencer_or_lock_delay() -> None:
    result = paused_holder("no-sequencer")
    assert result.verdict.invariant == "no-stale-write", result.verdict
    assert generations(result)[0][0] == "p2" and generations(result)[-1] == ("p1", 1)


def test_sequencer_refuses_the_paused_holders_late_write() -> None:
    """Lock-delay off but sequencers checked: the late write is refused."""
    result = paused_holder("sequencer-only")
    assert result.verdict.ok, result.verdict
    assert generations(result)[0][0] == "p2" and ("p1", 1) not in generations(result)


def test_correct_cell_survives_the_paused_holder() -> None:
    result = paused_holder("correct")
    assert result.verdict.ok, result.verdict


def test_lock_delay_alone_keeps_the_lock_until_the_pause_is_over() -> None:
    """Sequencers ignored, lock-delay on: nobody gets the lock again before the paused holder
    has written, because the pause is shorter than lease plus lock-delay."""
    assert DEFAULT.max_pause < SESSION_LEASE + LOCK_DELAY
    result = paused_holder("lock-delay-only")
    assert result.verdict.ok, result.verdict
    assert generations(result)[0] == ("p1", 1)


def crash_the_first_holder(sim: Simulation) -> tuple | None:
    """As soon as p1 is granted the lock, it crashes: its session, and the lock, outlive it
    until the master ends the session, and then the lock waits out lock-delay."""
    if sim.nodes["p1"].generation is not None:
        return ("crash", "p1")
    return None


def test_the_stand_by_outlasts_lock_delay() -> None:
    """The ending restarts p1 with a new session; the lock its old session held is granted
    again only after lock-delay, and still a holder writes before the stand-by is over."""
    result = scripted("correct", Script(until=1000, fault=crash_the_first_holder))
    assert result.verdict.ok, result.verdict
    assert generations(result) and generations(result)[0][1] == 2
    assert result.sim.nodes[RESOURCE].log[0].time > LOCK_DELAY


class Slacker(chubby.Primary):
    """Takes the lock and gives it back at once, without ever writing."""

    def answered(self, ctx: Any, request: Any, reply: Any) -> None:
        if isinstance(request, Acquire) and reply.result is not None:
            self.generation = reply.result
            self.release(ctx)
        else:
            super().answered(ctx, request, reply)


def run_swapping(standard: type, replacement: type) -> RunResult:
    """The correct cell on seed 0's random walk, each node of class `standard` (a server or a
    client) built as `replacement`."""
    def swap(nodes: dict[str, Any]) -> dict[str, Any]:
        return {name: functools.partial(replacement, **node.keywords)
                if node.func is standard else node for name, node in nodes.items()}

    def build(config: Config, cell: Any, rng: random.Random) -> Cluster:
        cluster = chubby.build(config, cell, rng)
        return attrs.evolve(cluster, servers=swap(cluster.servers),
                            clients=swap(cluster.clients))
    return execute(attrs.evolve(SYSTEM, build=build), "correct", DEFAULT, 0,
                   RandomWalk(0, DEFAULT.max_pause))


def test_lock_holders_that_never_write_are_caught() -> None:
    result = run_swapping(chubby.Primary, Slacker)
    assert result.verdict.invariant == "lock-holder-writes", result.verdict
    assert re.fullmatch(r"no primary wrote to fs under its sequencer in the \d+ ticks the "
                        r"ending ran after healing every fault at t=\d+ \(it never applied "
                        r"one\)", result.verdict.explanation), result.verdict.explanation


class Hog(chubby.Primary):
    """Once granted the lock, keeps it: works and writes on and never releases it."""

    def written(self, ctx: Any, accepted: bool) -> None:
        ctx.cancel_timer("written")
        self.writing = None
        ctx.set_timer("work", chubby.WORK)


def test_a_lock_never_handed_on_is_caught() -> None:
    """A holder that never lets go keeps the other primary from the lock after the faults
    heal: each primary must write in the ending."""
    result = run_swapping(chubby.Primary, Hog)
    assert result.verdict.invariant == "lock-holder-writes", result.verdict
    assert re.fullmatch(r"p\d never wrote to fs under its sequencer in the \d+ ticks the "
                        r"ending ran after healing every fault at t=\d+ \(the last write it "
                        r"applied was p\d's, at t=\d+\)", result.verdict.explanation), \
        result.verdict.explanation


def test_lock_holder_writes_counts_only_sequenced_writes_surely_in_the_ending() -> None:
    """The resource stamps writes with its own clock, within epsilon of true time: a write
    stamped less than epsilon after the ending began may have been applied before it, and a
    write without a sequencer is no lock holder's."""
    sim = fresh()
    sim.trace.append(Step(("heal",), 1000, phase="quiesce"))
    sim.time = 7000
    resource = sim.nodes[RESOURCE]
    resource.log = [Applied(1000 + DEFAULT.epsilon - 1, "p1", 1, 1, None),
                    Applied(5000, "p2", None, 2, None)]
    assert chubby.lock_holder_writes.check(sim).explanation == (
        "no primary wrote to fs under its sequencer in the 6000 ticks the ending ran after "
        "healing every fault at t=1000 (the last write it applied was p2's, at t=5000)")
    resource.log.append(Applied(1000 + DEFAULT.epsilon, "p1", 1, 1, None))
    assert chubby.lock_holder_writes.check(sim).explanation == (
        "p2 never wrote to fs under its sequencer in the 6000 ticks the ending ran after "
        "healing every fault at t=1000 (the last write it applied was p1's, at t=1050)")
    resource.log.append(Applied(5500, "p2", 2, 2, None))
    assert chubby.lock_holder_writes.check(sim).ok


def invalidation_held(variant: str) -> RunResult:
    """c1 reads f and caches it; c2 writes f while the invalidation to c1 never arrives;
    then c1 reads f again. (The new master writes nothing before its quiet period ends.)"""
    workload = {"c1": [("read", ("f",)), ("read", ("f",))], "c2": [("write", ("f", 1))]}
    script = Script(until=2000, invokes=[(800, "c1"), (900, "c2"), (1000, "c1")],
                    hold=lambda msg: isinstance(msg, chubby.Invalidate) and msg.session.client
                    == "c1")
    return scripted(variant, script, workload)


def test_write_acknowledged_before_invalidation_leaves_a_stale_cache() -> None:
    result = invalidation_held("ack-before-invalidation")
    assert result.verdict.invariant == "cache-coherent", result.verdict
    assert "c1 read None of 'f' from its cache" in result.verdict.explanation


def test_write_waits_for_the_invalidation() -> None:
    """c1 stays in touch (its KeepAlives renew its lease and repeat the invalidation), so the
    write waits until the ending delivers the invalidation and c1 acknowledges it."""
    result = invalidation_held("correct")
    assert result.verdict.ok, result.verdict
    steps = [(s.event[1], s.event[2], type(s.detail).__name__) for s in result.sim.trace
             if s.event[0] == "deliver"]
    ack = next(i for i, (src, _, kind) in enumerate(steps)
               if (src, kind) == ("c1", "InvalidateAck"))
    done = [i for i, (_, dst, kind) in enumerate(steps) if (dst, kind) == ("c2", "Done")]
    assert done and done[0] > ack


# --- the model and the replicated database ----------------------------------------------------


def run(spec: LockService, state: Any, *ops: tuple[str, tuple]) -> tuple[list, Any]:
    results = []
    for f, args in ops:
        [(result, state)] = spec.apply(state, f, args)
        results.append(result)
    return results, state


def test_lock_generations_count_grants() -> None:
    spec = LockService(lock_delay=100)
    results, state = run(spec, spec.initial(), ("acquire", ("L", S1, 0)),
                         ("acquire", ("L", S1, 1)), ("acquire", ("L", S2, 2)),
                         ("release", ("L", S2)), ("release", ("L", S1)),
                         ("acquire", ("L", S2, 3)))
    assert results == [1, 1, None, None, None, 2]
    assert spec.holders(state) == [S2]


def test_expiry_frees_the_lock_under_lock_delay() -> None:
    spec = LockService(lock_delay=100)
    results, state = run(spec, spec.initial(), ("acquire", ("L", S1, 0)),
                         ("expire", (S1, 50)), ("acquire", ("L", S2, 149)),
                         ("acquire", ("L", S1, 150)), ("acquire", ("L", S2, 150)))
    assert results == [1, None, None, None, 2]  # an expired session never acquires again


def test_files_have_versions() -> None:
    spec = LockService()
    results, state = run(spec, spec.initial(), ("read", ("f",)), ("write", ("f", 7)),
                         ("write", ("f", 8)), ("read", ("f",)))
    assert results == [None, None, None, 8]
    assert spec.file(state, "f") == (2, 8) and spec.file(state, "g") == (0, None)


def test_database_applies_a_request_the_log_holds_twice_once() -> None:
    db = Database(lock_delay=0)
    first = SetContents(S1, NO_BALLOT, 1, "f", 7)
    assert db.execute(first) == 1
    assert db.execute(SetContents(S2, NO_BALLOT, 1, "f", 8)) == 2
    assert db.execute(first) == 1  # the retry is answered, not applied again
    assert db.file("f") == (2, 8)
    assert db.execute(Acquire(S1, NO_BALLOT, 2, "L", 0)) == 1
    assert db.execute(Release(S1, NO_BALLOT, 1, "L")) is None  # overtaken: ignored
    db.execute(ExpireSession(S1, 10))
    assert db.expired(S1) and db.spec.holders(db.state) == []


# --- the invariants on hand-made states -------------------------------------------------------


def fresh() -> Simulation:
    sim = new_simulation(SYSTEM, "correct", DEFAULT, 0)
    sim.start()
    return sim


def test_no_stale_write_on_hand_made_logs() -> None:
    sim = fresh()
    resource = sim.nodes[RESOURCE]
    resource.log = [Applied(0, "p1", 1, 1, None), Applied(1, "p2", 2, 2, None)]
    assert chubby.no_stale_write.check(sim) is None
    resource.log.append(Applied(2, "p1", 1, 1, None))
    assert "p1's write under lock generation 1 after p2's" in chubby.no_stale_write.check(sim)


def test_cache_coherent_on_hand_made_ghosts() -> None:
    """Judged by contents, placed in the log by the replicas' `chosen` notes: whatever
    versions the cell gives them, a cached read of contents the log holds before an
    acknowledged write of the file is stale (a retry chosen twice wrote at its first slot)."""
    sim = fresh()
    write = SetContents(S2, NO_BALLOT, 1, "f", 7)
    sim.ghost += [("chosen", 1, "n1", {"slot": 0, "value": SetContents(S1, NO_BALLOT, 1, "f", 6)}),
                  ("chosen", 2, "n1", {"slot": 2, "value": write}),
                  ("cached-read", 3, "c1", {"name": "f", "contents": 6}),  # not acknowledged
                  ("chosen", 4, "n2", {"slot": 1, "value": write}),
                  ("acked", 5, "n1", {"name": "f", "contents": 7}),
                  ("cached-read", 6, "c1", {"name": "g", "contents": None}),
                  ("cached-read", 7, "c2", {"name": "f", "contents": 7})]
    assert chubby.cache_coherent.check(sim) is None
    sim.ghost.append(("cached-read", 8, "c1", {"name": "f", "contents": 6}))
    assert chubby.cache_coherent.check(sim) == (
        "c1 read 6 of 'f' from its cache at t=8, after the master n1 acknowledged the write of "
        "7 at t=5, which the log holds later (slot 1)")


def test_session_outlives_lease_on_hand_made_ghosts() -> None:
    """A lease runs from when the client sent the KeepAlive a master answered, whichever master
    ends the session; a KeepAlive nobody answered grants nothing."""
    sim = fresh()
    sim.ghost += [("keepalive-sent", 100, "c1", {"session": S1, "sent": 90}),
                  ("session-renewed", 120, "n1", {"session": S1, "sent": 90}),
                  ("keepalive-sent", 300, "c1", {"session": S1, "sent": 290}),
                  ("session-ended", 100 + SESSION_LEASE, "n2", {"session": S1}),
                  ("session-ended", 150, "n1", {"session": S2})]
    assert chubby.session_outlives_lease.check(sim) is None
    sim.ghost += [("keepalive-sent", 400, "c2", {"session": S2, "sent": 400}),
                  ("session-renewed", 410, "n1", {"session": S2, "sent": 400}),
                  ("session-ended", 420, "n2", {"session": S2})]
    assert chubby.session_outlives_lease.check(sim) == (
        f"n2 ended session c2/1 at t=420, but n1 had renewed its lease with a KeepAlive sent "
        f"at t=400, which the client may trust until t={400 + SESSION_LEASE}")


def test_client_lease_conservative_on_hand_made_ghosts() -> None:
    """A client may trust its session until a SESSION_LEASE after it sent a KeepAlive some
    master renewed, and no later; a KeepAlive nobody renewed lets it trust nothing."""
    sim = fresh()
    p1 = sim.nodes["p1"]
    sim.ghost += [("keepalive-sent", 100, "p1", {"session": p1.session, "sent": 90}),
                  ("session-renewed", 120, "n1", {"session": p1.session, "sent": 90})]
    p1.lease_end = 10**6  # by its own clock, its lease runs on and on
    sim.time = 100 + SESSION_LEASE - 1
    assert chubby.client_lease_conservative.check(sim) is None
    sim.time = 100 + SESSION_LEASE
    assert chubby.client_lease_conservative.check(sim) == (
        f"p1 trusts the lease of session p1/1 at t={sim.time}, but the KeepAlive it sent at "
        f"t=100, which n1 renewed, lets it trust the session until t={sim.time}")
    p1.lease_end = 0  # jeopardy: it trusts nothing
    assert chubby.client_lease_conservative.check(sim) is None
    sim.nodes["p2"].lease_end = 10**6
    assert chubby.client_lease_conservative.check(sim) == (
        f"p2 trusts the lease of session p2/1 at t={sim.time}, but no master ever renewed it")


class HastyMaster(chubby.ChubbyReplica):
    """Forgets that its predecessor granted session leases: its quiet period is over at once,
    so it ends the sessions holding locks as soon as it is elected."""

    def on_elected(self, ctx: Any) -> None:
        super().on_elected(ctx)
        self.quiet_until = chubby.NEVER


def test_a_master_ending_its_predecessors_sessions_is_caught() -> None:
    system = attrs.evolve(SYSTEM, variants={
        **SYSTEM.variants, "hasty": Variant("hasty", chubby.Cell(HastyMaster))})
    outcome = hunt(system, "hasty", DEFAULT, budget=Budget(runs=100), seed=0)
    assert outcome.violation is not None
    assert outcome.violation.verdict.invariant == "session-outlives-lease", \
        outcome.violation.verdict


class SaysItOnce(chubby.ChubbyReplica):
    """Sends each invalidation once: its KeepAlive replies do not repeat those still owed."""

    def on_keep_alive(self, ctx: Any, src: str, msg: chubby.KeepAlive) -> None:
        pending, self.pending = self.pending, []
        super().on_keep_alive(ctx, src, msg)
        self.pending = pending


def test_a_lost_invalidation_never_repeated_is_caught_on_a_lossy_network() -> None:
    """Chubby 2.8: invalidations ride on KeepAlive replies, so no client keeps its session
    without acknowledging them. A master that sends each once waits for ever on a cache whose
    invalidation was lost while its session lives on; a lossy network with a steady master
    (no fail-over to clear the wait) opens that window, and the ending's writes of the file
    never go through."""
    system = attrs.evolve(SYSTEM, variants={
        **SYSTEM.variants, "says-it-once": Variant("says-it-once", chubby.Cell(SaysItOnce))})
    outcome = hunt(system, "says-it-once", SYSTEM.config("lossy"), budget=Budget(runs=50),
                   seed=0, shrink_found=False)
    assert outcome.violation is not None
    assert outcome.violation.verdict.invariant == "progress", outcome.violation.verdict


def test_the_ending_writes_each_file_and_reads_it() -> None:
    """After the faults the cell must take writes: after the stand-by, each round of the
    ending writes a fresh value, then another client reads the file."""
    ops = chubby.final_ops(["c1", "c2"], ("f", "g"), iter(range(10, 20)))
    assert ops == [("c1", "wait", (chubby.STAND_BY,)),
                   ("c1", "write", ("f", 10)), ("c2", "read", ("f",)),
                   ("c2", "write", ("g", 11)), ("c1", "read", ("g",)),
                   ("c1", "write", ("f", 12)), ("c2", "read", ("f",)),
                   ("c2", "write", ("g", 13)), ("c1", "read", ("g",)),
                   ("c2", "read", ("f",)), ("c1", "read", ("g",))]
    assert chubby.rereads(ops) == [("c2", "f"), ("c1", "g")]


def test_rereads_need_the_same_reader_and_no_write_between() -> None:
    ops = [("c1", "read", ("f",)), ("c2", "read", ("f",)), ("c2", "write", ("f", 1)),
           ("c2", "read", ("f",)), ("c1", "wait", (5,)), ("c2", "read", ("f",))]
    assert chubby.rereads(ops) == [("c2", "f")]


class Uncached(chubby.FileClient):
    """Never answers a read from its cache."""

    def cached(self, ctx: Any, name: str) -> None:
        return None


def test_a_client_that_stops_caching_is_caught() -> None:
    result = run_swapping(chubby.FileClient, Uncached)
    assert result.verdict.invariant == "rereads-cached", result.verdict
    assert re.fullmatch(r"c\d read 'f' again at t=\d+, nothing written to it since it read "
                        r"\d+ at t=\d+, and asked the master instead of its cache",
                        result.verdict.explanation), result.verdict.explanation


def test_writes_acked_by_master_on_hand_made_histories() -> None:
    """A write that returned ok must have been acknowledged by a master (its `acked` note of
    the write's contents) no later than it returned."""
    sim = fresh()
    sim.record("c1", "invoke", "write", ("f", 7))
    sim.ghost.append(("acked", 0, "n1", {"name": "f", "contents": 7}))
    sim.record("c1", "ok", "write", None)
    sim.record("c2", "invoke", "write", ("f", 8))
    sim.record("c2", "info", "write", None)  # never acknowledged, and not claimed to be
    assert chubby.writes_acked_by_master.check(sim).ok
    sim.record("c1", "invoke", "write", ("g", 7))
    sim.record("c1", "ok", "write", None)
    assert chubby.writes_acked_by_master.check(sim).explanation == (
        "c1's write of 7 to 'g' returned ok at t=0, but no master had acknowledged it")


def test_lease_checks_count_the_cells_replicas_only() -> None:
    """A read backed by two of the three replicas is within its lease; the resource and the
    primaries, servers too, are no grantors."""
    sim, ballot = fresh(), Ballot(1, "n1")
    assert chubby.cell_replicas(sim) == ["n1", "n2", "n3"]
    sim.ghost.append(("lease-asked", 0, "n1", {"ballot": ballot, "start": 0}))
    for grantor in ("n1", "fs"):
        sim.ghost.append(("lease-granted", 1, grantor, {"master": "n1", "ballot": ballot,
                                                        "start": 0}))
    sim.ghost.append(("lease-read", 2, "n1", {"ballot": ballot}))
    assert chubby.reads_within_lease.check(sim) == (
        "n1 answered a read at t=2 under ballot 1.n1 with only n1 granting it a lease "
        f"asked for after t={2 - sso.LEASE}")


class DeafMaster(chubby.ChubbyReplica):
    """Does nothing useful: a master that sends every request elsewhere."""

    def on_request(self, ctx: Any, src: str, msg: Any) -> None:
        ctx.send(src, chubby.NotMaster(msg.req, None))


def test_a_cell_that_serves_nothing_is_caught_by_progress() -> None:
    system = attrs.evolve(SYSTEM, variants={
        **SYSTEM.variants, "deaf": Variant("deaf", chubby.Cell(DeafMaster))})
    outcome = hunt(system, "deaf", DEFAULT, budget=Budget(runs=10), seed=0)
    assert outcome.violation is not None
    assert outcome.violation.verdict.invariant == "progress", outcome.violation.verdict


def test_linearizable_files_on_a_hand_made_history() -> None:
    sim = fresh()
    for process, kind, f, value, time in [
            ("c1", "invoke", "write", ("f", 1), 0), ("c1", "ok", "write", None, 1),
            ("c2", "invoke", "read", ("f",), 2), ("c2", "ok", "read", 1, 3)]:
        sim.time = time
        sim.record(process, kind, f, value)
    assert chubby.linearizable_files.check(sim).ok
    sim.record("c2", "invoke", "read", ("f",))
    sim.record("c2", "ok", "read", None)  # the initial contents, after 1 was acknowledged
    assert chubby.linearizable_files.check(sim).violated


def test_majority_quorums_intersect() -> None:
    (verdict,) = SYSTEM.proofs(DEFAULT, SYSTEM.variant("correct").impl)
    assert verdict.ok, verdict


# --- the master's session rules, on hand-made clock readings ----------------------------------


def serving_master() -> tuple[chubby.ChubbyReplica, Clock]:
    """n1, master of a fresh cell at ballot 1.n1, with a long master lease."""
    master, ctx = chubby.ChubbyReplica("n1", ("n1", "n2", "n3")), Clock("n1", DEFAULT.epsilon)
    master.on_start(ctx)
    master.role, master.ballot, master.lease_expiry = MASTER, Ballot(1, "n1"), 10**6
    return master, ctx


def test_only_sessions_whose_lease_the_master_keeps_may_cache() -> None:
    master, ctx = serving_master()
    read = chubby.GetContents(S1, master.ballot, 1, "f")
    master.on_message(ctx, "c1", read)
    master.on_message(ctx, "c1", chubby.KeepAlive(S1, 0))
    master.on_message(ctx, "c1", attrs.evolve(read, req=2))
    assert [c.cacheable for c in ctx.replies(chubby.Contents)] == [False, True]
    assert master.cachers == {"f": {S1: None}}


def test_a_lapsed_session_is_ended_not_revived() -> None:
    """Once the master may have stopped waiting for a session's cache, a late KeepAlive must
    not give the session (and whatever it cached) a new lease."""
    master, ctx = serving_master()
    master.on_message(ctx, "c1", chubby.KeepAlive(S1, 0))
    ctx.time = SESSION_LEASE + 2 * DEFAULT.epsilon + 1  # the earliest reading is past the lease
    master.on_message(ctx, "c1", chubby.KeepAlive(S1, ctx.time))
    assert ctx.replies(chubby.SessionExpired) == [chubby.SessionExpired(S1)]
    assert S1 in master.ending and len(ctx.replies(chubby.KeepAliveOk)) == 1


def test_a_write_waits_for_the_invalidation_or_the_lapse() -> None:
    master, ctx = serving_master()
    master.on_message(ctx, "c1", chubby.KeepAlive(S1, 0))
    master.on_message(ctx, "c1", chubby.GetContents(S1, master.ballot, 1, "f"))
    master.on_message(ctx, "c2", SetContents(S2, master.ballot, 1, "f", 7))
    (invalidate,) = ctx.replies(chubby.Invalidate)
    assert not master.pending[0].proposed  # c1 may still read its cached copy
    master.on_message(ctx, "c1", chubby.InvalidateAck(S1, "f", invalidate.ticket))
    assert master.pending[0].proposed
    master.on_message(ctx, "n2", Accepted(master.ballot, 0))  # chosen, applied, acknowledged
    assert not master.pending and ctx.replies(chubby.Done) == [chubby.Done(S2, 1, 1)]
    master.on_message(ctx, "c1", chubby.GetContents(S1, master.ballot, 2, "f"))  # cached again
    master.on_message(ctx, "c2", SetContents(S2, master.ballot, 2, "f", 8))
    master.tick(ctx)
    assert not master.pending[0].proposed
    ctx.time = SESSION_LEASE + 2 * DEFAULT.epsilon + 1
    master.tick(ctx)
    assert master.pending[0].proposed  # c1 never answered, but its lease has lapsed
