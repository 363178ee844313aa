"""Borg's invariants, each derived from ghost facts and the model (`models/borg.py`), never
from the implementation's own functions.

The facts:
- what the users submitted (each job's spec, from the history's invocations) and what they
  were told (its completions);
- what the cell decided: each Borgmaster replica notes the events of every log slot it
  applies (`cell`); the checks take each slot's events from the first replica to apply it,
  and replay them into the model, keeping the model as it was before each slot;
- what each Borglet runs, with its usage (`running`), and what it evicts (`evicted`);
- what each scheduling pass decided, on which version of the cell (`pass`);
- each Paxos replica's learned slots (`chosen`) and the candidates it promised (`promised`).

State invariants, after every step: SSO's `one-value-per-slot` for the Borgmaster's log and
SSO's `backs-one-candidate` for its elections, `replicas-match-model`,
`one-incarnation-per-task`, `no-prod-overcommit`, `evicts-non-prod-first`,
`preemption-only-lower-band`, `quota-respected`, `kills-answered-as-decided`,
`spread-when-feasible`, `policy-when-spread`. History invariants, at the end:
`progress-at-quiescence`, then `pending-truly-unplaceable` (z3).
"""

from __future__ import annotations

from typing import Any

from checker.sim import Simulation
from checker.system import history_invariant, state_invariant
from implementations import sso, sso_checks
from implementations.borg.cell import Deployment
from implementations.borg.messages import Job
from invariants.history import INVOKE, OK, Operation
from invariants.verdict import Verdict, passed, unknown, violated
from models.borg import (
    BANDS,
    CellModel,
    JobSpec,
    Judge,
    MachineSpec,
    job_of,
    overcommit_problem,
    policy_problem,
    preemption_problem,
    prod,
    quota_problem,
    spread_problem,
    within,
)

PASS_QUESTIONS = 100
"""How many questions about scheduling passes z3 is asked per run (distinct ones, first
come): passes repeat the same question while nothing changes. A question takes z3 about
0.1 ms (median 0.09 ms, mean 0.13 ms over the 3,279 questions of 200 runs of the default
configuration, 16 a run on average, at most 102), so the budget bounds a run's cost more
than it leaves anything out. What stays pending at quiescence is always asked."""
RLIMIT = 5_000_000  # z3's budget per run, in its resource units: far above what a question needs

REPLICAS, INCARNATION, OVERCOMMIT, EVICTION = (
    "replicas-match-model", "one-incarnation-per-task", "no-prod-overcommit",
    "evicts-non-prod-first")
PREEMPTION, QUOTA, KILLS, SPREAD, POLICY, PENDING, PROGRESS = (
    "preemption-only-lower-band", "quota-respected", "kills-answered-as-decided",
    "spread-when-feasible", "policy-when-spread", "pending-truly-unplaceable",
    "progress-at-quiescence")


def deployment(sim: Simulation) -> Deployment:
    """The cell as the operator set it up (every client carries it; clients never crash)."""
    return sim.nodes[sim.clients[0]].deployment


def borgmaster_replicas(sim: Simulation) -> list[str]:
    """The Borgmaster's Paxos cell, as the operator set it up."""
    return list(deployment(sim).replicas)


def job_spec(job: Job) -> JobSpec:
    return JobSpec(job.name, job.user, job.priority, job.tasks, job.limit, job.constraint,
                   job.max_per_rack, job.alloc, job.is_alloc)


class KillAsked:
    """A user's kill of a job: whether the cell, as the model had it at some moment since the
    request, had a reason to refuse it; what the user was told (status, value, time)."""

    def __init__(self, client: str, name: str, refusable: bool) -> None:
        self.client, self.name, self.refusable = client, name, refusable
        self.told: tuple[str, Any, int] | None = None


