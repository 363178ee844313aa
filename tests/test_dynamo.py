"""Dynamo: the ring, the multi-value register, the Merkle trees and the checks on hand-made
inputs; the z3 proofs of both quorum countings; the correct variant in both configurations
against short hunts; and the anti-entropy convergence figure."""

from __future__ import annotations

import attrs
import pytest

import implementations
from checker.hunt import Budget, hunt
from checker.node import Context
from checker.run import execute, new_simulation
from checker.sim import Simulation, Step
from checker.strategies import RandomWalk
from checker.system import Variant
from implementations.dynamo import HEALED, SETTLE, SYSTEM, build_ring, checks, proofs
from implementations.dynamo.node import DATA, SloppyCountedStrict, StorageNode, Unavailable
from implementations.dynamo.ring import LEAVES, Ring, leaf_of, merkle_tree
from invariants.history import Event
from models.dynamo import EMPTY, Clock, MVRegister, Version, join_clocks, missing, sync

DEFAULT, SLOPPY = SYSTEM.config("default"), SYSTEM.config("sloppy")


def test_registered() -> None:
    assert SYSTEM in implementations.registered()


# --- the ring ----------------------------------------------------------------------------------


def test_preference_lists_are_n_distinct_machines_then_the_stand_ins() -> None:
    r = Ring.build(("n1", "n2", "n3", "n4", "n5"), vnodes=3)
    assert len(r.tokens) == 15
    for key in ("a", "b", "c", "d"):
        order = r.order_for(key)
        assert sorted(order) == ["n1", "n2", "n3", "n4", "n5"]
        assert r.preference_list(key, 3) == order[:3]
        assert key and r.range_of(key) in r.ranges_of(order[0], 3)


def test_every_key_range_has_n_replicas() -> None:
    r = Ring.build(("n1", "n2", "n3", "n4"), vnodes=2)
    holders = {rng: [n for n in r.nodes if rng in r.ranges_of(n, 3)]
               for rng in range(len(r.tokens))}
    assert all(len(nodes) == 3 for nodes in holders.values())


def test_merkle_roots_differ_exactly_when_a_leaf_does() -> None:
    v = Version(1, ("c1", 1))
    same = merkle_tree({"a": (v,), "b": ()})
    assert same == merkle_tree({"b": (), "a": (v,)})
    other = merkle_tree({"a": (v, Version(2, ("c2", 1))), "b": ()})
    assert other[0] != same[0]
    differing = [i for i in range(LEAVES) if other[-1][i] != same[-1][i]]
    assert differing == [leaf_of("a")]


# --- the multi-value register ------------------------------------------------------------------


def test_a_write_supersedes_exactly_what_its_context_saw() -> None:
    first = Version(1, ("c1", 1))
    concurrent = Version(2, ("c2", 1))
    reg = MVRegister()
    reg.write(first)
    reg.write(concurrent)
    values, context = reg.read()
    assert values == (1, 2) and context == Clock.of({"c1": 1, "c2": 1})
    reg.write(Version(3, ("c1", 2), context))  # the client-side merge
    assert reg.read() == ((3,), Clock.of({"c1": 2, "c2": 1}))


def test_sync_is_order_free_and_idempotent() -> None:
    a, b = Version(1, ("c1", 1)), Version(2, ("c2", 1))
    c = Version(3, ("c2", 2), Clock.of({"c2": 1}))
    assert sync((a, b), (c,)) == sync((c,), (b, a)) == sync((a, b, c), (a, c)) == (a, c)
    assert join_clocks((a, c)) == Clock.of({"c1": 1, "c2": 2})
    assert repr(c) == "3@c2:2{c2:1}"


def test_missing_lists_what_a_read_neither_returned_nor_saw() -> None:
    a, b = Version(1, ("c1", 1)), Version(2, ("c2", 1))
    later = Version(3, ("c1", 2), Clock.of({"c1": 1}))
    assert missing([later], [a, b]) == [b]
    assert missing([later, b], [a, b]) == []
    assert missing([], [a]) == [a] and EMPTY.covers(("c1", 0))


# --- the checks on hand-made runs --------------------------------------------------------------


def fresh(config=DEFAULT) -> Simulation:
    sim = new_simulation(SYSTEM, "correct", config, seed=0)
    sim.start()
    return sim


def with_history(sim: Simulation, *events: tuple, versions: tuple[Version, ...] = ()) -> None:
    sim.history = [Event(p, kind, f, value, t) for p, kind, f, value, t in events]
    sim.ghost += [("version", 0, "n1", {"key": "a", "version": v}) for v in versions]


