"""Spark: resilient distributed datasets, their lineage, stages cut at shuffles, lost
partitions recomputed from lineage, speculative tasks, output commit arbitration and
checkpoints (Zaharia et al., "Resilient Distributed Datasets: A Fault-Tolerant Abstraction
for In-Memory Cluster Computing", NSDI 2012; Spark's DAGScheduler, TaskSetManager and
OutputCommitCoordinator).

An **RDD** is a read-only, partitioned dataset defined by how it derives from others: its
**lineage** (`rdd.py`). A narrow transformation (map, filter) computes partition i from its
parent's partition i; a wide one (reduceByKey, repartition, join) reads a bucket of every
parent partition through a **shuffle**. The user's program (`program.py`: page views per
page, spread by a `repartition`, joined with the page titles) only builds RDDs; its action
(save the result) makes the driver run a **job**:

1. The **DAG scheduler** (`scheduler.py`) cuts the lineage into **stages** at the shuffles:
   shuffle map stages, which leave each map task's buckets in its executor's memory and
   their location in the **MapOutputTracker**, and a result stage. A stage runs once its
   parent stages' outputs are all available.
2. The **task scheduler** (`tasks.py`) hands the stage's tasks to executors, preferring one
   that has the partition cached, and runs a **speculative** copy of a straggler.
3. **Executors** (`executor.py`) fetch what a task reads (input or checkpoint files from the
   store, shuffle blocks from other executors), compute the partition and keep the output
   in memory: a process that dies takes its cached partitions and map outputs with it.
4. A result task writes its partition to the store (`store.py`) and commits it if the
   driver's **OutputCommitCoordinator** (`tracking.py`) authorizes it: one attempt per
   partition. When all have, the driver commits the job: the output appears in `out/`, at
   once. A job aborted before leaves nothing there, and the driver runs it again.

Fault tolerance: an executor that stops heartbeating, or whose process is replaced, is lost;
its running tasks run elsewhere. A task that cannot fetch a map output fails with a **fetch
failure**: that executor's outputs are forgotten and the parent stage runs the missing
partitions again, **recomputed from lineage**. A **checkpoint** saves an RDD to the store
and cuts its lineage there (`truncate`): recomputation starts from the saved files.

The repartition is the trap: it deals rows round-robin, so its output depends on the order
its input arrives in, and its input is a shuffle read, whose order varies. Recomputing only
some of its partitions would mix two different runs. This implementation does what Spark 3
does (rather than sort before dealing, as Spark SQL's repartition does): such an
**indeterminate** stage is always recomputed whole, the stages that read it are rolled back,
and a job whose result stage already saved partitions is aborted and run again. A checkpoint
of the counts, before the repartition, makes the repartition determinate: some runs
checkpoint.

The driver (`driver.py`) is a client of the simulation and is not crashed. Left out:
multi-core executors, delay scheduling, an external shuffle service, the unpersisting of
cached data, and retry limits (a task or stage is retried as often as it fails).

A run: the driver, the readers r1.., the store hdfs and executors e1.. (`servers` of them);
the model is `models/spark.py`, the invariants `checks.py`.
"""

from __future__ import annotations

import functools
from typing import Any

import attrs

from checker.sim import Cluster
from checker.system import Config, System, Variant
from implementations.spark import checks
from implementations.spark.client import OutputReader
from implementations.spark.driver import Driver
from implementations.spark.executor import Executor
from implementations.spark.messages import DRIVER, EXPIRE, STORE
from implementations.spark.program import PARTITIONS
from implementations.spark.scheduler import DAGScheduler, PartialIndeterminateRetry
from implementations.spark.store import Store
from implementations.spark.tracking import NoCommitArbitration, OutputCommitCoordinator


@attrs.frozen
class Roles:
    """The classes one variant runs."""

    dag: type[DAGScheduler] = DAGScheduler
    coordinator: type[OutputCommitCoordinator] = OutputCommitCoordinator
    executor: type[Executor] = Executor
    store: type[Store] = Store


def build(config: Config, roles: Roles, rng: Any) -> Cluster:
    """The driver runs the program once, checkpointing the counts in `checkpoint_percent`
    percent of the runs; each reader reads `ops_per_client` output partitions meanwhile; the
    ending reads every partition."""
    executors = tuple(f"e{i + 1}" for i in range(config.servers))
    readers = [f"r{i}" for i in range(1, config.clients)]
    checkpoint = rng.randrange(100) < config.params["checkpoint_percent"]
    workload = {r: [("read", rng.randrange(PARTITIONS)) for _ in range(config.ops_per_client)]
                for r in readers}
    workload[DRIVER] = [("run", {"checkpoint": checkpoint})]
    servers = {STORE: roles.store, **{e: roles.executor for e in executors}}
    clients = {DRIVER: functools.partial(Driver, executors=executors, dag=roles.dag,
                                         coordinator=roles.coordinator),
               **{r: OutputReader for r in readers}}
    return Cluster(servers=servers, clients=clients, workload=workload,
                   final_ops=[(readers[p % len(readers)], "read", p)
                              for p in range(PARTITIONS)])


FAULTS = {"crash": 2, "pause": 2, "partition": 1, "reset": 3}
PAUSE = EXPIRE // 2  # a paused executor straggles, and is not taken for lost

SYSTEM = System(
    name="spark",
    paper="Zaharia et al.: Resilient Distributed Datasets: A Fault-Tolerant Abstraction for "
          "In-Memory Cluster Computing (NSDI 2012)",
    summary="RDD lineage, stages cut at shuffles, recomputation of lost partitions, "
            "speculative tasks, output commit arbitration, checkpoints, and the indeterminate "
            "round-robin repartition",
    build=build,
    invariants=(checks.one_commit_per_partition, checks.output_is_the_result,
                checks.output_never_changes, checks.lineage_reproduces,
                checks.lost_only_when_gone_or_silent, checks.abort_only_when_needed,
                checks.saved_result),
    configs={  # `servers` counts the executors; the store and the driver come on top
        "default": Config("default", servers=3, clients=2, ops_per_client=2, max_steps=400,
                          max_pause=PAUSE, faults=FAULTS, quiesce_horizon=600,
                          params={"checkpoint_percent": 25}),
        "small": Config("small", servers=2, clients=2, ops_per_client=0, max_steps=200,
                        max_pause=PAUSE, faults=FAULTS, quiesce_horizon=600,
                        params={"checkpoint_percent": 0}),
    },
    variants={
        "correct": Variant("correct", Roles()),
        "partial-indeterminate-retry": Variant(
            "partial-indeterminate-retry", Roles(dag=PartialIndeterminateRetry),
            breaks="the result: after a fetch failure only the lost partitions of the "
                   "round-robin stage are recomputed; the recomputation deals its rows "
                   "differently, and the reducers that read the first run keep what they "
                   "read, so some rows are counted twice and others never",
            caught_by="output-is-the-result",
            teaches="SPARK-23207, SPARK-23243 (Spark 2.4) and SPARK-25341 (Spark 3): an "
                    "indeterminate stage is retried whole, with every stage that read it"),
        "no-commit-arbitration": Variant(
            "no-commit-arbitration", Roles(coordinator=NoCommitArbitration),
            breaks="one committed attempt per partition: a straggler and its speculative "
                   "copy both commit, and the job publishes the partition twice",
            caught_by="one-commit-per-partition",
            teaches="SPARK-4879: the OutputCommitCoordinator authorizes one attempt per "
                    "partition"),
    },
    fifo=True,
)
