"""Photon: the correct system survives the hunt and each seeded bug is found by its invariant
and replays; scripted schedules show a retried registration, the recovery scan, a click that
comes before its query and a partition between the datacenters; a pipeline that does nothing
is reported; the invariants and the model behave on hand-made inputs."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import attrs
import pytest

import implementations
from checker.run import execute, new_simulation
from checker.sim import Simulation, Step
from checker.strategies import RandomWalk, Replay
from checker.system import Config
from implementations.paxos_core import FOLLOWER, MASTER, NOOP, RESEND, Ballot
from implementations.photon import FINAL_POLLS, SYSTEM, Roles, build, checks
from implementations.photon.frontend import POLL
from implementations.photon.messages import (
    AlreadyJoined,
    Click,
    Insert,
    Inserted,
    Join,
    JoinedClick,
    LogQuery,
    NotYet,
    Output,
    Query,
    Token,
)
from implementations.photon.pipeline import (
    BACKOFF,
    JOIN_TIMEOUT,
    MAX_BACKOFF,
    Dispatcher,
    Joiner,
    NoRecoveryScan,
    OutputLog,
)
from implementations.photon.registry import IdRegistry as Registry
from implementations.photon.registry import TokenIgnored
from models.photon import IdRegistry, disagreements, duplicated, join, misattributed, registry_of

DEFAULT, SMALL = SYSTEM.config("default"), SYSTEM.config("small")


def walk(variant: str, seed: int, config: Config = DEFAULT, system: Any = SYSTEM) -> Any:
    return execute(system, variant, config, seed, RandomWalk(seed, config.max_pause))


# --- the hunt --------------------------------------------------------------------------------


def test_registered() -> None:
    assert SYSTEM in implementations.registered()


@pytest.mark.parametrize("config", [DEFAULT, SMALL], ids=["default", "small"])
def test_correct_variant_survives_the_hunt(config: Config) -> None:
    for seed in range(100):
        result = walk("correct", seed, config)
        assert result.verdict.ok, (seed, result.verdict)


@pytest.mark.parametrize("variant, invariants", [
    ("output-before-insert", ("no-duplicate-join",)),
    ("token-ignored", ("joined-exactly-once",)),
    # without the scan, a registration the registry refused is never forgotten either
    ("no-recovery-scan", ("joined-exactly-once", "nothing-left-to-recover")),
])
def test_seeded_bug_is_caught_by_its_invariant_and_replays(variant: str,
                                                           invariants: tuple[str, ...]) -> None:
    found = next(r for r in (walk(variant, seed) for seed in range(300)) if r.violated)
    assert found.verdict.invariant in invariants, found.verdict
    again = execute(SYSTEM, variant, DEFAULT, found.seed, Replay(found.choices))
    assert again.sim.fingerprint() == found.sim.fingerprint()
    assert again.verdict == found.verdict


# --- a pipeline that does nothing fails ------------------------------------------------------


def with_servers(change: Callable[[Any], None]) -> Any:
    """The system with every server node built and then changed by `change`."""
    def build_changed(config: Config, roles: Roles, rng: Any) -> Any:
        cluster = build(config, roles, rng)
        cluster.servers = {name: _changed(factory, change)
                           for name, factory in cluster.servers.items()}
        return cluster
    return attrs.evolve(SYSTEM, build=build_changed)


def _changed(factory: Callable[[str], Any], change: Callable[[Any], None]) -> Callable:
    def make(node_id: str) -> Any:
        node = factory(node_id)
        change(node)
        return node
    return make


def deaf(node: Any) -> None:
    node.on_message = lambda ctx, src, msg: None


def never_dispatches(node: Any) -> None:
    if isinstance(node, Dispatcher):
        node.dispatch = lambda ctx, click: None


def test_servers_that_drop_every_message_are_reported() -> None:
    for seed in range(5):
        result = walk("correct", seed, system=with_servers(deaf))
        assert result.verdict.violated, seed
        assert result.verdict.invariant == "pipeline-drains", result.verdict


def test_a_pipeline_that_logs_clicks_but_joins_none_is_reported() -> None:
    """Once the faults are over it is overdue (a state check, so the run stops there), and
    what it has output by then has lost the clicks."""
    for seed in range(5):
        result = walk("correct", seed, system=with_servers(never_dispatches))
        assert result.verdict.violated, seed
        assert result.verdict.invariant == "joined-promptly", result.verdict
        lost = checks.joined_exactly_once.check(result.sim)
        assert lost.violated and "lost" in lost.explanation


# --- scripted schedules ----------------------------------------------------------------------


def cluster_sim(roles: Roles = Roles(), clicks: tuple[str, ...] = ("k1",)) -> Simulation:
    """One frontend serving query q1 with `clicks`, then waiting for the pipeline."""
    cluster = build(DEFAULT, roles, random.Random(0))
    cluster.workload = {"c1": [("serve", ("q1", "ad1", clicks)), ("drain", FINAL_POLLS)]}
    cluster.clients = {"c1": cluster.clients["c1"]}
    sim = Simulation(cluster, 0, 0, {"drop": 10, "crash": 10, "partition": 5})
    sim.start()
    return sim


def run_until(sim: Simulation, stop: Callable[[Any], bool] = lambda msg: False,
              skip: Callable[[Any], bool] = lambda msg: False,
              until: Callable[[Simulation], bool] = lambda sim: False) -> Any:
    """Invoke, deliver in send order (dropping what `skip` names), fire timers when nothing
    else can happen, until the workload is done or `until` holds; return the first message
    `stop` names, undelivered."""
    for _ in range(20_000):
        if until(sim):
            return None
        if sim.enabled("invoke"):
            sim.execute(sim.enabled("invoke")[0])
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


class Once:
    """Names the first message `matches` names, and only that one (kept as `msg`)."""

    def __init__(self, matches: Callable[[Any], bool]) -> None:
        self.matches, self.msg = matches, None

    def __call__(self, msg: Any) -> bool:
        if self.msg is None and self.matches(msg):
            self.msg = msg
            return True
        return False


def joined(sim: Simulation, log: str) -> list[str]:
    return [j.click_id for j in sim.contexts[log].storage.get("joined", ())]


def replies(sim: Simulation) -> list[tuple[str, Token, bool]]:
    return [(fact["click"], fact["token"], fact["ok"]) for kind, _, _, fact in sim.ghost
            if kind == "inserted"]


def verdicts(sim: Simulation) -> dict[str, str]:
    return {inv.name: inv.check(sim).status for inv in SYSTEM.invariants if inv.kind == "history"}


def is_success(msg: Any) -> bool:
    return isinstance(msg, Inserted) and msg.ok


def test_a_registration_retried_after_a_lost_reply_succeeds_again() -> None:
    sim = cluster_sim()
    lost = Once(is_success)
    run_until(sim, skip=lost)
    assert lost.msg is not None and ("k1", lost.msg.token, True) in replies(sim)  # the retry
    assert joined(sim, "o1") + joined(sim, "o2") == ["k1"]
    assert set(verdicts(sim).values()) == {"ok"}


def test_a_registry_that_ignores_the_token_loses_the_click() -> None:
    sim = cluster_sim(Roles(registry=TokenIgnored))
    lost = Once(is_success)
    run_until(sim, skip=lost)
    assert ("k1", lost.msg.token, False) in replies(sim)  # its own retry refused
    assert joined(sim, "o1") + joined(sim, "o2") == []
    assert checks.joined_exactly_once.check(sim).violated


def crash_between_commit_and_output(roles: Roles) -> tuple[Simulation, Inserted]:
    """The registry commits a joiner's insert; the joiner crashes before hearing of it."""
    sim = cluster_sim(roles)
    reply = run_until(sim, stop=is_success)
    joiner = reply.token.joiner
    sim.execute(("crash", joiner))
    sim.execute(("drop", *next(key for key, envelope in sim.network.in_flight.items()
                               if envelope.msg == reply)))
    sim.execute(("restart", joiner))
    run_until(sim)
    return sim, reply