A1 = Version(1, ("c1", 1))
A2 = Version(2, ("c2", 1))
A3 = Version(3, ("c1", 2), Clock.of({"c1": 1}))


def test_regularity_wants_every_earlier_acknowledged_put_seen() -> None:
    sim = fresh()
    with_history(sim, ("c1", "invoke", "write", ("a", 1), 0), ("c1", "ok", "write", None, 1),
                 ("c2", "invoke", "read", ("a",), 2), ("c2", "ok", "read", (), 3),
                 versions=(A1,))
    verdict = checks.quorum_regularity.check(sim)
    assert verdict.violated and "misses the earlier acknowledged" in verdict.explanation
    sloppy = fresh(SLOPPY)
    with_history(sloppy, *[(e.process, e.type, e.f, e.value, e.time) for e in sim.history],
                 versions=(A1,))
    assert checks.quorum_regularity.check(sloppy).ok  # not promised there


def test_regularity_accepts_a_later_version_or_siblings() -> None:
    sim = fresh()
    with_history(sim, ("c1", "invoke", "write", ("a", 1), 0), ("c1", "ok", "write", None, 1),
                 ("c2", "invoke", "write", ("a", 2), 0), ("c2", "ok", "write", None, 1),
                 ("c1", "invoke", "read", ("a",), 2), ("c1", "ok", "read", (2, 3), 3),
                 versions=(A1, A2, A3))
    assert checks.quorum_regularity.check(sim).ok


def test_no_lost_write_looks_at_the_final_reads() -> None:
    sim = fresh()
    sim.trace.append(Step(("heal",), 10, phase="quiesce"))
    events = (("c1", "invoke", "write", ("a", 1), 0), ("c1", "ok", "write", None, 1),
              ("c2", "invoke", "write", ("a", 2), 0), ("c2", "ok", "write", None, 1))
    with_history(sim, *events, ("c1", "invoke", "read", ("a",), 20),
                 ("c1", "ok", "read", (3,), 21), versions=(A1, A2, A3))
    verdict = checks.no_lost_write.check(sim)
    assert verdict.violated and "c2 write('a', 2)" in verdict.explanation
    sim.history.clear()
    with_history(sim, *events, ("c1", "invoke", "read", ("a",), 20),
                 ("c1", "ok", "read", (2, 3), 21))
    assert checks.no_lost_write.check(sim).ok
    sim.history = sim.history[:4]
    assert checks.no_lost_write.check(sim).status == "unknown"  # no final read


def test_hint_delivery_matches_hints_to_handoffs() -> None:
    sim = fresh()
    sim.ghost += [("hint-accepted", 5, "n4", {"home": "n1", "key": "a", "dots": [("c1", 1)]}),
                  ("hint-accepted", 6, "n4", {"home": "n1", "key": "a", "dots": [("c1", 2)]})]
    assert checks.hint_delivery.check(sim).violated
    sim.ghost.append(("hint-delivered", 9, "n1",
                      {"stand_in": "n4", "key": "a", "clock": Clock.of({"c1": 2})}))
    assert checks.hint_delivery.check(sim).ok
    sim.ghost.append(("hint-accepted", 5, "n5", {"home": "n1", "key": "a", "dots": [("c1", 1)]}))
    verdict = checks.hint_delivery.check(sim)
    assert verdict.violated and verdict.witness["stand_in"] == "n5"


def test_convergence_compares_the_homes_of_each_key() -> None:
    sim = fresh()
    homes = build_ring(DEFAULT).preference_list("a", 3)
    for home in homes:
        sim.contexts[home].storage.put(DATA + "a", (A1,))
    assert checks.convergence.check(sim).ok
    sim.contexts[homes[1]].storage.put(DATA + "a", (A1, A2))
    assert checks.convergence.check(sim).violated


# --- proofs and hunts --------------------------------------------------------------------------


def test_strict_quorums_proved_sloppy_refuted() -> None:
    (strict,) = proofs(DEFAULT, StorageNode)
    assert strict.ok
    for config, impl in ((DEFAULT, SloppyCountedStrict), (SLOPPY, StorageNode)):
        (sloppy,) = proofs(config, impl)
        assert sloppy.violated and set(sloppy.witness["write_quorum"]).isdisjoint(
            sloppy.witness["read_quorum"])


@pytest.mark.parametrize("config", [DEFAULT, SLOPPY], ids=["strict", "sloppy"])
def test_correct_variant_survives_a_short_hunt(config) -> None:
    for seed in range(40):
        result = execute(SYSTEM, "correct", config, seed, RandomWalk(seed, config.max_pause))
        assert result.verdict.ok, (seed, result.verdict)


