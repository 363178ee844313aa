"""Percolator: the correct system survives the hunt, each seeded bug is found by its invariant
and replays, scripted schedules show lazy cleanup rolling a crashed worker's transaction
forward and back, and the pieces (row steps, the oracle, the invariants, the snapshot-isolation
model) behave on hand-made inputs."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import attrs
import pytest

import implementations
from checker.run import execute, new_simulation
from checker.sim import Simulation
from checker.strategies import RandomWalk, Replay
from checker.system import Config, Variant
from implementations.percolator import SYSTEM, Roles, build, checks
from implementations.percolator.oracle import BATCH, GetTimestamp, Oracle, OracleReusesBatch
from implementations.percolator.store import (
    TTL,
    Commit,
    Lock,
    PercolatorServer,
    Prewrite,
    Row,
    WriteRecord,
    commit,
    committed_at,
    resolve,
    visible,
)
from implementations.percolator.worker import (
    AWAIT_OBSERVERS,
    PROBE,
    SCAN,
    STALLS,
    Observer,
    Worker,
)
from invariants.history import FAIL, OK
from invariants.transactions import APPEND, READ, check_transactions, txn_op
from models.percolator import LEVEL, SnapshotStore

DEFAULT, SMALL = SYSTEM.config("default"), SYSTEM.config("small")
OBSERVERS = SYSTEM.config("observers")


def walk(variant: str, seed: int, config: Config = DEFAULT) -> Any:
    return execute(SYSTEM, variant, config, seed, RandomWalk(seed, config.max_pause))


# --- the hunt --------------------------------------------------------------------------------


def test_registered() -> None:
    assert SYSTEM in implementations.registered()


@pytest.mark.parametrize("config", [DEFAULT, SMALL, OBSERVERS],
                         ids=["default", "small", "observers"])
def test_correct_variant_survives_the_hunt(config: Config) -> None:
    for seed in range(80):
        result = walk("correct", seed, config)
        assert result.verdict.ok, (seed, result.verdict)


@pytest.mark.parametrize("variant, invariants", [
    # a final read that ignores locks also leaves them behind: progress sees that
    ("reads-ignore-locks", {"snapshot-isolation", "progress"}),
    ("cleanup-secondary-first", {"atomic"}),
    ("oracle-reuses-batch", {"oracle-monotonic"}),
    ("ack-before-commit-point", {"reads-see-earlier-commits", "snapshot-isolation"}),
    ("missing-lock-means-running", {"progress"}),
])
def test_seeded_bug_is_caught_by_its_invariant_and_replays(variant: str,
                                                            invariants: set[str]) -> None:
    found = next(r for r in (walk(variant, seed) for seed in range(300)) if r.violated)
    assert found.verdict.invariant in invariants, found.verdict
    again = execute(SYSTEM, variant, DEFAULT, found.seed, Replay(found.choices))
    assert again.sim.fingerprint() == found.sim.fingerprint()


def test_the_final_read_cleans_up_every_lock() -> None:
    """What `atomic` relies on: at quiescence no lock is left in the rows the final read
    read, and most operations succeed (the rest abort on conflicts or lose their worker)."""
    ok = total = 0
    for seed in range(40):
        sim = walk("correct", seed).sim
        assert sim.history[-1].type == OK, seed
        assert not any(row.lock for node in sim.servers for key, row
                       in getattr(sim.nodes[node], "rows", {}).items()
                       if not key.startswith("ack/")), seed
        ops = sim.operations()[:-1]
        ok, total = ok + sum(op.status == OK for op in ops), total + len(ops)
    assert ok > 0.55 * total, (ok, total)


class DeafTablet(PercolatorServer):
    """Drops every message: no transaction ever reads or writes a row."""

    def on_message(self, ctx: Any, src: str, msg: Any) -> None:
        pass


class ForgetfulWorker(Worker):
    """Takes each transaction and never runs it."""

    def on_txn(self, ctx: Any, client: str, msg: Any) -> None:
        ctx.storage.put(f"last/{client}", msg.req)


@pytest.mark.parametrize("roles", [Roles(tablet=DeafTablet), Roles(worker=ForgetfulWorker)],
                         ids=["deaf-tablets", "forgetful-workers"])
def test_a_store_that_does_nothing_fails_progress(roles: Roles) -> None:
    system = attrs.evolve(SYSTEM, variants={"idle": Variant("idle", roles)})
    for seed in range(3):
        verdict = execute(system, "idle", DEFAULT, seed,
                          RandomWalk(seed, DEFAULT.max_pause)).verdict
        assert verdict.violated and verdict.invariant == "progress", verdict


class BlindObserver(Observer):
    """Watches no row: it scans, and never takes a change."""

    def __init__(self, node_id: str, placement: dict[str, str], oracle: str,
                 watched: tuple[str, ...]) -> None:
        super().__init__(node_id, placement, oracle, watched=())


def test_observers_that_never_take_a_change_fail_progress() -> None:
    system = attrs.evolve(SYSTEM, variants={"blind": Variant("blind",
                                                             Roles(observer=BlindObserver))})
    for seed in range(3):
        verdict = execute(system, "blind", DEFAULT, seed,
                          RandomWalk(seed, DEFAULT.max_pause)).verdict
        assert verdict.violated and verdict.invariant == "progress", verdict
        assert "waited for the observers to take every change to x, y" in verdict.explanation


# --- scripted schedules ----------------------------------------------------------------------


def cluster_sim(workload: dict[str, list], config: Config = SMALL) -> Simulation:
    cluster = build(config, Roles(), random.Random(0))
    cluster.workload = workload
    sim = Simulation(cluster, 0, 0, {"drop": 10, "crash": 10})
    sim.start()
    return sim


def run_until(sim: Simulation, stop: Callable[[Any], bool] = lambda msg: False,
              skip: Callable[[Any], bool] = lambda msg: False) -> Any:
    """Invoke, deliver in send order (dropping what `skip` names), fire timers when nothing
    else can happen; return the first message `stop` names, undelivered."""
    for _ in range(2000):
        invokes = sim.enabled("invoke")
        if invokes:
            sim.execute(invokes[0])
            continue
        ready = sim.enabled("deliver")
        if ready:
            msg = sim.network.in_flight[ready[0][1:]].msg
            if stop(msg):
                return msg
            sim.execute(("drop" if skip(msg) else "deliver", *ready[0][1:]))
            continue
        if sim.clients_idle() or not sim.enabled("fire"):
            return None
        sim.execute(sim.enabled("fire")[0])
    raise AssertionError("no progress")


def writer_and_reader() -> dict[str, list]:
    return {"c1": [("txn", [[APPEND, "x", 1], [APPEND, "y", 2]])],
            "c2": [("txn", [[READ, "x", None], [READ, "y", None]])]}


def results(sim: Simulation) -> dict[str, Any]:
    return {op.process: (op.status, op.result) for op in sim.operations()}


def test_a_reader_rolls_a_crashed_workers_committed_secondary_forward() -> None:
    workload = writer_and_reader()
    reader = workload.pop("c2")
    sim = cluster_sim(workload)
    run_until(sim, stop=lambda msg: isinstance(msg, Commit) and msg.row == "y")
    sim.execute(("crash", "w1"))  # the primary x is committed; the secondary commit is lost
    sim.execute(("drop", *next(k for k, e in sim.network.in_flight.items()
                               if isinstance(e.msg, Commit))))
    assert isinstance(sim.nodes["t2"].rows["y"].lock.get(1), Lock)
    sim.workload["c2"] = reader
    sim.execute(("restart", "w1"))
    run_until(sim)
    assert results(sim)["c2"] == (OK, [[READ, "x", [1]], [READ, "y", [2]]])
    assert not sim.nodes["t2"].rows["y"].lock
    assert checks.atomic.check(sim).ok


def prewritten(sim: Simulation) -> int:
    txn = sim.nodes["w1"].txn
    return 0 if txn is None else txn.prewritten


def test_a_reader_rolls_a_stale_transaction_back_primary_first() -> None:
    workload = writer_and_reader()
    reader = workload.pop("c2")
    sim = cluster_sim(workload)
    run_until(sim, stop=lambda msg: isinstance(msg, GetTimestamp)
              and prewritten(sim) == 2)  # both rows locked, about to ask for a commit timestamp
    sim.execute(("crash", "w1"))
    sim.execute(("restart", "w1"))  # it lost the transaction: its locks are left behind
    sim.workload["c2"] = reader
    run_until(sim, skip=lambda msg: isinstance(msg, GetTimestamp) and msg.req[0] == "w1")
    assert results(sim)["c2"] == (OK, [[READ, "x", []], [READ, "y", []]])
    x, y = sim.nodes["t1"].rows["x"], sim.nodes["t2"].rows["y"]
    assert x.write[1].rolled_back and y.write[1].rolled_back  # the primary x decided
    assert sim.time >= TTL  # the reader waited for the lock to grow stale


def test_a_client_whose_worker_died_records_an_unknown_outcome() -> None:
    sim = cluster_sim({"c1": [("txn", [[APPEND, "x", 1]])]})
    run_until(sim, stop=lambda msg: isinstance(msg, Prewrite))
    sim.execute(("crash", "w1"))
    sim.execute(("fire", "c1", "probe"))  # unanswered while the worker is down: no verdict
    assert not sim.nodes["c1"].idle
    sim.execute(("restart", "w1"))
    run_until(sim)
    assert results(sim)["c1"] == ("info", None)  # the restarted worker lost it, STALLS times
    assert sim.time == PROBE * STALLS  # the probe sent while it was down, and one more


def test_a_lost_request_is_sent_again_when_the_client_probes() -> None:
    sim = cluster_sim({"c1": [("txn", [[APPEND, "x", 1]])]})
    run_until(sim, stop=lambda msg: isinstance(msg, Prewrite))
    sim.execute(("drop", *next(k for k, e in sim.network.in_flight.items()
                               if isinstance(e.msg, Prewrite))))
    run_until(sim)
    assert results(sim)["c1"] == (OK, [[APPEND, "x", 1]])


def test_write_write_conflict_aborts_the_second_committer() -> None:
    sim = cluster_sim({"c1": [("txn", [[APPEND, "x", 1]])], "c2": [("txn", [[APPEND, "x", 2]])]})
    sim.execute(("invoke", "c1"))
    sim.execute(("invoke", "c2"))
    run_until(sim)
    statuses = sorted(status for status, _ in results(sim).values())
    assert statuses == [FAIL, OK]


def test_the_observer_acknowledges_each_change_once() -> None:
    sim = cluster_sim({"c1": [("txn", [[APPEND, "x", 1]])]}, OBSERVERS)
    run_until(sim)
    for _ in range(60):  # scans, before and after the change is acknowledged
        sim.execute(sim.enabled("fire")[0])
        while sim.enabled("deliver"):
            sim.execute(sim.enabled("deliver")[0])
    ack = sim.nodes["t1"].rows["ack/x"]
    assert visible(ack, 10**9) == (committed_at(sim.nodes["t1"].rows["x"], 1),)
    assert not sim.nodes["t1"].rows["x"].notify
    assert checks.observed_once.check(sim).ok


def test_waiting_for_the_observers_returns_once_they_took_every_change() -> None:
    sim = cluster_sim({"c1": [("txn", [[APPEND, "x", 1], [APPEND, "y", 2]]),
                              (AWAIT_OBSERVERS, ["x", "y"])]}, OBSERVERS)
    run_until(sim)
    assert [(op.f, op.status) for op in sim.operations()] == [("txn", OK),
                                                             (AWAIT_OBSERVERS, OK)]
    assert sim.time >= SCAN  # it waited for the observers' scans: nothing is notified now
    assert not any(sim.nodes[t].rows[key].notify for t, key in (("t1", "x"), ("t2", "y")))
    assert checks.changes_observed.check(sim).ok and checks.observed_once.check(sim).ok


# --- the row steps ---------------------------------------------------------------------------


def prewrite(row: Row, start_ts: int, primary: str = "x", value: tuple = (1,)) -> bool:
    return PercolatorServer("t").prewrite(row, Prewrite((), "x", start_ts, primary, value), 0)


def test_prewrite_conflicts_with_a_later_write_or_any_lock() -> None:
    row = Row()
    assert prewrite(row, 5) and prewrite(row, 5)  # a duplicate succeeds again
    assert not prewrite(row, 7)  # locked by 5
    assert commit(row, 5, 6)
    assert not prewrite(row, 4)  # a write record at 6 after start 4
    assert prewrite(row, 8, value=(1, 2))
    assert visible(row, 7) == (1,) and visible(row, 5) == ()


def test_a_rollback_record_stops_a_late_prewrite_and_a_late_commit() -> None:
    row = Row()
    assert prewrite(row, 3)
    assert resolve(row, 3, None)
    assert row.write[3] == WriteRecord(3, rolled_back=True) and not row.lock and not row.data
    assert not prewrite(row, 3)
    assert not commit(row, 3, 9)
    assert visible(row, 100) == ()


def test_rolling_back_a_committed_write_is_refused() -> None:
    row = Row()
    prewrite(row, 3)
    assert commit(row, 3, 4) and commit(row, 3, 4)  # idempotent
    assert not resolve(row, 3, None)
    assert visible(row, 4) == (1,)


def test_the_primary_decides() -> None:
    server = PercolatorServer("t")
    row = Row()
    prewrite(row, 3)
    assert server.check_primary(row, (), 3, now=TTL - 1).pending
    status = server.check_primary(row, (), 3, now=TTL)
    assert (status.commit_ts, status.pending) == (None, False) and row.write[3].rolled_back
    other = Row()
    prewrite(other, 5)
    commit(other, 5, 7)
    assert server.check_primary(other, (), 5, now=0).commit_ts == 7


# --- the oracle ------------------------------------------------------------------------------


def oracle_timestamps(oracle_class: type[Oracle], before: int, after: int) -> list[int]:
    sim = new_simulation(SYSTEM, "correct", SMALL, 0)
    sim.nodes["tso"] = oracle_class("tso")
    sim.start()
    ctx = sim.contexts["tso"]

    def ask(n: int) -> None:
        for _ in range(n):
            sim.nodes["tso"].on_message(ctx, "w1", GetTimestamp(()))
    ask(before)
    sim.nodes["tso"] = oracle_class("tso")  # a crash: only the storage survives
    sim.nodes["tso"].on_recover(ctx)
    ask(after)
    return [fact["ts"] for kind, _, _, fact in sim.ghost if kind == "timestamp"]


def test_the_oracle_resumes_above_its_durable_bound() -> None:
    issued = oracle_timestamps(Oracle, 3, 2)
    assert issued == [1, 2, 3, BATCH + 1, BATCH + 2]


def test_the_oracle_writes_its_bound_once_per_batch() -> None:
    sim = new_simulation(SYSTEM, "correct", SMALL, 0)
    sim.start()
    writes = []
    ctx = sim.contexts["tso"]
    put = ctx.storage.put
    ctx.storage.put = lambda key, value, synced=True: (writes.append(value), put(key, value))
    for _ in range(2 * BATCH):
        sim.nodes["tso"].on_message(ctx, "w1", GetTimestamp(()))
    assert writes == [BATCH, 2 * BATCH]


def test_oracle_monotonic_catches_a_reused_timestamp() -> None:
    assert oracle_timestamps(OracleReusesBatch, 3, 1)[-1] == 1
    sim = new_simulation(SYSTEM, "correct", SMALL, 0)
    sim.ghost += [("timestamp", 0, "tso", {"ts": 1}), ("timestamp", 5, "tso", {"ts": 2})]
    assert checks.oracle_monotonic.check(sim) is None
    sim.ghost.append(("timestamp", 9, "tso", {"ts": 2}))
    assert "handed out timestamp 2" in checks.oracle_monotonic.check(sim)


# --- the invariants on hand-made states ------------------------------------------------------


def on_row(sim: Simulation, key: str, change: Callable[[Row], Any]) -> None:
    """One single-row transaction at the tablet holding `key`: the ghost record notes it."""
    tablet = "t1" if key.removeprefix("ack/") == "x" else "t2"
    sim.nodes[tablet].row_transaction(sim.contexts[tablet], key, change)


def torn_sim() -> Simulation:
    sim = new_simulation(SYSTEM, "correct", SMALL, 0)
    sim.start()
    on_row(sim, "x", lambda row: prewrite(row, 3))
    on_row(sim, "y", lambda row: prewrite(row, 3))
    on_row(sim, "x", lambda row: commit(row, 3, 4))
    sim.ghost.append(("writes", 0, "w1", {"start_ts": 3, "rows": ("x", "y")}))
    return sim


def test_atomic_waits_for_a_pending_lock_and_catches_a_torn_transaction() -> None:
    sim = torn_sim()
    assert checks.atomic.check(sim).ok  # y's lock still follows its primary
    on_row(sim, "y", lambda row: resolve(row, 3, None))
    verdict = checks.atomic.check(sim)
    assert verdict.violated and "to x but not to y" in verdict.explanation


def test_the_checks_read_the_ghost_record_not_the_rows() -> None:
    """A row changed behind the ghost record's back does not fool them."""
    sim = torn_sim()
    resolve(sim.nodes["t2"].rows["y"], 3, None)  # not noted
    assert checks.atomic.check(sim).ok
    assert checks.columns(sim).locks("y") == [3]