def test_the_recovery_scan_outputs_what_a_crashed_joiner_registered() -> None:
    sim, lost = crash_between_commit_and_output(Roles())
    assert ("k1", lost.token, True) in replies(sim)  # presented again by the next life
    assert joined(sim, "o" + lost.token.joiner[1:]) == ["k1"]
    assert set(verdicts(sim).values()) == {"ok"}


def test_without_the_recovery_scan_the_click_is_lost() -> None:
    sim, _ = crash_between_commit_and_output(Roles(joiner=NoRecoveryScan))
    assert joined(sim, "o1") + joined(sim, "o2") == []
    verdict = checks.joined_exactly_once.check(sim)
    assert verdict.violated and "'k1' was lost" in verdict.explanation


def test_a_click_that_comes_before_its_query_is_retried_until_the_query_is_there() -> None:
    sim = cluster_sim()
    run_until(sim, skip=lambda msg: isinstance(msg, LogQuery) and sim.time == 0)
    assert any(isinstance(step.detail, NotYet) for step in sim.trace)
    assert joined(sim, "o1") + joined(sim, "o2") == ["k1"]
    assert set(verdicts(sim).values()) == {"ok"}


def test_a_datacenter_cut_off_with_a_registry_replica_joins_nothing_twice() -> None:
    sim = cluster_sim(clicks=("k1", "k2"))
    sim.execute(("partition", ("d2", "e2", "j2", "o2", "r3")))  # the frontend is in dc 1
    run_until(sim, until=lambda sim: len(joined(sim, "o1")) == 2)
    sim.execute(("heal",))
    run_until(sim)
    assert sorted(joined(sim, "o1")) == ["k1", "k2"] and joined(sim, "o2") == []
    assert set(verdicts(sim).values()) == {"ok"}


