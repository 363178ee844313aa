"""Google SSO: the correct cell survives the hunt, every seeded bug is found by the random walk
and by a short scripted schedule that shows its mechanism, found runs replay exactly, and the
pieces (leases, the state machine, the quorum proof) behave on hand-made inputs."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

import implementations
from checker import registry
from checker.hunt import Budget, hunt
from checker.run import execute, new_simulation
from checker.sim import Simulation, Step
from checker.strategies import RandomWalk, Replay
from checker.system import Config, Variant
from implementations import sso, sso_checks
from implementations.paxos_core import MASTER, Ballot, Prepare, Rejected
from implementations.sso import (
    CANDIDACY,
    LEASE,
    SYSTEM,
    KVStore,
    LeaseGrant,
    LeaseIgnoresDrift,
    LeaseRequest,
    Replica,
    Write,
)
from invariants.history import Event
from tests.handclock import Clock

DEFAULT, FIVE = SYSTEM.config("default"), SYSTEM.config("five")



def walk(variant: str, seed: int, config: Config) -> Any:
    return execute(SYSTEM, variant, config, seed, RandomWalk(seed, config.max_pause))


# --- the hunt --------------------------------------------------------------------------------


def test_registered() -> None:
    assert SYSTEM in implementations.registered()


@pytest.mark.parametrize("config", [DEFAULT, FIVE], ids=["default", "five"])
def test_correct_variant_survives_the_hunt(config: Config) -> None:
    for seed in range(120):
        result = walk("correct", seed, config)
        assert not result.verdict.violated, (seed, result.verdict)  # unknown: budget spent


def test_five_replicas_with_a_minority_quorum_split_and_replay() -> None:
    """The hunts (tests/test_hunts.py) run the default cell of three; with five replicas a
    quorum of two lets both halves elect a master."""
    found = next(r for r in (walk("minority-quorum", seed, FIVE) for seed in range(60))
                 if not r.verdict.ok)
    assert found.verdict.invariant in {"one-lease-holder", "chosen-on-majority"}, found.verdict
    again = execute(SYSTEM, "minority-quorum", FIVE, found.seed, Replay(found.choices))
    assert again.sim.fingerprint() == found.sim.fingerprint()


# --- scripted schedules: a fast network, and faults at chosen times --------------------------


class Script:
    """Fire timers in due order and deliver every message at once (preferring those `prefer`
    accepts), inject `plan` events (true time, event) as their time comes, stop after
    `until`."""

    def __init__(self, plan: list[tuple[int, tuple]], until: int,
                 prefer: Any = lambda event: False) -> None:
        self.plan = sorted(plan)
        self.until = until
        self.prefer = prefer

    def next(self, sim: Any) -> tuple | None:
        if self.plan and sim.time >= self.plan[0][0]:
            return self.plan.pop(0)[1]
        ready = sim.enabled("deliver")
        if ready:
            return next((event for event in ready if self.prefer(event)), ready[0])
        timers = sim.enabled("fire")
        if not timers or sim.time > self.until:
            return None
        return timers[0]


def master_at(variant: str, config: Config, time: int) -> str:
    """Who is master at `time` in a fault-free, fast run."""
    result = execute(SYSTEM, variant, config, 0, Script([], time))
    (master,) = [n for n in result.sim.servers if result.sim.nodes[n].role == MASTER]
    return master


def first_writer(config: Config) -> str:
    sim = new_simulation(SYSTEM, "correct", config, 0)
    return next(c for c in sim.clients if sim.workload[c][0][0] == "write")


def master_cut_off_with_a_writer(variant: str) -> Any:
    """The master and a writing client are cut off for two leases: the rest elect a master."""
    master, writer = master_at(variant, DEFAULT, 100), first_writer(DEFAULT)
    plan = [(100, ("partition", (master, writer))), (100, ("invoke", writer)),
            (100 + 2 * LEASE, ("heal",))]
    return execute(SYSTEM, variant, DEFAULT, 0, Script(plan, 100 + 4 * LEASE))


def acceptor_restarts_before_the_old_masters_accept_arrives(variant: str) -> Any:
    """As above, and a replica of the new master's majority restarts just before the heal;
    the old master's Accept for the client's write reaches it first."""
    master, writer = master_at(variant, DEFAULT, 100), first_writer(DEFAULT)
    restarted = [n for n in sso.replica_ids(DEFAULT) if n != master][-1]
    plan = [(100, ("partition", (master, writer))), (100, ("invoke", writer)),
            (100 + 2 * LEASE, ("crash", restarted)), (100 + 2 * LEASE, ("restart", restarted)),
            (100 + 2 * LEASE, ("heal",))]
    between_them = {(master, restarted), (restarted, master)}
    return execute(SYSTEM, variant, DEFAULT, 0,
                   Script(plan, 100 + 4 * LEASE, lambda event: event[1:3] in between_them))


# A master that stalls while its clock falls behind trusts its lease too long, but serves no read
# meanwhile: the lease checks judge what masters and grantors do, so such a schedule breaks no
# invariant; `test_leases_overlap_when_clocks_are_trusted` shows the gap on clock readings.
SCENARIOS = [
    (master_cut_off_with_a_writer, "ack-before-majority", "chosen-on-majority"),
    (acceptor_restarts_before_the_old_masters_accept_arrives, "forgets-promise",
     "chosen-on-majority"),
]


@pytest.mark.parametrize("scenario, variant, invariant", SCENARIOS,
                         ids=[variant for _, variant, _ in SCENARIOS])
def test_scripted_schedule_breaks_the_seeded_bug(scenario: Any, variant: str,
                                                 invariant: str) -> None:
    assert scenario(variant).verdict.invariant == invariant


@pytest.mark.parametrize("scenario", [s for s, _, _ in SCENARIOS],
                         ids=[variant for _, variant, _ in SCENARIOS])
def test_scripted_schedule_is_survived_by_the_correct_cell(scenario: Any) -> None:
    result = scenario("correct")
    assert result.verdict.ok, result.verdict
    assert sum(result.sim.nodes[n].role == MASTER for n in result.sim.servers) >= 1


class LeaseIsNoPromise(Replica):
    """A test-only mutant: a replica grants a lease under a ballot above its promise without
    promising that ballot (`remember_promise` left out)."""

    def on_lease_request(self, ctx: Any, src: str, msg: LeaseRequest) -> None:
        if msg.ballot < self.promised:
            self.send(ctx, src, Rejected(msg.ballot, self.promised))
            return
        if not self.supports_other(ctx, src):
            self.lease_owner, self.lease_until = src, self.clock(ctx)[1] + LEASE
            ctx.note("lease-granted", master=src, ballot=msg.ballot, start=msg.start)
            self.send(ctx, src, LeaseGrant(msg.ballot, msg.start))
        self.heard_from_master(ctx, src, msg.applied)


class PausedMasterHearsOfItsSuccessor(Script):
    """The master pauses for two leases as a client invokes a write; while it is paused, every
    message a replica sends it is lost but the new master's lease requests, and when the pause
    ends those reach it before the client's write."""

    def __init__(self, master: str, writer: str) -> None:
        super().__init__([(100, ("pause", master, 2 * LEASE)), (100, ("invoke", writer))],
                         100 + 4 * LEASE, lambda event: event[2] == master
                         and event[1] in sso.replica_ids(DEFAULT))
        self.master = master

    def next(self, sim: Any) -> tuple | None:
        if sim.paused_until.get(self.master, -1) > sim.time:
            lost = next((envelope.key for envelope in sim.network if envelope.dst == self.master
                         and envelope.src in sim.servers
                         and not isinstance(envelope.msg, LeaseRequest)), None)
            if lost is not None:
                return ("drop", *lost)
        return super().next(sim)