def test_observed_once_catches_a_change_acknowledged_twice() -> None:
    sim = torn_sim()
    on_row(sim, "ack/x", lambda row: prewrite(row, 5, value=(4, 4)))
    assert checks.observed_once.check(sim).ok  # not committed yet
    on_row(sim, "ack/x", lambda row: commit(row, 5, 6))
    assert checks.observed_once.check(sim).violated


def test_progress_catches_a_lock_left_behind_and_a_final_read_that_failed() -> None:
    sim = torn_sim()
    record(sim, [("c1", "invoke", [[READ, "x", None], [READ, "y", None]]),
                 ("c1", OK, [[READ, "x", [1]], [READ, "y", []]])])
    verdict = checks.progress.check(sim)
    assert verdict.violated and "row y still holds the lock of ts=3" in verdict.explanation
    on_row(sim, "y", lambda row: resolve(row, 3, 4))
    assert checks.progress.check(sim).ok
    record(sim, [("c2", "invoke", [[APPEND, "x", 9]])])
    assert "c2's transaction [['append', 'x', 9]] never returned" in \
        checks.progress.check(sim).explanation
    record(sim, [("c2", "info", None), ("c1", "invoke", [[READ, "x", None], [READ, "y", None]]),
                 ("c1", FAIL, None)])
    assert "final read ended fail" in checks.progress.check(sim).explanation