def test_the_output_log_writes_a_click_once() -> None:
    sim = new_simulation(SYSTEM, "correct", SMALL, 0)
    sim.start()
    log, ctx = OutputLog("o1"), sim.contexts["o1"]
    log.on_start(ctx)
    for _ in range(2):
        log.on_message(ctx, "j1", Output(JoinedClick("k1", "q1", "ad1")))
    assert joined(sim, "o1") == ["k1"]


# --- the invariants on hand-made states ------------------------------------------------------


def blank() -> Simulation:
    sim = new_simulation(SYSTEM, "correct", SMALL, 0)
    sim.start()
    return sim


def output(sim: Simulation, log: str, *clicks: tuple[str, str, str]) -> None:
    sim.contexts[log].storage.put("joined", tuple(JoinedClick(*click) for click in clicks))


def serve(sim: Simulation, client: str, args: tuple, status: str = "ok") -> None:
    sim.record(client, "invoke", "serve", args)
    sim.record(client, status, "serve", None)


def test_no_duplicate_join_catches_a_click_output_in_both_datacenters() -> None:
    sim = blank()
    output(sim, "o1", ("k1", "q1", "ad1"))
    output(sim, "o2", ("k2", "q1", "ad1"))
    assert checks.no_duplicate_join.check(sim) is None
    output(sim, "o2", ("k2", "q1", "ad1"), ("k1", "q1", "ad1"))
    assert "click k1 was output twice, by o1 and o2" in checks.no_duplicate_join.check(sim)


T1, T2 = Token("j1", 1, 1), Token("j2", 1, 1)


def test_registered_once_catches_a_success_for_a_token_the_log_did_not_register() -> None:
    sim = blank()
    sim.ghost += [("chosen", 0, "r1", {"slot": 0, "value": None}),
                  ("chosen", 0, "r1", {"slot": 1, "value": Insert("k1", T1)}),
                  ("inserted", 0, "j1", {"click": "k1", "token": T1, "ok": True}),
                  ("inserted", 0, "j2", {"click": "k1", "token": T2, "ok": False})]
    assert checks.registered_once.check(sim) is None
    sim.ghost.append(("inserted", 5, "j2", {"click": "k1", "token": T2, "ok": True}))
    assert "registered it for j1:1.1" in checks.registered_once.check(sim)


def test_registered_once_catches_a_success_before_any_commit() -> None:
    sim = blank()
    sim.ghost.append(("inserted", 0, "j1", {"click": "k1", "token": T1, "ok": True}))
    assert "for nobody" in checks.registered_once.check(sim)


def test_registry_replicas_agree_catches_two_tokens_for_one_click() -> None:
    sim = blank()
    sim.contexts["r1"].storage.put("chosen/0", Insert("k1", T1))
    sim.contexts["r2"].storage.put("chosen/0", Insert("k1", T2))
    assert "k1 is registered for j1:1.1 at r1 but j2:1.1 at r2" in \
        checks.registry_replicas_agree.check(sim)


def test_registry_replicas_agree_catches_a_table_its_log_does_not_give() -> None:
    sim = blank()
    assert checks.registry_replicas_agree.check(sim) is None
    sim.contexts["r1"].storage.put("chosen/0", Insert("k1", T1))
    assert "r1's table {} is not what its log gives" in checks.registry_replicas_agree.check(sim)
    sim.nodes["r1"].registry = {"k1": T1}
    assert checks.registry_replicas_agree.check(sim) is None


