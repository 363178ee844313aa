"""Mesa's invariants, each derived from ghost facts and the model (`models/mesa.py`), never
from the implementation's own functions.

The facts: what the clients submitted and were told (the history), which batch the versions
database gave each version and which versions it committed (its replicas' ghost notes, as
they apply the log), and what each instance holds durably (its storage, read as data). The
model is the table whose version n aggregates the rows *submitted* under the batch the
versions database gave version n.

State invariants, after every step: `versions-in-order`, `compaction-preserves-answers`,
`committed-on-quorum`, `answers-at-committed-versions`, `compaction-keeps-up`,
`compaction-when-due`, `commits-reach-instances`, `quiet-at-rest` (and SSO's
`one-value-per-slot` for the versions database's Paxos log and `backs-one-candidate` for its
elections, from the candidates its replicas noted they promised).
History invariants, at the end: `answers-match-model`, `batches-exactly-once`,
`settled-commit-by-messages`, `progress-at-quiescence`.
"""

from __future__ import annotations

from typing import Any

import attrs

from checker.sim import Simulation
from checker.system import history_invariant, judged_on_change, state_invariant
from implementations import sso, sso_checks
from implementations.mesa.committer import DRIVE
from implementations.mesa.deployment import Deployment
from implementations.mesa.instance import BASE_STEP, COMPACT, CUMULATE
from implementations.mesa.messages import Committed, CommittedUpTo, Load, Versions
from invariants.delivery import InputRecord, OutputRecord, check_delivery
from invariants.history import INVOKE, OK, Operation
from invariants.verdict import Verdict, passed, violated
from models.mesa import (
    VersionedTable,
    answer_problem,
    chain_ends,
    commit_problem,
    delta_problem,
    fewest_deltas,
    show,
)


def deployment(sim: Simulation) -> Deployment:
    """The deployment as the operator configured it (every client carries it; clients never
    crash)."""
    return sim.nodes[sim.clients[0]].deployment


def versions_database_replicas(sim: Simulation) -> list[str]:
    """The versions database's Paxos cell, as the operator set it up."""
    return list(deployment(sim).vdb)


# The versions database's replicas are SSO's, elected by its rules: one candidate at a time.
backs_one_candidate = sso_checks.backs_one_candidate(sso.CANDIDACY, versions_database_replicas)


class Facts:
    """Per simulation: the ghost record and the history read so far. Read after every step,
    so that what a client was told is compared with what was committed by then."""

    def __init__(self, how: str) -> None:
        self.ghost_read = 0
        self.submits_read = 0  # history events read for submissions, and for answers
        self.answers_read = 0
        self.submitted: dict[str, Any] = {}  # batch -> its rows, from the clients' invocations
        self.assigned: dict[int, str] = {}  # version -> batch, from the versions database
        self.committed: dict[int, str] = {}
        self.commit_times: dict[int, tuple[int, str]] = {}  # version -> (t, replica) first
        # history position of each ok completion -> the last committed version as it was read
        self.latest_when_told: dict[int, int] = {}
        self.table = VersionedTable(how)  # the assigned versions, with their submitted rows
        self.order_problem: str | None = None
        self.told_problem: str | None = None

    @property
    def last_committed(self) -> int:
        return len(self.committed)

    def catch_up(self, sim: Simulation) -> None:
        """Submissions first (a batch is submitted before any version is given to it), then
        the ghost notes, then the answers clients recorded."""
        while self.submits_read < len(sim.history):
            event = sim.history[self.submits_read]
            self.submits_read += 1
            if event.f == "submit" and event.type == INVOKE:
                batch, rows = event.value
                self.submitted.setdefault(batch, rows)
        while self.ghost_read < len(sim.ghost):
            kind, time, node, fact = sim.ghost[self.ghost_read]
            self.ghost_read += 1
            if kind == "assigned":
                self.on_assigned(fact["version"], fact["batch"], time)
            elif kind == "committed":
                self.on_committed(fact["version"], fact["batch"], time, node)
        while self.answers_read < len(sim.history):
            event = sim.history[self.answers_read]
            self.answers_read += 1
            if event.type == OK:
                self.latest_when_told[self.answers_read - 1] = self.last_committed
                self.on_told(event.process, event.f, event.value, event.time)

    def on_assigned(self, version: int, batch: str, time: int) -> None:
        problem = commit_problem(self.assigned, version, batch)
        if problem is None and batch not in self.submitted:
            problem = f"version {version} was given to {batch}, which no client submitted"
        if problem is not None:
            self.order_problem = self.order_problem or f"assignment at t={time}: {problem}"
            return
        self.assigned[version] = batch
        self.table.add(version, self.submitted[batch])

    def on_committed(self, version: int, batch: str, time: int, replica: str) -> None:
        problem = commit_problem(self.committed, version, batch)
        if problem is None and self.assigned.get(version) != batch:
            problem = f"version {version} was committed with {batch}, but given to " \
                      f"{self.assigned.get(version)}"
        if problem is not None:
            self.order_problem = self.order_problem or f"commit at t={time}: {problem}"
            return
        if version not in self.committed:
            self.committed[version] = batch
            self.commit_times[version] = (time, replica)

    def on_told(self, client: str, f: str, result: Any, time: int) -> None:
        """A client was told of a version: its batch's, or its answer's."""
        version = result if f == "submit" else result[0]
        if version > self.last_committed and self.told_problem is None:
            what = "told its batch is version" if f == "submit" else "answered at version"
            self.told_problem = (f"{client} was {what} {version} (t={time}), when the last "
                                 f"committed version was {self.last_committed}")


