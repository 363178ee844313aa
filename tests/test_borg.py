"""Borg: the correct cell survives the hunt and one that does nothing does not; each seeded
bug is found by its invariant and replays; bugs nobody seeded are caught too; scripted
schedules show a machine cut off, marked down, rescheduled and told to kill its copies on
its return, and a preemption whose victim z3 proves unplaceable; the scheduler, the cell's
admission control, the model's rules and z3's judgement behave on hand-made inputs."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import attrs
import pytest

import implementations
from checker.node import Context
from checker.run import execute, new_simulation
from checker.sim import Simulation
from checker.strategies import RandomWalk, Replay
from checker.system import Config, System, Variant
from implementations.borg import SYSTEM, Roles, build, checks, deployment
from implementations.borg.borglet import Borglet
from implementations.borg.borgmaster import Borgmaster, ReconnectNoKill
from implementations.borg.cell import Cell, Task
from implementations.borg.messages import Assign, Job, Placement, Poll, Reserve, Submit
from implementations.borg.scheduler import Placer
from invariants.history import FAIL, OK
from models.borg import (
    CellModel,
    JobSpec,
    Judge,
    MachineSpec,
    overcommit_problem,
    policy_problem,
    preemption_problem,
    quota_problem,
    spread_problem,
)

DEFAULT, SMALL = SYSTEM.config("default"), SYSTEM.config("small")
BEST, WORST = SYSTEM.config("best-fit"), SYSTEM.config("worst-fit")


def walk(variant: str, seed: int, config: Config = DEFAULT, system: System = SYSTEM) -> Any:
    return execute(system, variant, config, seed, RandomWalk(seed, config.max_pause))


def with_roles(roles: Roles) -> System:
    return attrs.evolve(SYSTEM, variants={"mutant": Variant("mutant", roles)})


def first_violation(system: System, seeds: int, variant: str = "mutant") -> Any:
    return next((r for r in (walk(variant, seed, DEFAULT, system) for seed in range(seeds))
                 if r.violated), None)


# --- the hunt --------------------------------------------------------------------------------


def test_registered() -> None:
    assert SYSTEM in implementations.registered()


@pytest.mark.parametrize("config, runs", [(DEFAULT, 60), (SMALL, 40), (BEST, 20), (WORST, 20)],
                         ids=["default", "small", "best-fit", "worst-fit"])
def test_correct_variant_survives_the_hunt(config: Config, runs: int) -> None:
    for seed in range(runs):
        result = walk("correct", seed, config)
        assert result.verdict.ok, (seed, result.verdict)


@pytest.mark.parametrize("variant", ["reconnect-no-kill", "stale-cache-assign",
                                     "same-band-preemption"])
def test_seeded_bug_is_caught_by_its_invariant_and_replays(variant: str) -> None:
    found = first_violation(SYSTEM, 200, variant)
    assert found is not None
    assert found.verdict.invariant == SYSTEM.variant(variant).caught_by, found.verdict
    again = execute(SYSTEM, variant, DEFAULT, found.seed, Replay(found.choices))
    assert again.sim.fingerprint() == found.sim.fingerprint()
    assert again.verdict.invariant == found.verdict.invariant


class DeafMaster(Borgmaster):
    """Drops every message: no master is ever elected, no job admitted."""

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        pass


class DeafBorglet(Borglet):
    """Drops every poll: no task ever starts."""

    def on_message(self, ctx: Context, src: str, msg: Any) -> None:
        pass


@pytest.mark.parametrize("roles", [Roles(master=DeafMaster), Roles(borglet=DeafBorglet)],
                         ids=["borgmaster", "borglets"])
def test_a_cell_that_does_nothing_is_reported(roles: Roles) -> None:
    for seed in range(3):
        verdict = walk("mutant", seed, DEFAULT, with_roles(roles)).verdict
        assert verdict.violated and verdict.invariant == "progress-at-quiescence", verdict


class PlacesNothing(Placer):
    def schedule(self, cell: Cell) -> tuple[list[Placement], list[str]]:
        return [], [t.name for t in cell.tasks.values() if t.pending]


def test_a_scheduler_that_places_nothing_is_judged_by_z3() -> None:
    verdict = walk("mutant", 0, DEFAULT, with_roles(Roles(placer=PlacesNothing))).verdict
    assert verdict.violated and verdict.invariant == "pending-truly-unplaceable", verdict
    assert "it had a placement" in verdict.explanation


# --- bugs nobody seeded ----------------------------------------------------------------------


class NeverPreempts(Placer):
    def may_preempt(self, task: Task, victim: Task) -> bool:
        return False


class IgnoresRacks(Placer):
    def score(self, cell: Cell, task: Task, placement: Placement) -> tuple:
        preempted, *_, policy, machine, alloc = super().score(cell, task, placement)
        return preempted, policy, machine, alloc


class NoQuota(Cell):
    def quota_problem(self, job: Job) -> str | None:
        return None


class EvictsHighestFirst(Borglet):
    """Evicts the highest priorities first, prod tasks among them."""

    def evict_until_it_fits(self, ctx: Context) -> None:
        for key in sorted(self.tasks, key=lambda k: -self.tasks[k].spec.priority):
            spec = self.tasks[key].spec
            if self.fits():
                return
            if spec.alloc is None and not spec.is_alloc:
                del self.tasks[key]
                self.evicted[key] = None
                ctx.note("evicted", task=key[0], incarnation=key[1])


class ConfirmsKillsAtOnce(Borgmaster):
    """Takes a task being killed for dead at the first report, whatever it shows."""

    def on_report(self, ctx: Context, machine: str, report: Any) -> None:
        super().on_report(ctx, machine, attrs.evolve(report, running=tuple(
            r for r in report.running
            if not any(t.killing for t in self.cell.on_machine(machine) if t.name == r[0]))))


@pytest.mark.parametrize("roles, invariant", [
    (Roles(placer=NeverPreempts), "pending-truly-unplaceable"),
    (Roles(placer=IgnoresRacks), "spread-when-feasible"),
    (Roles(cell=NoQuota), "quota-respected"),
    (Roles(borglet=EvictsHighestFirst), "evicts-non-prod-first"),
    (Roles(master=ConfirmsKillsAtOnce), "one-incarnation-per-task"),
], ids=["never-preempts", "ignores-racks", "no-quota", "evicts-highest-first",
        "confirms-kills-at-once"])
def test_a_bug_nobody_seeded_is_caught(roles: Roles, invariant: str) -> None:
    found = first_violation(with_roles(roles), 60)
    assert found is not None and found.verdict.invariant == invariant, found and found.verdict


def test_the_borgmaster_quorums_intersect() -> None:
    assert all(proof.ok for proof in SYSTEM.proofs(DEFAULT, Roles()))


# --- scripted schedules ----------------------------------------------------------------------


def cluster_sim(workload: dict[str, list], roles: Roles = Roles()) -> Simulation:
    cluster = build(DEFAULT, roles, random.Random(0))
    cluster.workload = workload
    sim = Simulation(cluster, 0, 0, {"partition": 10})
    sim.start()
    return sim


def run_until(sim: Simulation, done: Callable[[checks.Facts], bool],
              steps: int = 5000) -> str | None:
    """Invoke, deliver in send order, fire timers when nothing else can happen, checking the
    state invariants after every step; stop once `done` holds of the facts (None), or at the
    first violation (its sentence)."""
    for _ in range(steps):
        if done(checks.facts(sim)):
            return None
        event = (sim.enabled("invoke") or sim.enabled("deliver") or sim.enabled("fire"))[0]
        sim.execute(event)
        for invariant in SYSTEM.invariants:
            if invariant.kind == "state" and (sentence := invariant.check(sim)):
                return sentence
    raise AssertionError("no progress")


def runs(known: checks.Facts, task: str) -> list[str]:
    return [m for m, tasks in known.running.items() if any(t == task for t, _ in tasks)]


def polls_to(sim: Simulation, machine: str) -> list[Poll]:
    return [step.detail for step in sim.trace
            if step.event[0] == "deliver" and step.event[2] == machine
            and isinstance(step.detail, Poll)]


@pytest.mark.parametrize("master", [Borgmaster, ReconnectNoKill], ids=["correct", "no-kill"])
def test_a_machine_cut_off_is_marked_down_and_told_to_kill_on_return(master: type) -> None:
    sim = cluster_sim({"c1": [("submit", (Job("j1", "c1", 200, 1, 4, 8),))]},
                      Roles(master=master))
    assert run_until(sim, lambda known: runs(known, "j1/0")) is None
    machine = runs(checks.facts(sim), "j1/0")[0]
    sim.execute(("partition", (machine,)))
    assert run_until(sim, lambda known: machine in known.model.down
                     and len(runs(known, "j1/0")) == 2) is None
    sim.execute(("heal",))
    outcome = run_until(sim, lambda known: machine not in known.model.down
                        and runs(known, "j1/0") != [machine])
    if master is ReconnectNoKill:
        assert outcome and outcome.startswith(f"{machine} runs j1/0#1")
        return
    assert outcome is None
    assert any(poll.kill == (("j1/0", 1),) for poll in polls_to(sim, machine))
    assert runs(checks.facts(sim), "j1/0") != [machine]  # one incarnation, elsewhere


def idle(sim: Simulation) -> bool:
    return sim.clients_idle() and not sim.enabled("invoke")


def test_a_preempted_task_that_fits_nowhere_is_proved_unplaceable() -> None:
    sim = cluster_sim({"c1": [("submit", (Job("b1", "c1", 100, 2, 8, 8),))],
                       "c2": [("submit", (Job("b2", "c2", 100, 2, 8, 8),))]})
    assert run_until(sim, lambda known: sum(map(len, known.running.values())) == 4) is None
    sim.workload["c1"].append(("submit", (Job("p", "c1", 200, 1, 4, 4),)))
    assert run_until(sim, lambda known: "p/0" in known.model.placed) is None
    known = checks.facts(sim)
    machine = known.model.placed["p/0"].machine
    victim = next(t for t, w in known.model.placed.items() if w.machine == machine and w.killing)
    assert run_until(sim, lambda known: victim in known.model.pending) is None
    sim.workload["c1"].append(("status", ()))
    assert run_until(sim, lambda known: idle(sim) and known.history_read == len(sim.history)) \
        is None
    status = [op for op in sim.operations() if op.f == "status"]
    assert status[0].status == OK and (victim, None) in status[0].result
    verdict = checks.pending_truly_unplaceable.check(sim)
    assert verdict.ok and "unplaceable" in verdict.explanation


def test_admission_control_rejects_a_job_over_quota() -> None:
    sim = cluster_sim({"c1": [("submit", (Job("j1", "c1", 200, 2, 8, 8),)),
                              ("submit", (Job("j2", "c1", 200, 1, 2, 2),)),
                              ("submit", (Job("j3", "c1", 0, 4, 8, 16),))]})
    assert run_until(sim, lambda known: idle(sim)) is None
    assert [(e.type, e.value) for e in sim.history if e.type != "invoke"] == [
        (OK, "admitted"), (FAIL, "rejected: over c1's production quota of 16 cpu 32 GiB"),
        (OK, "admitted")]  # best effort is free


# --- the scheduler and the cell, by hand -------------------------------------------------------


def hand_cell(jobs: list[Job], placed: dict[str, str]) -> Cell:
    cell = Cell(deployment(DEFAULT))
    for job in jobs:
        cell.apply(Submit(job.user, 1, job))
    cell.apply(Assign(0, tuple(Placement(t, 1, m) for t, m in placed.items())))
    return cell


def test_the_scheduler_spreads_a_job_across_racks() -> None:
    cell = hand_cell([Job("j1", "c1", 200, 2, 2, 4)], {})
    placements, pending = Placer("hybrid").schedule(cell)
    racks = {cell.deployment.machine(p.machine).rack for p in placements}
    assert len(placements) == 2 and racks == {"r1", "r2"} and not pending


def test_the_scheduler_preempts_only_a_lower_band() -> None:
    jobs = [Job("b", "c2", 100, 2, 8, 8), Job("q", "c1", 200, 2, 8, 8),
            Job("p", "c2", 250, 2, 6, 6)]
    cell = hand_cell(jobs, {"b/0": "m1", "b/1": "m2", "q/0": "m3", "q/1": "m4"})
    placements, pending = Placer("hybrid").schedule(cell)
    assert [p.victims for p in placements] == [("b/0",), ("b/1",)] and pending == []


def test_the_policies_pack_differently() -> None:
    cell = hand_cell([Job("a", "c1", 200, 1, 6, 6), Job("x", "c2", 200, 1, 2, 2)], {"a/0": "m1"})
    task = cell.tasks["x/0"]
    assert Placer("best-fit").place(cell, task).machine == "m1"  # the fullest
    assert Placer("worst-fit").place(cell, task).machine == "m2"  # an empty one, same rack
    # hybrid: m1 would be left with 0 cpu and 8 GiB (RAM stranded); m2 balanced
    assert Placer("hybrid").place(cell, task).machine == "m2"


def test_a_non_prod_task_fits_into_reclaimed_resources_and_a_prod_one_does_not() -> None:
    cell = hand_cell([Job("a", "c1", 200, 1, 8, 16)], {"a/0": "m1"})
    cell.apply(Reserve((("a/0", 1, (3, 5)),)))
    batch = Task(Job("b", "c1", 100, 1, 4, 8), 0)
    prod = Task(Job("p", "c1", 200, 1, 4, 8), 0)
    assert cell.placement_problem(batch, "m1", None, ()) is None
    assert "holds 8 cpu 16 GiB" in cell.placement_problem(prod, "m1", None, ())


# --- the model's rules and z3 ----------------------------------------------------------------

MACHINES = [MachineSpec("m1", "r1", (8, 16), ()), MachineSpec("m2", "r1", (8, 16), ("ssd",)),
            MachineSpec("m3", "r2", (8, 16), ()), MachineSpec("m4", "r2", (8, 16), ("ssd",))]


def model_of(jobs: list[JobSpec], placed: dict[str, str]) -> CellModel:
    model = CellModel(MACHINES, {("c1", 2): (16, 32)})
    for job in jobs:
        assert model.admit(job) is None
    for task, machine in placed.items():
        assert model.place(task, 1, machine, None, ()) is None
    return model


def spec(name: str, priority: int, tasks: int, limit: tuple[int, int], **more: Any) -> JobSpec:
    return JobSpec(name, "c1", priority, tasks, limit, **more)


def test_quota_and_preemption_rules() -> None:
    model = model_of([spec("a", 200, 2, (6, 8))], {})
    assert quota_problem(model, spec("b", 200, 1, (4, 8)), admitted=True) is None
    assert "quota is 16 cpu 32 GiB, 12 cpu 16 GiB in use" in \
        quota_problem(model, spec("b", 200, 1, (6, 8)), admitted=True)
    assert "within quota" in quota_problem(model, spec("b", 200, 1, (4, 8)), admitted=False)
    assert quota_problem(model, spec("b", 0, 9, (8, 16)), admitted=True) is None  # free band
    assert preemption_problem("p/0", spec("p", 250, 1, (1, 1)), "q/0", spec("q", 100, 1, (1, 1))) \
        is None
    assert "(production, priority 250) preempted q/0 (production, priority 200)" in \
        preemption_problem("p/0", spec("p", 250, 1, (1, 1)), "q/0", spec("q", 200, 1, (1, 1)))


def test_overcommit_counts_prod_limits_and_alloc_interiors() -> None:
    prod, batch = spec("p", 200, 1, (6, 8)), spec("b", 100, 1, (6, 8))
    big, alloc = spec("a", 200, 1, (4, 4), is_alloc=True), spec("a", 200, 1, (2, 4), is_alloc=True)
    inside = spec("i", 200, 2, (1, 3), alloc="a")
    assert overcommit_problem(MACHINES[0], {"p/0": (prod, None), "b/0": (batch, None)}) is None
    assert "over its capacity 8 cpu 16 GiB" in overcommit_problem(
        MACHINES[0], {"p/0": (prod, None), "a/0": (big, None)})
    assert "alloc a/0 on m1 holds tasks whose limits add up to 2 cpu 6 GiB, over its 2 cpu 4 GiB" \
        in overcommit_problem(MACHINES[0], {"a/0": (alloc, None), "i/0": (inside, "a/0"),
                                            "i/1": (inside, "a/0")})


def test_spreading_is_judged_against_the_racks_with_room() -> None:
    model = model_of([spec("j", 200, 2, (4, 4)), spec("f", 200, 2, (8, 16))],
                     {"j/0": "m1", "f/0": "m3"})
    assert "m4 in r2, holding 0, had room" in spread_problem(model, "j/1", "m2")
    model.place("f/1", 1, "m4", None, ())  # r2 full: r1 is all that is left
    assert spread_problem(model, "j/1", "m2") is None


def test_the_policy_is_judged_against_the_machines_as_spread() -> None:
    model = model_of([spec("a", 200, 1, (6, 6)), spec("x", 200, 1, (2, 2))], {"a/0": "m1"})
    # m1 would keep 0 of its cpu and 1/2 of its RAM; an empty machine 3/4 and 7/8
    assert "x/0 was placed on m1, leaving 0 of its cpu and 1/2 of its RAM free, while m2, " \
           "as spread, would have left 3/4 of its cpu and 7/8 of its RAM, which hybrid " \
           "prefers" == policy_problem(model, "x/0", "m1", "hybrid")
    assert policy_problem(model, "x/0", "m3", "hybrid") is None  # ties m2 and m4
    assert policy_problem(model, "x/0", "m1", "best-fit") is None
    assert "m1, as spread, would have left 0 of its cpu" in \
        policy_problem(model, "x/0", "m2", "best-fit")
    assert policy_problem(model, "x/0", "m4", "worst-fit") is None
    assert "which worst-fit prefers" in policy_problem(model, "x/0", "m1", "worst-fit")
    spread = model_of([spec("j", 200, 2, (2, 2))], {"j/0": "m1"})
    assert policy_problem(spread, "j/1", "m3", "best-fit") is None  # m1's rack holds j/0


def test_z3_finds_a_placement_through_preemption_and_proves_none_exists() -> None:
    batch, prod = spec("b", 100, 4, (6, 8)), spec("q", 200, 4, (6, 8))
    model = model_of([batch, spec("p", 200, 1, (4, 4))], {f"b/{i}": f"m{i + 1}" for i in range(4)})
    answer = Judge(1_000_000).ask(model, "p/0")
    assert answer.placement == "m1 after preempting b/0: 0 cpu 0 GiB held + 4 cpu 4 GiB asked " \
                              "<= 8 cpu 16 GiB"
    full = model_of([prod, spec("p", 250, 1, (4, 4))], {f"q/{i}": f"m{i + 1}" for i in range(4)})
    assert Judge(1_000_000).ask(full, "p/0").placement is None  # no lower band to preempt


def test_z3_counts_reservations_for_non_prod_and_honours_constraints() -> None:
    model = model_of([spec("q", 200, 4, (6, 8)), spec("b", 100, 1, (4, 4)),
                      spec("s", 0, 1, (1, 1), constraint="gpu")],
                     {f"q/{i}": f"m{i + 1}" for i in range(4)})
    for i in range(4):
        model.reserve(f"q/{i}", 1, (3, 5))
    assert Judge(1_000_000).ask(model, "b/0").placement.startswith("m1: 3 cpu 5 GiB held")
    assert Judge(1_000_000).ask(model, "s/0").placement is None


# --- the invariants on hand-made records --------------------------------------------------------


def hand_made(jobs: list[Job]) -> Simulation:
    sim = new_simulation(SYSTEM, "correct", DEFAULT, 0)
    sim.start()
    for slot, job in enumerate(jobs):
        sim.record(job.user, "invoke", "submit", (job,))
        sim.ghost.append(("cell", 0, "bm1", {"slot": slot, "index": 0,
                                             "event": ("admitted", job)}))
    return sim


def place(sim: Simulation, slot: int, task: str, machine: str, victims: tuple = ()) -> None:
    sim.ghost.append(("cell", 0, "bm1", {"slot": slot, "index": 0,
                                         "event": ("placed", task, 1, machine, None, victims)}))


def borglet_runs(sim: Simulation, machine: str, *tasks: str) -> None:
    sim.ghost.append(("running", 0, machine, {"tasks": tuple((t, 1, None, (1, 1))
                                                             for t in tasks)}))


def test_one_incarnation_per_task_catches_a_copy_the_cell_did_not_place() -> None:
    sim = hand_made([Job("j1", "c1", 200, 1, 2, 2)])
    place(sim, 1, "j1/0", "m1")
    borglet_runs(sim, "m1", "j1/0")
    assert checks.one_incarnation_per_task.check(sim) is None
    borglet_runs(sim, "m3", "j1/0")
    assert "m3 runs j1/0#1 at t=0, but the cell has j1/0 #1 on m1; j1/0#1 on m1 runs too" == \
        checks.one_incarnation_per_task.check(sim)


def test_no_prod_overcommit_reads_what_the_borglets_run() -> None:
    sim = hand_made([Job("j1", "c1", 200, 1, 6, 8), Job("j2", "c2", 200, 1, 6, 8)])
    borglet_runs(sim, "m2", "j1/0", "j2/0")
    assert "m2 runs prod tasks whose limits add up to 12 cpu 16 GiB" in \
        checks.no_prod_overcommit.check(sim)


def test_preemption_and_quota_are_judged_on_the_cells_decisions() -> None:
    sim = hand_made([Job("j1", "c1", 200, 1, 6, 8), Job("j2", "c1", 250, 1, 6, 8)])
    place(sim, 2, "j1/0", "m1")
    place(sim, 3, "j2/0", "m1", victims=("j1/0",))
    assert "j2/0 (production, priority 250) preempted j1/0" in \
        checks.preemption_only_lower_band.check(sim)
    over = hand_made([Job("j1", "c1", 200, 2, 8, 8), Job("j2", "c1", 200, 1, 2, 2)])
    assert "j2 was admitted, asking 2 cpu 2 GiB, but c1's production quota is 16 cpu 32 GiB" \
        in checks.quota_respected.check(over)


def ask_to_kill(sim: Simulation, job: str, status: str, answer: str) -> str | None:
    """c1, its submissions answered, asks to kill `job` and is told `answer`."""
    sim.record("c1", "invoke", "kill", (job,))
    sim.record("c1", status, "kill", answer)
    return checks.kills_answered_as_decided.check(sim)


def test_a_kill_is_refused_only_while_the_cell_has_a_reason() -> None:
    sim = hand_made([Job("j1", "c1", 200, 1, 2, 2)])
    sim.record("c1", OK, "submit", "admitted")
    assert ask_to_kill(sim, "j9", FAIL, "no job j9") is None
    assert "c1's kill of j1 was refused (jobs still run in j1, t=0), but j1 ran, with no job " \
           "in it, all the while" == ask_to_kill(sim, "j1", FAIL, "jobs still run in j1")


def test_a_kill_is_refused_while_a_job_runs_in_the_alloc_and_granted_once_decided() -> None:
    alloc = Job("a1", "c1", 200, 1, 4, 8, is_alloc=True)
    sim = hand_made([alloc, Job("j2", "c1", 200, 1, 1, 2, alloc="a1")])
    sim.record("c1", OK, "submit", "admitted")
    assert ask_to_kill(sim, "a1", FAIL, "jobs still run in a1") is None
    sim.record("c1", "invoke", "kill", ("j2",))
    sim.ghost.append(("cell", 0, "bm1", {"slot": 2, "index": 0, "event": ("killed", "j2")}))
    sim.record("c1", OK, "kill", "killed")
    assert checks.kills_answered_as_decided.check(sim) is None
    assert "c1 was told a1 was killed (t=0), but the cell did not kill it" == \
        ask_to_kill(sim, "a1", OK, "killed")


@pytest.mark.parametrize("tampered", [False, True])
def test_replicas_match_model_compares_each_replicas_cell(tampered: bool) -> None:
    job = Job("j1", "c1", 200, 1, 2, 2)
    sim = hand_made([job])
    for replica in ("bm1", "bm2"):
        sim.nodes[replica].cell.apply(Submit("c1", 1, job))
    if tampered:
        sim.nodes["bm2"].cell.tasks["j1/0"].machine = "m1"
        assert "bm2's cell at version 1 has j1/0 as ('m1', 1, False, (2, 2)), the model as " \
               "(None, 1, False, None)" in checks.replicas_match_model.check(sim)
    else:
        assert checks.replicas_match_model.check(sim) is None


def test_progress_catches_a_borglet_left_running_what_the_cell_moved() -> None:
    result = walk("correct", 1)
    assert checks.progress_at_quiescence.check(result.sim).ok
    known = checks.facts(result.sim)
    placed = next(iter(known.model.placed.items()), None)
    assert placed is not None
    task, where = placed
    other = next(m for m in known.machines if m != where.machine)
    borglet_runs(result.sim, other, task)
    verdict = checks.progress_at_quiescence.check(result.sim)
    assert verdict.violated and f"{other} runs [('{task}', 1)] at the end" in verdict.explanation