def test_anti_entropy_brings_replicas_together_after_heals() -> None:
    """The measured figure: after a heal or restart that left replicas apart, they agree
    again, and faster than the ending waits before its final reads."""
    times = []
    for seed in range(30):
        result = execute(SYSTEM, "correct", DEFAULT, seed, RandomWalk(seed, DEFAULT.max_pause))
        times += checks.convergence_times(result.sim)
    assert times and max(times) < 2 * SETTLE, times


def test_configs_differ_only_in_counting() -> None:
    assert attrs.evolve(SLOPPY, name="default", params=DEFAULT.params) == DEFAULT


# --- deletes, what gets return, progress --------------------------------------------------------


D4 = Version(4, ("c1", 2), Clock.of({"c1": 1}), deleted=True)  # c1 deletes after reading A1


def test_a_tombstone_is_a_version_that_supersedes_what_it_saw() -> None:
    assert sync((A1, A2), (D4,)) == (D4, A2) and D4.shown == -4 and repr(D4) == "del:4@c1:2{c1:1}"


def deleting_history(final_result: tuple) -> Simulation:
    sim = fresh()
    sim.trace.append(Step(("heal",), 10, phase="quiesce"))
    with_history(sim, ("c1", "invoke", "write", ("a", 1), 0), ("c1", "ok", "write", None, 1),
                 ("c1", "invoke", "delete", ("a", 4), 2), ("c1", "ok", "delete", None, 3),
                 ("c2", "invoke", "read", ("a",), 20), ("c2", "ok", "read", final_result, 21),
                 versions=(A1, A2, D4))
    return sim


def test_deletes_stick_wants_the_deleted_gone_and_the_delete_remembered() -> None:
    assert checks.deletes_stick.check(deleting_history((-4,))).ok
    back = checks.deletes_stick.check(deleting_history((-4, 1)))
    assert back.violated and "had seen and deleted" in back.explanation
    forgotten = checks.deletes_stick.check(deleting_history(()))
    assert forgotten.violated and "is forgotten" in forgotten.explanation


def test_gets_return_only_puts_of_their_key_reconciled() -> None:
    sim = deleting_history((-4,))
    assert checks.gets_return_puts.check(sim).ok
    for result, says in (((7,), "names no write"), ((-1,), "names no delete"),
                         ((-4, 1), "siblings not reconciled")):
        verdict = checks.gets_return_puts.check(deleting_history(result))
        assert verdict.violated and says in verdict.explanation, result


class Mute(StorageNode):
    """Does nothing useful: takes every request and never answers a client."""

    def on_request(self, ctx: Context, msg: object) -> None:
        pass


def test_a_ring_that_never_answers_fails_progress() -> None:
    system = attrs.evolve(SYSTEM, variants={**SYSTEM.variants, "mute": Variant("mute", Mute)})
    outcome = hunt(system, "mute", DEFAULT, budget=Budget(runs=20), shrink_replays=0)
    assert outcome.violation is not None
    verdict = outcome.violation.verdict
    assert verdict.invariant == "progress-at-quiescence" and "final" in verdict.explanation


def test_progress_compares_final_gets_and_homes_with_what_the_nodes_hold() -> None:
    result = execute(SYSTEM, "correct", DEFAULT, 1, RandomWalk(1, DEFAULT.max_pause))
    sim = result.sim
    assert checks.progress_at_quiescence.check(sim).ok
    home = build_ring(DEFAULT).preference_list("a", 3)[0]
    held = sim.contexts[home].storage.durable(DATA + "a", ())
    sim.contexts[home].storage.put(DATA + "a", (*held, Version(99, ("c9", 1))))
    verdict = checks.progress_at_quiescence.check(sim)
    assert verdict.violated and "durably hold" in verdict.explanation
    sim.contexts[home].storage.put(DATA + "a", held)
    sim.contexts["n5"].storage.put("hints", {("n1", "a"): (A1,)})
    assert "still holds hints" in checks.progress_at_quiescence.check(sim).explanation


@pytest.mark.parametrize("variant, invariant", [
    ("tombstone-reaped", "deletes-stick"),
    ("request-named-by-client", "progress-at-quiescence"),
])
def test_new_seeded_bugs_are_found(variant: str, invariant: str) -> None:
    outcome = hunt(SYSTEM, variant, DEFAULT, budget=Budget(runs=300), shrink_replays=0)
    assert outcome.violation is not None and outcome.violation.verdict.invariant == invariant