def facts(sim: Simulation) -> Facts:
    known = sim.invariant_state("mesa-facts", lambda: Facts(deployment(sim).aggregate))
    known.catch_up(sim)
    return known


@attrs.frozen
class Disk:
    """What one instance's disk holds, judged against the model: the first delta that does
    not match it, and the versions its deltas can answer."""

    stored: Any  # the stored value these judgements are about
    problem: str | None
    answerable: frozenset[int]
    gaps: tuple[int, ...]  # versions up to the highest any delta reaches that it cannot answer

    @property
    def newest(self) -> int:
        """The newest version the disk can answer: what the instance has loaded, whole."""
        return max(self.answerable, default=0)


def disk(sim: Simulation, instance: str) -> Disk:
    """The judgement of the instance's disk, made again only when the disk changed (each
    write stores a new value; a delta's batches never change once given a version)."""
    disks = sim.invariant_state("mesa-disks", dict)
    stored = sim.contexts[instance].storage.durable("deltas", ())
    if instance not in disks or disks[instance].stored is not stored:
        table = facts(sim).table
        deltas = dict(stored)
        problem = next((f"{instance}'s delta {problem}" for (v1, v2), rows in sorted(deltas.items())
                        if (problem := delta_problem(table, v1, v2, rows))), None)
        answerable = chain_ends(deltas)
        highest = max((v2 for _, v2 in deltas), default=0)
        gaps = tuple(v for v in range(highest + 1) if v not in answerable)
        disks[instance] = Disk(stored, problem, frozenset(answerable), gaps)
    return disks[instance]


# --- state invariants -------------------------------------------------------------------------


@state_invariant("versions-in-order")
def versions_in_order(sim: Simulation) -> str | None:
    """The versions database gives versions 1, 2, 3, ... each to one submitted batch, no batch
    twice, and commits them in that order, each with the batch it was given."""
    return facts(sim).order_problem


def instances(sim: Simulation) -> tuple[str, ...]:
    return deployment(sim).instances


def last_committed(sim: Simulation) -> int:
    return facts(sim).last_committed


@state_invariant("compaction-preserves-answers")
# it reads the instances' disks and the last committed version only (`disk` judges a delta
# against the batches once, when it is written)
@judged_on_change(instances, last_committed)
def compaction_preserves_answers(sim: Simulation) -> str | None:
    """Every delta [v1, v2] on every instance's disk holds exactly the aggregate of the
    batches v1..v2, and every version from `window` below the last committed one up to the
    newest it loaded can still be assembled from adjacent deltas starting at its base."""
    known = facts(sim)
    settings = deployment(sim)
    oldest = max(0, known.last_committed - settings.window)
    for instance in settings.instances:
        judged = disk(sim, instance)
        if judged.problem:
            return judged.problem
        lost = next((v for v in judged.gaps if v >= oldest), None)
        if lost is not None:
            return (f"{instance} can no longer answer version {lost} (last committed "
                    f"{known.last_committed}, window {settings.window}): its deltas "
                    f"{sorted(dict(judged.stored))} hold no adjacent chain from 0 to it")
    return None