@pytest.mark.parametrize("impl, verdict", [(Replica, None), (LeaseIsNoPromise, "promises-kept")],
                         ids=["correct", "lease-is-no-promise"])
def test_a_lease_granted_is_a_promise_of_its_ballot(impl: type[Replica],
                                                     verdict: str | None) -> None:
    """The old master grants its successor's lease once its own has run out, then proposes the
    client's write under its old ballot: its own acceptor must refuse it."""
    system = attrs.evolve(SYSTEM, variants={**SYSTEM.variants, "v": Variant("v", impl)})
    master, writer = master_at("correct", DEFAULT, 100), first_writer(DEFAULT)
    result = execute(system, "v", DEFAULT, 0, PausedMasterHearsOfItsSuccessor(master, writer))
    if verdict is None:
        assert result.verdict.ok, result.verdict
    else:
        assert result.verdict.invariant == verdict, result.verdict
    assert any(kind == "lease-granted" and node == master and fact["master"] != master
               for kind, _, node, fact in result.sim.ghost)  # it did grant its successor


# --- the lease, on hand-made clock readings --------------------------------------------------


REPLICAS = ("n1", "n2", "n3")


def leased_pair(impl: type[Replica], epsilon: int, master_offset: int,
                grantor_offset: int) -> tuple[Replica, Clock, Replica, Clock]:
    """n1 is master at ballot 1.n1 and asks n2 for the lease at true time 0; both grant."""
    master, grantor = impl("n1", REPLICAS), impl("n2", REPLICAS)
    mctx, gctx = Clock("n1", epsilon), Clock("n2", epsilon)
    master.on_start(mctx)
    grantor.on_start(gctx)
    master.role, master.ballot = MASTER, Ballot(1, "n1")
    mctx.offset, gctx.offset = master_offset, grantor_offset
    request = LeaseRequest(master.ballot, master.clock(mctx)[0], 0)
    master.on_lease_request(mctx, "n1", request)  # grants itself, at once
    grantor.on_lease_request(gctx, "n1", request)
    (grant,) = [msg for dst, msg in gctx.sent if dst == "n1" and isinstance(msg, LeaseGrant)]
    master.on_lease_grant(mctx, "n2", grant)
    return master, mctx, grantor, gctx