def record(sim: Simulation, events: list[tuple], f: str = "txn") -> None:
    for process, kind, value in events:
        sim.record(process, kind, f, value)


def test_changes_observed_catches_a_change_no_observer_acknowledged() -> None:
    sim = torn_sim()  # x committed its change at ts=4; nobody has waited for the observers
    assert checks.changes_observed.check(sim).ok
    record(sim, [("c2", "invoke", ["x", "y"]), ("c2", OK, None)], f=AWAIT_OBSERVERS)
    verdict = checks.changes_observed.check(sim)
    assert verdict.violated and "committed to x at ts=4 was never observed" in \
        verdict.explanation
    on_row(sim, "ack/x", lambda row: prewrite(row, 5, value=(4,)))
    assert checks.changes_observed.check(sim).violated  # not committed yet
    on_row(sim, "ack/x", lambda row: commit(row, 5, 6))
    assert checks.changes_observed.check(sim).ok  # y holds no committed change


def test_progress_catches_a_wait_for_the_observers_that_never_returned() -> None:
    sim = new_simulation(SYSTEM, "correct", DEFAULT, 0)
    record(sim, [("c1", "invoke", [[READ, "x", None], [READ, "y", None]]),
                 ("c1", OK, [[READ, "x", []], [READ, "y", []]])])
    record(sim, [("c2", "invoke", ["x", "y"])], f=AWAIT_OBSERVERS)
    verdict = checks.progress.check(sim)
    assert verdict.violated and "some row stayed notified" in verdict.explanation
    record(sim, [("c2", OK, None)], f=AWAIT_OBSERVERS)
    assert checks.progress.check(sim).ok