def test_joined_exactly_once_catches_lost_duplicated_and_wrongly_joined_clicks() -> None:
    sim = blank()
    serve(sim, "c1", ("q1", "ad1", ("k1", "k2")))
    output(sim, "o1", ("k1", "q1", "ad1"))
    verdict = checks.joined_exactly_once.check(sim)
    assert verdict.violated and "'k2' was lost" in verdict.explanation
    output(sim, "o2", ("k2", "q1", "ad7"), ("k1", "q1", "ad1"))
    verdict = checks.joined_exactly_once.check(sim)
    assert verdict.violated and "1 duplicated, 1 altered" in verdict.explanation
    output(sim, "o2", ("k2", "q1", "ad1"))
    assert checks.joined_exactly_once.check(sim).ok


def test_joined_exactly_once_lets_an_unacknowledged_click_go() -> None:
    sim = blank()
    serve(sim, "c1", ("q1", "ad1", ("k1",)), status="info")
    assert checks.joined_exactly_once.check(sim).ok


def test_pipeline_drains_wants_every_operation_done_and_the_final_drain_ok() -> None:
    sim = blank()
    serve(sim, "c1", ("q1", "ad1", ("k1",)))
    assert "the final drain" in checks.pipeline_drains.check(sim).explanation
    sim.record("c1", "invoke", "drain", FINAL_POLLS)
    sim.record("c1", "fail", "drain", None)
    assert checks.pipeline_drains.check(sim).violated
    sim.record("c1", "invoke", "drain", FINAL_POLLS)
    sim.record("c1", "ok", "drain", None)
    assert checks.pipeline_drains.check(sim).ok
    sim.record("c2", "invoke", "serve", ("q2", "ad1", ("k2",)))
    assert "never completed" in checks.pipeline_drains.check(sim).explanation


def test_registry_converged_catches_a_lagging_replica_and_a_misattributed_output() -> None:
    sim = blank()
    for replica in ("r1", "r2", "r3"):
        sim.contexts[replica].storage.put("chosen/0", Insert("k1", T1))
    output(sim, "o1", ("k1", "q1", "ad1"))
    assert checks.registry_converged.check(sim).ok
    output(sim, "o2", ("k1", "q1", "ad1"))
    assert "datacenter 2 output click k1" in checks.registry_converged.check(sim).explanation
    sim.contexts["r1"].storage.put("chosen/1", Insert("k2", T2))
    assert "r1 holds" in checks.registry_converged.check(sim).explanation


def test_nothing_left_to_recover_catches_an_undone_click_and_a_registration_left_listed() -> None:
    sim = blank()
    sim.contexts["d1"].storage.put("click/k1", Click("k1", "q1"))
    assert "d1's click log still holds click k1" in \
        checks.nothing_left_to_recover.check(sim).explanation
    sim.contexts["d1"].storage.put("done/k1", True)
    assert checks.nothing_left_to_recover.check(sim).ok
    for replica in ("r1", "r2", "r3"):
        sim.contexts[replica].storage.put("chosen/0", Insert("k1", T2))
    sim.contexts["j1"].storage.put("registering/k1", (Click("k1", "q1"), Query("q1", "ad1"), T1))
    assert "j1 still lists its registration of click k1 with j1:1.1 (the registry holds it " \
        "for j2:1.1)" in checks.nothing_left_to_recover.check(sim).explanation
    sim.contexts["j1"].storage.put("registering/k1", None)  # refused, and forgotten
    assert checks.nothing_left_to_recover.check(sim).ok


class NeverForgetsRefusals(Joiner):
    """A joiner that drops a refused click but leaves its registration listed."""

    def on_inserted(self, ctx: Any, msg: Inserted) -> None:
        attempt = self.working.get(msg.click_id)
        if msg.ok or attempt is None or attempt.token != msg.token:
            super().on_inserted(ctx, msg)
        else:
            self.finish(ctx, attempt, AlreadyJoined(msg.click_id))


def test_a_joiner_that_never_forgets_a_refused_registration_is_reported() -> None:
    for roles, forgets in ((Roles(), True), (Roles(joiner=NeverForgetsRefusals), False)):
        sim = cluster_sim(roles)
        run_until(sim)
        assert joined(sim, "o1") + joined(sim, "o2") == ["k1"]  # exactly once, and settled
        assert checks.pipeline_drains.check(sim).ok
        verdict = checks.nothing_left_to_recover.check(sim)
        assert verdict.ok == forgets, verdict
        assert forgets or "still lists its registration of click k1" in verdict.explanation