def test_workload_deletes() -> None:
    sim = fresh()
    assert any(f == "delete" for ops in sim.workload.values() for f, _ in ops) or any(
        f == "delete" for seed in range(1, 6)
        for ops in new_simulation(SYSTEM, "correct", DEFAULT, seed).workload.values()
        for f, _ in ops)


# --- what the ending and the acknowledgements promise ------------------------------------------


def hunted_verdict(impl: type[StorageNode], runs: int, config=DEFAULT):
    """The first violation a short hunt of `impl` on `config` finds, if any."""
    system = attrs.evolve(SYSTEM, variants={**SYSTEM.variants, "probe": Variant("probe", impl)})
    outcome = hunt(system, "probe", config, budget=Budget(runs=runs), shrink_replays=0)
    return outcome.violation.verdict if outcome.violation else None


def hunted(impl: type[StorageNode], runs: int) -> str | None:
    """The invariant a short hunt of `impl` on the default configuration finds broken."""
    verdict = hunted_verdict(impl, runs)
    return verdict.invariant if verdict else None


class NeverAcknowledges(StorageNode):
    """Drops every acknowledgement: no put ever completes, yet every get does."""

    def on_ack(self, ctx: Context, op: str, replica: str) -> None:
        pass


class AcceptsHintsWithoutKeeping(StorageNode):
    """Acknowledges a hinted copy and keeps nothing of it."""

    def keep_hint(self, ctx: Context, home: str, key: str, versions: tuple) -> None:
        pass


class NoAntiEntropy(StorageNode):
    """Never compares Merkle trees: only handoff and read repair synchronize replicas."""

    def anti_entropy(self, ctx: Context) -> None:
        pass


def test_the_ending_puts_a_fresh_key_once_healed() -> None:
    sim = fresh()
    assert [f for c, f, args in sim.final_ops if HEALED in args] == ["write", "read"]
    assert not any(HEALED in args for ops in sim.workload.values() for _, args in ops)


def test_a_ring_that_never_acknowledges_a_put_fails_progress() -> None:
    assert hunted(NeverAcknowledges, 5) == "progress-at-quiescence"


def test_a_hint_acknowledged_but_not_kept_is_missed() -> None:
    assert hunted(AcceptsHintsWithoutKeeping, 60) == "hint-delivery"


def wait_over(sim: Simulation) -> None:
    """The history and trace as the ending leaves them right after its wait."""
    with_history(sim, ("c1", "invoke", "wait", (2000,), 0), ("c1", "ok", "wait", None, 2000),
                 ("c1", "invoke", "write", (HEALED, 9), 2000))
    sim.trace.append(Step(("invoke", "c1"), 2000, phase="quiesce"))


def test_anti_entropy_compares_the_homes_once_the_wait_is_over() -> None:
    sim = fresh()
    homes = build_ring(DEFAULT).preference_list("a", 3)
    for home in homes:
        sim.contexts[home].storage.put(DATA + "a", (A1,))
    sim.contexts[homes[1]].storage.put(DATA + "a", (A1, A2))
    assert checks.anti_entropy.check(sim) is None  # not yet: the wait is not over
    wait_over(sim)
    sentence = checks.anti_entropy.check(sim)
    assert sentence and "homes of 'a' still disagree before any get" in sentence
    sim.contexts[homes[1]].storage.put(DATA + "a", (attrs.evolve(A1, stamp=7),))
    assert checks.anti_entropy.check(sim) is None  # one write, stamped by two coordinators


def test_a_ring_without_anti_entropy_fails_it() -> None:
    assert hunted(NoAntiEntropy, 60) == "anti-entropy"


def test_puts_supersede_what_their_client_read() -> None:
    sim = fresh()
    events = (("c2", "invoke", "write", ("a", 2), 0), ("c2", "ok", "write", None, 1),
              ("c1", "invoke", "read", ("a",), 2), ("c1", "ok", "read", (2,), 3),
              ("c1", "invoke", "write", ("a", 3), 4), ("c1", "ok", "write", None, 5),
              ("c2", "invoke", "read", ("a",), 6))
    with_history(sim, *events, ("c2", "ok", "read", (3,), 7))
    assert checks.puts_supersede_reads.check(sim).ok
    with_history(sim, *events, ("c2", "ok", "read", (2, 3), 7))
    verdict = checks.puts_supersede_reads.check(sim)
    assert verdict.violated and "did not supersede what it read" in verdict.explanation
    with_history(sim, *events[:2], *events[4:], ("c2", "ok", "read", (2, 3), 7))
    assert checks.puts_supersede_reads.check(sim).ok  # c1 never read 2: siblings