class Facts:
    """Per simulation: the ghost record and the history read so far, and what they say."""

    def __init__(self, where: Deployment) -> None:
        self.where = where
        self.machines = {m.name: MachineSpec(m.name, m.rack, m.capacity, m.attributes)
                         for m in where.machines}
        quota = {(user, BANDS.index(b)): limit for user, b, limit in where.quota}
        self.model = CellModel(self.machines.values(), quota)
        self.before: dict[int, CellModel] = {}  # slot -> the model before it, for event slots
        self.source: dict[int, str] = {}  # slot -> the replica whose events count
        self.consumed: dict[int, int] = {}  # slot -> how many of its events were counted
        self.next_slot = 0
        self.ghost_read = self.history_read = 0
        self.jobs: dict[str, JobSpec] = {}  # as the users submitted them
        self.invoked: dict[str, tuple[str, Any]] = {}  # client -> its operation in progress
        self.kills: list[KillAsked] = []  # kills asked, judged once the record is read
        self.running: dict[str, dict[tuple[str, int], tuple[str | None, Any]]] = {
            m: {} for m in self.machines}  # machine -> (task, incarnation) -> (alloc, usage)
        self.evicting: dict[str, list[int]] = {}  # machine -> priorities evicted in a sample
        self.evicted: dict[str, set[tuple[str, int]]] = {m: set() for m in self.machines}
        self.passes: list[tuple[int, CellModel, tuple[str, ...]]] = []  # after each pass
        self.learned: dict[str, set[int]] = {}  # replica -> Paxos slots it learned
        self.compared: dict[str, int] = {}  # node -> the cell version last compared
        self.problems: dict[str, str] = {}
        self.read_at: tuple = ()  # the lengths of the trace, ghost record and history then
        self.up: tuple = ()  # which nodes were up then
        self.changes = 0  # counts what changed the model or the Borglets: facts, crashes
        self.judged: dict[str, int] = {}  # invariant -> the changes it last judged

    def unchanged(self, invariant: str) -> bool:
        """Whether nothing the invariant reads changed since it last held: no decision of the
        cell, no Borglet's tasks, no node crashed or restarted."""
        if self.judged.get(invariant) == self.changes:
            return True
        self.judged[invariant] = self.changes
        return False

    def problem(self, invariant: str, sentence: str | None) -> None:
        if sentence and invariant not in self.problems:
            self.problems[invariant] = sentence

    def model_at(self, version: int) -> CellModel:
        """The model after the first `version` log slots (as the cell is at that version)."""
        later = [slot for slot in self.before if slot >= version]
        return self.before[min(later)] if later else self.model

    # --- reading the record ---------------------------------------------------------------

    def catch_up(self, sim: Simulation) -> None:
        lengths = (len(sim.trace), len(sim.ghost), len(sim.history))
        if lengths == self.read_at:
            return
        self.read_at = lengths
        up = tuple(node is not None for node in sim.nodes.values())
        if up != self.up:
            self.up, self.changes = up, self.changes + 1
        while self.history_read < len(sim.history):
            event = sim.history[self.history_read]
            self.history_read += 1
            if event.type == INVOKE:
                self.invoked[event.process] = (event.f, event.value)
                if event.f == "submit":
                    self.jobs[event.value[0].name] = job_spec(event.value[0])
                elif event.f == "kill":
                    name = event.value[0]
                    self.kills.append(KillAsked(event.process, name, self.kill_refusable(name)))
            else:
                self.on_told(event.process, event.type, event.value, event.time)
        while self.ghost_read < len(sim.ghost):
            kind, time, node, fact = sim.ghost[self.ghost_read]
            self.ghost_read += 1
            if kind == "cell":
                self.on_cell(node, fact["slot"], fact["index"], fact["event"], time)
            elif kind == "running":
                self.on_running(node, fact["tasks"], time)
            elif kind == "evicted":
                self.on_evicted(node, fact["task"], fact["incarnation"], time)
            elif kind == "pass":
                self.on_pass(fact["based_on"], fact["placed"], fact["pending"], time)
            elif kind == "chosen":
                self.learned.setdefault(node, set()).add(fact["slot"])
        self.judge_kills()

    def on_told(self, client: str, status: str, value: Any, time: int) -> None:
        f, args = self.invoked.get(client, ("", ()))
        if f == "kill":
            kill = next(k for k in self.kills if k.client == client and k.told is None)
            kill.told = (status, value, time)
        if f == "submit" and status in (OK, "fail"):
            self.told_of_submission(client, args[0].name, status, value, time)

    def told_of_submission(self, client: str, name: str, status: str, value: Any,
                           time: int) -> None:
        """What a user was told of a submission matches what the cell decided."""
        decided = self.model.outcome.get(name)
        admitted = decided in ("admitted", "killed")
        if (status == OK) != admitted:
            told = "admitted" if status == OK else f"rejected ({value})"
            self.problem(QUOTA, f"{client} was told {name} was {told} (t={time}), but the cell "
                                f"{'admitted' if admitted else 'did not admit'} it")

    def judge_kills(self) -> None:
        """A user told its job was killed has it killed in the cell; one told the kill was
        refused asked while the cell had a reason to: the job not running, or a job running
        in it (an alloc set). Judged after the whole record read so far, whatever order the
        history and the ghost record were read in."""
        for kill in [k for k in self.kills if k.told is not None]:
            self.kills.remove(kill)
            status, value, time = kill.told
            if status == OK and self.model.outcome.get(kill.name) != "killed":
                self.problem(KILLS, f"{kill.client} was told {kill.name} was killed (t={time}), "
                                    f"but the cell did not kill it")
            if status == "fail" and not kill.refusable:
                self.problem(KILLS, f"{kill.client}'s kill of {kill.name} was refused ({value}, "
                                    f"t={time}), but {kill.name} ran, with no job in it, all "
                                    f"the while")

    def kill_refusable(self, name: str) -> bool:
        """Whether the cell, as the model has it now, would refuse to kill the job."""
        return name not in self.model.jobs or any(
            job.alloc == name for job in self.model.jobs.values())

    def on_cell(self, replica: str, slot: int, index: int, event: tuple, time: int) -> None:
        """The `index`-th event of applying `slot`, counted from the first replica to apply
        the slot, once (a replica applies its log again when it restarts)."""
        if slot not in self.source:
            if slot < self.next_slot:
                return  # no events where the slot was first applied: replicas diverge
            self.source[slot], self.consumed[slot] = replica, 0
            self.before[slot] = self.model.copy()
            self.next_slot = slot + 1
        if self.source[slot] != replica or self.consumed[slot] != index:
            return
        self.consumed[slot] += 1
        self.changes += 1
        self.decide(event, f"slot {slot} (t={time}, at {replica})")

    def decide(self, event: tuple, where: str) -> None:
        model = self.model
        match event:
            case ("admitted" | "rejected" as outcome, job):
                submitted = self.jobs.get(job.name)
                if submitted != job_spec(job):
                    self.problem(REPLICAS, f"{where}: the cell decided on {job!r}, which no "
                                           f"user submitted as such")
                    return
                self.problem(QUOTA, quota_problem(model, submitted, outcome == "admitted"))
                sentence = model.admit(submitted) if outcome == "admitted" \
                    else model.reject(submitted)
            case ("killed", name):
                sentence = model.kill_job(name)
            case ("placed", task, incarnation, machine, alloc, victims):
                job = model.jobs.get(job_of(task))
                for victim in victims:
                    if job is not None and victim in model.placed:
                        self.problem(PREEMPTION, preemption_problem(
                            task, job, victim, model.placed[victim].job))
                sentence = model.place(task, incarnation, machine, alloc, victims)
            case ("gone", task, incarnation, machine):
                sentence = model.gone(task, incarnation, machine)
            case ("evicted", task, incarnation, machine):
                sentence = model.evict(task, incarnation, machine)
            case ("down", machine):
                sentence = model.mark_down(machine)
            case ("up", machine):
                sentence = model.mark_up(machine)
            case ("reserved", task, incarnation, amount):
                sentence = model.reserve(task, incarnation, amount)
            case _:
                sentence = f"an event the model does not know: {event!r}"
        if sentence:
            self.problem(REPLICAS, f"{where}: {sentence}")
        for kill in self.kills:
            kill.refusable = kill.refusable or self.kill_refusable(kill.name)

    def on_running(self, machine: str, tasks: tuple, time: int) -> None:
        self.changes += 1
        self.running[machine] = {(t, i): (alloc, usage) for t, i, alloc, usage in tasks}
        evicted = self.evicting.pop(machine, None)
        if evicted:
            self.judge_evictions(machine, max(evicted), time)

    def on_evicted(self, machine: str, task: str, incarnation: int, time: int) -> None:
        self.evicted[machine].add((task, incarnation))
        job = self.jobs[job_of(task)]
        alloc, _ = next((v for (t, _), v in self.running[machine].items() if t == task),
                        (None, None))
        if prod(job.priority) or alloc is not None or job.is_alloc:
            self.problem(EVICTION, f"{machine} evicted {task} (priority {job.priority}"
                                   f"{', in an alloc' if alloc else ''}) at t={time}: only "
                                   f"non-prod tasks outside allocs may be")
        self.evicting.setdefault(machine, []).append(job.priority)

    def judge_evictions(self, machine: str, highest: int, time: int) -> None:
        """After a sample's evictions: none of a priority above a non-prod task left running,
        and what is left fits the machine unless nothing evictable is left."""
        left = {t: self.jobs[job_of(t)] for (t, _), (alloc, _) in self.running[machine].items()
                if alloc is None}
        evictable = {t: job for t, job in left.items()
                     if not prod(job.priority) and not job.is_alloc}
        lower = sorted(t for t, job in evictable.items() if job.priority < highest)
        if lower:
            self.problem(EVICTION, f"{machine} evicted a task of priority {highest} at t={time} "
                                   f"while {lower[0]} of lower priority kept running")
        used = [usage for (alloc, usage) in self.running[machine].values() if alloc is None]
        total = (sum(u[0] for u in used), sum(u[1] for u in used))
        if evictable and not within(total, self.machines[machine].capacity):
            self.problem(EVICTION, f"{machine} stopped evicting at t={time} with non-prod tasks "
                                   f"left and its tasks using {total}, over its capacity")

    def on_pass(self, based_on: int, placed: tuple, pending: tuple[str, ...], time: int) -> None:
        """Replay the pass's placements on the cell it saw, judging each for spreading and
        then the scoring policy; keep the result, and what it left pending, for z3."""
        state = self.model_at(based_on).copy()
        for placement in placed:
            if not placement.victims and placement.task in state.pending:
                self.problem(SPREAD, spread_problem(state, placement.task, placement.machine))
                self.problem(POLICY, policy_problem(state, placement.task, placement.machine,
                                                    self.where.scoring))
            state.place(placement.task, placement.incarnation, placement.machine,
                        placement.alloc, placement.victims)
        if pending:
            self.passes.append((based_on, state, pending))