def test_answers_must_match_their_requests() -> None:
    sim = new_simulation(SYSTEM, "correct", SMALL, 0)
    record(sim, [("c1", "invoke", [[APPEND, "x", 1], [READ, "y", None]]),
                 ("c1", OK, [[APPEND, "x", 1], [READ, "y", []]])])
    assert checks.answers_match_requests.check(sim).ok
    record(sim, [("c2", "invoke", [[READ, "y", None]]), ("c2", OK, [[READ, "y", [1]]])])
    verdict = checks.answers_match_requests.check(sim)  # 1 was appended to x, not y
    assert verdict.violated and "no transaction appends to y" in verdict.explanation
    sim.history[-1] = attrs.evolve(sim.history[-1], value=[[READ, "x", [1]]])
    assert "asked for ['r', 'y', None]" in checks.answers_match_requests.check(sim).explanation


def test_a_transaction_begun_after_a_commit_was_acknowledged_sees_it() -> None:
    sim = new_simulation(SYSTEM, "correct", SMALL, 0)
    record(sim, [("c1", "invoke", [[APPEND, "x", 1]]), ("c2", "invoke", [[READ, "x", None]]),
                 ("c1", OK, [[APPEND, "x", 1]]), ("c2", OK, [[READ, "x", []]])])
    assert checks.reads_see_earlier_commits.check(sim).ok  # concurrent: either is fine
    record(sim, [("c2", "invoke", [[READ, "x", None]]), ("c2", OK, [[READ, "x", []]])])
    verdict = checks.reads_see_earlier_commits.check(sim)
    assert verdict.violated and "append of 1 to x committed" in verdict.explanation