def test_lease_is_valid_until_the_latest_reading_reaches_start_plus_lease() -> None:
    master, mctx, _, _ = leased_pair(Replica, epsilon=5, master_offset=0, grantor_offset=0)
    assert master.lease_expiry == -5 + LEASE  # asked when the earliest reading was -5
    mctx.time = LEASE - 11  # latest reading LEASE - 6: still before the expiry
    assert master.lease_valid(mctx)
    mctx.time = LEASE - 10  # latest reading LEASE - 5: the expiry
    assert not master.lease_valid(mctx)


def test_grantor_supports_no_other_master_until_its_earliest_reading_passes() -> None:
    _, _, grantor, gctx = leased_pair(Replica, epsilon=5, master_offset=0, grantor_offset=0)
    assert grantor.lease_until == 5 + LEASE  # granted when the latest reading was 5
    gctx.time = LEASE + 10  # earliest reading LEASE + 5: may still run
    assert grantor.supports_other(gctx, "n3")
    assert not grantor.supports_other(gctx, "n1")  # the owner itself may stand again
    gctx.time = LEASE + 11
    assert not grantor.supports_other(gctx, "n3")


def overlaps(impl: type[Replica], epsilon: int) -> list[tuple]:
    """(true time, offsets) at which the master trusts its lease while the grantor would
    already promise another master; clocks start and end anywhere within +-epsilon."""
    found = []
    offsets = (-epsilon, 0, epsilon)
    for m0 in offsets:
        for g0 in offsets:
            master, mctx, grantor, gctx = leased_pair(impl, epsilon, m0, g0)
            for m1 in offsets:
                for g1 in offsets:
                    mctx.offset, gctx.offset = m1, g1
                    for t in range(LEASE - 4 * epsilon, LEASE + 4 * epsilon + 1):
                        mctx.time = gctx.time = t
                        if master.lease_valid(mctx) and not grantor.supports_other(gctx, "n3"):
                            found.append((t, m0, g0, m1, g1))
    return found


def test_leases_never_overlap_when_both_sides_allow_for_drift() -> None:
    assert overlaps(Replica, epsilon=5) == []


def test_leases_overlap_when_clocks_are_trusted() -> None:
    overlap = overlaps(LeaseIgnoresDrift, epsilon=5)
    assert overlap
    assert max(m0 - m1 + g1 - g0 for _, m0, g0, m1, g1 in overlap) == 4 * 5


def test_a_restarted_grantor_supports_nobody_for_a_lease() -> None:
    grantor, gctx = Replica("n2", REPLICAS), Clock("n2", 5)
    gctx.time = 100
    grantor.on_recover(gctx)
    assert grantor.supports_other(gctx, "n1") and grantor.supports_other(gctx, "n3")
    gctx.time = 100 + LEASE + 11
    assert not grantor.supports_other(gctx, "n1")


# --- the state machine and the proof ---------------------------------------------------------


def test_a_retried_write_is_applied_once() -> None:
    kv = KVStore()
    kv.apply(Write("c1", 1, "x", 10))
    kv.apply(Write("c2", 1, "x", 20))
    kv.apply(Write("c1", 1, "x", 10))  # c1's retry, chosen again in a later slot
    assert kv.data == {"x": 20}


@pytest.mark.parametrize("config", ["default", "five"])
def test_majority_quorums_intersect(config: str) -> None:
    (verdict,) = SYSTEM.proofs(SYSTEM.config(config), Replica)
    assert verdict.ok, verdict


@pytest.mark.parametrize("config", ["default", "five"])
def test_minority_quorums_are_disjoint(config: str) -> None:
    impl = SYSTEM.variant("minority-quorum").impl
    (verdict,) = SYSTEM.proofs(SYSTEM.config(config), impl)
    assert verdict.violated
    assert not set(verdict.witness["quorum_a"]) & set(verdict.witness["quorum_b"])


def test_configs_allow_for_drift_and_stalls() -> None:
    for config in (FIVE, DEFAULT):
        assert config.epsilon > 0 and config.max_pause > LEASE + 2 * config.epsilon
        assert set(config.faults) == {"drop", "duplicate", "crash", "partition", "pause", "skew"}
    assert sso.replica_ids(FIVE) == ("n1", "n2", "n3", "n4", "n5")
    assert sso.replica_ids(DEFAULT) == ("n1", "n2", "n3")


