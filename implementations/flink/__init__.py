"""Flink: a streaming dataflow with asynchronous barrier snapshots, exactly-once output
through a two-phase-commit sink, and event-time windows driven by watermarks (Carbone et al.,
"Lightweight Asynchronous Snapshots for Distributed Dataflows", 2015; Flink's
TwoPhaseCommitSinkFunction; Akidau et al., "The Dataflow Model", VLDB 2015).

The job: two sources read fixed input logs of events (key, value, event time) and send each
record to the window operator that owns its key; the operators sum each key's values per
tumbling event-time window and send each window's sum to a sink, which writes it to an
external transactional store. Channels are TCP connections (FIFO), as in Flink.

- **Watermarks.** A source announces, after each record, the highest event time it has read
  minus the bounded out-of-orderness; an operator's watermark is the minimum over its inputs.
  A window fires when the watermark reaches its end, and is kept for the allowed lateness;
  a record whose window is over, lateness included, is late and dropped.
- **Asynchronous barrier snapshots.** Every `interval` ticks the JobManager's checkpoint
  coordinator has the sources inject a barrier; each task snapshots its state when the
  barrier has arrived on all its inputs, blocking an input whose barrier came first
  (alignment), and acknowledges to the JobManager. With every acknowledgement in, the
  checkpoint is complete: stored durably, then announced to the sink.
- **Two-phase commit.** At a barrier the sink pre-commits its open transaction (the store
  keeps it durable and invisible); when the checkpoint completes, it commits it.
- **Failure and recovery.** A crashed task or a broken connection fails the job: the
  JobManager deploys a new attempt of every task from the last completed checkpoint (sources
  rewind to its offsets, operators restore its windows, the sink commits the checkpoint's
  pre-committed transactions and aborts newer ones). A crashed JobManager does the same from
  its durable store.

The pieces: `tasks.py` (the task life cycle and alignment, the sources, the window
operator), `sink.py` (the two-phase-commit sink and the store), `jobmanager.py` (deployment,
checkpoint coordination, restarts), `client.py` (readers of the output and the client
waiting for the job), `checks.py` (the invariants); the reference run is `models/flink.py`.
A run: the JobManager jm, sources src1 and src2, window operators win1.. (`servers` of
them, keys spread over them), the sink, the store, and clients c1.. reading the output.
"""

from __future__ import annotations

import functools
from typing import Any

import attrs

from checker.sim import Cluster
from checker.system import Config, System, Variant
from implementations.flink import checks
from implementations.flink.client import OutputReader
from implementations.flink.jobmanager import JobManager
from implementations.flink.sink import CommitAtPreCommit, TransactionalStore, TwoPhaseCommitSink
from implementations.flink.tasks import Source, UnalignedSnapshot, WatermarkMax, WindowOperator
from models.flink import OUT_OF_ORDERNESS, Event, reference

KEYS = ("a", "b")


@attrs.frozen
class Roles:
    """The node classes one variant runs."""

    operator: type[WindowOperator] = WindowOperator
    sink: type[TwoPhaseCommitSink] = TwoPhaseCommitSink


def input_log(rng: Any, records: int) -> tuple[Event, ...]:
    """A source's log: event times advance by 2 to 6 and arrive up to OUT_OF_ORDERNESS
    early, so that no event is behind its source's watermark (`models.flink.within_bound`)."""
    base, log = 0, []
    for _ in range(records):
        base += rng.randint(3, 7)
        time = max(0, base - rng.randint(0, OUT_OF_ORDERNESS))
        log.append(Event(rng.choice(KEYS), rng.randint(1, 9), time))
    return tuple(log)