@state_invariant("committed-on-quorum")
@judged_on_change(instances, last_committed)  # all it reads
def committed_on_quorum(sim: Simulation) -> str | None:
    """The last committed version is on the disks of at least `quorum` instances: a chain of
    their deltas reaches it (whose content `compaction-preserves-answers`, checked first,
    vouches for)."""
    known = facts(sim)
    settings = deployment(sim)
    version = known.last_committed
    if version == 0:
        return None
    holding = [i for i in settings.instances if disk(sim, i).newest >= version]
    if len(holding) < settings.quorum:
        when, replica = known.commit_times[version]
        return (f"version {version} is committed (at {replica}, t={when}) but only "
                f"{len(holding)} instance(s) hold it ({', '.join(holding) or 'none'}); the "
                f"commit criterion is {settings.quorum}")
    return None


@state_invariant("answers-at-committed-versions")
def answers_at_committed_versions(sim: Simulation) -> str | None:
    """No client is told of a version that was not committed when it was told: no query is
    answered at it, no submission acknowledged with it."""
    return facts(sim).told_problem


class Settled:
    """Per simulation: what each instance's disk held when last seen (its deltas and the
    committed version it knows), since when it has held it while up and not paused, and the
    compaction that disk is due, if any."""

    def __init__(self) -> None:
        self.trace_read = 0
        self.held: dict[str, Any] = {}
        self.since: dict[str, int] = {}
        self.backlog: dict[str, str | None] = {}


def compaction_backlog(ranges: list[tuple[int, int]], committed: int,
                       window: int) -> str | None:
    """The compaction the policy says is due on a disk holding deltas over `ranges` and
    knowing versions up to `committed` committed, or None. The policy (Mesa 2.2, with the
    instance's constants): the base advances once it can by BASE_STEP versions without entering
    the queryable window below the committed version; the deltas after it are merged once
    CUMULATE or more of them are needed to reach the newest loaded version."""
    base = max(v2 for v1, v2 in ranges if v1 == 0)
    loaded = max(v2 for _, v2 in ranges)
    target = min(committed - window, loaded)
    if target >= base + BASE_STEP:
        return (f"its base is version {base}, though versions up to {target} (committed "
                f"{committed}, window {window}) may be folded into it")
    after = fewest_deltas(ranges, base + 1, loaded)
    if after is not None and after >= CUMULATE:
        return f"versions {base + 1}..{loaded}, after its base, still take {after} deltas"
    return None


@state_invariant("compaction-keeps-up")
def compaction_keeps_up(sim: Simulation) -> str | None:
    """An instance whose disk has not changed for more than COMPACT ticks, while it was up
    and not paused, has no compaction due: an instance compacts COMPACT ticks after the load,
    the commit or the restart that made compaction due (a paused node's timers wait for the
    pause to end), and each compaction changes its disk. Without it, queries combine ever
    more deltas and the disk keeps every version ever loaded. (Mesa's configurations have
    no clock skew or drift: an instance's COMPACT ticks are true time.)"""
    seen = sim.invariant_state("mesa-compaction", Settled)
    for step in sim.trace[seen.trace_read:]:
        match step.event:
            case ("restart", node):
                seen.since[node] = step.time
            case ("pause", node, ticks):
                seen.since[node] = max(seen.since.get(node, 0), step.time + ticks)
    seen.trace_read = len(sim.trace)
    window = deployment(sim).window
    for instance in deployment(sim).instances:
        if not sim.up(instance):
            continue
        storage = sim.contexts[instance].storage
        held = (storage.durable("deltas", ()), storage.durable("committed", 0))
        if seen.held.get(instance) != held:
            seen.held[instance] = held
            seen.since[instance] = max(seen.since.get(instance, 0), sim.time)
            ranges = [r for r, _ in held[0]]
            seen.backlog[instance] = compaction_backlog(ranges, held[1], window) \
                if ranges else None
        quiet = seen.since[instance]
        if sim.time > quiet + COMPACT and seen.backlog[instance]:
            return (f"{instance}'s disk has stayed the same since t={quiet} (deltas "
                    f"{[r for r, _ in held[0]]}), more than COMPACT={COMPACT} ticks up and "
                    f"unpaused, and compaction is still due: {seen.backlog[instance]}")
    return None