def facts(sim: Simulation) -> Facts:
    known = sim.invariant_state("borg-facts", lambda: Facts(deployment(sim)))
    known.catch_up(sim)
    return known


# --- state invariants -------------------------------------------------------------------------


# The Borgmaster's replicas are SSO's, elected by its rules: one candidate at a time.
backs_one_candidate = sso_checks.backs_one_candidate(sso.CANDIDACY, borgmaster_replicas)


@state_invariant(REPLICAS)
def replicas_match_model(sim: Simulation) -> str | None:
    """Every decision the cell took is one the model can follow (no task placed that was not
    pending, no machine brought up that was up, ...), and every Borgmaster replica's copy of
    the cell, and the scheduler's, holds at its log position what the model holds there: the
    same tasks on the same machines with the same incarnations and reservations, the same
    machines down."""
    known = facts(sim)
    if REPLICAS in known.problems or known.unchanged(REPLICAS):
        return known.problems.get(REPLICAS)
    where = deployment(sim)
    for node in (*where.replicas, where.scheduler):
        held = sim.nodes[node]
        if held is None:
            continue
        cell = held.cache if node == where.scheduler else held.cell
        if known.compared.get(node) == cell.version:
            continue
        known.compared[node] = cell.version
        known.problem(REPLICAS, cell_difference(node, cell, known.model_at(cell.version)))
    return known.problems.get(REPLICAS)


