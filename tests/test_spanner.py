"""Spanner: the correct system survives a hunt, its seeded bugs are found and replay, commit
wait holds in true time, and the pieces (lock conflicts, safe time, commit timestamps, the
invariants, the model) behave on hand-made inputs."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

import implementations
from checker.run import execute, new_simulation
from checker.strategies import RandomWalk, Replay
from checker.system import Variant
from implementations.paxos_core import MASTER, Accept
from implementations.spanner import SYSTEM, checks, directory
from implementations.spanner.messages import (
    AbortRecord,
    Begin,
    Commit,
    CommitRecord,
    PrepareRecord,
    SnapshotRead,
    Txn,
)
from implementations.spanner.txn import SpannerReplica, Work, split
from invariants.history import OK
from models.spanner import MultiKeyStore, explains
from tests.handclock import Clock

DEFAULT = SYSTEM.config("default")
EPSILON = DEFAULT.epsilon
T1, T2 = Txn("c1", 1), Txn("c2", 1)


def walk(variant: str, seed: int, config: Any = DEFAULT, system: Any = SYSTEM) -> Any:
    return execute(system, variant, config, seed, RandomWalk(seed, config.max_pause))


def fresh(variant: str = "correct") -> Any:
    sim = new_simulation(SYSTEM, variant, DEFAULT, 0)
    sim.start()
    return sim


def replica(node: str = "a1", impl: type[SpannerReplica] = SpannerReplica) -> tuple[Any, Clock]:
    ctx = Clock(node, EPSILON)
    member = impl(node, directory=directory(DEFAULT))
    member.on_start(ctx)
    return member, ctx


# --- the hunt --------------------------------------------------------------------------------


def test_registered() -> None:
    assert SYSTEM in implementations.registered()


@pytest.mark.parametrize("config", ["default", "small"])
def test_correct_variant_survives_a_few_seeds(config: str) -> None:
    for seed in range(40):
        result = walk("correct", seed, SYSTEM.config(config))
        assert not result.verdict.violated, (seed, result.verdict)


@pytest.mark.parametrize("variant, invariants", [
    ("no-commit-wait", {"external-consistency", "commit-timestamps"}),
    ("snapshot-read-before-safe-time", {"repeatable-snapshot-reads", "external-consistency"}),
    ("prepared-ignores-abort", {"prepared-resolved"}),
    ("heuristic-abort", {"atomic-commit"}),
])
def test_seeded_bug_is_found_and_replays(variant: str, invariants: set[str]) -> None:
    found = next(r for r in (walk(variant, seed) for seed in range(300)) if r.violated)
    assert found.verdict.invariant in invariants, found.verdict
    again = execute(SYSTEM, variant, DEFAULT, found.seed, Replay(found.choices))
    assert again.sim.fingerprint() == found.sim.fingerprint()


def read_write_acks(result: Any) -> list[Any]:
    return [op for op in result.sim.operations() if op.status == OK
            and any(mop[0] == "w" for mop in op.args)]


def test_commit_wait_acknowledges_only_after_the_commit_timestamp_in_true_time() -> None:
    """TT.after(s) before the acknowledgement: the true time of every acknowledgement is past
    the commit timestamp, whatever the clocks' skew."""
    acks = [op for seed in range(30) for op in read_write_acks(walk("correct", seed))]
    assert len(acks) > 30
    assert all(op.ret_time > op.result["commit_ts"] for op in acks)
    early = [op for seed in range(30) for op in read_write_acks(walk("no-commit-wait", seed))
             if op.ret_time <= op.result["commit_ts"]]
    assert early


# --- the pieces --------------------------------------------------------------------------------


def test_split_puts_each_key_in_its_group() -> None:
    mops = (("r", "x", None), ("w", "y", 1), ("w", "x", 2), ("r", "x", None))
    assert split(mops, directory(DEFAULT).owner) == {"a": (("x",), (("x", 2),)),
                                                     "b": ((), (("y", 1),))}