@attrs.frozen
class Written:
    """An instance's deltas as last seen: the stored value itself (each write stores a new
    one), and the newest version they reach."""

    stored: Any
    loaded: int


@state_invariant("compaction-when-due")
@judged_on_change(instances)  # it reads the instances' disks only
def compaction_when_due(sim: Simulation) -> str | None:
    """Every write of an instance's deltas that loads no new version is a compaction, and a
    compaction rewrites a disk on which the policy had one due (`compaction_backlog`, the
    policy `compaction-keeps-up` holds the instance to, read the other way). A compaction
    that was not due rewrites what it read or merges what the policy leaves alone, and
    since whatever made it run is unchanged, it runs again COMPACT ticks later, for ever.
    (A compaction runs from a timer and changes only the deltas: the committed version on
    disk now is the one the rewritten disk was judged with.)"""
    seen = sim.invariant_state("mesa-writes", dict)
    window = deployment(sim).window
    for instance in deployment(sim).instances:
        storage = sim.contexts[instance].storage
        stored = storage.durable("deltas", ())
        before = seen.get(instance)
        if before is not None and before.stored is stored:
            continue
        loaded = max((v2 for (_, v2), _ in stored), default=0)
        seen[instance] = Written(stored, loaded)
        if before is None or not before.stored or loaded != before.loaded:
            continue  # the first deltas, or a load
        committed = storage.durable("committed", 0)
        if compaction_backlog([r for r, _ in before.stored], committed, window) is None:
            return (f"{instance} rewrote its deltas {[r for r, _ in before.stored]} as "
                    f"{[r for r, _ in stored]} (t={sim.time}, committed {committed}, window "
                    f"{window}), though no compaction was due on them")
    return None


class News:
    """Per simulation: how much of the trace has been read; whether the committer has read
    the versions database since it last started, and the committed version the database
    told it since then; and, for each instance that holds the last committed version without
    knowing it, the time since which the committer could have told it and has not (None
    while it could not, or while the news is on its way)."""

    def __init__(self) -> None:
        self.trace_read = 0
        self.read = False
        self.told = 0
        self.waiting: dict[str, int | None] = {}


def tells(msg: Any, version: int) -> bool:
    """Whether a message from the committer tells an instance that `version` is committed."""
    match msg:
        case Committed(committed) | Load(_, _, committed):
            return committed >= version
    return False


def news_waiting(sim: Simulation) -> dict[str, int]:
    """The instances that hold the last committed version but do not know it is committed
    (their disks, read as data), each with the time since which the committer could have
    told them and has not: it had read the versions database since it last started (a
    `Versions` delivered: until then it knows neither what each version holds nor what
    each instance has) and been told of the commit (that answer, or a `CommittedUpTo`),
    both were up and not paused, no partition kept them apart, and no message telling it
    was in flight to the instance (one lost in flight starts the wait again)."""
    seen = sim.invariant_state("mesa-news", News)
    settings = deployment(sim)
    committer = settings.committer
    for step in sim.trace[seen.trace_read:]:
        match step.event:
            case ("restart" | "crash", node) if node == committer:
                seen.read, seen.told = False, 0
            case ("deliver", _, dst, _) if dst == committer:
                match step.detail:
                    case Versions(version, _):
                        seen.read, seen.told = True, max(seen.told, version)
                    case CommittedUpTo(version):
                        seen.told = max(seen.told, version)
    seen.trace_read = len(sim.trace)
    last = facts(sim).last_committed
    for instance in settings.instances:
        lagging = last > 0 and disk(sim, instance).newest >= last \
            and sim.contexts[instance].storage.durable("committed", 0) < last
        if not lagging:
            seen.waiting.pop(instance, None)
            continue
        could = seen.read and seen.told >= last and sim.can_receive(committer) \
            and sim.can_receive(instance) and not sim.network.cut(committer, instance)
        on_its_way = any(e.src == committer and e.dst == instance and tells(e.msg, last)
                         for e in sim.network)
        if not could or on_its_way:
            seen.waiting[instance] = None
        elif seen.waiting.get(instance) is None:
            seen.waiting[instance] = sim.time
    return {i: since for i, since in seen.waiting.items() if since is not None}


