"""MapReduce: a master hands map and reduce tasks to workers, re-executes the work of failed
workers, runs backup executions of stragglers, and commits each reduce output by an atomic
rename (Dean & Ghemawat, "MapReduce: Simplified Data Processing on Large Clusters", OSDI 2004).

The user program submits a job: its map and reduce functions (`program.py`: word count),
M input splits and R reduce partitions. Then, as in section 3.1:

1. The **master** keeps, per task, its state (idle, in-progress, completed) and the worker
   running it, and hands idle tasks to idle workers (`Assign`): map tasks first, reduce
   tasks once every map task has completed.
2. A **map** worker reads its split (from the GFS-like input, fixed data here), runs the map
   function and the combiner (section 4.3), and writes R intermediate files, one per
   partition (hash(key) mod R, section 4.1), to its **local disk**. It reports them through
   its `Status`; the master records where they are.
3. A **reduce** worker learns the locations from the master and reads its partition of every
   map output remotely (`Fetch`). It sorts by key, runs the reduce function, appends the
   output to a temporary file private to this execution in the shared output store, and
   **renames** it to the final name `out/part-r`. The rename is atomic and the first one
   wins: a second execution of the same task renames onto an existing name, which does
   nothing, so the final file holds exactly one execution's output.

Fault tolerance (section 3.3, and 3.6 for backup tasks):

- The master **pings** every worker (`Ping` → `Status`). A worker silent for FAIL_AFTER
  ping periods, or answering as a new process (its boot count, `incarnation`, grew), has
  failed: its in-progress tasks go back to idle, **and so do the map tasks it completed**,
  because their output was on its local disk. Reduce workers learn of each re-executed map's
  new location (`Locations`, pushed by the master and asked for with `WhereIs`); a reduce
  task that has not read a map's output yet reads it from the new execution.
- Completed reduce tasks are not re-executed: their output is in the global file system.
- **Backup tasks**: when nothing idle is left to hand out, a task whose only execution has run
  for STRAGGLER ticks gets a second one (a paused worker is a straggler). Whichever finishes
  first completes the task; the master ignores the other's completion.
- The master itself **checkpoints** its state at every change and resumes from it after a
  crash (the paper's implementation aborts the job instead; it suggests checkpoints).

Messages can be lost, so the protocol is idempotent where it resends: a `Status` reports
everything finished since boot, a resent `Assign` keeps its number and runs once, a resent
`Append` applies once. A worker runs one task at a time; the master assigns only to workers
it believes idle, and ignores the completion of an execution it gave up.

Left out: locality in scheduling (every worker holds every split), the buffering and
periodic spill of map output (it is written at once), skipping bad records, counters, the
cleanup of the temporary files of executions whose rename lost, and tasks that take time to
compute (a task runs as its message arrives; a straggler is a worker that stalls).

The pieces: `messages.py`, `program.py` (the user's functions and the input), `master.py`,
`worker.py`, `store.py` (the output store), `client.py`, and `checks.py`; the model is
`models/mapreduce.py`.
"""

from __future__ import annotations

import functools
from typing import Any

import attrs

from checker.sim import Cluster
from checker.system import Config, System, Variant
from implementations.mapreduce import checks
from implementations.mapreduce.client import JobClient
from implementations.mapreduce.master import LostMapsNotReexecuted, Master
from implementations.mapreduce.messages import FAIL_AFTER, MASTER, PING, STORE
from implementations.mapreduce.program import SampledWordCount, WordCount
from implementations.mapreduce.store import OutputStore
from implementations.mapreduce.worker import DirectFinalWrite, Worker


@attrs.frozen
class Roles:
    """What a variant runs: the master's, the workers' and the output store's classes, and
    the user program."""

    master: type[Master] = Master
    worker: type[Worker] = Worker
    store: type[OutputStore] = OutputStore
    program: str = WordCount.name