# --- progress, and the checks on hand-made facts ---------------------------------------------


class DeafMaster(Replica):
    """Does nothing useful: a master that never takes a write, and tells clients so."""

    def on_write(self, ctx: Any, src: str, msg: Write) -> None:
        ctx.send(src, sso.NotMaster(msg.req, None))


def test_a_cell_that_takes_no_writes_is_caught_by_progress() -> None:
    """Every safety check holds for a cell that does nothing; the progress check does not."""
    system = attrs.evolve(SYSTEM, variants={**SYSTEM.variants,
                                            "deaf": Variant("deaf", DeafMaster)})
    outcome = hunt(system, "deaf", DEFAULT, budget=Budget(runs=20), seed=0)
    assert outcome.violation is not None
    assert outcome.violation.verdict.invariant == "progress", outcome.violation.verdict


def blank(servers: int = 3) -> Simulation:
    return new_simulation(SYSTEM, "correct", attrs.evolve(DEFAULT, servers=servers), 0)


def note(sim: Simulation, time: int, node: str, kind: str, **fact: Any) -> None:
    sim.time = time
    sim.ghost.append((kind, time, node, fact))


def test_one_lease_holder_on_hand_made_grants() -> None:
    sim = blank()
    note(sim, 10, "n2", "lease-granted", master="n1", ballot=Ballot(1, "n1"), start=5)
    note(sim, 10 + LEASE, "n2", "promised", candidate="n3", ballot=Ballot(2, "n3"))
    assert sso.one_lease_holder.check(sim) == (
        f"n2 promised n3 at t={10 + LEASE}, while the lease it granted n1 at t=10 may run "
        f"until t={10 + LEASE}")
    sim = blank()
    note(sim, 10, "n2", "lease-granted", master="n1", ballot=Ballot(1, "n1"), start=5)
    note(sim, 11 + LEASE, "n2", "promised", candidate="n3", ballot=Ballot(2, "n3"))
    assert sso.one_lease_holder.check(sim) is None


def test_reads_within_lease_on_hand_made_grants() -> None:
    sim, ballot = blank(), Ballot(1, "n1")
    note(sim, 100, "n1", "lease-asked", ballot=ballot, start=90)
    for grantor in ("n1", "n2"):
        note(sim, 120, grantor, "lease-granted", master="n1", ballot=ballot, start=90)
    note(sim, 99 + LEASE, "n1", "lease-read", ballot=ballot)
    assert sso.reads_within_lease.check(sim) is None
    note(sim, 100 + LEASE, "n1", "lease-read", ballot=ballot)  # asked a whole lease ago
    assert "with only nobody granting" in sso.reads_within_lease.check(sim)


def test_chosen_on_majority_reads_the_votes_on_disk() -> None:
    sim, value = blank(), Write("c1", 1, "x", 7)
    for replica in ("n1", "n2"):
        sim.contexts[replica].storage.put("vote/0", (Ballot(1, "n1"), value))
    note(sim, 5, "n1", "chosen", slot=0, value=value)
    assert sso.chosen_on_majority.check(sim) is None
    sim = blank()
    sim.contexts["n1"].storage.put("vote/0", (Ballot(1, "n1"), value))
    sim.contexts["n2"].storage.put("vote/0", (Ballot(1, "n1"), value), synced=False)
    note(sim, 5, "n1", "chosen", slot=0, value=value)
    assert sso.chosen_on_majority.check(sim) == (
        "slot 0 was learned as Write(client='c1', req=1, key='x', value=7), but only n1 of "
        "n1, n2, n3 hold a vote for it on disk (t=5)")


def test_promises_kept_on_hand_made_votes() -> None:
    sim, value = blank(), Write("c1", 1, "x", 7)
    accept = Step(("deliver", "n1", "n2", 0), 20, None)
    note(sim, 10, "n2", "lease-granted", master="n3", ballot=Ballot(2, "n3"), start=5)
    sim.trace.append(Step(("fire", "n2", "tick"), 10))
    assert sso.promises_kept.check(sim) is None
    sim.contexts["n2"].storage.put("vote/0", (Ballot(2, "n3"), value))
    sim.trace.append(accept)
    assert sso.promises_kept.check(sim) is None  # at the ballot it promised
    sim.contexts["n3"].storage.put("vote/1", (Ballot(1, "n1"), value))  # n3 promised nothing
    sim.trace.append(attrs.evolve(accept, event=("deliver", "n1", "n3", 0)))
    assert sso.promises_kept.check(sim) is None
    sim.contexts["n2"].storage.put("vote/2", (Ballot(1, "n1"), value), synced=False)
    sim.trace.append(attrs.evolve(accept, event=("deliver", "n1", "n2", 1)))
    assert sso.promises_kept.check(sim) is None  # in the page cache only: a crash loses it
    sim.contexts["n2"].storage.put("vote/1", (Ballot(1, "n1"), value))
    sim.trace.append(Step(("restart", "n2"), 30))  # whichever step wrote it, after a crash too
    sim.time = 30
    assert sso.promises_kept.check(sim) == (
        "n2 voted under ballot 1.n1 in slot 1 at t=30, though it had granted n3 its lease "
        "under ballot 2.n3 at t=10")


