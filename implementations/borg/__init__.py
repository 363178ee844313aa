"""Borg: cluster management with a Paxos-replicated Borgmaster, Borglets and a scheduler.

Verma, Pedrosa, Korupolu, Oppenheimer, Tune, Wilkes, "Large-scale cluster management at
Google with Borg" (EuroSys 2015). A *cell* is a set of machines, each with CPU and RAM, in
racks (failure domains). Users submit *jobs*: a priority, a number of identical *tasks*,
each task's resource limit, and constraints. The pieces:

- `cell.py`: the cell's state — jobs, tasks and where they run, machines marked down — as a
  state machine applied from the Borgmaster's Paxos log, with admission control (quota per
  user and priority band) and the feasibility test placements are checked with;
- `borgmaster.py`: the Borgmaster replicas, SSO replicas (`implementations/sso.py`, on the
  shared `paxos_core`) whose state machine is the cell; the elected master admits jobs,
  polls the Borglets, marks unresponsive machines down (their tasks are rescheduled), tells
  a machine that comes back to kill what was rescheduled, confirms kills, and recomputes
  reservations from the usage the Borglets report (resource reclamation);
- `scheduler.py`: the scheduler, a separate process placing pending tasks on its cached copy
  of the cell: feasibility (constraints, room — by limits for prod, by reservations for
  non-prod — with preemption of lower bands only) and scoring (preemptions, spreading across
  racks, then worst fit, best fit or Borg's hybrid);
- `borglet.py`: the Borglet on every machine: starts, kills and restarts tasks, measures
  usage, evicts non-prod tasks when the machine runs out;
- `client.py`: users submitting and killing jobs and asking for their tasks' status;
- `checks.py`: the invariants; `models/borg.py`: the model they hold the cell to, with z3 as
  the judge of the scheduler.

A run: Borgmaster replicas `bm1..`, the scheduler `sched`, machines `m1..` (in racks `r1..`;
every other machine has an SSD), and clients `c1..`, each a user with a production and a
batch quota (best effort is free) submitting jobs of every band, alloc sets and jobs in them,
and killing some. The ending asks every user for the status of its tasks, answered once the
cell has settled.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import attrs

from checker.sim import Cluster
from checker.system import Config, System, Variant
from implementations.borg import checks
from implementations.borg.borglet import Borglet
from implementations.borg.borgmaster import Borgmaster, ReconnectNoKill
from implementations.borg.cell import BATCH, PRODUCTION, Cell, Deployment, Machine, StaleCacheAssign
from implementations.borg.client import BorgClient
from implementations.borg.messages import Job
from implementations.borg.scheduler import Placer, SameBandPreemption, Scheduler
from implementations.sso import one_value_per_slot
from invariants.quorum import majority, prove_intersection
from invariants.verdict import Verdict

MACHINE = (8, 16)  # every machine's CPU cores and RAM GiB


@attrs.frozen
class Roles:
    """The classes one variant runs."""

    master: type[Borgmaster] = Borgmaster
    cell: type[Cell] = Cell
    placer: type[Placer] = Placer
    borglet: type[Borglet] = Borglet


def deployment(config: Config) -> Deployment:
    """`machines` machines in `racks` racks, in order (m1, m2 in r1, ...), every other one
    with an SSD; each user's production and batch quota is the cell's capacity shared out."""
    p = config.params
    count, racks = p.get("machines", 4), p.get("racks", 2)
    machines = tuple(Machine(f"m{i + 1}", f"r{i * racks // count + 1}", MACHINE,
                             ("ssd",) if i % 2 else ()) for i in range(count))
    share = (MACHINE[0] * count // config.clients, MACHINE[1] * count // config.clients)
    users = [f"c{i + 1}" for i in range(config.clients)]
    return Deployment(
        replicas=tuple(f"bm{i + 1}" for i in range(config.servers)), scheduler="sched",
        machines=machines,
        quota=tuple((user, b, share) for user in users for b in (PRODUCTION, BATCH)),
        scoring=p.get("scoring", "hybrid"))


def random_job(rng: Any, name: str, user: str) -> Job:
    """A production service (some needing an SSD, some at most one task per rack), a batch
    job, or a best-effort one."""
    draw = rng.random()
    if draw < 0.4:
        return Job(name, user, rng.choice((200, 250)), rng.randint(1, 3), rng.choice((2, 3, 4)),
                   rng.choice((4, 6, 8)), "ssd" if rng.random() < 0.2 else None,
                   1 if rng.random() < 0.25 else None)
    if draw < 0.7:
        return Job(name, user, rng.choice((100, 150)), rng.randint(2, 4), rng.choice((2, 3, 4)),
                   rng.choice((2, 4, 8)))
    return Job(name, user, rng.choice((0, 50)), rng.randint(2, 4), rng.choice((1, 2)),
               rng.choice((1, 2, 4)))


def workload(config: Config, rng: Any, users: list[str]) -> dict[str, list[tuple[str, Any]]]:
    """Each user's operations: submissions (an alloc set comes with a job to run in it) and
    now and then a kill of one of its earlier jobs."""
    names = (f"j{i}" for i in itertools.count(1))
    plans: dict[str, list[tuple[str, Any]]] = {}
    for user in users:
        ops: list[tuple[str, Any]] = []
        mine: list[str] = []
        while len(ops) < config.ops_per_client:
            draw = rng.random()
            if mine and draw < 0.15:
                ops.append(("kill", (rng.choice(mine),)))
                continue
            if draw < 0.3 and len(ops) + 2 <= config.ops_per_client:
                alloc = Job(next(names), user, 200, 2, 4, 8, is_alloc=True)
                inside = Job(next(names), user, rng.choice((100, 200)), rng.randint(2, 3),
                             rng.choice((1, 2)), rng.choice((2, 4)), alloc=alloc.name)
                jobs = [alloc, inside]
            else:
                jobs = [random_job(rng, next(names), user)]
            ops += [("submit", (job,)) for job in jobs]
            mine += [job.name for job in jobs]
        plans[user] = ops
    return plans


def build(config: Config, roles: Roles, rng: Any) -> Cluster:
    where = deployment(config)
    users = [f"c{i + 1}" for i in range(config.clients)]
    servers: dict[str, Any] = {
        r: functools.partial(roles.master, replicas=where.replicas, deployment=where,
                             cell=roles.cell)
        for r in where.replicas}
    servers[where.scheduler] = functools.partial(Scheduler, deployment=where, cell=roles.cell,
                                                 placer=roles.placer)
    servers.update({m.name: functools.partial(roles.borglet, deployment=where)
                    for m in where.machines})
    return Cluster(
        servers=servers,
        clients={c: functools.partial(BorgClient, deployment=where) for c in users},
        workload=workload(config, rng, users),
        final_ops=[(c, "status", ()) for c in users],
    )


def proofs(config: Config, roles: Roles) -> list[Verdict]:
    """Any two majorities of the Borgmaster's replicas intersect (z3)."""
    replicas = deployment(config).replicas
    return [prove_intersection(majority(replicas,
                                        threshold=roles.master.quorum_size(len(replicas))))]