def cell_difference(node: str, cell: Any, model: CellModel) -> str | None:
    """How a node's copy of the cell differs from the model, read as data."""
    held = {name: (task.machine, task.incarnation, task.killing,
                   None if task.machine is None else task.reservation)
            for name, task in cell.tasks.items()}
    expected = {name: (None, incarnation, False, None)
                for name, incarnation in model.pending.items()}
    expected.update({name: (where.machine, where.incarnation, where.killing, where.reservation)
                     for name, where in model.placed.items()})
    for name in sorted(set(held) | set(expected)):
        if held.get(name) != expected.get(name):
            return (f"{node}'s cell at version {cell.version} has {name} as "
                    f"{held.get(name, 'absent')}, the model as {expected.get(name, 'absent')} "
                    f"(machine, incarnation, being killed, reservation)")
    if list(cell.down) != list(model.down):
        return f"{node}'s cell at version {cell.version} has {list(cell.down)} down, the " \
               f"model {list(model.down)}"
    return None


@state_invariant(INCARNATION)
def one_incarnation_per_task(sim: Simulation) -> str | None:
    """Every task a Borglet runs on a machine the cell counts as up is the incarnation the
    cell placed there (or is killing there): so at most one incarnation of a task runs on the
    machines of the cell. (A machine marked down is outside the cell: its Borglet goes on
    running what it ran, as Borg's do, until it is back in touch.)"""
    known = facts(sim)
    if known.unchanged(INCARNATION):
        return None
    for machine in sorted(known.machines):
        if not sim.up(machine) or machine in known.model.down:
            continue
        for task, incarnation in sorted(known.running[machine]):
            where = known.model.placed.get(task)
            if where is not None and (where.machine, where.incarnation) == (machine, incarnation):
                continue
            elsewhere = [f"{task}#{i} on {m}" for m in sorted(known.machines)
                         if m != machine and sim.up(m) and m not in known.model.down
                         for t, i in known.running[m] if t == task]
            cell = "pending" if where is None else f"#{where.incarnation} on {where.machine}"
            also = f"; {', '.join(elsewhere)} runs too" if elsewhere else ""
            return (f"{machine} runs {task}#{incarnation} at t={sim.time}, but the cell has "
                    f"{task} {cell}{also}")
    return None