def test_no_wait_locks_conflict_on_write() -> None:
    member, _ = replica()
    member.work[T1] = Work(T1, "a1", ("x",), (), {"x": None})
    assert not member.conflicts(T2, ("x",), ())  # readers share
    assert member.conflicts(T2, (), (("x", 1),))  # a writer waits for no one: it aborts
    assert not member.conflicts(T1, ("x",), (("x", 1),))  # its own lock


def test_prepared_transactions_hold_locks_and_safe_time() -> None:
    member, ctx = replica()
    member.apply(ctx, 0, PrepareRecord(T1, 50, (), (("x", 1),), "b1"))
    member.apply(ctx, 1, CommitRecord(T2, 80, ()))
    assert member.paxos_safe == 80
    assert member.safe_time() == 49  # the prepared transaction may still commit at 50
    assert member.conflicts(T2, ("x",), ())
    member.on_snapshot_read(ctx, "c1", SnapshotRead(1, 60, ("x",)))
    assert member.held_reads and ctx.sent  # held; the other replicas are asked for a leader
    member.apply(ctx, 2, CommitRecord(T1, 55, (("x", 1),)))
    assert member.safe_time() == 80 and not member.held_reads
    assert member.value_at("x", 54) is None and member.value_at("x", 60) == 1


def test_snapshot_read_before_safe_time_ignores_prepared() -> None:
    buggy, ctx = replica(impl=SYSTEM.variant("snapshot-read-before-safe-time").impl)
    buggy.apply(ctx, 0, PrepareRecord(T1, 50, (), (("x", 1),), "b1"))
    buggy.apply(ctx, 1, CommitRecord(T2, 80, ()))
    assert buggy.safe_time() == 80


@pytest.mark.parametrize("variant, lowest", [("correct", 300 + EPSILON),
                                             ("commit-ts-from-earliest", 300 - EPSILON)])
def test_commit_timestamp_bounds(variant: str, lowest: int) -> None:
    member, ctx = replica(impl=SYSTEM.variant(variant).impl)
    ctx.time = 300
    work = Work(T1, "a1", (), (), {}, {"b": 30})
    assert member.commit_timestamp(ctx, work) == lowest
    work.participants["b"] = 900
    assert member.commit_timestamp(ctx, work) == 900


def test_commit_wait_lasts_twice_epsilon() -> None:
    """s = TT.now().latest at t; TT.after(s) first holds at t + 2 epsilon + 1."""
    member, ctx = replica()
    ctx.time = 300
    s = ctx.truetime()[1]
    ctx.time = 300 + 2 * EPSILON
    assert not member.after(ctx, s)
    ctx.time += 1
    assert member.after(ctx, s)


# --- invariants on hand-made states ------------------------------------------------------------


def lease(sim: Any, replica: str, expiry: float) -> None:
    sim.ghost.append(("lease", sim.time, replica, {"group": replica[0], "expiry": expiry}))


def test_disjoint_leases_per_group_from_the_ghost_record() -> None:
    sim = fresh()
    for node in ("a1", "b1"):
        lease(sim, node, 1000)
    assert checks.disjoint_leases.check(sim) is None  # one in each group
    lease(sim, "a2", 1000)
    assert checks.disjoint_leases.check(sim) == \
        "group a: a1 and a2 each trust a leader lease at t=0"
    sim.contexts["a1"].offset = 1000 - EPSILON  # a1's clock says its lease is over
    assert checks.disjoint_leases.check(sim) is None
    lease(sim, "a2", float("-inf"))
    sim.contexts["a1"].offset = 0
    assert checks.disjoint_leases.check(sim) is None  # a2 was deposed


def test_atomic_commit_and_replicas_agree_on_hand_made_ghosts() -> None:
    sim = fresh()
    sim.ghost += [("committed", 5, "a1", {"txn": T1, "ts": 100, "writes": ()}),
                  ("committed", 6, "b2", {"txn": T1, "ts": 100, "writes": ()}),
                  ("chosen", 6, "a1", {"slot": 0, "value": None}),
                  ("chosen", 6, "b1", {"slot": 0, "value": AbortRecord(T2)})]
    assert checks.atomic_commit.check(sim) is None
    assert checks.replicas_agree.check(sim) is None  # two groups, two logs
    sim.ghost.append(("aborted", 7, "b3", {"txn": T1}))
    assert checks.atomic_commit.check(sim) == \
        "transaction c1/1 is committed at 100 at a1 but aborted at b3 (t=7)"
    sim.ghost.append(("chosen", 8, "a2", {"slot": 0, "value": AbortRecord(T2)}))
    assert "group a, slot 0: a1 learned None" in checks.replicas_agree.check(sim)