def test_progress_judges_answers_by_content() -> None:
    sim = blank()
    sim.final_ops = []
    sim.history = [Event("c1", "invoke", "write", ("x", 1), 0), Event("c1", "ok", "write", None, 1),
                   Event("c2", "invoke", "read", ("y",), 2), Event("c2", "ok", "read", 1, 3)]
    verdict = sso.progress.check(sim)
    assert verdict.violated and "returned 1, never written to it" in verdict.explanation
    sim.history[2] = Event("c2", "invoke", "read", ("x",), 2)
    assert sso.progress.check(sim).ok


def heartbeat(sim: Simulation, master: str, replica: str, applied: int) -> LeaseRequest:
    """`master` asks at t=20, having learned slots 0..applied-1; the request reaches `replica`
    in the ending."""
    ballot = Ballot(1, master)
    for slot in range(applied):
        note(sim, 10, master, "chosen", slot=slot, value=None)
    note(sim, 20, master, "lease-asked", ballot=ballot, start=15)
    request = LeaseRequest(ballot, 15, applied)
    sim.trace.append(Step(("deliver", master, replica, 0), 30, request, "quiesce"))
    return request


def test_learners_catch_up_on_hand_made_heartbeats() -> None:
    sim = blank()
    heartbeat(sim, "n1", "n3", applied=2)
    note(sim, 30, "n3", "chosen", slot=1, value=None)
    assert sso.learners_catch_up.check(sim).explanation == (
        "n3 never learned slot 0, though at t=30, with every fault healed, it took a heartbeat "
        "from n1, which had applied slots 0..1 when it asked")
    note(sim, 30, "n3", "chosen", slot=0, value=None)
    assert sso.learners_catch_up.check(sim).ok


def test_learners_catch_up_excuses_a_replica_that_rejected_the_heartbeat() -> None:
    sim = blank()
    request = heartbeat(sim, "n1", "n3", applied=2)
    rejection = Rejected(request.ballot, Ballot(2, "n2"))
    sim.trace.append(Step(("deliver", "n3", "n1", 0), 30, rejection, "quiesce"))
    assert sso.learners_catch_up.check(sim).ok


def test_learners_catch_up_judges_only_the_ending() -> None:
    """A heartbeat before the ending may be followed by lost answers: not judged."""
    sim = blank()
    heartbeat(sim, "n1", "n3", applied=2)
    sim.trace[-1] = attrs.evolve(sim.trace[-1], phase="run")
    assert sso.learners_catch_up.check(sim).ok


class NeverCatchesUp(Replica):
    """A learner that misses a `Chosen` never asks the master for it."""

    def catch_up(self, ctx: Any, src: str, their_applied: int) -> None:
        pass


def test_a_cell_whose_learners_never_catch_up_is_caught() -> None:
    """Every other check holds when a replica misses a value: the master still answers."""
    system = attrs.evolve(SYSTEM, variants={**SYSTEM.variants,
                                            "lagging": Variant("lagging", NeverCatchesUp)})
    outcome = hunt(system, "lagging", SYSTEM.config("small"), budget=Budget(runs=40), seed=0)
    assert outcome.violation is not None
    assert outcome.violation.verdict.invariant == "learners-catch-up", outcome.violation.verdict


def test_applied_once_replays_each_replicas_log_on_hand_made_maps() -> None:
    """c1's write #1 is chosen again (a retry) after c2's write: it must not take effect."""
    sim = blank()
    log = [Write("c1", 1, "x", 10), Write("c2", 1, "x", 20), None, Write("c1", 1, "x", 10)]
    for slot, value in enumerate(log):
        note(sim, 5, "n1", "chosen", slot=slot, value=value)
    maps = {"n1": {"x": 20}, "n2": {}, "n3": {}}
    assert sso_checks.maps_match_logs(sim, ["n1", "n2", "n3"], maps.__getitem__).ok
    maps["n1"] = {"x": 10}
    assert sso_checks.maps_match_logs(sim, ["n1", "n2", "n3"], maps.__getitem__).explanation == (
        "n1 holds {'x': 10}, but its log, slots 0..3, applied with each client's write once and "
        "none after a later one of that client, gives {'x': 20}")


def test_applied_once_reads_the_replicas_maps() -> None:
    result = execute(SYSTEM, "correct", DEFAULT, 0, Script([], 2 * LEASE))
    assert sso.applied_once.check(result.sim).ok
    replica = result.sim.nodes["n2"]
    replica.kv.data = {**replica.kv.data, "x": -1}
    verdict = sso.applied_once.check(result.sim)
    assert verdict.violated and verdict.explanation.startswith("n2 holds {")