@state_invariant(OVERCOMMIT)
def no_prod_overcommit(sim: Simulation) -> str | None:
    """On every machine the limits of the prod tasks and allocs its Borglet runs fit its
    capacity, and those of the tasks in each alloc fit the alloc (the limits are those the
    users submitted)."""
    known = facts(sim)
    if known.unchanged(OVERCOMMIT):
        return None
    for machine in sorted(known.machines):
        if not sim.up(machine):
            continue
        running = {t: (known.jobs[job_of(t)], alloc)
                   for (t, _), (alloc, _) in known.running[machine].items()}
        sentence = overcommit_problem(known.machines[machine], running)
        if sentence:
            return f"{sentence} (t={sim.time})"
    return None


@state_invariant(EVICTION)
def evicts_non_prod_first(sim: Simulation) -> str | None:
    """A Borglet whose machine runs out of resources evicts only non-prod tasks outside
    allocs, lowest priority first, until what is left fits (Borg 5.5)."""
    return facts(sim).problems.get(EVICTION)


@state_invariant(PREEMPTION)
def preemption_only_lower_band(sim: Simulation) -> str | None:
    """Every preemption the cell applied took a victim of a lower band than the task it made
    room for (priorities as the users submitted them)."""
    return facts(sim).problems.get(PREEMPTION)


@state_invariant(QUOTA)
def quota_respected(sim: Simulation) -> str | None:
    """Admission control: every job admitted fits its user's quota at its band next to the
    user's other live jobs, every job rejected does not (or names an alloc that is not
    running), and every user is told what the cell decided."""
    return facts(sim).problems.get(QUOTA)


@state_invariant(KILLS)
def kills_answered_as_decided(sim: Simulation) -> str | None:
    """A user told a job was killed has it killed in the cell, and a kill is refused only
    while the job is not running or a job still runs in it (an alloc set is killed only once
    no job runs in it) at some moment between the request and the answer."""
    return facts(sim).problems.get(KILLS)


@state_invariant(SPREAD)
def spread_when_feasible(sim: Simulation) -> str | None:
    """Each task a scheduling pass placed without preemption went to a rack holding no more
    of its job's tasks than any rack where it would have fit, judged on the cell the pass
    saw."""
    return facts(sim).problems.get(SPREAD)


@state_invariant(POLICY)
def policy_when_spread(sim: Simulation) -> str | None:
    """Each task a scheduling pass placed without preemption, outside an alloc, went to the
    machine its scoring policy (worst-fit, best-fit, hybrid) ranks first among those where it
    would have fit without preemption in as spread a rack, judged on the cell the pass saw."""
    return facts(sim).problems.get(POLICY)


# --- history invariants -----------------------------------------------------------------------