@state_invariant("commits-reach-instances")
def commits_reach_instances(sim: Simulation) -> str | None:
    """An instance that holds the last committed version hears that it is committed within
    one retry round (DRIVE ticks) of the time the committer could have told it and had not
    (`news_waiting`). The rule is the committer's: it tells the instances of each commit
    when it learns of it, and every round it resends the committed version to each instance
    that has not reported knowing it (a `Committed`, or the next `Load`, which carries it),
    so the news lost in flight is sent again within DRIVE ticks, the round's timer being
    armed while any instance lags. The margin is most of a round: in 3,000 runs of the hunt
    (seeds 0-2,999) the correct committer's news was on its way again within 70 ticks of the
    time it could have been sent, the bound being 200. Without the resend, an instance that
    lost the news of the last commit keeps refusing the newest version and never folds it
    towards its base until another batch commits, while the committer's retry round stays
    armed for ever."""
    for instance, since in sorted(news_waiting(sim).items()):
        if sim.time - since > DRIVE:
            return (f"{instance} holds version {facts(sim).last_committed}, committed, but "
                    f"has not known it since t={since}")
    return None


class Rest:
    """Per simulation, at rest: whether the final operations all succeeded (read once: none
    runs at rest), when nothing was last left to do (None while something is), the time
    after which the committer and the instances must be quiet, and how much of the trace has
    been read."""

    def __init__(self) -> None:
        self.finals_ok: bool | None = None
        self.trace_read = 0
        self.done_since: int | None = None
        self.quiet_from = 0
        self.work: str | None = None  # what `work_left` said when last asked, and what it
        self.work_read: tuple | None = None  # read then (see `work_left_at_rest`)


def work_left(sim: Simulation) -> str | None:
    """What is left to do, or None: a commit not done everywhere (`commits_outstanding`), or
    a compaction the policy has due on an instance's disk (`compaction_backlog`)."""
    behind = commits_outstanding(sim)
    if behind:
        return behind
    window = deployment(sim).window
    for instance in deployment(sim).instances:
        storage = sim.contexts[instance].storage
        ranges = [r for r, _ in storage.durable("deltas", ())]
        due = compaction_backlog(ranges, storage.durable("committed", 0), window) \
            if ranges else None
        if due:
            return f"{instance}: {due}"
    return None


def work_left_at_rest(sim: Simulation, seen: Rest) -> str | None:
    """`work_left`, asked again only when what it reads may have changed: the versions given
    out and committed (each given and committed once: `commit_problem`) and the instances'
    disks (`Storage.writes`). At rest the versions database's master keeps renewing its
    lease, which changes none of them: most steps of a rest need no new answer."""
    known = facts(sim)
    read = (known.last_committed, len(known.assigned),
            [sim.contexts[instance].storage.writes for instance in deployment(sim).instances])
    if read != seen.work_read:
        seen.work, seen.work_read = work_left(sim), read
    return seen.work


def versions_database_serves(sim: Simulation) -> bool:
    """Whether a master of the versions database holds a majority's lease now, by what its
    replicas noted as they asked and granted (SSO's reading of those notes): it answers the
    committer at once. Until then a committer asking it keeps being refused and asks again,
    as it must (a replica restarted in the ending grants no lease for a lease's time)."""
    return bool(sso_checks.leases_at(sim, versions_database_replicas(sim), sso.LEASE, sim.time))