def test_snapshot_isolation_sees_a_fractured_read() -> None:
    ops = [txn_op(0, [[APPEND, "x", 1], [APPEND, "y", 2]]),
           txn_op(1, [[READ, "x", [1]], [READ, "y", []]])]
    assert check_transactions(ops, LEVEL).violated


# --- the model -------------------------------------------------------------------------------


def test_the_model_lets_the_first_committer_win_and_allows_write_skew() -> None:
    store = SnapshotStore()
    a, b = store.begin(), store.begin()
    assert store.commit(a, {"x": 1}) is not None
    assert store.commit(b, {"x": 2}) is None  # lost update prevented
    c, d = store.begin(), store.begin()
    assert store.read(c, "x") == 1 and store.read(d, "x") == 1
    assert store.commit(c, {"y": 1}) and store.commit(d, {"z": 1})  # disjoint writes


def test_histories_of_the_model_have_no_snapshot_isolation_anomaly() -> None:
    """Differential: random interleavings of list-append transactions run on the model are
    clean for the Elle-style checker at the model's level."""
    rng = random.Random(7)
    for _ in range(30):
        store, ops, values = SnapshotStore(), [], iter(range(1, 1000))
        live: list[tuple[int, int, list]] = []
        for i in range(12):
            start = store.begin()
            mops = [[APPEND, k, next(values)] if rng.random() < 0.5 else [READ, k, None]
                    for k in rng.sample(["x", "y", "z"], 2)]
            live.append((i, start, mops))
            if len(live) > 2 or i == 11:
                for j, began, todo in live:
                    ops.append(run_on_model(store, j, began, todo))
                live = []
        assert not check_transactions(ops, LEVEL).violated


def run_on_model(store: SnapshotStore, i: int, start: int, mops: list) -> Any:
    writes: dict[str, tuple] = {}
    done = []
    for f, key, value in mops:
        current = writes.get(key, store.read(start, key, ()))
        if f == APPEND:
            writes[key] = (*current, value)
            done.append([APPEND, key, value])
        else:
            done.append([READ, key, list(current)])
    committed = not writes or store.commit(start, writes) is not None
    return txn_op(i, done, status=OK if committed else FAIL)


def test_the_ending_lasts_long_enough_for_a_client_to_give_up() -> None:
    """In the ending every probe in flight is delivered at once: a client whose worker lost
    its transaction hears so within STALLS + 1 probes."""
    assert DEFAULT.quiesce_horizon > PROBE * (STALLS + 1)