@history_invariant(PROGRESS)
def progress_at_quiescence(sim: Simulation) -> Verdict:
    """After the ending: every user's final status succeeded and told where each of its tasks
    runs as the cell has it; no machine is down and no task is being killed; every Borglet
    runs exactly the incarnations the cell placed on it (but those it evicted since: usage
    goes on growing after the cell settled, and the master hears of it at its next poll);
    every Borgmaster replica learned the same log. A cell that does nothing fails here."""
    known = facts(sim)
    model = known.model
    for sentence in (final_statuses(sim, model), settled(sim, known), replicas_converged(known)):
        if sentence:
            return violated(PROGRESS, sentence)
    return passed(PROGRESS, f"settled: {len(model.placed)} tasks running where the cell "
                            f"placed them, {len(model.pending)} pending")


def final_statuses(sim: Simulation, model: CellModel) -> str | None:
    ops: dict[str, list[Operation]] = {client: [] for client in sim.clients}
    for op in sim.operations():
        ops[op.process].append(op)
    for client, f, _ in sim.final_ops:
        last = ops[client][-1] if ops[client] else None
        if last is None or last.f != f:
            return f"{client}'s final {f} never ran: an earlier operation was still pending"
        if last.status != OK:
            return f"{client}'s final status never succeeded: the cell did not settle"
        expected = sorted([(t, None) for t in model.pending
                           if model.jobs[job_of(t)].user == client]
                          + [(t, w.machine) for t, w in model.placed.items()
                             if w.job.user == client], key=str)
        if sorted(last.result, key=str) != expected:
            return f"{client} was told its tasks are at {list(last.result)}, but the cell has " \
                   f"{expected}"
    return None


def settled(sim: Simulation, known: Facts) -> str | None:
    model = known.model
    if model.down:
        return f"{', '.join(model.down)} still marked down at the end"
    killing = sorted(t for t, where in model.placed.items() if where.killing)
    if killing:
        return f"{killing[0]} is still being killed at the end"
    for machine in sorted(known.machines):
        runs = sorted(known.running[machine]) if sim.up(machine) else []
        placed = sorted((t, w.incarnation) for t, w in model.on(machine).items()
                        if (t, w.incarnation) not in known.evicted[machine])
        if runs != placed:
            return f"{machine} runs {runs} at the end, but the cell placed {placed} there"
    return None


def replicas_converged(known: Facts) -> str | None:
    slots = {replica: max(learned, default=-1) + 1 for replica, learned in known.learned.items()}
    if len(set(slots.values())) > 1:
        return f"the Borgmaster replicas learned different logs: {slots} slots"
    return None


@history_invariant(PENDING)
def pending_truly_unplaceable(sim: Simulation) -> Verdict:
    """z3 is the judge of the scheduler: a task a scheduling pass left pending, or that is
    pending at the end, had no placement at all — no machine up, meeting its constraints,
    with room for it once some tasks of lower bands are preempted. A placement z3 finds is
    reported with its model as the witness. Passes are judged on the cell they saw, plus
    their own placements (up to PASS_QUESTIONS distinct questions a run)."""
    known = facts(sim)
    questions: list[tuple[str, CellModel, str]] = []
    asked: set[tuple] = set()
    for based_on, state, pending in known.passes:
        for task in pending:
            key = signature(state, task)
            if key not in asked and len(asked) < PASS_QUESTIONS:
                asked.add(key)
                questions.append((f"a pass on version {based_on} left", state, task))
    for task in sorted(known.model.pending):
        questions.append(("the ending left", known.model, task))
    if not questions:
        return passed(PENDING, "no task was left pending")
    judge = Judge(RLIMIT)
    undecided = []
    for when, state, task in questions:
        answer = judge.ask(state, task)
        if answer.placement is not None:
            return violated(PENDING, f"{when} {task} pending, but it had a placement: "
                                     f"{answer.placement} (z3's model)",
                            {"task": task, "placement": answer.placement})
        if answer.undecided:
            undecided.append(task)
    if undecided:
        return unknown(PENDING, f"z3 ran out of its budget ({RLIMIT} units) on {undecided[0]}")
    return passed(PENDING, f"z3 proved each of {len(questions)} pending tasks unplaceable")


def signature(state: CellModel, task: str) -> tuple:
    """What a placement question depends on."""
    return (task, tuple(state.down), tuple(sorted(
        (t, w.machine, w.alloc, w.reservation, w.killing) for t, w in state.placed.items())))