@state_invariant("quiet-at-rest")
def quiet_at_rest(sim: Simulation) -> str | None:
    """At rest (the ending's rest: no faults, no client operations), after final operations
    that all succeeded, once nothing is left to do (`work_left`: every version given a batch
    committed, held and known committed by every instance, no compaction due on any disk)
    and the versions database can answer (its master holds a majority's lease), the
    committer and the instances fall quiet: none of them sends a message or has a timer fire
    more than one retry round (DRIVE ticks) after the last of their timers then pending.
    That timer may find the committer's view out of date (an answer lost before the ending)
    and set it right, and the round it arms again finds nothing to do and arms none. A
    committer that keeps resending what was answered, or waits for what will never come, or
    an instance that keeps waking to compact nothing, is busy for ever while nothing is
    wrong, which a run that stops once the clients are done never sees. (The pending timers
    are the engine's, read as data: a pause may have postponed them. The versions database
    itself is not held to this: its master renews its lease for ever.)"""
    began = sim.rest_began()
    if began is None:
        return None
    seen = sim.invariant_state("mesa-rest", Rest)
    if seen.finals_ok is None:
        seen.finals_ok = final_queries_answered(sim).ok
    if not seen.finals_ok:
        return None  # a system that failed them is `progress-at-quiescence`'s to judge
    settings = deployment(sim)
    watched = {settings.committer, *settings.instances}
    if work_left_at_rest(sim, seen) is not None:
        seen.done_since = None
    elif seen.done_since is None and versions_database_serves(sim):
        seen.done_since = sim.time
        pending = [at for (node, _), at in sim.timers.due.items() if node in watched]
        seen.quiet_from = max([sim.time, *pending]) + DRIVE
    steps, seen.trace_read = sim.trace[seen.trace_read:], len(sim.trace)
    if seen.done_since is None:
        return None
    for step in steps:
        kind, node = step.event[0], step.event[1] if len(step.event) > 1 else None
        if kind in ("fire", "deliver") and node in watched and step.time > seen.quiet_from:
            what = f"its timer {step.event[2]!r} fired" if kind == "fire" else \
                f"it sent {step.detail!r} to {step.event[2]}"
            return (f"{node} is still busy at rest: {what} at t={step.time}, though nothing "
                    f"has been left to do since t={seen.done_since} (the rest began at "
                    f"t={began}) and a retry round after its last timer then pending ended "
                    f"at t={seen.quiet_from}")
    return None


# --- history invariants -----------------------------------------------------------------------


@history_invariant("answers-match-model")
def answers_match_model(sim: Simulation) -> Verdict:
    """Every query answered at version n returned the model's value at n (whichever instance
    answered: all answer a committed version alike), at the version asked for if any."""
    name = "answers-match-model"
    known = facts(sim)
    answers = [op for op in sim.operations() if op.f == "query" and op.status == OK]
    for op in answers:
        (key, asked), (version, value) = op.args, op.result
        problem = None
        if asked is not None and version != asked:
            problem = f"asked for version {asked}, answered at {version}"
        elif version > known.last_committed:
            problem = f"version {version} was never committed"
        else:
            problem = answer_problem(known.table, key, version, value)
        if problem:
            return violated(name, f"{op.describe()}: {problem} (table at version {version}: "
                                  f"{show(known.table.at(min(version, known.last_committed)))})",
                            {"query": op.to_json()})
    return passed(name, f"{len(answers)} answered queries each match the model")


@history_invariant("batches-exactly-once")
def batches_exactly_once(sim: Simulation) -> Verdict:
    """Every acknowledged batch is committed, as the version its client was told (at every
    acknowledgement, when it was submitted again); no batch is committed twice; no committed
    batch was never submitted (invariants/delivery.py)."""
    known = facts(sim)
    submits = [op for op in sim.operations() if op.f == "submit"]
    inputs = [InputRecord(op.args[0], op.call_time, op.process, acked=op.status == OK,
                          value=op.result if op.status == OK else None) for op in submits]
    outputs = [OutputRecord(batch, known.commit_times[version][0],
                            known.commit_times[version][1], value=version)
               for version, batch in sorted(known.committed.items())]
    verdict = attrs.evolve(check_delivery(inputs, outputs, "exactly-once"),
                           invariant="batches-exactly-once")
    if verdict.violated:
        return verdict
    return acknowledged_elsewhere(known, submits) or verdict


def acknowledged_elsewhere(known: Facts, submits: list[Operation]) -> Verdict | None:
    """The first acknowledged submission whose batch was committed as another version than
    it was told, if any. Every acknowledgement counts: `check_delivery` holds a batch
    submitted several times (a resubmission of a committed batch) to its first acknowledged
    value only."""
    versions = {batch: version for version, batch in known.committed.items()}
    for op in submits:
        batch = op.args[0]
        if op.status == OK and batch in versions and op.result != versions[batch]:
            return violated("batches-exactly-once", f"{op.describe()}: {batch} was committed "
                                                    f"as version {versions[batch]}",
                            {"submission": op.to_json()})
    return None