def build(config: Config, roles: Roles, rng: Any) -> Cluster:
    """Two sources of `records` events each, `servers` window operators, the sink and the
    store. Each client but the last awaits, window by window, the output of one key; the
    ending waits for the job to finish and reads all of its output."""
    logs = [input_log(rng, config.params.get("records", 8)) for _ in range(2)]
    sources = ("src1", "src2")
    operators = tuple(f"win{i + 1}" for i in range(config.servers))
    route = {key: operators[i % len(operators)] for i, key in enumerate(KEYS)}
    tasks = (*sources, *operators, "sink")
    servers: dict[str, Any] = {
        "jm": functools.partial(JobManager, sources=sources, tasks=tasks, sink="sink",
                                interval=config.params.get("interval", 4),
                                concurrent=config.params.get("concurrent", 1)),
        **{source: functools.partial(Source, jobmanager="jm", log=log, route=route)
           for source, log in zip(sources, logs)},
        **{op: functools.partial(roles.operator, jobmanager="jm", inputs=sources, sink="sink")
           for op in operators},
        "sink": functools.partial(roles.sink, jobmanager="jm", inputs=operators,
                                  store="store"),
        "store": TransactionalStore,
    }
    clients = [f"c{i + 1}" for i in range(config.clients)]
    windows = sorted(reference(logs))
    workload = {client: [("await", [key, start]) for key, start in windows
                         if key == KEYS[i % len(KEYS)]][:config.ops_per_client]
                for i, client in enumerate(clients)}
    return Cluster(
        servers=servers,
        clients={c: functools.partial(OutputReader, store="store", jobmanager="jm")
                 for c in clients},
        workload=workload,
        final_ops=[(clients[0], "finish", None)],
    )


FAULTS = {"crash": 8, "reset": 8, "pause": 2, "partition": 1}

SYSTEM = System(
    name="flink",
    paper="Carbone, Fóra, Ewen, Haridi, Richter, Tzoumas: Lightweight Asynchronous Snapshots "
          "for Distributed Dataflows (2015); Akidau et al.: The Dataflow Model (VLDB 2015)",
    summary="a windowed dataflow over FIFO channels: watermarks, aligned barrier snapshots, "
            "restart from the last completed checkpoint, a two-phase-commit sink",
    build=build,
    invariants=(checks.consistent_cut, checks.committed_output, checks.watermarks_monotone,
                checks.no_early_firing, checks.on_time_kept, checks.reads_answered,
                checks.exactly_once, checks.job_finishes, checks.reads_exactly_once),
    configs={
        "default": Config("default", servers=2, clients=2, ops_per_client=3, max_steps=500,
                          max_pause=20, faults=FAULTS, quiesce_horizon=600,
                          params={"records": 8, "interval": 4, "concurrent": 2}),
        "small": Config("small", servers=1, clients=1, ops_per_client=1, max_steps=200,
                        max_pause=20, faults=FAULTS, quiesce_horizon=600,
                        params={"records": 3, "interval": 4, "concurrent": 1}),
    },
    variants={
        "correct": Variant("correct", Roles()),
        "unaligned-snapshot": Variant(
            "unaligned-snapshot", Roles(operator=UnalignedSnapshot),
            breaks="consistent snapshots: an operator keeps counting the input whose barrier "
                   "came first, so its snapshot holds records its source will send again "
                   "after a restore (counted twice)",
            caught_by="consistent-cut",
            teaches="Carbone et al. 2015, ABS on acyclic dataflows: barrier alignment"),
        "commit-at-precommit": Variant(
            "commit-at-precommit", Roles(sink=CommitAtPreCommit),
            breaks="exactly-once output: the sink commits at the barrier; a failure before "
                   "the checkpoint completes replays the records and commits the results again",
            caught_by="committed-output",
            teaches="Flink's TwoPhaseCommitSinkFunction: commit on checkpoint completion"),
        "watermark-max": Variant(
            "watermark-max", Roles(operator=WatermarkMax),
            breaks="event time: the operator's watermark follows its fastest input, so windows "
                   "fire before the slow input's records arrive, and those are dropped as late",
            caught_by="no-early-firing",
            teaches="MillWheel and the Dataflow model: a watermark is the minimum over "
                    "inputs"),
    },
    fifo=True,
)