def redirect(sim: Simulation, time: int, replica: str, req: int) -> None:
    """c1's read #`req` reaches `replica` at `time`, which turns it away naming itself."""
    sim.trace.append(Step(("deliver", "c1", replica, req), time, sso.Read(req, "x")))
    sim.trace.append(Step(("deliver", replica, "c1", req), time, sso.NotMaster(req, replica)))


def test_honest_redirects_on_hand_made_terms_of_office() -> None:
    sim, ballot = blank(), Ballot(1, "n1")
    redirect(sim, 5, "n1", 1)  # before n1 ever took office
    assert sso.honest_redirects.check(sim).explanation == (
        "n1 told c1 it was master (request 1, asked at t=5), but it held no office then")
    sim = blank()
    note(sim, 10, "n1", "lease-asked", ballot=ballot, start=8)
    redirect(sim, 20, "n1", 1)
    assert sso.honest_redirects.check(sim).ok
    sim.trace.append(Step(("deliver", "n2", "n1", 0), 30, Rejected(ballot, Ballot(2, "n2"))))
    redirect(sim, 40, "n1", 2)  # deposed at t=30
    assert sso.honest_redirects.check(sim).explanation == (
        "n1 told c1 it was master (request 2, asked at t=40), but it held no office then")


def test_honest_redirects_ends_a_term_with_a_higher_promise_or_a_crash() -> None:
    for deposed in ("promise", "crash"):
        sim = blank()
        note(sim, 10, "n1", "lease-asked", ballot=Ballot(1, "n1"), start=8)
        if deposed == "promise":
            note(sim, 30, "n1", "promised", candidate="n2", ballot=Ballot(2, "n2"))
        else:
            sim.trace.append(Step(("crash", "n1"), 30))
        redirect(sim, 30, "n1", 1)  # the same tick: the benefit of the doubt
        assert sso.honest_redirects.check(sim).ok, deposed
        redirect(sim, 31, "n1", 2)
        assert sso.honest_redirects.check(sim).violated, deposed


def lease_asked_and_granted(sim: Simulation, time: int, ballot: Ballot) -> None:
    """n1 asks at `time` under `ballot`; n1 and n2 (a majority of three) grant at once."""
    note(sim, time, "n1", "lease-asked", ballot=ballot, start=time - 5)
    for grantor in ("n1", "n2"):
        note(sim, time, grantor, "lease-granted", master="n1", ballot=ballot, start=time - 5)


def test_lease_renewed_on_hand_made_grants_in_the_ending() -> None:
    sim, ballot = blank(), Ballot(1, "n1")
    sim.trace.append(Step(("heal",), 100, None, "quiesce"))
    lease_asked_and_granted(sim, 100, ballot)
    sim.time = 100 + LEASE + 50  # the run ends a while after the lease ran out
    assert sso.lease_renewed.check(sim).explanation == (
        f"n1's lease under ballot 1.n1 ran out at t={100 + LEASE}, after a majority had granted "
        f"it in the ending, and it held office until t={100 + LEASE + 50} without renewing it")
    lease_asked_and_granted(sim, 100 + LEASE - 1, ballot)  # renewed in time
    sim.time = 100 + LEASE + 50
    assert sso.lease_renewed.check(sim).ok


def test_lease_renewed_excuses_a_lost_office_and_a_pause() -> None:
    sim, ballot = blank(), Ballot(1, "n1")
    sim.trace.append(Step(("pause", "n1", 2 * LEASE), 0))
    sim.trace.append(Step(("heal",), 100, None, "quiesce"))
    lease_asked_and_granted(sim, 100, ballot)
    sim.time = 2 * LEASE
    assert sso.lease_renewed.check(sim).ok  # its timers waited out the pause
    sim.trace[0] = Step(("pause", "n1", 1), 0)
    assert sso.lease_renewed.check(sim).violated
    rejection = Rejected(ballot, Ballot(2, "n2"))
    sim.trace.append(Step(("deliver", "n2", "n1", 0), 100 + LEASE, rejection, "quiesce"))
    assert sso.lease_renewed.check(sim).ok  # deposed as its lease ran out


def test_lease_renewed_excuses_grants_made_before_the_grantors_restart() -> None:
    """n2 granted as the ending began, then crashed and restarted in the same instant: it
    supports nobody for a lease, so the master cannot renew that lease in time."""
    sim, ballot = blank(), Ballot(1, "n1")
    sim.trace.append(Step(("heal",), 100, None, "quiesce"))
    lease_asked_and_granted(sim, 100, ballot)
    sim.time = 100 + LEASE + 50
    assert sso.lease_renewed.check(sim).violated
    sim.trace += [Step(("crash", "n2"), 100), Step(("restart", "n2"), 100, None, "quiesce")]
    assert sso.lease_renewed.check(sim).ok