def ran_on(sim: Simulation, node: str, detail: Any = None) -> None:
    """Record in the trace a step of the ending, at the current time, that ran on `node` (a
    delivery to it): the checks read a node's state again after its own steps."""
    sim.trace.append(Step(("deliver", "c1", node, 0), sim.time, detail, "quiesce"))


def settle_registry(sim: Simulation, master: str, ballot: Ballot) -> None:
    """Make `master` the registry's master, named by every replica and promised its ballot."""
    for replica in ("r1", "r2", "r3"):
        node = sim.nodes[replica]
        node.role, node.master_hint, node.promised = FOLLOWER, master, ballot
        ran_on(sim, replica)
    sim.nodes[master].role, sim.nodes[master].ballot = MASTER, ballot


def log_click_and_query(sim: Simulation, dc: str) -> None:
    sim.contexts[f"d{dc}"].storage.put("click/k1", Click("k1", "q1"))
    sim.contexts[f"e{dc}"].storage.put("query/q1", Query("q1", "ad1"))


def ending_at(time: int) -> Simulation:
    sim = blank()
    sim.phase, sim.time = "quiesce", time  # the faults end
    return sim


def test_joined_promptly_bounds_a_click_once_the_faults_are_over() -> None:
    sim = ending_at(1000)
    log_click_and_query(sim, "1")
    assert checks.joined_promptly.check(sim) is None  # no registry master yet: not judged
    sim.time = 1100
    settle_registry(sim, "r2", Ballot(3, "r2"))
    assert checks.joined_promptly.check(sim) is None  # settled at t=1100: due by t=1400
    sim.time = 1000 + JOIN_TIMEOUT  # a Join lost before the faults ended may wait this long
    assert checks.joined_promptly.check(sim) is None
    sim.time += 1
    assert "click k1 is not done at d1 at t=1401" in checks.joined_promptly.check(sim)
    sim.contexts["d1"].storage.put("done/k1", True)
    sim.time += 1
    assert checks.joined_promptly.check(sim) is None


def test_joined_promptly_counts_from_the_query_and_from_a_settled_registry() -> None:
    sim = ending_at(1000)
    settle_registry(sim, "r1", Ballot(2, "r1"))
    sim.contexts["d2"].storage.put("click/k1", Click("k1", "q1"))
    assert checks.joined_promptly.check(sim) is None
    sim.time = 1300  # the query comes late: e2 logs it
    sim.contexts["e2"].storage.put("query/q1", Query("q1", "ad1"))
    ran_on(sim, "e2", LogQuery(Query("q1", "ad1")))
    assert checks.joined_promptly.check(sim) is None
    sim.time = 1300 + checks.SETTLED_WAIT  # due by then, later than 1000 + JOIN_TIMEOUT
    assert checks.joined_promptly.check(sim) is None
    sim.time += 1
    sim.nodes["r3"].promised = Ballot(4, "r3")  # r3 would refuse the master's Accepts
    ran_on(sim, "r3")
    assert checks.joined_promptly.check(sim) is None  # not settled: not judged
    settle_registry(sim, "r1", Ballot(2, "r1"))  # settled again from now on
    assert checks.joined_promptly.check(sim) is None
    sim.time += checks.SETTLED_WAIT + 1
    assert "click k1 is not done at d2" in checks.joined_promptly.check(sim)


def test_joined_promptly_waits_a_backoff_after_a_not_yet_and_the_log_behind_a_lost_accept() -> None:
    sim = ending_at(1000)
    settle_registry(sim, "r1", Ballot(2, "r1"))
    log_click_and_query(sim, "1")
    ran_on(sim, "d1", NotYet("k1"))
    assert checks.joined_promptly.check(sim) is None
    sim.time = 1000 + checks.SETTLED_WAIT  # no Join of k1 is lost now: the backoff is all
    assert checks.joined_promptly.check(sim) is None
    sim.time += 1
    assert "it was due by t=1200" in checks.joined_promptly.check(sim)
    sim = ending_at(1000)
    settle_registry(sim, "r1", Ballot(2, "r1"))
    sim.nodes["r1"].proposals = {0: Insert("k9", T2)}  # its Accepts may have been lost
    log_click_and_query(sim, "1")
    ran_on(sim, "d1", NotYet("k1"))
    assert checks.joined_promptly.check(sim) is None
    sim.time = 1000 + RESEND  # the master resends them then; k1's insert waits behind them
    assert checks.joined_promptly.check(sim) is None
    sim.time += 1
    assert "it was due by t=1400" in checks.joined_promptly.check(sim)