def build(config: Config, roles: Roles, rng: Any) -> Cluster:
    """The master, the output store and `config.servers` workers. Client c1 is the user
    program: it submits the job and waits until it is done; the other clients read output
    partitions meanwhile (`ops_per_client` reads each). The ending reads every partition."""
    workers = tuple(f"w{i + 1}" for i in range(config.servers))
    splits, reduces = config.params["splits"], config.params["reduces"]
    clients = [f"c{i + 1}" for i in range(config.clients)]
    job = {"program": roles.program, "splits": splits, "reduces": reduces}
    workload = {c: [("read", rng.randrange(reduces)) for _ in range(config.ops_per_client)]
                for c in clients[1:]}
    workload[clients[0]] = [("job", job)]
    servers: dict[str, Any] = {MASTER: functools.partial(roles.master, workers=workers),
                               STORE: roles.store}
    servers.update({w: roles.worker for w in workers})
    return Cluster(
        servers=servers,
        clients={c: JobClient for c in clients},
        workload=workload,
        final_ops=[(clients[r % len(clients)], "read", r) for r in range(reduces)],
    )


FAULTS = {"drop": 4, "duplicate": 2, "crash": 3, "pause": 3, "partition": 2}
PAUSE = 2 * FAIL_AFTER * PING  # long enough for a paused worker to be taken for dead

SYSTEM = System(
    name="mapreduce",
    paper="Dean, Ghemawat: MapReduce: Simplified Data Processing on Large Clusters (OSDI 2004)",
    summary="a master scheduling map and reduce tasks on workers, re-execution of a failed "
            "worker's tasks and completed maps, backup tasks, and reduce output committed by "
            "atomic rename",
    build=build,
    invariants=(checks.no_partial_final, checks.one_commit_per_partition,
                checks.completed_once, checks.failed_after_silence, checks.failed_in_time,
                checks.user_woken, checks.read_polls, checks.reducers_notified,
                checks.one_execution, checks.sequential_output),
    configs={  # `servers` counts the workers; the master and the output store come on top
        "default": Config("default", servers=3, clients=2, ops_per_client=2, max_steps=400,
                          max_pause=PAUSE, faults=FAULTS, quiesce_horizon=400,
                          params={"splits": 4, "reduces": 2}),
        "small": Config("small", servers=2, clients=1, ops_per_client=0, max_steps=150,
                        max_pause=PAUSE, faults=FAULTS, quiesce_horizon=400,
                        params={"splits": 3, "reduces": 2}),
    },
    variants={
        "correct": Variant("correct", Roles()),
        "direct-final-write": Variant(
            "direct-final-write", Roles(worker=DirectFinalWrite),
            breaks="the final output holds one execution's whole output: a reduce that "
                   "appends straight to the final file leaves it partial while it writes "
                   "(for good, if it crashes), and a retry or a backup appends it again",
            caught_by="no-partial-final",
            teaches="MapReduce (OSDI'04) section 3.3: private temporary files and an atomic "
                    "rename"),
        "lost-maps-not-reexecuted": Variant(
            "lost-maps-not-reexecuted", Roles(master=LostMapsNotReexecuted),
            breaks="progress: a failed worker's completed map output, on its local disk, is "
                   "gone, and reducers that had not fetched it wait for it forever",
            caught_by="sequential-output",
            teaches="MapReduce (OSDI'04) section 3.3: completed map tasks of a failed worker "
                    "are re-executed"),
        "nondeterministic-map": Variant(
            "nondeterministic-map", Roles(program=SampledWordCount.name),
            breaks="not the framework: the user's map samples at random, and when it is "
                   "re-executed after a failure the reducers may read different executions "
                   "of it; each partition still equals some sequential execution's "
                   "(`sequential-output` holds), but not all of them the same one",
            caught_by="one-execution",
            teaches="MapReduce (OSDI'04) section 3.3: weaker semantics for non-deterministic "
                    "operators"),
    },
)