def test_honest_redirects_starts_a_new_term_under_a_reused_ballot() -> None:
    """A proposer that forgot its ballots (a seeded bug) may take office again under one."""
    sim, ballot = blank(), Ballot(1, "n1")
    note(sim, 10, "n1", "lease-asked", ballot=ballot, start=8)
    sim.trace.append(Step(("crash", "n1"), 20))
    note(sim, 40, "n1", "lease-asked", ballot=ballot, start=38)
    redirect(sim, 30, "n1", 1)
    assert sso.honest_redirects.check(sim).violated
    del sim.trace[-2:]  # the redirect at t=30
    redirect(sim, 50, "n1", 1)
    assert sso.honest_redirects.check(sim).ok


# --- at rest (issue #23) ----------------------------------------------------------------------


class StandsWhenItsWaitEnds(Replica):
    """Issue #23's defect: a master's lease request does not keep the replica quiet, so one
    that waits out its restart stands as soon as the wait ends, between two requests."""

    def heard_from_master(self, ctx: Any, master: str, applied: int) -> None:
        self.master_hint = master
        self.candidacies = 0
        if master != self.id:
            self.arm_election(ctx)
            self.catch_up(ctx, master, applied)


def test_a_restarted_follower_rejoins_at_rest_without_deposing_the_master() -> None:
    """A follower crashed just before the ending supports nobody for a lease after its
    restart; at rest it must then grant the master's next request, not stand."""
    system = attrs.evolve(SYSTEM, variants={
        **SYSTEM.variants, "stands": Variant("stands", StandsWhenItsWaitEnds)})
    crashed, caught = [("crash", "n2")], 0
    for seed in range(10):
        fixed = execute(system, "correct", DEFAULT, seed, Replay(crashed))
        assert fixed.verdict.ok, fixed.verdict
        began = fixed.sim.rest_began()
        assert began is not None and fixed.sim.time >= began + 2 * LEASE - sso.TICK
        assert any(kind == "lease-granted" and node == "n2" and time > began
                   for kind, time, node, _ in fixed.sim.ghost)  # it rejoined
        defect = execute(system, "stands", DEFAULT, seed, Replay(crashed))
        if defect.violated:
            assert defect.verdict.invariant == "master-kept-at-rest", defect.verdict
            caught += 1
    assert caught >= 3  # unless a request happens to come just as its wait ends


def test_master_kept_at_rest_sees_a_term_end_at_any_step() -> None:
    """A term of office ends on a promise of a higher ballot, noted at whatever step: here
    the master's own, at one of its timers (it stood again), with no message delivered."""
    result = execute(SYSTEM, "correct", DEFAULT, 0, Replay([]))
    sim = result.sim
    assert result.verdict.ok and sim.rest_began() is not None, result.verdict
    (master,) = [n for n in sim.servers if sim.nodes[n].role == MASTER]
    ballot = sim.nodes[master].ballot
    assert sso.master_kept_at_rest.check(sim) is None
    higher = Ballot(ballot.round + 1, master)
    note(sim, sim.time, master, "promised", candidate=master, ballot=higher)
    sim.trace.append(Step(("fire", master, "election"), sim.time, None, "quiesce"))
    assert f"{master} held office under ballot {ballot}" in sso.master_kept_at_rest.check(sim)


def promise(sim: Simulation, time: int, replica: str, candidate: str, ballot: int) -> Any:
    """`replica` notes a promise at `time`; what `backs-one-candidate` says after that step
    (it reads the replica's clock as each note is made)."""
    note(sim, time, replica, "promised", candidate=candidate, ballot=Ballot(ballot, candidate))
    return sso.backs_one_candidate.check(sim)


def test_backs_one_candidate_on_hand_made_promises() -> None:
    """A promise to another candidate, n1 itself included, within a candidacy of the
    replica's own clock is a duel; the same candidate again, or after a candidacy, is not."""
    sim = blank()
    assert promise(sim, 10, "n1", "n2", 1) is None
    assert promise(sim, 100, "n1", "n2", 2) is None  # still n2, backed anew
    assert promise(sim, 99 + CANDIDACY, "n1", "n1", 3) == (
        f"n1 promised itself (ballot 3.n1) at t={99 + CANDIDACY}, {CANDIDACY - 1} ticks of its "
        f"clock after it promised n2 (t=100), which it backs for {CANDIDACY}")
    sim = blank()
    assert promise(sim, 10, "n1", "n2", 1) is None
    assert promise(sim, 10 + CANDIDACY, "n1", "n3", 2) is None