# --- sloppy quorums are always writeable ---------------------------------------------------------


class NeverCallsStandIns(StorageNode):
    """Waits on silent homes until the put times out: never sends their copies to stand-ins."""

    def call_stand_ins(self, ctx: Context, op: str) -> None:
        pass


def test_a_put_left_waiting_on_a_silent_home_breaks_sloppy_availability() -> None:
    verdict = hunted_verdict(NeverCallsStandIns, 150, SLOPPY)
    assert verdict is not None and verdict.invariant == "sloppy-availability"
    assert "yet no stand-in got its copy" in verdict.explanation
    assert "was never asked" in verdict.explanation


def test_sloppy_availability_is_judged_where_stand_ins_count() -> None:
    judged = []
    for seed in range(40):
        result = execute(SYSTEM, "correct", SLOPPY, seed, RandomWalk(seed, SLOPPY.max_pause))
        verdict = checks.sloppy_availability.check(result.sim)
        assert verdict.ok, (seed, verdict)
        judged.append(not verdict.explanation.startswith("each of 0 "))
    assert any(judged)
    assert "not promised" in checks.sloppy_availability.check(fresh()).explanation


# --- coordinators answer as their replicas did, and route around the replicas they found failed -


class NeverSaysUnavailable(StorageNode):
    """Stops waiting at REQUEST_TIMEOUT (and suspects the silent replicas) without telling the
    client: a request that missed its quorum is never answered."""

    def expire(self, ctx: Context, op: str) -> None:
        request = self.requests.get(op)
        if request is not None:
            request.done = True
        super().expire(ctx, op)


class WaitsForOneMore(StorageNode):
    """Counts one answer short: a quorum of R (or W) is not enough to answer ok."""

    def counted(self, request: object, replicas: object) -> int:
        return super().counted(request, replicas) - 1


class ForgetsSilentReplicas(StorageNode):
    """Fails a timed-out request but keeps believing its silent replicas up."""

    def expire(self, ctx: Context, op: str) -> None:
        request = self.requests.get(op)
        if request is not None and not request.done:
            request.done = True
            ctx.send(request.client, Unavailable(request.req))


@pytest.mark.parametrize("impl, explanation", [
    (NeverSaysUnavailable, "never answered the client"),
    (WaitsForOneMore, "yet it told the client ['Unavailable']"),
])
def test_a_coordinator_answers_as_its_quorum_did(impl: type[StorageNode], explanation: str) -> None:
    verdict = hunted_verdict(impl, 30)
    assert verdict is not None and verdict.invariant == "coordinator-answers"
    assert explanation in verdict.explanation


@pytest.mark.parametrize("config, explanation", [
    (DEFAULT, "yet asked only [] of the stand-ins"),
    (SLOPPY, "directly, which it had found failed"),
])
def test_a_replica_that_let_a_request_time_out_is_taken_for_failed(config, explanation) -> None:
    verdict = hunted_verdict(ForgetsSilentReplicas, 30, config)
    assert verdict is not None and verdict.invariant == "local-failure-detection"
    assert explanation in verdict.explanation


def test_correct_runs_judge_answers_and_failure_detection() -> None:
    judged = {"coordinator-answers": [], "local-failure-detection": []}
    for seed in range(10):
        sim = execute(SYSTEM, "correct", SLOPPY, seed, RandomWalk(seed, SLOPPY.max_pause)).sim
        for check in (checks.coordinator_answers, checks.local_failure_detection):
            verdict = check.check(sim)
            assert verdict.ok, (seed, verdict)
            judged[verdict.invariant].append(not verdict.explanation.startswith(("each of 0 ",
                                                                                  "none of 0 ")))
    assert all(any(counts) for counts in judged.values())


def test_data_stays_on_its_homes_and_hints_on_stand_ins() -> None:
    sim = fresh()
    order = build_ring(DEFAULT).order_for("a")
    assert checks.placement.check(sim).ok
    sim.ghost.append(("hint-accepted", 5, order[3], {"home": order[0], "key": "a", "dots": []}))
    assert checks.placement.check(sim).ok
    sim.ghost.append(("hint-accepted", 6, order[1], {"home": order[0], "key": "a", "dots": []}))
    verdict = checks.placement.check(sim)
    assert verdict.violated and "accepted at t=6 a hint of 'a'" in verdict.explanation
    sim.ghost.pop()
    sim.contexts[order[3]].storage.put(DATA + "a", (A1,))
    verdict = checks.placement.check(sim)
    assert verdict.violated and f"{order[3]} stores data of 'a'" in verdict.explanation