@history_invariant("progress-at-quiescence")
def progress_at_quiescence(sim: Simulation) -> Verdict:
    """After the ending: every version given to a batch is committed, every instance holds
    the last committed version and knows it is committed, every final query answered at the
    version last committed when it was answered, and the final batch acknowledged each time
    it was submitted. A system that does nothing fails here."""
    name = "progress-at-quiescence"
    behind = commits_outstanding(sim)
    if behind:
        return violated(name, behind)
    return final_queries_answered(sim)


@history_invariant("settled-commit-by-messages")
def settled_commit_by_messages(sim: Simulation) -> Verdict:
    """The ending's second new batch is acknowledged at the tick it was submitted. The first
    brought everything up to date: every version assigned before it committed, every
    instance holding it and knowing it committed, every message delivered, the versions
    database's master answering. Nothing is lost in the ending, and the committer drives by
    messages (its retry round, every DRIVE ticks, only resends what was lost): given a
    version, loaded, committed and acknowledged, all by messages, which take no time here;
    only timers let time pass. A committer that leaves a step to its retry round is slower
    by up to a round a step, which no other check can tell from a correct one."""
    name = "settled-commit-by-messages"
    submitted = [args for _, f, args in sim.final_ops if f == "submit"]
    batch = next((args[0] for args in submitted if args[0] != submitted[0][0]), None)
    settled = [op for op in sim.operations() if op.f == "submit" and op.args[0] == batch]
    if not settled or settled[0].status != OK:
        return passed(name, "no second new batch was acknowledged in the ending "
                            "(progress-at-quiescence judges that)")
    op = settled[0]
    if op.ret_time != op.call_time:
        return violated(name, f"{op.describe()}: submitted once everything was up to date, "
                              f"it waited {op.ret_time - op.call_time} ticks for a timer",
                        {"submission": op.to_json()})
    return passed(name, f"{batch} acknowledged at the tick it was submitted")


def commits_outstanding(sim: Simulation) -> str | None:
    """What is left of committing: a version given a batch but not committed, or an instance
    that does not hold or does not know the last committed version (its disk, read as
    data); None when every commit is done everywhere."""
    known = facts(sim)
    last = known.last_committed
    if len(known.assigned) > last:
        version = last + 1
        return f"version {version} ({known.assigned[version]}) was given a batch but never " \
               f"committed"
    for instance in deployment(sim).instances:
        held = disk(sim, instance).newest
        told = sim.contexts[instance].storage.durable("committed", 0)
        if held < last or told < last:
            return f"{instance} holds versions up to {held} and knows {told} committed, " \
                   f"behind the last committed version {last}"
    return None


def final_queries_answered(sim: Simulation) -> Verdict:
    """Each client's final operations ran, last, and succeeded; each final query at the
    version that was the last committed one when it was answered. (A client still busy with
    an earlier operation when the ending came skips its final ones: its last operation is
    then not the one expected. A batch whose client gave up may still commit after the final
    queries, while the system rests.)"""
    name = "progress-at-quiescence"
    known = facts(sim)
    mine: dict[str, list[Operation]] = {client: [] for client in sim.clients}
    for op in sim.operations():
        mine[op.process].append(op)
    expected: dict[str, list[tuple[str, Any]]] = {client: [] for client in sim.clients}
    for client, f, args in sim.final_ops:
        expected[client].append((f, args))
    for client, finals in expected.items():
        ran = mine[client][len(mine[client]) - len(finals):] if finals else []
        for (f, args), op in zip(finals, ran + [None] * (len(finals) - len(ran))):
            if op is None or (op.f, op.args) != (f, args):
                return violated(name, f"{client}'s final {f}{args} never ran: an earlier "
                                      f"operation was still pending at the end")
            if op.status != OK:
                return violated(name, f"{op.describe()}: a final operation must succeed",
                                {"operation": op.to_json()})
            latest = known.latest_when_told[op.ret]
            if f == "query" and op.result[0] != latest:
                return violated(name, f"{op.describe()}, not at the last committed version "
                                      f"{latest}", {"operation": op.to_json()})
    return passed(name, f"everything committed up to version {known.last_committed}, on every "
                        f"instance, and the final queries answered at the last committed "
                        f"version")