def deliver(sim: Simulation, src: str, dst: str, msg: Any) -> None:
    """Record in the trace the delivery of `msg` from `src` to `dst`, now."""
    sim.trace.append(Step(("deliver", src, dst, 0), sim.time, msg, sim.phase))


def test_retried_after_backoff_wants_a_click_dispatched_again_within_its_backoff() -> None:
    check, sim = checks.retried_after_backoff.check, blank()
    sim.time = 900
    deliver(sim, "j1", "d1", NotYet("k1"))  # during the faults: counted, not judged
    sim.phase, sim.time = "quiesce", 1000  # the faults end
    deliver(sim, "j1", "d1", NotYet("k1"))  # the second NotYet: a backoff of 2 * BACKOFF
    assert check(sim) is None
    sim.time = 1000 + 2 * BACKOFF
    assert check(sim) is None
    sim.time += 1
    assert "not been dispatched again by d1 at t=1041" in check(sim)
    deliver(sim, "d1", "j1", Join(Click("k1", "q1")))  # dispatched again
    assert check(sim) is None
    for _ in range(4):  # the third to sixth: 4 and 8 times BACKOFF, then the ceiling
        deliver(sim, "j1", "d1", NotYet("k1"))
    assert checks.backoff(6) == MAX_BACKOFF < BACKOFF * 2 ** 5
    assert check(sim) is None
    sim.time += MAX_BACKOFF + 1
    assert "told NotYet for it 6 time(s)" in check(sim)
    sim.contexts["d1"].storage.put("done/k1", True)  # joined meanwhile: nothing is due
    assert check(sim) is None
    deliver(sim, "j2", "d2", NotYet("k2"))
    sim.trace.append(Step(("restart", "d2"), sim.time, None, "quiesce"))  # forgets it
    deliver(sim, "j2", "d2", NotYet("k2"))  # the first since d2 started: BACKOFF
    sim.time += BACKOFF + 1
    assert "told NotYet for it 1 time(s)" in check(sim)


class SilentMaster(Registry):
    """A registry whose master applies an insert but does not answer it: the joiner hears of
    it only after its CALL_TIMEOUT sends it to another replica, which sends it back to the
    master, which answers from its table."""

    def apply(self, ctx: Any, slot: int, value: Any) -> None:
        if value is not NOOP:
            self.conditional_insert(value.click_id, value.token)


def test_a_registry_master_that_answers_only_retries_is_reported() -> None:
    silent = attrs.evolve(SYSTEM, variants={
        "correct": attrs.evolve(SYSTEM.variant("correct"), impl=Roles(registry=SilentMaster))})
    found = next(r for r in (walk("correct", seed, system=silent) for seed in range(300))
                 if r.violated)
    assert found.verdict.invariant == "joined-promptly", found.verdict
    assert "was due by" in found.verdict.explanation


# --- the model -------------------------------------------------------------------------------


def test_the_model_joins_each_click_with_its_query() -> None:
    assert join({"q1": "ad1"}, {"k2": "q1", "k1": "q1", "k3": "q9"}) == \
        {"k1": ("q1", "ad1"), "k2": ("q1", "ad1")}


def test_the_model_registry_inserts_conditionally() -> None:
    registry = IdRegistry()
    assert registry.insert("k1", T1)
    assert registry.insert("k1", T1)  # a retry with the same token
    assert not registry.insert("k1", T2)  # already joined
    assert registry_of([("k1", T2), ("k1", T1), ("k2", T1)]) == {"k1": T2, "k2": T1}


def test_the_model_invariants_on_hand_made_inputs() -> None:
    assert duplicated(["k1", "k2", "k1", "k1"]) == ["k1"]
    assert disagreements({"r1": {"k1": T1}, "r2": {"k1": T2}, "r3": {}}) == \
        [("k1", "r1", T1, "r2", T2)]
    assert misattributed({"1": ["k1"], "2": ["k2"]}, {"k1": "1", "k2": "1"}) == \
        [("2", "k2", "1")]


def test_the_ending_lasts_long_enough_for_the_final_drain_to_give_up() -> None:
    assert DEFAULT.quiesce_horizon > FINAL_POLLS * POLL