def test_backs_one_candidate_counts_the_replicas_own_clock() -> None:
    """The backing is the replica's own timeout: a clock set forward ends it sooner in true
    time, one set back later."""
    sim = blank()
    assert promise(sim, 10, "n1", "n2", 1) is None
    sim.contexts["n1"].offset = 100
    assert promise(sim, 60, "n1", "n1", 2) is None  # its clock read 160
    sim = blank()
    assert promise(sim, 10, "n1", "n2", 1) is None
    sim.contexts["n1"].offset = -100
    assert "90 ticks of its clock after it promised n2" in promise(sim, 200, "n1", "n1", 2)


class BacksNobody(Replica):
    """A test-only mutant: a replica that promised a candidate neither refuses the next one
    nor puts off its own candidacy (the backing left out of `on_prepare`)."""

    def on_prepare(self, ctx: Any, src: str, msg: Prepare) -> None:
        before = self.promised
        super(Replica, self).on_prepare(ctx, src, msg)
        if before != self.promised == msg.ballot:
            ctx.note("promised", candidate=src, ballot=msg.ballot)


def test_a_replica_that_backs_nobody_duels() -> None:
    """Without the backing, a replica that promised one candidate promises the next that asks
    with a higher ballot (here in the same tick), or stands itself when its own election timer
    fires: the candidate it just promised is deposed."""
    system = attrs.evolve(SYSTEM, variants={
        **SYSTEM.variants, "backs-nobody": Variant("backs-nobody", BacksNobody)})
    outcome = hunt(system, "backs-nobody", DEFAULT, budget=Budget(runs=20), seed=0)
    assert outcome.violation is not None
    verdict = outcome.violation.verdict
    assert verdict.invariant == "backs-one-candidate", verdict
    assert hunt(system, "correct", DEFAULT, budget=Budget(runs=20), seed=0).violation is None


@pytest.mark.parametrize("name, replica, outsider", [
    ("chubby", "n2", "fs"), ("borg", "bm2", "sched"), ("mesa", "vdb2", "committer"),
    ("photon", "r2", "j1"), ("spanner", "b2", None)])
def test_cells_built_on_sso_hold_their_replicas_to_one_candidate(
        name: str, replica: str, outsider: str | None) -> None:
    """The systems whose cells are SSO's replicas, elected by its rules, register
    `backs-one-candidate` with SSO's candidacy over their cell's replicas, and no other node."""
    system = registry.lookup(name)
    check = next(i.check for i in system.invariants if i.name == "backs-one-candidate")
    sim = new_simulation(system, "correct", system.config("default"), 0)
    for node in filter(None, (outsider, replica)):
        note(sim, 10, node, "promised", candidate="x", ballot=Ballot(1, "x"))
    assert check(sim) is None
    if outsider is not None:  # not a replica of the cell: not judged
        note(sim, 9 + CANDIDACY, outsider, "promised", candidate=outsider,
             ballot=Ballot(2, outsider))
        assert check(sim) is None
    note(sim, 9 + CANDIDACY, replica, "promised", candidate=replica, ballot=Ballot(2, replica))
    assert check(sim) == (
        f"{replica} promised itself (ballot 2.{replica}) at t={9 + CANDIDACY}, "
        f"{CANDIDACY - 1} ticks of its clock after it promised x (t=10), which it backs for "
        f"{CANDIDACY}")


def steady_cell_loses_a_round(system_name: str, seed: int) -> tuple[Simulation, int]:
    """A steady cell, all of one round of master-lease requests lost at t=1000, then 3,000
    ticks of deliveries and timers in due order: the Simulation and when the round was lost."""
    from checker import registry

    system = registry.lookup(system_name)
    sim = new_simulation(system, "correct", system.config("default"), seed)
    sim.start()
    lost_at = None
    while sim.time < 4000:
        requests = [e.key for e in sim.network if type(e.msg).__name__ == "LeaseRequest"]
        if lost_at is None and sim.time >= 1000 and requests:
            for key in requests:
                sim.execute(("drop", *key))
            lost_at = sim.time
        elif sim.ready():
            sim.execute(next(iter(sim.ready())))
        else:
            sim.execute(sim.enabled("fire")[0])
    assert lost_at is not None
    return sim, lost_at


@pytest.mark.parametrize("system_name", ["sso", "chubby", "borg"])
def test_one_lost_renewal_round_does_not_depose_the_master(system_name: str) -> None:
    """Chubby and Borg renew every 200 ticks: a master must ask again well before the lease
    of its last renewal runs out (Mesa's versions database once lost its master this way)."""
    for seed in range(3):
        sim, lost_at = steady_cell_loses_a_round(system_name, seed)
        ballots = {step.detail.ballot for step in sim.trace if step.event[0] == "deliver"
                   and type(step.detail).__name__ == "Prepare"}
        assert len(ballots) == 1, (seed, lost_at, sorted(ballots))  # the first election only