def test_prepared_resolved_on_hand_made_ghosts() -> None:
    sim = fresh()
    sim.ghost += [("prepared", 5, "b1", {"txn": T1, "ts": 90, "writes": (("y", 2),)}),
                  ("committed", 6, "a1", {"txn": T1, "ts": 100, "writes": (("x", 1),)})]
    final = [["r", "x", None], ["r", "y", None]]
    record(sim, [("c1", "invoke", final, 0), ("c1", "ok", {"commit_ts": 80, "txn": final}, 1)])
    assert checks.prepared_resolved.check(sim).ok  # prepared above what the final read read
    sim.history[-1] = attrs.evolve(sim.history[-1], value={"commit_ts": 95, "txn": final})
    verdict = checks.prepared_resolved.check(sim)
    assert verdict.violated and "group b prepared c1/1" in verdict.explanation
    sim.ghost.append(("committed", 7, "b2", {"txn": T1, "ts": 100, "writes": (("y", 2),)}))
    assert checks.prepared_resolved.check(sim).ok


def test_commit_timestamps_against_true_time() -> None:
    sim = fresh()
    write = [["w", "x", 1]]
    record(sim, [("c1", "invoke", write, 0), ("c1", "ok", {"commit_ts": 150, "txn": write}, 151)])
    sim.ghost.append(("commit-ts", 40, "a1", {"txn": T1, "ts": 150}))
    assert checks.commit_timestamps.check(sim).ok
    sim.ghost.append(("commit-ts", 160, "a1", {"txn": T2, "ts": 150}))
    assert "chose commit timestamp 150" in checks.commit_timestamps.check(sim).explanation
    sim = fresh()
    record(sim, [("c1", "invoke", write, 0), ("c1", "ok", {"commit_ts": 150, "txn": write}, 150)])
    assert "before true time passed it" in checks.commit_timestamps.check(sim).explanation


def test_answers_must_match_their_requests() -> None:
    sim = fresh()
    write, read = [["w", "x", 1]], [["r", "x", None], ["r", "y", None]]
    record(sim, [("c1", "invoke", write, 0), ("c1", "ok", {"commit_ts": 5, "txn": write}, 6),
                 ("c2", "invoke", read, 7),
                 ("c2", "ok", {"commit_ts": 9, "txn": [["r", "x", 1], ["r", "y", None]]}, 9)])
    assert checks.answers_match_requests.check(sim).ok
    record(sim, [("c2", "invoke", read, 10),
                 ("c2", "ok", {"commit_ts": 11, "txn": [["r", "x", None], ["r", "y", 1]]}, 11)])
    verdict = checks.answers_match_requests.check(sim)
    assert verdict.violated and "read y = 1, which no transaction writes" in verdict.explanation


class DeafReplica(SpannerReplica):
    """Drops every message: no group ever elects a leader, nothing commits, nothing is read."""

    def on_message(self, ctx: Any, src: str, msg: Any) -> None:
        pass


def test_a_database_that_does_nothing_fails_progress() -> None:
    system = attrs.evolve(SYSTEM, variants={"deaf": Variant("deaf", DeafReplica)})
    for seed in range(3):
        verdict = walk("deaf", seed, DEFAULT, system).verdict
        assert verdict.violated and verdict.invariant == "progress", verdict