FAULTS = {"drop": 4, "duplicate": 4, "crash": 3, "partition": 2, "pause": 3}
PARAMS = {"machines": 4, "racks": 2, "scoring": "hybrid"}


def config(name: str, **changes: Any) -> Config:
    settings = dict(servers=3, clients=2, ops_per_client=4, max_steps=300, max_pause=1000,
                    faults=FAULTS, quiesce_horizon=4000, params=PARAMS)
    settings.update(changes)
    return Config(name, **settings)


SYSTEM = System(
    name="borg",
    paper="Verma et al.: Large-scale cluster management at Google with Borg (EuroSys 2015)",
    summary="a cell of machines managed by a Paxos-replicated Borgmaster: Borglets polled and "
            "marked down, a scheduler on a cached copy of the cell, priority bands with "
            "preemption, quota, allocs, resource reclamation; z3 judges what stays pending",
    build=build,
    invariants=(one_value_per_slot, checks.backs_one_candidate, checks.replicas_match_model,
                checks.one_incarnation_per_task, checks.no_prod_overcommit,
                checks.evicts_non_prod_first, checks.preemption_only_lower_band,
                checks.quota_respected, checks.kills_answered_as_decided,
                checks.spread_when_feasible, checks.policy_when_spread,
                checks.pending_truly_unplaceable, checks.progress_at_quiescence),
    configs={
        "default": config("default"),
        # one Borgmaster replica, one user, two machines: small enough to explore
        "small": config("small", servers=1, clients=1, ops_per_client=2, max_steps=200,
                        params={**PARAMS, "machines": 2}),
        "best-fit": config("best-fit", params={**PARAMS, "scoring": "best-fit"}),
        "worst-fit": config("worst-fit", params={**PARAMS, "scoring": "worst-fit"}),
    },
    variants={
        "correct": Variant("correct", Roles()),
        "reconnect-no-kill": Variant(
            "reconnect-no-kill", Roles(master=ReconnectNoKill),
            breaks="one incarnation per task: a machine marked down rejoins without being "
                   "told to kill the tasks rescheduled meanwhile, which now run twice",
            caught_by="one-incarnation-per-task",
            teaches="Borg (EuroSys'15) 3.3: the Borgmaster tells a returning Borglet to kill "
                    "the tasks that have been rescheduled"),
        "stale-cache-assign": Variant(
            "stale-cache-assign", Roles(cell=StaleCacheAssign),
            breaks="no prod over-commit: placements made on the scheduler's stale copy of "
                   "the cell are applied unchecked, giving away the same resources twice",
            caught_by="no-prod-overcommit",
            teaches="Borg (EuroSys'15) 3.4: the master rejects assignments based on out of "
                    "date state"),
        "same-band-preemption": Variant(
            "same-band-preemption", Roles(placer=SameBandPreemption),
            breaks="preemption only of a lower band: a task preempts one of lower priority "
                   "in its own band (production tasks preempt one another), and the victims, "
                   "pending again, preempt further",
            caught_by="preemption-only-lower-band",
            teaches="Borg (EuroSys'15) 2.5: production tasks do not preempt one another, to "
                    "stop preemption cascades"),
    },
    proofs=proofs,
)
