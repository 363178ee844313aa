"""Spanner: the correct system survives a hunt, its seeded bugs are found and replay, commit
wait holds in true time, and the pieces (lock conflicts, safe time, commit timestamps, the
invariants, the model) behave on hand-made inputs."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

import implementations
from checker.run import execute, new_simulation
from checker.sim import Step
from checker.strategies import RandomWalk, Replay
from checker.system import Variant
from implementations import sso
from implementations.paxos_core import MASTER, NOOP, Accept
from implementations.spanner import SYSTEM, checks, directory
from implementations.spanner.group import RENEW
from implementations.spanner.messages import (
    Abort,
    AbortRecord,
    Begin,
    Commit,
    CommitRecord,
    PrepareRecord,
    Refused,
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


@pytest.mark.parametrize("config", ["default", "small", "write-first", "three-groups"])
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


def test_held_reads_served_on_hand_made_ghosts() -> None:
    """Safe time is rebuilt from the records applied: a read held at 100 may wait while a
    transaction is prepared at 90, and must be served once its outcome is applied."""
    sim = fresh()
    sim.ghost += [("heartbeat", 1, "a2", {"ts": 120}),
                  ("prepared", 2, "a2", {"txn": T1, "ts": 90, "writes": (("x", 1),)}),
                  ("read-held", 3, "a2", {"client": "c1", "req": 1, "ts": 100})]
    assert checks.held_reads_served.check(sim).ok  # t_safe = 89: it must wait
    sim.ghost.append(("committed", 4, "a2", {"txn": T1, "ts": 95, "writes": (("x", 1),)}))
    verdict = checks.held_reads_served.check(sim)
    assert verdict.violated and "a2 still holds c1's snapshot read 1 at timestamp 100, " \
        "though its safe time reached 120" in verdict.explanation
    served = {"group": "a", "key": "x", "ts": 100, "value": 1, "client": "c1", "req": 1}
    sim.ghost.append(("snapshot-read", 5, "a2", served))
    assert checks.held_reads_served.check(sim).ok
    sim.ghost.append(("read-held", 6, "a2", {"client": "c2", "req": 1, "ts": 110}))
    assert checks.held_reads_served.check(sim).violated
    sim.ghost.append(("boot", 7, "a2", {}))  # a restart forgets what it held
    assert checks.held_reads_served.check(sim).ok


class ForgetsHeldReads(SpannerReplica):
    """Holds a read it cannot serve yet and never answers it (the client's retry hides it)."""

    def serve_held_reads(self, ctx: Any) -> None:
        self.held_reads = [(src, msg) for src, msg in self.held_reads if msg.ts > self.safe_time()]


def test_a_replica_that_forgets_held_reads_is_found() -> None:
    system = attrs.evolve(SYSTEM, variants={"forgets": Variant("forgets", ForgetsHeldReads)})
    verdicts = [walk("forgets", seed, DEFAULT, system).verdict for seed in range(5)]
    assert "held-reads-served" in {v.invariant for v in verdicts if v.violated}, verdicts


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


def test_a_coordinator_elected_again_drops_committed_work_whose_record_never_came() -> None:
    """Found by progress: a leader deposed with a commit record on its way, elected again
    after the record was lost, kept the work and its lock on x for good; every later
    transaction on x aborted."""
    member, ctx = replica()
    leading(member, ctx)
    member.barrier = 0  # the slot of its first no-op
    member.work[T1] = Work(T1, "a1", (), (("x", 1),), {}, commit_ts=243)
    member.work[T2] = Work(T2, "a1", (), (("x", 2),), {}, commit_ts=250)
    member.decided[T2] = 250  # applied: its commit wait may still be running
    member.aborting[Txn("c1", 2)] = None
    member.apply(ctx, 0, NOOP)  # the log is recovered: T1's record is not in it
    assert list(member.work) == [T2] and not member.aborting
    assert not member.conflicts(T2, (), (("x", 3),))


def final_history(sim: Any, status: str) -> None:
    """The ending's two transactions: the final read ok, the final read-write one `status`."""
    (reader, _, read), (writer, _, write) = sim.final_ops
    result = {"commit_ts": 900, "txn": write} if status == "ok" else None
    record(sim, [(reader, "invoke", read, 800),
                 (reader, "ok", {"commit_ts": 850, "txn": [["r", k, None] for _, k, _ in read]},
                  800),
                 (writer, "invoke", write, 800), (writer, status, result, 1000)])


@pytest.mark.parametrize("status", ["fail", "info"])
def test_progress_needs_the_final_read_write_transaction_to_commit(status: str) -> None:
    sim = fresh()
    final_history(sim, status)
    verdict = checks.progress.check(sim)
    assert verdict.violated and f"final read-write transaction ended {status}" in \
        verdict.explanation
    sim = fresh()
    final_history(sim, "ok")
    assert checks.progress.check(sim).ok


def test_progress_forgives_an_unknown_outcome_only_when_a_leader_lost_office() -> None:
    sim = fresh()
    lease(sim, "a2", 1200)  # a2 leads from t=0
    sim.time = 900
    lease(sim, "a3", float("-inf"))  # a follower's note: nobody lost office
    final_history(sim, "info")
    assert checks.progress.check(sim).violated
    sim.time = 900
    lease(sim, "a2", float("-inf"))  # a2 deposed while the transaction ran
    assert checks.progress.check(sim).ok


class NeverPrepares(SpannerReplica):
    """Participants ignore prepare requests: every transaction across groups aborts."""

    def on_prepare_request(self, ctx: Any, msg: Any) -> None:
        pass


def test_two_phase_commit_that_never_commits_fails_progress() -> None:
    """Only progress sees it: nothing committed across groups is nothing wrong to read. (A
    run whose retries outlast a leader's office may end `info`, which progress forgives.)"""
    system = attrs.evolve(SYSTEM, variants={"never-prepares": Variant("never-prepares",
                                                                      NeverPrepares)})
    verdicts = [walk("never-prepares", seed, DEFAULT, system).verdict for seed in range(3)]
    assert {v.invariant for v in verdicts if v.violated} == {"progress"}, verdicts


class SilentAbort(SpannerReplica):
    """The coordinator never tells a client of an abort: the client times out, `info`."""

    def on_abort_applied(self, ctx: Any, txn: Txn) -> None:
        self.aborting.pop(txn, None)


def test_write_first_ending_sees_the_final_transaction_through_an_abort() -> None:
    """In `write-first`, the ending's read-write transaction runs before the final read, while
    a group may still have no leader or hold a transaction's locks in doubt: some runs abort
    it, and a client never told of the abort ends it `info`, which progress reports. Its
    final read is still the one prepared-resolved judges by."""
    config = SYSTEM.config("write-first")
    (first, _, write), (_, _, read) = new_simulation(SYSTEM, "correct", config, 0).final_ops
    assert any(mop[0] == "w" for mop in write) and all(mop[0] == "r" for mop in read)
    system = attrs.evolve(SYSTEM, variants={"silent-abort": Variant("silent-abort",
                                                                    SilentAbort)})
    found = next(r for r in (walk("silent-abort", seed, config, system) for seed in range(100))
                 if r.violated)
    assert found.verdict.invariant == "progress", found.verdict
    assert f"{first}'s final read-write transaction ended info" in found.verdict.explanation
    correct = walk("correct", found.seed, config)
    assert not correct.violated and checks.final_read_ts(correct.sim) < float("inf")


def prepared_in(sim: Any) -> dict[Txn, set[str]]:
    """The groups that logged each transaction's prepare record (from the ghost record)."""
    groups: dict[Txn, set[str]] = {}
    for kind, _, replica, fact in sim.ghost:
        if kind == "prepared":
            groups.setdefault(fact["txn"], set()).add(checks.group_of(replica))
    return groups


def aborted_after_prepare(sim: Any) -> bool:
    """Whether some group logged an abort for a transaction it had prepared."""
    prepared = {(group, txn) for txn, groups in prepared_in(sim).items() for group in groups}
    return any(kind == "aborted" and (checks.group_of(replica), fact["txn"]) in prepared
               for kind, _, replica, fact in sim.ghost)


def test_three_groups_give_transactions_two_participants_and_prepared_aborts() -> None:
    """With a third group a transaction may have two participants, and when one refuses its
    locks the coordinator aborts what the other has prepared: a prepared participant must log
    the coordinator's abort in many more runs than with two groups (where a transaction has one
    participant at most, told to abort what it prepared only when its coordinator gave up
    waiting for its Prepared or lost office)."""
    config = SYSTEM.config("three-groups")
    runs = [walk("correct", seed, config) for seed in range(30)]
    assert any(len(groups) == 2 for r in runs for groups in prepared_in(r.sim).values())
    two_groups = [walk("correct", seed) for seed in range(30)]
    assert all(len(groups) == 1 for r in two_groups for groups in prepared_in(r.sim).values())
    assert sum(map(aborted_after_prepare, (r.sim for r in runs))) > \
        2 * sum(map(aborted_after_prepare, (r.sim for r in two_groups)))
    found = next(r for r in (walk("prepared-ignores-abort", seed, config) for seed in range(10))
                 if r.violated)
    assert found.verdict.invariant in {"prepared-resolved", "progress"}, found.verdict


def test_commits_above_safe_time_on_hand_made_ghosts() -> None:
    """A commit applied at or below a replica's safe time changes what it may have served; a
    transaction prepared there may commit below t_Paxos, above its prepare timestamp."""
    sim = fresh()
    sim.ghost += [("heartbeat", 1, "a2", {"ts": 120}),
                  ("prepared", 2, "a2", {"txn": T1, "ts": 90, "writes": (("x", 1),)}),
                  ("committed", 3, "a2", {"txn": T1, "ts": 95, "writes": (("x", 1),)})]
    assert checks.commits_above_safe_time.check(sim) is None  # t_safe was 89
    sim.ghost += [("boot", 4, "a2", {}),  # a restarted replica applies its log again
                  ("heartbeat", 5, "a2", {"ts": 120}),
                  ("prepared", 6, "a2", {"txn": T1, "ts": 90, "writes": (("x", 1),)}),
                  ("committed", 7, "a2", {"txn": T1, "ts": 95, "writes": (("x", 1),)})]
    assert checks.commits_above_safe_time.check(sim) is None
    sim.ghost.append(("committed", 8, "a2", {"txn": T2, "ts": 120, "writes": (("x", 2),)}))
    assert checks.commits_above_safe_time.check(sim) == \
        "a2 applied the commit of c2/1 at timestamp 120 (t=8), though its safe time had " \
        "reached 120: a read at 120 it could serve before misses that write"


def test_reads_at_timestamp_on_hand_made_ghosts_and_history() -> None:
    """A read-write transaction reads the version below its commit timestamp, a read-only one
    the version at or below its read timestamp: judged from what coordinators noted as read
    (for transactions some group committed) and from what clients were told."""
    sim = fresh()
    t3 = Txn("c1", 2)
    sim.ghost += [("committed", 5, "a1", {"txn": T1, "ts": 100, "writes": (("x", 1),)}),
                  ("commit-ts", 6, "a1", {"txn": T2, "ts": 150, "reads": (("x", 1),)}),
                  ("committed", 7, "a1", {"txn": T2, "ts": 150, "writes": (("x", 2),)}),
                  ("commit-ts", 8, "a1", {"txn": t3, "ts": 90, "reads": (("x", 1),)})]
    assert checks.reads_at_timestamp.check(sim).ok  # t3 never committed: not judged
    sim.ghost.append(("committed", 9, "a1", {"txn": t3, "ts": 90, "writes": ()}))
    verdict = checks.reads_at_timestamp.check(sim)
    assert verdict.violated and "c1/2 at timestamp 90 read x=1, but the version of x below " \
        "90 is None, the initial value" in verdict.explanation
    sim.ghost.pop()
    read = [["r", "x", None]]
    record(sim, [("c2", "invoke", read, 10), ("c2", "ok", {"commit_ts": 150,
                                                           "txn": [["r", "x", 2]]}, 11)])
    assert checks.reads_at_timestamp.check(sim).ok  # a snapshot at 150 includes 150
    record(sim, [("c2", "invoke", read, 12), ("c2", "ok", {"commit_ts": 149,
                                                           "txn": [["r", "x", 2]]}, 13)])
    verdict = checks.reads_at_timestamp.check(sim)
    assert verdict.violated and "at timestamp 149 read x=2, but the version of x at 149 is 1" \
        in verdict.explanation


class PreparesWhatItRefuses(SpannerReplica):
    """A participant that cannot take its locks says so (`Refused`) and prepares anyway: when
    its Prepared overtakes the refusal, the coordinator commits a transaction whose reads
    another transaction's locks should have kept out."""

    def on_prepare_request(self, ctx: Any, msg: Any) -> None:
        known = msg.txn in self.work or msg.txn in self.prepared or msg.txn in self.decided
        if not self.serving(ctx) or known or msg.txn in self.abandoned:
            return
        if self.conflicts(msg.txn, msg.reads, msg.writes):
            ctx.send(msg.coordinator, Refused(msg.txn))  # and goes on
        values = {key: self.latest(key) for key in msg.reads}
        self.work[msg.txn] = Work(msg.txn, msg.coordinator, msg.reads, msg.writes, values)
        ts = self.next_timestamp()
        self.log(ctx, PrepareRecord(msg.txn, ts, msg.reads, msg.writes, msg.coordinator), ts)


def assert_refuser_found(seed: int, invariant: str) -> None:
    """`PreparesWhatItRefuses` at `seed` (`default`) is caught by `invariant`; the correct
    variant at the same seed is not."""
    system = attrs.evolve(SYSTEM, variants={"refuses": Variant("refuses",
                                                               PreparesWhatItRefuses)})
    verdict = walk("refuses", seed, DEFAULT, system).verdict
    assert verdict.violated and verdict.invariant == invariant, verdict
    assert not walk("correct", seed).violated


def test_a_participant_that_prepares_despite_a_conflict_is_found() -> None:
    """Seed 505 (`default`): a read served under another transaction's write lock commits
    above that transaction's commit timestamp, with the version before it. Serializability
    and external consistency accept the history (an order that puts the reader first exists);
    only the commit timestamps tell."""
    assert_refuser_found(505, "reads-at-timestamp")


def test_coordinator_decided_after_the_rest() -> None:
    """After the rest, a transaction a participant prepared has its outcome logged in its
    coordinator's group, unless the coordinator lost office after the transaction began."""
    config = SYSTEM.config("three-groups")
    sim = walk("correct", 0, config).sim
    assert sim.rest_began() is not None and checks.coordinator_decided.check(sim).ok
    orphan = Txn("c1", 99)
    assert checks.lost_office(sim, 0, sim.time, "a1") is None  # a1 never led in this run
    sim.trace.append(Step(("deliver", "c1", "a1"), sim.time, Begin(orphan, ())))
    sim.ghost.append(("prepared", sim.time, "b2", {"txn": orphan, "ts": 9000, "writes": (),
                                                   "coordinator": "a1"}))
    verdict = checks.coordinator_decided.check(sim)
    assert verdict.violated and "c1/99 was prepared" in verdict.explanation
    assert f"its coordinator a1, which kept its office from the transaction's begin " \
        f"(t={sim.time})" in verdict.explanation
    sim.ghost += [("lease", sim.time, "a1", {"group": "a", "expiry": 9000}),
                  ("lease", sim.time, "a1", {"group": "a", "expiry": float("-inf")})]
    assert checks.coordinator_decided.check(sim).ok  # a1 lost office: it drops it unlogged
    sim.ghost[-2:] = [("aborted", sim.time, "a3", {"txn": orphan})]
    assert checks.coordinator_decided.check(sim).ok


class UnloggedAbort(SpannerReplica):
    """A coordinator that gives up on a transaction (a participant refused, or did not prepare
    in time) tells the participants but logs no abort: its client hears nothing."""

    def abort(self, ctx: Any, work: Work) -> None:
        del self.work[work.txn]
        ctx.cancel_timer(f"abort {work.txn!r}")
        for group in work.participants:
            for replica in self.directory.groups[group]:
                ctx.send(replica, Abort(work.txn))


def test_a_coordinator_that_logs_no_abort_is_found_after_the_rest() -> None:
    """Its participants log the abort it sent them, so prepared-resolved is satisfied; its
    client, never answered, times out with an unknown outcome, which progress forgives but
    for the final transaction. Only the rest's check sees it in `three-groups`, where one
    participant's refusal aborts what the other prepared."""
    system = attrs.evolve(SYSTEM, variants={"unlogged": Variant("unlogged", UnloggedAbort)})
    config = SYSTEM.config("three-groups")
    verdicts = [walk("unlogged", seed, config, system).verdict for seed in range(10)]
    assert "coordinator-decided" in {v.invariant for v in verdicts if v.violated}, verdicts
    quiet = attrs.evolve(config, rest=0)  # without a rest the check does not judge
    assert checks.coordinator_decided.check(walk("unlogged", 0, quiet, system).sim).ok


def test_prepared_locks_compatible_on_hand_made_ghosts() -> None:
    """A replica may hold two prepared transactions at once only if their locks are
    compatible, or the earlier one's coordinator told the group to abort it; the locks are
    read from the prepare records the group chose."""
    sim = fresh()
    t3 = Txn("c1", 2)
    sim.ghost += [
        ("chosen", 1, "b1", {"slot": 1, "value": PrepareRecord(T1, 90, ("y",), (), "a1")}),
        ("chosen", 1, "b1", {"slot": 2, "value": PrepareRecord(t3, 91, ("y",), (), "a1")}),
        ("chosen", 1, "b1", {"slot": 3, "value": PrepareRecord(T2, 92, (), (("y", 7),), "a2")}),
        ("prepared", 2, "b1", {"txn": T1, "ts": 90, "writes": ()}),
        ("prepared", 3, "b1", {"txn": t3, "ts": 91, "writes": ()}),  # two readers: compatible
        ("committed", 4, "b1", {"txn": T1, "ts": 95, "writes": ()}),
        ("aborted", 5, "b1", {"txn": t3}),
        ("prepared", 6, "b1", {"txn": T2, "ts": 92, "writes": (("y", 7),)})]
    assert checks.prepared_locks_compatible.check(sim) is None  # the readers were decided
    sim.ghost += [("boot", 7, "b1", {}),  # a restart applies the log again, in order
                  ("prepared", 8, "b1", {"txn": T1, "ts": 90, "writes": ()}),
                  ("prepared", 9, "b1", {"txn": T2, "ts": 92, "writes": (("y", 7),)})]
    assert checks.prepared_locks_compatible.check(sim) == \
        "b1 applied the prepare of c2/1 (t=9) while c1/1, prepared before it, undecided and " \
        "not told to abort, held conflicting locks on y"
    told = fresh()  # the same, but T1's coordinator told the group to abort it
    told.ghost[:] = sim.ghost
    told.trace.append(Step(("deliver", "a1", "b1"), 8, Abort(T1)))
    assert checks.prepared_locks_compatible.check(told) is None


def test_a_participant_that_prepares_despite_a_conflict_holds_conflicting_locks() -> None:
    """Seed 678 (`default`): the participant that refused prepares anyway, while another
    transaction prepared there, and not told to abort, holds a lock it needs; whichever way
    the two end, two-phase locking was broken, which prepared-locks-compatible sees whatever
    the commit timestamps."""
    assert_refuser_found(678, "prepared-locks-compatible")


def test_renewals_paced_at_rest_on_hand_made_ghosts() -> None:
    """At rest a leader asks for its lease about once per RENEW; more than
    MOST_ASKS_PER_RENEW requests within RENEW ticks is a leader renewing continually."""
    sim = walk("correct", 0).sim
    began = sim.rest_began()
    assert began is not None and checks.renewals_paced_at_rest.check(sim).ok
    sim.ghost += [("lease-asked", began + 10 * i, "a1", {"ballot": None, "start": 0})
                  for i in range(checks.MOST_ASKS_PER_RENEW + 1)]
    verdict = checks.renewals_paced_at_rest.check(sim)
    assert verdict.violated and f"a1 asked for its lease {checks.MOST_ASKS_PER_RENEW + 1} " \
        f"times in the {RENEW} ticks from t={began}" in verdict.explanation
    quiet = attrs.evolve(DEFAULT, rest=0)  # without a rest the check does not judge
    assert checks.renewals_paced_at_rest.check(walk("correct", 0, quiet).sim).ok


class RenewsContinually(SpannerReplica):
    """A leader that counts itself cut off from a majority whenever it has renewed at all
    (a sign slip: `now + last_renewal`): each grant wakes it a TICK later to ask again, so it
    renews every few ticks instead of every RENEW. Never wrong, busy for ever."""

    def cut_off(self, ctx: Any) -> bool:
        return self.role == MASTER and ctx.now() + self.last_renewal > RENEW + sso.SILENT


def test_a_leader_renewing_continually_is_found_at_rest() -> None:
    system = attrs.evolve(SYSTEM, variants={"busy": Variant("busy", RenewsContinually)})
    verdict = walk("busy", 0, DEFAULT, system).verdict
    assert verdict.violated and verdict.invariant == "renewals-paced-at-rest", verdict