def test_repeatable_snapshot_reads_on_hand_made_ghosts() -> None:
    sim = fresh()
    sim.ghost += [("prepared", 5, "b1", {"txn": T1, "ts": 90, "writes": (("y", 2),)}),
                  ("committed", 6, "a1", {"txn": T1, "ts": 100, "writes": (("x", 1),)}),
                  ("snapshot-read", 7, "a2", {"key": "x", "ts": 99, "value": None}),
                  ("snapshot-read", 8, "b2", {"key": "y", "ts": 100, "value": 2})]
    assert checks.repeatable_snapshot_reads.check(sim).ok
    sim.ghost.append(("snapshot-read", 9, "b3", {"key": "y", "ts": 120, "value": None}))
    verdict = checks.repeatable_snapshot_reads.check(sim)
    assert verdict.violated and "b3 served y=None at timestamp 120" in verdict.explanation


def record(sim: Any, events: list[tuple]) -> None:
    for process, kind, value, time in events:
        sim.time = time
        sim.record(process, kind, "txn", value)


def test_external_consistency_on_hand_made_histories() -> None:
    sim = fresh()
    write = [["w", "x", 1]]
    read = [["r", "x", None]]
    record(sim, [("c1", "invoke", write, 0), ("c1", "ok", {"commit_ts": 150, "txn": write}, 10),
                 ("c2", "invoke", read, 20)])
    record(sim, [("c2", "ok", {"commit_ts": 130, "txn": [["r", "x", None]]}, 30)])
    verdict = checks.external_consistency.check(sim)
    assert verdict.violated  # a stale read at a smaller timestamp, after the commit returned
    assert verdict.witness["timestamp_violations"][0]["earlier"] == 0
    assert checks.serializable.check(sim).ok  # only real time orders them


def test_the_model_is_a_multi_key_store() -> None:
    store = MultiKeyStore()
    [(done, state)] = store.apply(store.initial(), "txn", [["w", "x", 1], ["r", "x", None]])
    assert done == [["w", "x", 1], ["r", "x", 1]] and dict(state) == {"x": 1}
    assert explains([[["w", "x", 1]], [["r", "x", 1], ["r", "y", None]]])
    assert not explains([[["r", "x", 1]], [["w", "x", 1]]])


def test_quorums_intersect_in_every_group() -> None:
    verdicts = SYSTEM.proofs(DEFAULT, SpannerReplica)
    assert len(verdicts) == 2 and all(v.ok for v in verdicts)


def leading(member: Any, ctx: Clock) -> None:
    """Make a hand-made replica a leader with a complete log and a valid lease."""
    member.role, member.barrier, member.lease_expiry = MASTER, -1, ctx.truetime()[1] + 1000


def test_inquiry_answers_from_the_log_and_aborts_what_nobody_runs() -> None:
    member, ctx = replica()
    leading(member, ctx)
    member.on_inquire(ctx, "b1", T1)  # no outcome logged, not running here: abort it
    assert {msg.value for msg in ctx.replies(Accept)} == {AbortRecord(T1)}
    member.decided[T2] = 250
    ctx.time = 250 + EPSILON  # TT.after(250) does not hold yet: no answer
    member.on_inquire(ctx, "b1", T2)
    assert not ctx.replies(Commit)
    ctx.time = 251 + EPSILON
    member.on_inquire(ctx, "b1", T2)
    assert ctx.replies(Commit) == [Commit(T2, 250)]


def test_a_decided_transaction_is_not_run_again() -> None:
    member, ctx = replica()
    leading(member, ctx)
    member.decided[T1] = None  # an abort record is in the log
    member.on_begin(ctx, "c1", Begin(T1, (("w", "x", 1),)))
    assert T1 not in member.work and not ctx.replies(Accept)


def test_a_duplicate_begin_does_not_rerun_a_transaction_whose_abort_is_being_logged() -> None:
    """Found by prepared-resolved: the rerun committed after the abort in the log, its commit
    record was void, and its participant waited for an answer its coordinator never gave."""
    member, ctx = replica()
    leading(member, ctx)
    member.aborting[T1] = None  # an abort record is proposed, not yet applied
    member.on_begin(ctx, "c1", Begin(T1, (("w", "x", 1), ("w", "y", 2))))
    assert T1 not in member.work and not ctx.replies(Accept)
